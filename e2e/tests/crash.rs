//! A crash right after the create call returns, before anything records its result, for every
//! kind: the operator aborts at a test-only fault point (`ASO_TEST_ABORT_AFTER=<Operation>`, the
//! effect of a kill -9 there), is restarted, and must end with exactly one AWS resource, Ready,
//! tagged as this resource's, without NotOwned and without an adopt annotation. Run by
//! `just test` against the local control plane and moto.

use std::{fmt::Debug, time::Duration};

use dynamodb_controller::DynamoDB;
use e2e::{Env, Operator, Resources, condition, env, install_crds, kubectl_apply, namespace};
use ecr_controller::ECRRepository;
use k8s_openapi::NamespaceResourceScope;
use kube::{Resource, ResourceExt};
use s3_controller::S3Bucket;
use serde::{Serialize, de::DeserializeOwned};
use sns_controller::{SNSSubscription, SNSTopic};
use sqs_controller::SQSQueue;

const UID_TAG: &str = "service-operator.aws/uid";

/// Applies `manifest` to an operator that aborts after `operation`, checks it did, restarts the
/// operator and waits until `name` is Ready; returns the resource and the restarted operator.
async fn crash_and_recover<K>(
    env: &Env,
    ns: &str,
    name: &str,
    manifest: &str,
    operation: &str,
) -> (K, Operator)
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Serialize
        + Debug,
{
    let mut doomed = Operator::start_env(ns, &[("ASO_TEST_ABORT_AFTER", operation)]);
    let (ok, err) = kubectl_apply(ns, manifest);
    assert!(ok, "kubectl apply failed: {err}");
    let exit = doomed.wait_exit(Duration::from_secs(60));
    assert!(
        exit.is_some_and(|s| !s.success()),
        "the operator did not abort after {operation}: {exit:?}\n{}",
        doomed.log_tail()
    );
    drop(doomed);
    let op = Operator::start(ns, &[]);
    let resources = Resources::<K>::new(&env.kube, ns);
    let obj = resources.wait_ready(name).await;
    assert!(
        condition(&obj, "Terminal").is_none(),
        "Terminal after the restart: {:?}",
        condition(&obj, "Terminal")
    );
    assert!(
        !obj.annotations().contains_key("service-operator.aws/adopt"),
        "adopt annotation present"
    );
    (obj, op)
}

fn manifest(kind: &str, name: &str, spec: &str) -> String {
    format!(
        "apiVersion: service-operator.aws/v1alpha1\nkind: {kind}\nmetadata:\n  name: {name}\n{spec}"
    )
}

#[tokio::test]
async fn a_queue_created_just_before_a_crash_is_recovered() {
    let env = env().await;
    install_crds(&env.kube).await;
    let ns = namespace(&env.kube, "crash-sqs", &[]).await;
    let name = format!("{ns}-q");
    let (obj, _op) = crash_and_recover::<SQSQueue>(
        &env,
        &ns,
        &name,
        &manifest("SQSQueue", &name, ""),
        "CreateQueue",
    )
    .await;
    let sqs = aws_sdk_sqs::Client::new(&env.aws);
    let urls = sqs
        .list_queues()
        .queue_name_prefix(&name)
        .send()
        .await
        .unwrap()
        .queue_urls
        .unwrap_or_default();
    let urls: Vec<_> = urls
        .into_iter()
        .filter(|u| u.ends_with(&format!("/{name}")))
        .collect();
    assert_eq!(urls.len(), 1, "queues named {name}: {urls:?}");
    let tags = sqs
        .list_queue_tags()
        .queue_url(&urls[0])
        .send()
        .await
        .unwrap()
        .tags
        .unwrap_or_default();
    assert_eq!(tags.get(UID_TAG), obj.uid().as_ref(), "{tags:?}");
}

