//! The original AWS Service Operator's own example manifests (`e2e/examples/original/`, its
//! `examples/` folder), applied unchanged: each must make the AWS resource the original made and
//! write every output key the original wrote, to the ConfigMap and to `status.output`. Run by
//! `just test`.
//!
//! The AWS names in these manifests are fixed, not per run, and moto is shared by every test of a
//! run: each test first removes what a failed earlier run may have left under those names, and the
//! two manifests that share the queue `example-sqs-queue-name` run one after the other in a single
//! test. Custom resources are read as `DynamicObject`s, so the test depends only on the CRDs.

use std::{
    collections::{BTreeMap, HashMap},
    process::Command,
    time::Duration,
};

use aws_sdk_dynamodb::types::{KeyType, ScalarAttributeType};
use aws_sdk_s3::types::BucketVersioningStatus;
use aws_sdk_sqs::types::QueueAttributeName;
use e2e::{
    Operator, env, install_crds, is_ready, kubectl_apply, namespace, wait_for, wait_gone,
    wait_until,
};
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use kube::{
    Api, Client,
    api::{ApiResource, DeleteParams, DynamicObject, GroupVersionKind},
};
use serde_json::Value;

/// How long one resource may take to become Ready.
const READY: Duration = Duration::from_secs(60);
/// How long several resources applied together may take.
const READY_SEVERAL: Duration = Duration::from_secs(120);
/// How long deletions may take, in Kubernetes and in AWS.
const GONE: Duration = Duration::from_secs(60);
/// The prefix of the Sid of the queue-policy statement the operator adds for a subscription.
const GRANT_SID: &str = "ServiceOperatorAwsSns";

/// One of the original manifests: its path (for `kubectl delete -f`) and its text.
struct Original {
    path: &'static str,
    text: &'static str,
}

macro_rules! original {
    ($file:literal) => {
        Original {
            path: concat!(env!("CARGO_MANIFEST_DIR"), "/examples/original/", $file),
            text: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/examples/original/",
                $file
            )),
        }
    };
}

const DYNAMODB: Original = original!("dynamodb.yaml");
const ECR_REPOSITORY: Original = original!("ecrrepository.yaml");
const S3_BUCKET: Original = original!("s3bucket.yaml");
const SNS_TOPIC: Original = original!("snstopic.yaml");
const SQS_QUEUE: Original = original!("sqsqueue.yaml");
const SNS_SUBSCRIPTION: Original = original!("snssubscription.yaml");
const SNS_SQS_SUB: Original = original!("snssqssub.yaml");

/// A kind of the operator's API group, for `Api<DynamicObject>`.
fn kind(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("service-operator.aws", "v1alpha1", kind),
        plural,
    )
}

/// The cluster, one namespace, and a client per AWS service.
struct Setup {
    kube: Client,
    ns: String,
    region: String,
    ddb: aws_sdk_dynamodb::Client,
    ecr: aws_sdk_ecr::Client,
    s3: aws_sdk_s3::Client,
    sqs: aws_sdk_sqs::Client,
    sns: aws_sdk_sns::Client,
}

async fn setup(test: &str) -> Setup {
    let env = env().await;
    install_crds(&env.kube).await;
    let ns = namespace(&env.kube, test, &[]).await;
    let region = env
        .aws
        .region()
        .expect("no AWS region configured: the tests need AWS_REGION (just up exports it)")
        .to_string();
    // moto on 127.0.0.1 cannot serve virtual-hosted bucket names.
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&env.aws)
            .force_path_style(true)
            .build(),
    );
    Setup {
        ns,
        region,
        ddb: aws_sdk_dynamodb::Client::new(&env.aws),
        ecr: aws_sdk_ecr::Client::new(&env.aws),
        s3,
        sqs: aws_sdk_sqs::Client::new(&env.aws),
        sns: aws_sdk_sns::Client::new(&env.aws),
        kube: env.kube,
    }
}

