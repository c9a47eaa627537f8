//! Ownership and outputs across kinds and across lives of a resource: resources of different
//! kinds named alike share one outputs ConfigMap without losing each other's keys, and an AWS
//! resource kept by `deletion-policy: retain` is adopted by its re-created resource. Run by
//! `just test` against the local control plane and moto.

use std::{collections::BTreeMap, time::Duration};

use dynamodb_controller::DynamoDB;
use e2e::{
    Operator, Resources, TIMEOUT, condition, env, install_crds, namespace, wait_for, wait_gone,
    wait_until,
};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::{
    Api, ResourceExt,
    api::{DeleteParams, PostParams},
};
use serde_json::json;
use sns_controller::SNSTopic;
use sqs_controller::SQSQueue;

const TOPIC_KEYS: &[&str] = &["topicARN", "topicName"];
const QUEUE_KEYS: &[&str] = &["queueURL", "queueARN", "queueName", "deadLetterQueueURL"];
const TABLE_KEYS: &[&str] = &["tableName", "tableARN", "region"];

fn missing<'a>(data: &BTreeMap<String, String>, keys: &[&'a str]) -> Vec<&'a str> {
    keys.iter()
        .copied()
        .filter(|k| !data.contains_key(*k))
        .collect()
}

async fn data(cms: &Api<ConfigMap>, name: &str) -> Option<BTreeMap<String, String>> {
    cms.get_opt(name)
        .await
        .ok()?
        .map(|cm| cm.data.unwrap_or_default())
}

#[tokio::test]
async fn kinds_named_alike_share_one_config_map_and_keep_their_keys() {
    let env = env().await;
    install_crds(&env.kube).await;
    let ns = namespace(&env.kube, "outputs-shared", &[]).await;
    let _op = Operator::start(&ns, &[]);
    let (topics, queues, tables) = (
        Resources::<SNSTopic>::new(&env.kube, &ns),
        Resources::<SQSQueue>::new(&env.kube, &ns),
        Resources::<DynamoDB>::new(&env.kube, &ns),
    );
    let cms: Api<ConfigMap> = Api::namespaced(env.kube.clone(), &ns);
    // All three named `orders` in Kubernetes (AWS names of this run's own), resynced every 2 s.
    let aws_name = format!("{ns}-orders");
    let resync = json!({"service-operator.aws/resync-period": "2s"});
    topics
        .create("orders", json!({"topicName": aws_name}), resync.clone())
        .await;
    queues
        .create("orders", json!({"queueName": aws_name}), resync.clone())
        .await;
    tables
        .create(
            "orders",
            json!({"tableName": aws_name, "hashAttribute": {"name": "id", "type": "S"},
                   "billingMode": "PAY_PER_REQUEST"}),
            resync,
        )
        .await;
    topics.wait_ready("orders").await;
    queues.wait_ready("orders").await;
    tables.wait_ready("orders").await;

    let all: Vec<&str> = [TOPIC_KEYS, QUEUE_KEYS, TABLE_KEYS].concat();
    let complete = wait_until(TIMEOUT, || async {
        let d = data(&cms, "orders").await?;
        missing(&d, &all).is_empty().then_some(d)
    })
    .await;
    assert!(
        complete.is_some(),
        "ConfigMap orders never held every kind's keys {all:?}: {:?}",
        data(&cms, "orders").await
    );
    let cm = cms.get("orders").await.unwrap();
    let owners: Vec<String> = cm
        .owner_references()
        .iter()
        .map(|o| o.kind.clone())
        .collect();
    for kind in ["SNSTopic", "SQSQueue", "DynamoDB"] {
        assert!(
            owners.contains(&kind.to_owned()),
            "owners of orders: {owners:?}"
        );
    }
    // Several resyncs later every key is still there, and nobody rewrote the ConfigMap.
    let version = cm.resource_version();
    tokio::time::sleep(Duration::from_secs(7)).await;
    let later = cms.get("orders").await.unwrap();
    let d = later.data.clone().unwrap_or_default();
    assert!(
        missing(&d, &all).is_empty(),
        "keys lost after resyncs: {d:?}"
    );
    assert_eq!(
        later.resource_version(),
        version,
        "the shared ConfigMap was rewritten at a quiet resync"
    );

    // Deleting the queue takes its keys and only its keys.
    queues
        .api
        .delete("orders", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&queues.api, "orders", TIMEOUT).await;
    let after = data(&cms, "orders")
        .await
        .expect("the ConfigMap went with the queue");
    assert!(
        missing(&after, &[TOPIC_KEYS, TABLE_KEYS].concat()).is_empty(),
        "the topic's or table's keys went with the queue: {after:?}"
    );
    assert_eq!(
        missing(&after, QUEUE_KEYS),
        QUEUE_KEYS.to_vec(),
        "the queue's keys stayed after it was deleted: {after:?}"
    );

    // The last one out takes the ConfigMap.
    topics
        .api
        .delete("orders", &DeleteParams::default())
        .await
        .unwrap();
    tables
        .api
        .delete("orders", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&topics.api, "orders", TIMEOUT).await;
    wait_gone(&tables.api, "orders", TIMEOUT).await;
    let gone = wait_until(TIMEOUT, || async {
        cms.get_opt("orders").await.ok()?.is_none().then_some(())
    })
    .await;
    assert!(gone.is_some(), "ConfigMap orders outlived every owner");
}

