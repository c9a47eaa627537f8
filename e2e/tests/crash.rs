//! A crash right after the create call returns, before anything records its result, for every
//! kind: the operator aborts at a test-only fault point (`ASO_TEST_ABORT_AFTER=<Operation>`, the
//! effect of a kill -9 there), is restarted, and must end with exactly one AWS resource, Ready,
//! tagged as this resource's, without NotOwned and without an adopt annotation. Run by
//! `just test` against the local control plane and moto.

use std::{fmt::Debug, time::Duration};

use dynamodb_controller::DynamoDB;
use e2e::{
    Aws, Env, Operator, Resources, condition, env, install_crds, kubectl, kubectl_apply, namespace,
    wait_until,
};
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
    abort_after(ns, manifest, operation);
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
    let aws = Aws::new(&env.aws);
    let urls = aws.queues_named(&name).await;
    assert_eq!(urls.len(), 1, "queues named {name}: {urls:?}");
    let tags = aws.queue_tags(&urls[0]).await;
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
    let aws = Aws::new(&env.aws);
    let topics = aws.topics_named(&topic).await;
    assert_eq!(topics.len(), 1, "topics named {topic}: {topics:?}");
    let tags = aws.topic_tags(&topics[0]).await;
    assert_eq!(tags.get(UID_TAG), obj.uid().as_ref(), "{tags:?}");

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
    let listed = aws.subscriptions(&topics[0]).await;
    assert_eq!(listed.len(), 1, "subscriptions on {topic}: {listed:?}");
    assert_eq!(
        sub.status.as_ref().and_then(|s| s.arn.as_deref()),
        Some(listed[0].0.as_str()),
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
    let tags = Aws::new(&env.aws)
        .bucket_tags(&name)
        .await
        .expect("the recovered bucket carries no tags");
    assert_eq!(tags.get(UID_TAG), obj.uid().as_ref(), "{tags:?}");
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

/// Starts an operator that aborts after `operation`, applies `manifest` and waits for the abort.
/// The doomed operator is gone when this returns.
fn abort_after(ns: &str, manifest: &str, operation: &str) {
    let mut doomed = Operator::start_env(ns, &[("ASO_TEST_ABORT_AFTER", operation)]);
    let (ok, err) = kubectl_apply(ns, manifest);
    assert!(ok, "{err}");
    let exit = doomed.wait_exit(Duration::from_secs(60));
    assert!(
        exit.is_some_and(|s| !s.success()),
        "the operator did not abort after {operation}: {exit:?}\n{}",
        doomed.log_tail()
    );
}

/// The operator dies right after a create; the resource is deleted while it is down. The
/// restarted operator deletes what the interrupted create made (found through the create intent
/// in status): a subscription, which carries no tags and whose ARN status never recorded, and a
/// bucket, which never got its tags. Nothing is left in AWS.
#[tokio::test]
async fn what_an_interrupted_create_made_goes_with_its_resource() {
    let env = env().await;
    install_crds(&env.kube).await;
    let aws = Aws::new(&env.aws);
    // One namespace each: an operator that runs for one abort would recover the other.
    let ns = namespace(&env.kube, "crash-delete-sns", &[]).await;
    let bucket_ns = namespace(&env.kube, "crash-delete-s3", &[]).await;
    let (topic, queue, bucket) = (
        format!("{ns}-t"),
        format!("{ns}-q"),
        format!("{bucket_ns}-b"),
    );
    let op = Operator::start(&ns, &[]);
    let (ok, err) = kubectl_apply(
        &ns,
        &format!(
            "{}\n---\n{}",
            manifest("SNSTopic", &topic, ""),
            manifest("SQSQueue", &queue, "")
        ),
    );
    assert!(ok, "{err}");
    Resources::<SNSTopic>::new(&env.kube, &ns)
        .wait_ready(&topic)
        .await;
    Resources::<SQSQueue>::new(&env.kube, &ns)
        .wait_ready(&queue)
        .await;
    drop(op);

    let spec = format!("spec:\n  topicName: {topic}\n  protocol: sqs\n  endpoint: {queue}\n");
    abort_after(&ns, &manifest("SNSSubscription", "sub", &spec), "Subscribe");
    abort_after(
        &bucket_ns,
        &manifest("S3Bucket", &bucket, ""),
        "CreateBucket",
    );
    let topic_arn = aws.topics_named(&topic).await.pop().expect("the topic");
    assert_eq!(
        aws.subscriptions(&topic_arn).await.len(),
        1,
        "Subscribe ran"
    );
    assert_eq!(aws.buckets(&bucket).await.len(), 1, "CreateBucket ran");
    let subs = Resources::<SNSSubscription>::new(&env.kube, &ns);
    let created = subs.api.get("sub").await.unwrap();
    assert!(
        created
            .status
            .as_ref()
            .is_some_and(|s| s.create_pending.is_some() && s.arn.is_none()),
        "expected a create intent without an ARN: {:?}",
        created.status
    );

    // Deleted while no operator runs: the finalizers hold them until one does.
    kubectl(&["-n", &ns, "delete", "--wait=false", "snssubscription/sub"]);
    kubectl(&[
        "-n",
        &bucket_ns,
        "delete",
        "--wait=false",
        &format!("s3bucket/{bucket}"),
    ]);
    let (_op, _bucket_op) = (Operator::start(&ns, &[]), Operator::start(&bucket_ns, &[]));
    let gone = wait_until(Duration::from_secs(60), || async {
        (aws.subscriptions(&topic_arn).await.is_empty() && aws.buckets(&bucket).await.is_empty())
            .then_some(())
    })
    .await;
    assert!(
        gone.is_some(),
        "left in AWS: subscriptions {:?}, buckets {:?}",
        aws.subscriptions(&topic_arn).await,
        aws.buckets(&bucket).await
    );
    e2e::wait_gone(&subs.api, "sub", Duration::from_secs(30)).await;
    e2e::wait_gone(
        &Resources::<S3Bucket>::new(&env.kube, &bucket_ns).api,
        &bucket,
        Duration::from_secs(30),
    )
    .await;
}