/// Runs kubectl; whether it exited 0, its stdout and its stderr.
fn run_kubectl(args: &[&str]) -> (bool, String, String) {
    let out = Command::new("kubectl")
        .args(args)
        .output()
        .expect("kubectl is not on PATH; source the env `just up` prints");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A JSON value that may be one string or a list of them (as in IAM policies) holds `want`.
fn holds(value: Option<&Value>, want: &str, ignore_case: bool) -> bool {
    let matches = |v: &Value| {
        v.as_str().is_some_and(|s| {
            if ignore_case {
                s.eq_ignore_ascii_case(want)
            } else {
                s == want
            }
        })
    };
    match value {
        Some(Value::Array(items)) => items.iter().any(matches),
        Some(v) => matches(v),
        None => false,
    }
}

/// The statements of a policy document (`Statement` may be one object or a list).
fn statements(policy: &Value) -> Vec<&Value> {
    match policy.get("Statement") {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => Vec::new(),
    }
}

fn sid(statement: &Value) -> &str {
    statement.get("Sid").and_then(Value::as_str).unwrap_or("")
}

/// Whether the statement lets SNS topic `topic_arn` send messages to queue `queue_arn`, as the
/// operator's grant for a subscription must.
fn grants_topic(statement: &Value, queue_arn: &str, topic_arn: &str) -> bool {
    let source_arn = |operator: &str| {
        statement
            .pointer(&format!("/Condition/{operator}"))
            .and_then(Value::as_object)
            .is_some_and(|keys| {
                keys.iter().any(|(key, value)| {
                    key.eq_ignore_ascii_case("aws:SourceArn")
                        && holds(Some(value), topic_arn, false)
                })
            })
    };
    statement.get("Effect").and_then(Value::as_str) == Some("Allow")
        && holds(
            statement.pointer("/Principal/Service"),
            "sns.amazonaws.com",
            false,
        )
        && holds(statement.get("Action"), "sqs:SendMessage", true)
        && holds(statement.get("Resource"), queue_arn, false)
        && (source_arn("ArnEquals") || source_arn("ArnLike"))
}

/// A policy attribute parsed; absent or empty is `None`.
fn parse_policy(policy: Option<&String>) -> Option<Value> {
    let text = policy.filter(|p| !p.trim().is_empty())?;
    Some(
        serde_json::from_str(text)
            .unwrap_or_else(|e| panic!("the queue Policy is not JSON ({e}): {text}")),
    )
}

impl Setup {
    fn api(&self, resource: &ApiResource) -> Api<DynamicObject> {
        Api::namespaced_with(self.kube.clone(), &self.ns, resource)
    }

    async fn apply(&self, manifest: &Original) {
        let (ok, err) = kubectl_apply(&self.ns, manifest.text);
        assert!(
            ok,
            "expected `kubectl apply -f {}` of the original manifest to succeed; it failed: {err}",
            manifest.path
        );
    }

    fn delete_file(&self, manifest: &Original) {
        let (ok, _, err) = run_kubectl(&[
            "delete",
            "-n",
            &self.ns,
            "-f",
            manifest.path,
            "--wait=false",
        ]);
        assert!(
            ok,
            "expected `kubectl delete -f {}` to succeed; it failed: {err}",
            manifest.path
        );
    }

    async fn wait_ready(
        &self,
        resource: &ApiResource,
        name: &str,
        timeout: Duration,
    ) -> DynamicObject {
        wait_for(&self.api(resource), name, timeout, "Ready", is_ready).await
    }

    async fn delete(&self, resource: &ApiResource, name: &str) {
        self.api(resource)
            .delete(name, &DeleteParams::default())
            .await
            .unwrap_or_else(|e| panic!("deleting {} {name}: {e}", resource.kind));
    }

    /// Waits until the resource's ConfigMap holds every one of `keys` and its `status.output`
    /// equals the ConfigMap's data; returns that data.
    async fn outputs(
        &self,
        resource: &ApiResource,
        name: &str,
        keys: &[&str],
    ) -> BTreeMap<String, String> {
        let cms: Api<ConfigMap> = Api::namespaced(self.kube.clone(), &self.ns);
        let api = self.api(resource);
        let last = std::sync::Mutex::new((None, None));
        let found = wait_until(Duration::from_secs(30), || async {
            let data = cms
                .get_opt(name)
                .await
                .ok()
                .flatten()
                .map(|cm| cm.data.unwrap_or_default());
            let output = api
                .get_opt(name)
                .await
                .ok()
                .flatten()
                .and_then(|o| o.data.pointer("/status/output").cloned());
            *last.lock().unwrap() = (data.clone(), output.clone());
            let data = data?;
            let output: BTreeMap<String, String> = serde_json::from_value(output?).ok()?;
            (keys.iter().all(|k| data.contains_key(*k)) && output == data).then_some(data)
        })
        .await;
        let (data, output) = last.into_inner().unwrap();
        found.unwrap_or_else(|| {
            let missing: Vec<&&str> = match &data {
                Some(d) => keys.iter().filter(|k| !d.contains_key(**k)).collect(),
                None => keys.iter().collect(),
            };
            panic!(
                "{kind} {name}: expected the ConfigMap {name} to hold every key the original \
                 wrote, {keys:?}, and status.output to hold the same keys and values; after 30 s \
                 the ConfigMap's data is {data:?} (missing {missing:?}) and status.output is \
                 {output:?}",
                kind = resource.kind,
            )
        })
    }

    // --- DynamoDB ---

    async fn table(&self, name: &str) -> Option<aws_sdk_dynamodb::types::TableDescription> {
        match self.ddb.describe_table().table_name(name).send().await {
            Ok(out) => out.table,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                None
            }
            Err(e) => panic!("DescribeTable {name}: {e:?}"),
        }
    }

    async fn remove_leftover_table(&self, name: &str) {
        if self.table(name).await.is_none() {
            return;
        }
        let _ = self
            .ddb
            .update_table()
            .table_name(name)
            .deletion_protection_enabled(false)
            .send()
            .await;
        let _ = self.ddb.delete_table().table_name(name).send().await;
        let gone = wait_until(GONE, || async {
            self.table(name).await.is_none().then_some(())
        })
        .await;
        assert!(
            gone.is_some(),
            "the leftover table {name} could not be deleted"
        );
    }

    // --- ECR ---

    async fn repository(&self, name: &str) -> Option<aws_sdk_ecr::types::Repository> {
        match self
            .ecr
            .describe_repositories()
            .repository_names(name)
            .send()
            .await
        {
            Ok(out) => out.repositories().first().cloned(),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_repository_not_found_exception()) =>
            {
                None
            }
            Err(e) => panic!("DescribeRepositories {name}: {e:?}"),
        }
    }

    async fn remove_leftover_repository(&self, name: &str) {
        if self.repository(name).await.is_none() {
            return;
        }
        let _ = self
            .ecr
            .delete_repository()
            .repository_name(name)
            .force(true)
            .send()
            .await;
        let gone = wait_until(GONE, || async {
            self.repository(name).await.is_none().then_some(())
        })
        .await;
        assert!(
            gone.is_some(),
            "the leftover repository {name} could not be deleted"
        );
    }

    // --- S3 ---

    async fn bucket_exists(&self, bucket: &str) -> bool {
        match self.s3.head_bucket().bucket(bucket).send().await {
            Ok(_) => true,
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => false,
            Err(e) => panic!("HeadBucket {bucket}: {e:?}"),
        }
    }

    /// `None` when never enabled. moto answers with a root element the SDK refuses, so the
    /// status is then read from the body.
    async fn versioning(&self, bucket: &str) -> Option<BucketVersioningStatus> {
        match self.s3.get_bucket_versioning().bucket(bucket).send().await {
            Ok(out) => out.status().cloned(),
            Err(e) if e.raw_response().is_some_and(|r| r.status().is_success()) => {
                let body = e.raw_response()?.body().bytes()?;
                let body = String::from_utf8_lossy(body);
                ["Enabled", "Suspended"]
                    .into_iter()
                    .find(|s| body.contains(&format!("<Status>{s}</Status>")))
                    .map(BucketVersioningStatus::from)
            }
            Err(e) => panic!("GetBucketVersioning {bucket}: {e:?}"),
        }
    }

    async fn remove_leftover_bucket(&self, bucket: &str) {
        if !self.bucket_exists(bucket).await {
            return;
        }
        if let Ok(out) = self.s3.list_object_versions().bucket(bucket).send().await {
            let versions = out
                .versions()
                .iter()
                .map(|v| (v.key(), v.version_id()))
                .chain(
                    out.delete_markers()
                        .iter()
                        .map(|m| (m.key(), m.version_id())),
                );
            for (key, version) in versions {
                if let Some(key) = key {
                    let _ = self
                        .s3
                        .delete_object()
                        .bucket(bucket)
                        .key(key)
                        .set_version_id(version.map(str::to_owned))
                        .send()
                        .await;
                }
            }
        }
        let _ = self.s3.delete_bucket().bucket(bucket).send().await;
        let gone = wait_until(GONE, || async {
            (!self.bucket_exists(bucket).await).then_some(())
        })
        .await;
        assert!(
            gone.is_some(),
            "the leftover bucket {bucket} could not be deleted"
        );
    }

    // --- SQS ---

    async fn queue_url(&self, queue: &str) -> Option<String> {
        match self.sqs.get_queue_url().queue_name(queue).send().await {
            Ok(out) => out.queue_url,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_queue_does_not_exist()) =>
            {
                None
            }
            Err(e) => panic!("GetQueueUrl {queue}: {e:?}"),
        }
    }

    /// Every attribute of the queue, by name; `None` when the queue does not exist.
    async fn queue_attributes(&self, queue: &str) -> Option<HashMap<String, String>> {
        let url = self.queue_url(queue).await?;
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .ok()?;
        Some(
            out.attributes
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k.as_str().to_owned(), v))
                .collect(),
        )
    }

    async fn remove_leftover_queue(&self, queue: &str) {
        let Some(url) = self.queue_url(queue).await else {
            return;
        };
        let _ = self.sqs.delete_queue().queue_url(url).send().await;
        let gone = wait_until(GONE, || async {
            self.queue_url(queue).await.is_none().then_some(())
        })
        .await;
        assert!(
            gone.is_some(),
            "the leftover queue {queue} could not be deleted"
        );
    }

    /// Message bodies received from the queue within `wait`.
    async fn receive(&self, queue: &str, wait: Duration) -> Vec<String> {
        let url = self
            .queue_url(queue)
            .await
            .unwrap_or_else(|| panic!("expected queue {queue} to exist; it does not"));
        let mut bodies = Vec::new();
        let deadline = std::time::Instant::now() + wait;
        while bodies.is_empty() && std::time::Instant::now() < deadline {
            let out = self
                .sqs
                .receive_message()
                .queue_url(&url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .unwrap();
            bodies.extend(
                out.messages()
                    .iter()
                    .filter_map(|m| m.body().map(str::to_owned)),
            );
        }
        bodies
    }

    // --- SNS ---

    /// The topic's ARN, found by name; `None` when it does not exist.
    async fn topic_arn(&self, topic: &str) -> Option<String> {
        let mut token = None;
        loop {
            let out = self
                .sns
                .list_topics()
                .set_next_token(token)
                .send()
                .await
                .unwrap();
            if let Some(arn) = out
                .topics()
                .iter()
                .filter_map(|t| t.topic_arn())
                .find(|a| a.rsplit(':').next() == Some(topic))
            {
                return Some(arn.to_owned());
            }
            token = out.next_token.clone();
            token.as_ref()?;
        }
    }

    /// Every subscription in the account: (subscription ARN, topic ARN, protocol, endpoint).
    async fn all_subscriptions(&self) -> Vec<(String, String, String, String)> {
        let mut subscriptions = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .sns
                .list_subscriptions()
                .set_next_token(token)
                .send()
                .await
                .unwrap();
            subscriptions.extend(out.subscriptions().iter().map(|s| {
                (
                    s.subscription_arn().unwrap_or_default().to_owned(),
                    s.topic_arn().unwrap_or_default().to_owned(),
                    s.protocol().unwrap_or_default().to_owned(),
                    s.endpoint().unwrap_or_default().to_owned(),
                )
            }));
            token = out.next_token.clone();
            if token.is_none() {
                return subscriptions;
            }
        }
    }

    /// The topic's subscriptions as (subscription ARN, protocol, endpoint); `Err` with the error
    /// when ListSubscriptionsByTopic fails (NotFound once the topic is gone).
    async fn topic_subscriptions(
        &self,
        topic_arn: &str,
    ) -> Result<
        Vec<(String, String, String)>,
        aws_sdk_sns::error::SdkError<
            aws_sdk_sns::operation::list_subscriptions_by_topic::ListSubscriptionsByTopicError,
        >,
    > {
        let out = self
            .sns
            .list_subscriptions_by_topic()
            .topic_arn(topic_arn)
            .send()
            .await?;
        Ok(out
            .subscriptions()
            .iter()
            .map(|s| {
                (
                    s.subscription_arn().unwrap_or_default().to_owned(),
                    s.protocol().unwrap_or_default().to_owned(),
                    s.endpoint().unwrap_or_default().to_owned(),
                )
            })
            .collect())
    }

    /// Unsubscribes whatever a failed earlier run left on these topics or to this queue, then
    /// deletes the topics.
    async fn remove_leftover_topics(&self, topics: &[&str], queue: &str) {
        let on_ours = |topic_arn: &str, endpoint: &str| {
            topics
                .iter()
                .any(|t| topic_arn.rsplit(':').next() == Some(*t))
                || endpoint.rsplit(':').next() == Some(queue)
        };
        for (arn, topic_arn, _, endpoint) in self.all_subscriptions().await {
            if on_ours(&topic_arn, &endpoint) && arn.starts_with("arn:") {
                let _ = self.sns.unsubscribe().subscription_arn(arn).send().await;
            }
        }
        for topic in topics {
            if let Some(arn) = self.topic_arn(topic).await {
                let _ = self.sns.delete_topic().topic_arn(arn).send().await;
            }
            let gone = wait_until(GONE, || async {
                self.topic_arn(topic).await.is_none().then_some(())
            })
            .await;
            assert!(
                gone.is_some(),
                "the leftover topic {topic} could not be deleted"
            );
        }
    }
}

