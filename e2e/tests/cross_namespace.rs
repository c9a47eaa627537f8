//! References across namespaces (`namespace/name`) are refused unless the operator is started
//! with `--allow-cross-namespace-references`. The operator here watches every namespace, so
//! this file holds one test. Run by `just test` against the local control plane and moto.

use std::time::Duration;

use e2e::{Aws, Operator, Resources, condition, env, install_crds, namespace, wait_until};
use sns_controller::{SNSSubscription, SNSTopic};
use sqs_controller::SQSQueue;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn references_across_namespaces_are_refused_unless_allowed() {
    let env = env().await;
    install_crds(&env.kube).await;
    let aws = Aws::new(&env.aws);
    let topics_ns = namespace(&env.kube, "xns-topics", &[]).await;
    let subs_ns = namespace(&env.kube, "xns-subscribers", &[]).await;
    let topic = format!("{topics_ns}-orders");
    let queue = format!("{subs_ns}-q");
    let subscriptions = Resources::<SNSSubscription>::new(&env.kube, &subs_ns);

    let refused = Operator::start("", &[]);
    Resources::<SNSTopic>::new(&env.kube, &topics_ns)
        .create(&topic, serde_json::json!({}), serde_json::json!({}))
        .await;
    Resources::<SQSQueue>::new(&env.kube, &subs_ns)
        .create(&queue, serde_json::json!({}), serde_json::json!({}))
        .await;
    subscriptions
        .create(
            "orders",
            serde_json::json!({
                "topicName": format!("{topics_ns}/{topic}"),
                "protocol": "sqs",
                "endpoint": queue,
            }),
            serde_json::json!({}),
        )
        .await;
    let said = wait_until(Duration::from_secs(30), || async {
        let s = subscriptions.api.get("orders").await.unwrap();
        condition(&s, "Ready").filter(|c| c.reason == "CrossNamespaceReference")
    })
    .await
    .unwrap_or_else(|| {
        panic!(
            "no CrossNamespaceReference condition\n{}",
            refused.log_tail()
        )
    });
    assert!(
        said.message.contains("--allow-cross-namespace-references"),
        "{}",
        said.message
    );
    let topic_arn = wait_until(Duration::from_secs(30), || async {
        aws.topic_arns(&topic).await.into_iter().next()
    })
    .await
    .expect("the topic is created");
    assert!(aws.subscriptions(&topic_arn).await.is_empty());
    drop(refused);

    // Allowed: the subscription finds the other namespace's topic, and subscribes its queue.
    let allowed = Operator::start("", &["--allow-cross-namespace-references"]);
    let ready = wait_until(Duration::from_secs(60), || async {
        let s = subscriptions.api.get("orders").await.unwrap();
        e2e::is_ready(&s).then_some(s)
    })
    .await
    .unwrap_or_else(|| panic!("not Ready with the flag\n{}", allowed.log_tail()));
    let arn = ready.status.as_ref().unwrap().arn.clone().unwrap();
    assert!(arn.starts_with(&topic_arn), "{arn} is not on {topic_arn}");
    assert_eq!(aws.subscriptions(&topic_arn).await.len(), 1);

    for (kind, ns) in [
        ("snssubscriptions", &subs_ns),
        ("sqsqueues", &subs_ns),
        ("snstopics", &topics_ns),
    ] {
        e2e::kubectl(&[
            "-n",
            ns,
            "delete",
            kind,
            "--all",
            "--wait=true",
            "--timeout=60s",
        ]);
    }
    assert!(aws.topic_arns(&topic).await.is_empty(), "topic left in AWS");
}
