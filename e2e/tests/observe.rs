//! What the operator writes and what it only looks at: read-only resources (observed, the plan
//! in status, never written or deleted), the write-loop breaker (a change AWS does not keep is
//! written N times, then no more), and drift made visible (metric, status) or left alone
//! (`ignore-drift`). Run by `just test` against the local control plane and moto.

use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use e2e::{
    Aws, Operator, Resources, condition, env,
    fault::{FaultProxy, Ignored, moto_url},
    install_crds, namespace, wait_for_event, wait_until,
};
use kube::api::DeleteParams;
use serde_json::json;
use sqs_controller::SQSQueue;

const READ_ONLY: &str = "service-operator.aws/read-only";

async fn visibility(aws: &Aws, url: &str) -> Option<String> {
    aws.sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::VisibilityTimeout)
        .send()
        .await
        .unwrap()
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::VisibilityTimeout).cloned())
}

async fn set_visibility(aws: &Aws, url: &str, value: &str) {
    aws.sqs
        .set_queue_attributes()
        .queue_url(url)
        .attributes(QueueAttributeName::VisibilityTimeout, value)
        .send()
        .await
        .unwrap();
}

/// A metric sample's value, by name and label fragment.
fn sample(metrics: &str, name: &str, labels: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(name) && l.contains(labels))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn a_read_only_queue_is_observed_and_never_written() {
    let env = env().await;
    install_crds(&env.kube).await;
    let ns = namespace(&env.kube, "read-only", &[]).await;
    let aws = Aws::new(&env.aws);
    let name = format!("{ns}-existing");
    // Someone else's queue, made outside the operator.
    let url = aws
        .sqs
        .create_queue()
        .queue_name(&name)
        .attributes(QueueAttributeName::VisibilityTimeout, "30")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let op = Operator::start(&ns, &[]);
    let queues = Resources::<SQSQueue>::new(&env.kube, &ns);
    // As SQS made it (its defaults, not the original operator's), but for the visibility timeout.
    queues
        .create(
            &name,
            json!({"visibilityTimeout": 60, "delaySeconds": 0, "maximumMessageSize": 1_048_576}),
            json!({READ_ONLY: "true", "service-operator.aws/resync-period": "2s"}),
        )
        .await;
    let differs = wait_until(Duration::from_secs(30), || async {
        let q = queues.api.get(&name).await.ok()?;
        condition(&q, "Synced")
            .filter(|c| c.reason == "Differs")
            .map(|c| (q, c))
    })
    .await
    .unwrap_or_else(|| panic!("no Differs condition\n{}", op.log_tail()));
    let (q, synced) = differs;
    assert!(
        synced
            .message
            .contains("visibilityTimeout (AWS 30, spec 60)"),
        "{}",
        synced.message
    );
    let status = q.status.clone().unwrap();
    assert_eq!(status.plan.len(), 1, "{:?}", status.plan);
    assert_eq!(status.plan[0].field, "visibilityTimeout");
    assert_eq!(status.plan[0].aws.as_deref(), Some("30"));
    assert_eq!(status.plan[0].spec.as_deref(), Some("60"));
    assert!(condition(&q, "Ready").is_some_and(|c| c.status == "True"));
    // The app gets its outputs all the same.
    let cm = e2e::config_map(&env.kube, &ns, &name).await;
    assert_eq!(
        cm.data.unwrap_or_default().get("queueURL"),
        Some(&url),
        "outputs of a read-only queue"
    );

    // Several resyncs: no write of any kind, AWS as it was, not even our tags.
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert_eq!(op.aws_calls("write"), 0, "{}", op.metrics());
    assert!(op.aws_calls("read") > 3, "resyncs did not look");
    assert_eq!(visibility(&aws, &url).await.as_deref(), Some("30"));
    assert!(
        aws.queue_tags(&url)
            .await
            .keys()
            .all(|k| !k.starts_with("service-operator.aws/")),
        "a read-only queue was tagged"
    );

    // A read-only resource whose queue does not exist says so, and nothing is created.
    let missing = format!("{ns}-missing");
    queues
        .create(&missing, json!({}), json!({READ_ONLY: "true"}))
        .await;
    let not_found = wait_until(Duration::from_secs(30), || async {
        let q = queues.api.get(&missing).await.ok()?;
        condition(&q, "Synced").filter(|c| c.reason == "NotFound")
    })
    .await;
    assert!(not_found.is_some(), "no NotFound\n{}", op.log_tail());
    assert!(aws.queues_named(&missing).await.is_empty());

    // Deleting it leaves the queue in AWS.
    queues
        .api
        .delete(&name, &DeleteParams::default())
        .await
        .unwrap();
    e2e::wait_gone(&queues.api, &name, Duration::from_secs(30)).await;
    assert_eq!(aws.queues_named(&name).await, vec![url]);
    assert_eq!(op.aws_calls("write"), 0, "{}", op.metrics());
}