#[tokio::test]
async fn original_dynamodb_example_makes_the_table_and_its_outputs() {
    let s = setup("orig-dynamodb").await;
    let table_name = "example-table-name";
    s.remove_leftover_table(table_name).await;
    let _op = Operator::start(&s.ns, &[]);
    let ddb = kind("DynamoDB", "dynamodbs");

    s.apply(&DYNAMODB).await;
    s.wait_ready(&ddb, table_name, READY).await;

    let table = s.table(table_name).await.unwrap_or_else(|| {
        panic!("expected DynamoDB table {table_name} to exist in AWS; DescribeTable found none")
    });
    let keys: Vec<(&str, &KeyType)> = table
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name(), k.key_type()))
        .collect();
    assert_eq!(
        keys,
        vec![("user_id", &KeyType::Hash), ("created_at", &KeyType::Range)],
        "expected the key schema user_id HASH, created_at RANGE; found {keys:?}"
    );
    let mut attributes: Vec<(&str, &ScalarAttributeType)> = table
        .attribute_definitions()
        .iter()
        .map(|a| (a.attribute_name(), a.attribute_type()))
        .collect();
    attributes.sort_by_key(|(name, _)| *name);
    assert_eq!(
        attributes,
        vec![
            ("created_at", &ScalarAttributeType::S),
            ("user_id", &ScalarAttributeType::S)
        ],
        "expected attributes user_id and created_at of type S; found {attributes:?}"
    );
    let throughput = table.provisioned_throughput().map(|t| {
        (
            t.read_capacity_units().unwrap_or_default(),
            t.write_capacity_units().unwrap_or_default(),
        )
    });
    assert_eq!(
        throughput,
        Some((5, 5)),
        "expected 5 read and 5 write capacity units; found (read, write) {throughput:?}"
    );
    let arn = table.table_arn().unwrap_or_default().to_owned();

    let data = s
        .outputs(&ddb, table_name, &["tableName", "tableARN", "region"])
        .await;
    for (key, want) in [
        ("tableName", table_name),
        ("tableARN", arn.as_str()),
        ("region", s.region.as_str()),
    ] {
        assert_eq!(
            data.get(key).map(String::as_str),
            Some(want),
            "expected output {key} = {want:?}; found {:?}",
            data.get(key)
        );
    }

    s.delete_file(&DYNAMODB);
    wait_gone(&s.api(&ddb), table_name, GONE).await;
    let gone = wait_until(GONE, || async {
        s.table(table_name).await.is_none().then_some(())
    })
    .await;
    assert!(
        gone.is_some(),
        "expected table {table_name} to be deleted from AWS with its resource; it still exists"
    );
}