#[tokio::test]
async fn a_retained_queue_is_adopted_by_its_re_created_resource_and_never_taken_from_a_live_one() {
    let env = env().await;
    install_crds(&env.kube).await;
    let ns = namespace(&env.kube, "adopt-retained", &[]).await;
    let _op = Operator::start(&ns, &[]);
    let queues = Resources::<SQSQueue>::new(&env.kube, &ns);
    let sqs = aws_sdk_sqs::Client::new(&env.aws);
    let name = format!("{ns}-kept");
    let tags = |url: String| {
        let sqs = sqs.clone();
        async move {
            sqs.list_queue_tags()
                .queue_url(url)
                .send()
                .await
                .unwrap()
                .tags
                .unwrap_or_default()
        }
    };

    let first = queues
        .create(
            &name,
            json!({}),
            json!({"service-operator.aws/deletion-policy": "retain"}),
        )
        .await;
    queues.wait_ready(&name).await;
    queues
        .api
        .delete(&name, &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&queues.api, &name, TIMEOUT).await;
    let url = sqs
        .get_queue_url()
        .queue_name(&name)
        .send()
        .await
        .expect("retain deleted the queue")
        .queue_url
        .unwrap();

    // Re-created (a new uid): not taken without asking, and the message says how.
    let second = queues.create(&name, json!({}), json!({})).await;
    assert_ne!(first.uid(), second.uid());
    let refused = wait_for(&queues.api, &name, TIMEOUT, "NotOwned", |o| {
        condition(o, "Terminal").is_some_and(|c| c.reason == "NotOwned")
    })
    .await;
    let message = condition(&refused, "Ready").unwrap().message;
    assert!(
        message.contains("no longer exists") && message.contains("service-operator.aws/adopt"),
        "the NotOwned message does not say the owner is gone and how to adopt: {message}"
    );

    queues
        .annotate(&name, "service-operator.aws/adopt", "true")
        .await;
    let adopted = queues.wait_synced(&name, Some(1)).await;
    let tagged = tags(url.clone()).await;
    assert_eq!(
        tagged.get("service-operator.aws/uid"),
        adopted.uid().as_ref(),
        "the adopted queue's tags do not carry the new uid: {tagged:?}"
    );

    // Another resource naming the same queue, adopt and all, is refused: its owner exists.
    let thief: SQSQueue = serde_json::from_value(json!({
        "apiVersion": "service-operator.aws/v1alpha1", "kind": "SQSQueue",
        "metadata": {"name": "thief", "annotations": {"service-operator.aws/adopt": "true"}},
        "spec": {"queueName": name},
    }))
    .unwrap();
    queues
        .api
        .create(&PostParams::default(), &thief)
        .await
        .unwrap();
    let refused = wait_for(&queues.api, "thief", TIMEOUT, "NotOwned", |o| {
        condition(o, "Terminal").is_some_and(|c| c.reason == "NotOwned")
    })
    .await;
    let message = condition(&refused, "Ready").unwrap().message;
    assert!(
        message.contains(&format!("{ns}/{name}")) && message.contains("still exists"),
        "the refusal does not name the live owner: {message}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        tags(url.clone()).await.get("service-operator.aws/uid"),
        adopted.uid().as_ref(),
        "the queue's ownership tags changed"
    );

    queues
        .api
        .delete("thief", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&queues.api, "thief", TIMEOUT).await;
    queues
        .api
        .delete(&name, &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&queues.api, &name, TIMEOUT).await;
    let gone = wait_until(TIMEOUT, || async {
        sqs.get_queue_url()
            .queue_name(&name)
            .send()
            .await
            .is_err()
            .then_some(())
    })
    .await;
    assert!(
        gone.is_some(),
        "the adopted queue was not deleted with its resource"
    );
}