#[tokio::test]
async fn a_topic_and_a_subscription_created_just_before_a_crash_are_recovered() {
    let env = env().await;
    install_crds(&env.kube).await;
    let ns = namespace(&env.kube, "crash-sns", &[]).await;
    let (topic, queue) = (format!("{ns}-t"), format!("{ns}-q"));
    let (obj, op) = crash_and_recover::<SNSTopic>(
        &env,
        &ns,
        &topic,
        &manifest("SNSTopic", &topic, ""),
        "CreateTopic",
    )
    .await;
    let sns = aws_sdk_sns::Client::new(&env.aws);
    let topics: Vec<String> = sns
        .list_topics()
        .send()
        .await
        .unwrap()
        .topics
        .unwrap_or_default()
        .into_iter()
        .filter_map(|t| t.topic_arn)
        .filter(|a| a.ends_with(&format!(":{topic}")))
        .collect();
    assert_eq!(topics.len(), 1, "topics named {topic}: {topics:?}");
    let tags = sns
        .list_tags_for_resource()
        .resource_arn(&topics[0])
        .send()
        .await
        .unwrap()
        .tags
        .unwrap_or_default();
    assert!(
        tags.iter()
            .any(|t| t.key() == UID_TAG && Some(t.value()) == obj.uid().as_deref()),
        "{tags:?}"
    );

    // The subscription: its topic and queue Ready first, then the crash right after Subscribe.
    let (ok, err) = kubectl_apply(&ns, &manifest("SQSQueue", &queue, ""));
    assert!(ok, "{err}");
    Resources::<SQSQueue>::new(&env.kube, &ns)
        .wait_ready(&queue)
        .await;
    drop(op);
    let spec = format!("spec:\n  topicName: {topic}\n  protocol: sqs\n  endpoint: {queue}\n");
    let (sub, _op) = crash_and_recover::<SNSSubscription>(
        &env,
        &ns,
        "sub",
        &manifest("SNSSubscription", "sub", &spec),
        "Subscribe",
    )
    .await;
    let listed = sns
        .list_subscriptions_by_topic()
        .topic_arn(&topics[0])
        .send()
        .await
        .unwrap()
        .subscriptions
        .unwrap_or_default();
    assert_eq!(listed.len(), 1, "subscriptions on {topic}: {listed:?}");
    assert_eq!(
        sub.status.as_ref().and_then(|s| s.arn.as_deref()),
        listed[0].subscription_arn(),
        "status.arn does not record the one subscription"
    );
}

#[tokio::test]
async fn a_bucket_created_just_before_its_tags_is_recovered() {
    let env = env().await;
    install_crds(&env.kube).await;
    let ns = namespace(&env.kube, "crash-s3", &[]).await;
    let name = format!("{ns}-b");
    // CreateBucket and PutBucketTagging are two calls: the crash falls between them.
    let (obj, _op) = crash_and_recover::<S3Bucket>(
        &env,
        &ns,
        &name,
        &manifest("S3Bucket", &name, ""),
        "CreateBucket",
    )
    .await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&env.aws)
            .force_path_style(true)
            .build(),
    );
    let tags = s3
        .get_bucket_tagging()
        .bucket(&name)
        .send()
        .await
        .expect("the recovered bucket carries no tags")
        .tag_set;
    assert!(
        tags.iter()
            .any(|t| t.key() == UID_TAG && Some(t.value()) == obj.uid().as_deref()),
        "{tags:?}"
    );
}

#[tokio::test]
async fn a_table_created_just_before_a_crash_is_recovered() {
    let env = env().await;
    install_crds(&env.kube).await;
    let ns = namespace(&env.kube, "crash-ddb", &[]).await;
    let name = format!("{ns}-t");
    let spec =
        "spec:\n  hashAttribute:\n    name: id\n    type: S\n  billingMode: PAY_PER_REQUEST\n";
    let (obj, _op) = crash_and_recover::<DynamoDB>(
        &env,
        &ns,
        &name,
        &manifest("DynamoDB", &name, spec),
        "CreateTable",
    )
    .await;
    let ddb = aws_sdk_dynamodb::Client::new(&env.aws);
    let arn = obj.status.as_ref().and_then(|s| s.arn.clone()).unwrap();
    let tags = ddb
        .list_tags_of_resource()
        .resource_arn(arn)
        .send()
        .await
        .unwrap()
        .tags
        .unwrap_or_default();
    assert!(
        tags.iter()
            .any(|t| t.key() == UID_TAG && Some(t.value()) == obj.uid().as_deref()),
        "{tags:?}"
    );
}

#[tokio::test]
async fn a_repository_created_just_before_a_crash_is_recovered() {
    let env = env().await;
    install_crds(&env.kube).await;
    let ns = namespace(&env.kube, "crash-ecr", &[]).await;
    let name = format!("{ns}-r");
    let (obj, _op) = crash_and_recover::<ECRRepository>(
        &env,
        &ns,
        &name,
        &manifest("ECRRepository", &name, ""),
        "CreateRepository",
    )
    .await;
    let ecr = aws_sdk_ecr::Client::new(&env.aws);
    let arn = obj.status.as_ref().and_then(|s| s.arn.clone()).unwrap();
    let tags = ecr
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .unwrap()
        .tags
        .unwrap_or_default();
    assert!(
        tags.iter()
            .any(|t| t.key() == UID_TAG && t.value() == obj.uid().as_deref().unwrap_or("")),
        "{tags:?}"
    );
}