#[tokio::test]
async fn original_ecrrepository_example_without_a_spec_makes_the_repository() {
    let s = setup("orig-ecr").await;
    let name = "example-repository-name";
    s.remove_leftover_repository(name).await;
    let _op = Operator::start(&s.ns, &[]);
    let ecr = kind("ECRRepository", "ecrrepositories");

    s.apply(&ECR_REPOSITORY).await;
    let obj = s.wait_ready(&ecr, name, READY).await;

    // The manifest has no spec key: the API server stores one (defaulted).
    let spec = obj.data.get("spec");
    assert!(
        spec.is_some_and(Value::is_object),
        "expected the stored ECRRepository to have a spec object (`{{}}` or defaults); found {spec:?}"
    );

    let repository = s.repository(name).await.unwrap_or_else(|| {
        panic!("expected ECR repository {name} to exist in AWS; DescribeRepositories found none")
    });
    assert_eq!(
        repository.repository_name(),
        Some(name),
        "expected the repository to be named after metadata.name {name:?}; found {:?}",
        repository.repository_name()
    );
    let arn = repository.repository_arn().unwrap_or_default().to_owned();
    let uri = repository.repository_uri().unwrap_or_default().to_owned();

    let data = s
        .outputs(
            &ecr,
            name,
            &["repositoryName", "repositoryARN", "repositoryURL"],
        )
        .await;
    for (key, want) in [
        ("repositoryName", name),
        ("repositoryARN", arn.as_str()),
        ("repositoryURL", uri.as_str()),
    ] {
        assert_eq!(
            data.get(key).map(String::as_str),
            Some(want),
            "expected output {key} = {want:?}; found {:?}",
            data.get(key)
        );
    }

    // The original's readme flow.
    let (ok, out, err) = run_kubectl(&["get", "ecr", name, "-n", &s.ns]);
    assert!(
        ok && out.contains(name),
        "expected `kubectl get ecr {name}` to succeed and list it; exit ok={ok}, stdout: {out}, stderr: {err}"
    );
    let (ok, out, err) = run_kubectl(&["describe", "ecr", name, "-n", &s.ns]);
    assert!(
        ok,
        "expected `kubectl describe ecr {name}` to exit 0; it failed: {err}\nstdout: {out}"
    );

    s.delete_file(&ECR_REPOSITORY);
    wait_gone(&s.api(&ecr), name, GONE).await;
    let gone = wait_until(GONE, || async {
        s.repository(name).await.is_none().then_some(())
    })
    .await;
    assert!(
        gone.is_some(),
        "expected repository {name} to be deleted from AWS with its resource; it still exists"
    );
}

