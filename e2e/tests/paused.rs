//! `service-operator.aws/paused: "true"`: no AWS call of any kind for the resource over several
//! resync periods, drift left alone, a deletion held; removing the annotation resumes at once.
//! Run by `just test`.

use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use e2e::{Aws, Operator, Resources, condition, env, install_crds, namespace, wait_until};
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::json;
use sqs_controller::SQSQueue;

const PAUSED: &str = "service-operator.aws/paused";

#[tokio::test]
async fn a_paused_queue_gets_no_aws_calls_until_it_is_unpaused() {
    let env = env().await;
    install_crds(&env.kube).await;
    let ns = namespace(&env.kube, "paused", &[]).await;
    let aws = Aws::new(&env.aws);
    let op = Operator::start(&ns, &[]);
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
    let url = aws.queues_named(&name).await.pop().expect("the queue");
    let visibility = || async {
        aws.sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::VisibilityTimeout)
            .send()
            .await
            .unwrap()
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::VisibilityTimeout).cloned())
    };
    let set_visibility = |v: &'static str| {
        aws.sqs
            .set_queue_attributes()
            .queue_url(&url)
            .attributes(QueueAttributeName::VisibilityTimeout, v)
            .send()
    };
    let calls = || op.aws_calls("read") + op.aws_calls("write");

    queues.annotate(&name, PAUSED, "true").await;
    let paused = wait_until(Duration::from_secs(20), || async {
        let q = queues.api.get(&name).await.ok()?;
        condition(&q, "Synced")
            .filter(|c| c.reason == "Paused")
            .map(|c| (q, c))
    })
    .await
    .unwrap_or_else(|| panic!("no Paused condition\n{}", op.log_tail()));
    assert!(paused.1.message.contains(PAUSED), "{}", paused.1.message);
    assert!(
        condition(&paused.0, "Ready").is_some_and(|c| c.status == "True"),
        "Ready did not stay True: {:?}",
        paused.0.status
    );
    // Settle (a reconcile that began before the annotation), then: nothing, over four resyncs,
    // not even a read, and the drift made meanwhile stays.
    tokio::time::sleep(Duration::from_secs(3)).await;
    set_visibility("55").await.unwrap();
    let before = calls();
    let version = queues
        .api
        .get(&name)
        .await
        .unwrap()
        .metadata
        .resource_version;
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(calls(), before, "AWS calls while paused");
    assert_eq!(visibility().await.as_deref(), Some("55"));
    // No status churn either: the object was not written.
    assert_eq!(
        queues
            .api
            .get(&name)
            .await
            .unwrap()
            .metadata
            .resource_version,
        version
    );

    // Unpaused: the drift is corrected at once.
    let unpause = Patch::Merge(json!({"metadata": {"annotations": {PAUSED: null}}}));
    queues
        .api
        .patch(&name, &PatchParams::default(), &unpause)
        .await
        .unwrap();
    let corrected = wait_until(Duration::from_secs(10), || async {
        (visibility().await.as_deref() == Some("40")).then_some(())
    })
    .await;
    assert!(
        corrected.is_some(),
        "drift not corrected after unpausing\n{}",
        op.log_tail()
    );

    // A paused resource's deletion waits, and the queue stays, until it is unpaused.
    queues.annotate(&name, PAUSED, "true").await;
    wait_until(Duration::from_secs(20), || async {
        let q = queues.api.get(&name).await.ok()?;
        condition(&q, "Synced").filter(|c| c.reason == "Paused")
    })
    .await
    .expect("paused again");
    queues
        .api
        .delete(&name, &DeleteParams::default())
        .await
        .unwrap();
    let held = wait_until(Duration::from_secs(20), || async {
        let q = queues.api.get(&name).await.ok()?;
        condition(&q, "Synced").filter(|c| c.message.contains("deletion waits"))
    })
    .await;
    assert!(held.is_some(), "no held deletion\n{}", op.log_tail());
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(queues.api.get(&name).await.is_ok(), "deleted while paused");
    assert_eq!(aws.queues_named(&name).await.len(), 1);
    queues
        .api
        .patch(&name, &PatchParams::default(), &unpause)
        .await
        .unwrap();
    e2e::wait_gone(&queues.api, &name, Duration::from_secs(30)).await;
    assert!(
        aws.queues_named(&name).await.is_empty(),
        "the queue outlived its resource"
    );
}