/// The proxy answers SetQueueAttributes carrying VisibilityTimeout with success and drops it,
/// as AWS does with a value it normalises away: three writes, then UpdateLoop and no more; a
/// spec change re-arms the breaker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_aws_does_not_keep_is_written_three_times_then_no_more() {
    let env = env().await;
    install_crds(&env.kube).await;
    let ns = namespace(&env.kube, "update-loop", &[]).await;
    let proxy = FaultProxy::start(&moto_url()).await;
    let op = Operator::start_with_env(
        &e2e::binary("aws-service-operator"),
        &ns,
        &[],
        &[("AWS_ENDPOINT_URL", proxy.url.as_str())],
    );
    let queues = Resources::<SQSQueue>::new(&env.kube, &ns);
    let name = format!("{ns}-q");
    queues
        .create(
            &name,
            json!({"visibilityTimeout": 40}),
            json!({"service-operator.aws/resync-period": "2s"}),
        )
        .await;
    queues.wait_ready(&name).await;
    proxy.ignore(Some(Ignored {
        operation: "SetQueueAttributes".into(),
        containing: "VisibilityTimeout".into(),
    }));
    queues
        .patch_spec(&name, json!({"visibilityTimeout": 50}))
        .await;
    let looping = |writes: u64| {
        let (queues, name, proxy) = (&queues, &name, &proxy);
        async move {
            wait_until(Duration::from_secs(60), || async {
                let q = queues.api.get(name).await.ok()?;
                let terminal = condition(&q, "Terminal").filter(|c| c.reason == "UpdateLoop")?;
                (proxy.swallowed() >= writes).then_some(terminal)
            })
            .await
        }
    };
    let terminal = looping(3)
        .await
        .unwrap_or_else(|| panic!("no UpdateLoop\n{}", op.log_tail()));
    assert!(
        terminal
            .message
            .contains("visibilityTimeout (AWS 40, spec 50) after 3 writes"),
        "{}",
        terminal.message
    );
    // No more writes over several resyncs.
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(proxy.swallowed(), 3, "writes after the breaker tripped");
    assert!(wait_for_event(&env.kube, &ns, &name, "UpdateLoop").await);
    assert_eq!(
        sample(
            &op.metrics(),
            "aso_update_loops_total",
            r#"kind="SQSQueue",field="visibilityTimeout""#
        ),
        1.0
    );

    // A spec change re-arms it: three writes more, then it trips again.
    queues
        .patch_spec(&name, json!({"visibilityTimeout": 45}))
        .await;
    let again = wait_until(Duration::from_secs(60), || async {
        let q = queues.api.get(&name).await.ok()?;
        let c = condition(&q, "Terminal").filter(|c| c.reason == "UpdateLoop")?;
        (c.message.contains("spec 45") && proxy.swallowed() == 6).then_some(())
    })
    .await;
    assert!(
        again.is_some(),
        "not re-armed: {} writes\n{}",
        proxy.swallowed(),
        op.log_tail()
    );

    // Once AWS keeps what is written, the queue is Synced and the Terminal condition goes.
    proxy.ignore(None);
    queues
        .patch_spec(&name, json!({"visibilityTimeout": 47}))
        .await;
    let q = queues.api.get(&name).await.unwrap();
    queues.wait_synced(&name, q.metadata.generation).await;
}

#[tokio::test]
async fn drift_is_counted_and_recorded_and_ignored_fields_are_left_alone() {
    let env = env().await;
    install_crds(&env.kube).await;
    let ns = namespace(&env.kube, "drift", &[]).await;
    let aws = Aws::new(&env.aws);
    let op = Operator::start(&ns, &[]);
    let queues = Resources::<SQSQueue>::new(&env.kube, &ns);
    let name = format!("{ns}-q");
    queues
        .create(
            &name,
            json!({"visibilityTimeout": 40, "delaySeconds": 3}),
            json!({"service-operator.aws/resync-period": "2s"}),
        )
        .await;
    queues.wait_ready(&name).await;
    let url = aws.queues_named(&name).await.pop().unwrap();

    set_visibility(&aws, &url, "99").await;
    let recorded = wait_until(Duration::from_secs(20), || async {
        let q = queues.api.get(&name).await.ok()?;
        q.status?.last_drift_correction
    })
    .await
    .unwrap_or_else(|| panic!("no lastDriftCorrection\n{}", op.log_tail()));
    assert_eq!(recorded.fields, ["visibilityTimeout"]);
    assert!(
        recorded.time.parse::<jiff::Timestamp>().is_ok(),
        "{recorded:?}"
    );
    assert_eq!(visibility(&aws, &url).await.as_deref(), Some("40"));
    assert!(
        sample(
            &op.metrics(),
            "aso_drift_corrections_total",
            r#"kind="SQSQueue",field="visibilityTimeout""#
        ) >= 1.0
    );

    // Owned by another tool from now on: left as AWS has it, and the queue stays Synced.
    queues
        .annotate(
            &name,
            "service-operator.aws/ignore-drift",
            "visibilityTimeout",
        )
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    set_visibility(&aws, &url, "77").await;
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert_eq!(visibility(&aws, &url).await.as_deref(), Some("77"));
    let q = queues.api.get(&name).await.unwrap();
    assert!(
        condition(&q, "Synced").is_some_and(|c| c.status == "True"),
        "{:?}",
        q.status
    );
    // Other fields are still corrected.
    aws.sqs
        .set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::DelaySeconds, "9")
        .send()
        .await
        .unwrap();
    let fixed = wait_until(Duration::from_secs(20), || async {
        let out = aws
            .sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::DelaySeconds)
            .send()
            .await
            .ok()?;
        (out.attributes()?.get(&QueueAttributeName::DelaySeconds)? == "3").then_some(())
    })
    .await;
    assert!(fixed.is_some(), "delaySeconds drift not corrected");
    assert_eq!(visibility(&aws, &url).await.as_deref(), Some("77"));
}