#[tokio::test]
async fn original_s3bucket_example_makes_the_website_bucket_and_its_service() {
    let s = setup("orig-s3").await;
    let bucket = "example-bucket-name";
    s.remove_leftover_bucket(bucket).await;
    let _op = Operator::start(&s.ns, &[]);
    let s3 = kind("S3Bucket", "s3buckets");

    s.apply(&S3_BUCKET).await;
    let obj = s.wait_ready(&s3, bucket, READY).await;

    assert!(
        s.bucket_exists(bucket).await,
        "expected bucket {bucket} to exist in AWS; HeadBucket found none"
    );
    let versioning = s.versioning(bucket).await;
    assert_eq!(
        versioning,
        Some(BucketVersioningStatus::Enabled),
        "expected versioning Enabled; found {versioning:?}"
    );
    let website = s
        .s3
        .get_bucket_website()
        .bucket(bucket)
        .send()
        .await
        .unwrap_or_else(|e| panic!("expected a website configuration on {bucket}; found: {e:?}"));
    let documents = (
        website.index_document().map(|d| d.suffix()),
        website.error_document().map(|d| d.key()),
    );
    assert_eq!(
        documents,
        (Some("index.html"), Some("500.html")),
        "expected website index document index.html and error document 500.html; found {documents:?}"
    );

    let data = s
        .outputs(
            &s3,
            bucket,
            &[
                "bucketName",
                "bucketARN",
                "serviceName",
                "region",
                "bucketURL",
                "websiteURL",
            ],
        )
        .await;
    let region = s.region.as_str();
    for (key, want) in [
        ("bucketName", bucket.to_owned()),
        ("bucketARN", format!("arn:aws:s3:::{bucket}")),
        ("region", region.to_owned()),
        (
            "bucketURL",
            format!("https://{bucket}.s3.{region}.amazonaws.com"),
        ),
    ] {
        assert_eq!(
            data.get(key),
            Some(&want),
            "expected output {key} = {want:?}; found {:?}",
            data.get(key)
        );
    }
    let website_url = &data["websiteURL"];
    assert!(
        website_url.contains(bucket) && website_url.contains("s3-website"),
        "expected websiteURL to be the bucket's website endpoint; found {website_url:?}"
    );
    let service_name = data["serviceName"].clone();
    assert!(
        !service_name.is_empty(),
        "expected serviceName to name a Service; found an empty value"
    );

    // The Service the original made for the bucket.
    let services: Api<Service> = Api::namespaced(s.kube.clone(), &s.ns);
    let service = wait_for(
        &services,
        &service_name,
        Duration::from_secs(30),
        "present",
        |_| true,
    )
    .await;
    let spec = service.spec.clone().unwrap_or_default();
    assert_eq!(
        spec.type_.as_deref(),
        Some("ExternalName"),
        "expected Service {service_name} of type ExternalName; found {:?}",
        spec.type_
    );
    let external = format!("{bucket}.s3.{region}.amazonaws.com");
    assert_eq!(
        spec.external_name.as_deref(),
        Some(external.as_str()),
        "expected Service {service_name} spec.externalName {external:?}; found {:?}",
        spec.external_name
    );
    let ports: Vec<i32> = spec.ports.iter().flatten().map(|p| p.port).collect();
    assert!(
        ports.contains(&443),
        "expected Service {service_name} to have port 443; found ports {ports:?}"
    );
    let owners = service
        .metadata
        .owner_references
        .clone()
        .unwrap_or_default();
    assert!(
        owners.iter().any(|o| o.kind == "S3Bucket"
            && o.name == bucket
            && Some(&o.uid) == obj.metadata.uid.as_ref()
            && o.controller == Some(true)),
        "expected Service {service_name} to have an ownerReference to S3Bucket {bucket} (uid \
         {:?}) with controller true; found {owners:?}",
        obj.metadata.uid
    );

    s.delete_file(&S3_BUCKET);
    wait_gone(&s.api(&s3), bucket, GONE).await;
    let gone = wait_until(GONE, || async {
        (!s.bucket_exists(bucket).await).then_some(())
    })
    .await;
    assert!(
        gone.is_some(),
        "expected bucket {bucket} to be deleted from AWS with its resource; it still exists"
    );
    let service_gone = wait_until(GONE, || async {
        services
            .get_opt(&service_name)
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    assert!(
        service_gone.is_some(),
        "expected Service {service_name} to be gone within {GONE:?} of deleting its S3Bucket; \
         found {:?}",
        services.get_opt(&service_name).await
    );
}

/// The names of one topic + queue + subscription example.
struct Pipeline<'a> {
    topic: &'a str,
    queue: &'a str,
    subscription: &'a str,
}

/// What the checks of a Ready pipeline found in AWS.
struct Found {
    topic_arn: String,
    queue_arn: String,
    subscription_arn: String,
}

/// Checks a Ready topic + queue + subscription the way the original left them: the topic and the
/// queue (with the example's attributes), every output, the subscription in SNS, the queue
/// policy's grant to the topic, and a message published to the topic arriving in the queue.
async fn check_pipeline(s: &Setup, p: &Pipeline<'_>) -> Found {
    let (topics, queues, subscriptions) = (
        kind("SNSTopic", "snstopics"),
        kind("SQSQueue", "sqsqueues"),
        kind("SNSSubscription", "snssubscriptions"),
    );
    let topic_arn = s.topic_arn(p.topic).await.unwrap_or_else(|| {
        panic!(
            "expected SNS topic {} to exist in AWS; ListTopics found none",
            p.topic
        )
    });
    let attributes = s.queue_attributes(p.queue).await.unwrap_or_else(|| {
        panic!(
            "expected SQS queue {} to exist in AWS; GetQueueUrl found none",
            p.queue
        )
    });
    for (key, want) in [
        ("VisibilityTimeout", "30"),
        ("DelaySeconds", "5"),
        ("MaximumMessageSize", "262144"),
        ("MessageRetentionPeriod", "345600"),
    ] {
        assert_eq!(
            attributes.get(key).map(String::as_str),
            Some(want),
            "expected queue {} attribute {key} = {want}; found {:?}",
            p.queue,
            attributes.get(key)
        );
    }
    assert!(
        !attributes.contains_key("RedrivePolicy"),
        "expected no RedrivePolicy (usedeadletterQueue: false); found {:?}",
        attributes.get("RedrivePolicy")
    );
    let queue_arn = attributes.get("QueueArn").cloned().unwrap_or_default();
    let queue_url = s.queue_url(p.queue).await.unwrap_or_default();

    let data = s
        .outputs(&topics, p.topic, &["topicName", "topicARN"])
        .await;
    for (key, want) in [("topicName", p.topic), ("topicARN", topic_arn.as_str())] {
        assert_eq!(
            data.get(key).map(String::as_str),
            Some(want),
            "SNSTopic {}: expected output {key} = {want:?}; found {:?}",
            p.topic,
            data.get(key)
        );
    }
    let data = s
        .outputs(
            &queues,
            p.queue,
            &[
                "queueURL",
                "queueARN",
                "queueName",
                "deadLetterQueueURL",
                "deadLetterQueueARN",
                "deadLetterQueueName",
            ],
        )
        .await;
    for (key, want) in [
        ("queueURL", queue_url.as_str()),
        ("queueARN", queue_arn.as_str()),
        ("queueName", p.queue),
        ("deadLetterQueueURL", ""),
        ("deadLetterQueueARN", ""),
        ("deadLetterQueueName", ""),
    ] {
        assert_eq!(
            data.get(key).map(String::as_str),
            Some(want),
            "SQSQueue {}: expected output {key} = {want:?}; found {:?}",
            p.queue,
            data.get(key)
        );
    }
    let data = s
        .outputs(&subscriptions, p.subscription, &["subscriptionARN"])
        .await;
    let subscription_arn = data["subscriptionARN"].clone();

    let on_topic = s.topic_subscriptions(&topic_arn).await.unwrap_or_else(|e| {
        panic!("expected ListSubscriptionsByTopic {topic_arn} to succeed; it failed: {e:?}")
    });
    assert!(
        on_topic
            .iter()
            .any(|(arn, protocol, endpoint)| arn == &subscription_arn
                && protocol == "sqs"
                && endpoint == &queue_arn),
        "expected topic {} to have subscription {subscription_arn} (protocol sqs, endpoint \
         {queue_arn}); found {on_topic:?}",
        p.topic
    );

    // moto does not enforce queue policies: the document itself must grant the topic. The grant
    // may land just after the subscription turns Ready, so it is polled for briefly.
    let last_policy = std::sync::Mutex::new(None);
    let granted = wait_until(Duration::from_secs(30), || async {
        let attributes = s.queue_attributes(p.queue).await?;
        let policy = parse_policy(attributes.get("Policy"));
        let ok = policy.as_ref().is_some_and(|policy| {
            statements(policy).into_iter().any(|st| {
                sid(st).starts_with(GRANT_SID) && grants_topic(st, &queue_arn, &topic_arn)
            })
        });
        *last_policy.lock().unwrap() = Some(policy);
        ok.then_some(())
    })
    .await;
    let policy = last_policy.into_inner().unwrap().flatten();
    assert!(
        granted.is_some(),
        "expected queue {}'s Policy to hold a statement with Sid {GRANT_SID}*, Effect Allow, \
         Principal {{\"Service\": \"sns.amazonaws.com\"}}, Action sqs:SendMessage, Resource \
         {queue_arn} and Condition ArnEquals/ArnLike aws:SourceArn {topic_arn}; found Policy {}",
        p.queue,
        policy.map_or("(none)".to_owned(), |p| serde_json::to_string_pretty(&p)
            .unwrap())
    );

    let message = format!("hello from {}", p.topic);
    s.sns
        .publish()
        .topic_arn(&topic_arn)
        .message(&message)
        .send()
        .await
        .unwrap_or_else(|e| panic!("Publish to {topic_arn}: {e:?}"));
    let got = s.receive(p.queue, Duration::from_secs(10)).await;
    assert!(
        got.iter().any(|b| b.contains(&message)),
        "expected the message {message:?} published to topic {} to arrive in queue {} within \
         10 s; received {got:?}",
        p.topic,
        p.queue
    );

    Found {
        topic_arn,
        queue_arn,
        subscription_arn,
    }
}

/// After everything was deleted: no queue, no topic, no subscription under those names.
async fn check_pipeline_gone(s: &Setup, p: &Pipeline<'_>, found: &Found) {
    let queue_gone = wait_until(GONE, || async {
        s.queue_url(p.queue).await.is_none().then_some(())
    })
    .await;
    assert!(
        queue_gone.is_some(),
        "expected queue {} to be deleted from AWS with its resource; it still exists",
        p.queue
    );
    let topic_gone = wait_until(GONE, || async {
        s.topic_arn(p.topic).await.is_none().then_some(())
    })
    .await;
    assert!(
        topic_gone.is_some(),
        "expected topic {} to be deleted from AWS with its resource; it still exists",
        p.topic
    );
    match s.topic_subscriptions(&found.topic_arn).await {
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_not_found_exception()) => {}
        other => panic!(
            "expected ListSubscriptionsByTopic {} to fail NotFound once the topic is gone; \
             found {other:?}",
            found.topic_arn
        ),
    }
    let left: Vec<_> = s
        .all_subscriptions()
        .await
        .into_iter()
        .filter(|(arn, topic_arn, _, endpoint)| {
            arn == &found.subscription_arn
                || topic_arn == &found.topic_arn
                || endpoint == &found.queue_arn
        })
        .collect();
    assert!(
        left.is_empty(),
        "expected no subscription left on topic {} or to queue {}; found {left:?}",
        p.topic,
        p.queue
    );
}

/// `snstopic.yaml`, `sqsqueue.yaml` and `snssubscription.yaml` together, then `snssqssub.yaml`:
/// one test, because both use the queue example-sqs-queue-name.
#[tokio::test]
async fn original_sns_and_sqs_examples_deliver_messages_and_clean_up() {
    let (topics, queues, subscriptions) = (
        kind("SNSTopic", "snstopics"),
        kind("SQSQueue", "sqsqueues"),
        kind("SNSSubscription", "snssubscriptions"),
    );
    let separate = Pipeline {
        topic: "example-sns-topic-name",
        queue: "example-sqs-queue-name",
        subscription: "example-sns-subscription-name",
    };
    let combined = Pipeline {
        topic: "example-sns-topic",
        queue: "example-sqs-queue-name",
        subscription: "example-subscription-name",
    };

    // The three single-resource files, in one namespace.
    let s = setup("orig-sns-sqs").await;
    s.remove_leftover_topics(&[separate.topic, combined.topic], separate.queue)
        .await;
    s.remove_leftover_queue(separate.queue).await;
    let op = Operator::start(&s.ns, &[]);
    s.apply(&SNS_TOPIC).await;
    s.apply(&SQS_QUEUE).await;
    s.apply(&SNS_SUBSCRIPTION).await;
    s.wait_ready(&topics, separate.topic, READY_SEVERAL).await;
    s.wait_ready(&queues, separate.queue, READY_SEVERAL).await;
    s.wait_ready(&subscriptions, separate.subscription, READY_SEVERAL)
        .await;
    let found = check_pipeline(&s, &separate).await;

    // The subscription alone goes: unsubscribed, and its grant leaves the queue's policy.
    s.delete(&subscriptions, separate.subscription).await;
    wait_gone(&s.api(&subscriptions), separate.subscription, GONE).await;
    let on_topic = s
        .topic_subscriptions(&found.topic_arn)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "expected ListSubscriptionsByTopic {} to succeed; it failed: {e:?}",
                found.topic_arn
            )
        });
    assert!(
        !on_topic
            .iter()
            .any(|(arn, _, _)| arn == &found.subscription_arn),
        "expected subscription {} to be unsubscribed with its resource; the topic still lists \
         {on_topic:?}",
        found.subscription_arn
    );
    let last_policy = std::sync::Mutex::new(None);
    let revoked = wait_until(Duration::from_secs(30), || async {
        let attributes = s.queue_attributes(separate.queue).await?;
        let policy = parse_policy(attributes.get("Policy"));
        let ours = policy.as_ref().is_some_and(|p| {
            statements(p)
                .into_iter()
                .any(|st| sid(st).starts_with(GRANT_SID))
        });
        *last_policy.lock().unwrap() = Some(policy);
        (!ours).then_some(())
    })
    .await;
    assert!(
        revoked.is_some(),
        "expected queue {}'s Policy to hold no statement with Sid {GRANT_SID}* once the \
         subscription is deleted (absent or empty policy counts); found {:?}",
        separate.queue,
        last_policy.into_inner().unwrap()
    );

    s.delete(&topics, separate.topic).await;
    s.delete(&queues, separate.queue).await;
    wait_gone(&s.api(&topics), separate.topic, GONE).await;
    wait_gone(&s.api(&queues), separate.queue, GONE).await;
    check_pipeline_gone(&s, &separate, &found).await;
    drop(op);

    // The three-document file, in a fresh namespace.
    let s = setup("orig-snssqssub").await;
    let _op = Operator::start(&s.ns, &[]);
    s.apply(&SNS_SQS_SUB).await;
    s.wait_ready(&topics, combined.topic, READY_SEVERAL).await;
    s.wait_ready(&queues, combined.queue, READY_SEVERAL).await;
    s.wait_ready(&subscriptions, combined.subscription, READY_SEVERAL)
        .await;
    let found = check_pipeline(&s, &combined).await;

    s.delete_file(&SNS_SQS_SUB);
    wait_gone(&s.api(&subscriptions), combined.subscription, GONE).await;
    wait_gone(&s.api(&topics), combined.topic, GONE).await;
    wait_gone(&s.api(&queues), combined.queue, GONE).await;
    check_pipeline_gone(&s, &combined, &found).await;
}
