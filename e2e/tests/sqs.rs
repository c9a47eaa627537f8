//! The SQS controller end to end: the all-in-one operator (and the `sqs-controller` binary)
//! against the local control plane and moto. Run by `just test`.

use std::{collections::HashMap, time::Duration};

use aws_sdk_sqs::types::QueueAttributeName;
use e2e::{
    Env, Operator, Resources, TIMEOUT, condition, config_map, env, event_reasons, install_crds,
    kubectl, kubectl_apply, namespace, wait_for, wait_gone, wait_until,
};
use kube::{
    Api, ResourceExt,
    api::{DeleteParams, Patch, PatchParams, PostParams},
};
use serde_json::json;
use sqs_controller::SQSQueue;

struct Setup {
    env: Env,
    ns: String,
    resources: Resources<SQSQueue>,
    sqs: aws_sdk_sqs::Client,
}

async fn setup(test: &str, ns_annotations: &[(&str, &str)]) -> Setup {
    let env = env().await;
    install_crds(&env.kube).await;
    let ns = namespace(&env.kube, test, ns_annotations).await;
    let resources = Resources::new(&env.kube, &ns);
    let sqs = aws_sdk_sqs::Client::new(&env.aws);
    Setup {
        env,
        ns,
        resources,
        sqs,
    }
}

impl std::ops::Deref for Setup {
    type Target = Resources<SQSQueue>;
    fn deref(&self) -> &Resources<SQSQueue> {
        &self.resources
    }
}

impl Setup {
    /// A queue name unique to this test run.
    fn queue(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.ns)
    }

    async fn url(&self, queue: &str) -> Option<String> {
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
    async fn attributes(&self, queue: &str) -> Option<HashMap<String, String>> {
        let url = self.url(queue).await?;
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

    async fn attribute(&self, queue: &str, name: &str) -> Option<String> {
        self.attributes(queue).await?.get(name).cloned()
    }

    async fn tags(&self, queue: &str) -> HashMap<String, String> {
        let url = self.url(queue).await.expect("queue exists");
        self.sqs
            .list_queue_tags()
            .queue_url(url)
            .send()
            .await
            .unwrap()
            .tags
            .unwrap_or_default()
    }

    async fn set_attribute(&self, queue: &str, name: QueueAttributeName, value: &str) {
        let url = self.url(queue).await.expect("queue exists");
        self.sqs
            .set_queue_attributes()
            .queue_url(url)
            .attributes(name, value)
            .send()
            .await
            .unwrap();
    }

    /// Waits until the attribute has `value` in AWS.
    async fn wait_attribute(&self, queue: &str, name: &str, value: &str) {
        let reached = wait_until(TIMEOUT, || async {
            (self.attribute(queue, name).await.as_deref() == Some(value)).then_some(())
        })
        .await;
        assert!(
            reached.is_some(),
            "{queue} {name} never became {value:?}: {:?}",
            self.attribute(queue, name).await
        );
    }

    async fn wait_queue_gone(&self, queue: &str) {
        let gone = wait_until(TIMEOUT, || async {
            self.url(queue).await.is_none().then_some(())
        })
        .await;
        assert!(gone.is_some(), "queue {queue} still exists in AWS");
    }

    async fn delete(&self, name: &str) {
        self.api
            .delete(name, &DeleteParams::default())
            .await
            .unwrap();
        wait_gone(&self.api, name, TIMEOUT).await;
    }
}

#[tokio::test]
async fn original_manifest_becomes_a_queue_follows_updates_and_is_deleted() {
    let s = setup("sqs-original", &[]).await;
    let _op = Operator::start(&s.ns, &[]);
    let name = s.queue("example");
    // The original operator's example, under a name of this run.
    let manifest = format!(
        "apiVersion: service-operator.aws/v1alpha1\nkind: SQSQueue\nmetadata:\n  name: {name}\nspec:\n  contentBasedDeduplication: true\n  delaySeconds: 5\n  usedeadletterQueue: false\n  maximumMessageSize: 262144\n  messageRetentionPeriod: 345600\n  visibilityTimeout: 30\n"
    );
    let (ok, err) = kubectl_apply(&s.ns, &manifest);
    assert!(ok, "kubectl apply of the original manifest failed: {err}");
    let obj = s.wait_ready(&name).await;

    let attributes = s.attributes(&name).await.expect("the queue exists in AWS");
    for (key, value) in [
        ("VisibilityTimeout", "30"),
        ("DelaySeconds", "5"),
        ("MaximumMessageSize", "262144"),
        ("MessageRetentionPeriod", "345600"),
        ("ReceiveMessageWaitTimeSeconds", "0"),
    ] {
        assert_eq!(
            attributes.get(key).map(String::as_str),
            Some(value),
            "{key}"
        );
    }
    assert!(!attributes.contains_key("RedrivePolicy"));
    let arn = attributes["QueueArn"].clone();
    let tags = s.tags(&name).await;
    assert_eq!(tags.get("service-operator.aws/uid"), obj.uid().as_ref());

    let status = obj.status.clone().unwrap();
    assert_eq!(status.arn.as_deref(), Some(arn.as_str()));
    assert_eq!(status.fields.queue_name.as_deref(), Some(name.as_str()));
    assert!(condition(&obj, "Synced").is_some_and(|c| c.status == "True"));

    let cm = config_map(&s.env.kube, &s.ns, &name).await;
    let data = cm.data.unwrap();
    assert_eq!(data.get("queueARN"), Some(&arn));
    assert_eq!(data.get("queueName"), Some(&name));
    assert_eq!(data.get("queueURL"), s.url(&name).await.as_ref());
    // The original wrote the dead-letter keys empty when there is no dead-letter queue.
    for key in [
        "deadLetterQueueURL",
        "deadLetterQueueARN",
        "deadLetterQueueName",
    ] {
        assert_eq!(
            data.get(key).map(String::as_str),
            Some(""),
            "{key}: {data:?}"
        );
    }

    let view = kubectl(&["get", "queue", "-n", &s.ns]);
    let header: Vec<&str> = view.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, vec!["NAME", "READY", "SYNCED", "AGE"], "{view}");
    let wide = kubectl(&["get", "sqs", "-n", &s.ns, "-o", "wide"]);
    assert!(wide.contains("ARN") && wide.contains(&arn), "{wide}");

    // Every mutable field reaches AWS.
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [{"Sid": "owner", "Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "sqs:SendMessage", "Resource": arn}]
    });
    s.patch_spec(
        &name,
        json!({
            "visibilityTimeout": 45,
            "delaySeconds": 0,
            "maximumMessageSize": 2048,
            "messageRetentionPeriod": 600,
            "receiveMessageWaitTimeSeconds": 10,
            "policy": policy.to_string(),
            "tags": {"team": "orders"},
        }),
    )
    .await;
    for (key, value) in [
        ("VisibilityTimeout", "45"),
        ("DelaySeconds", "0"),
        ("MaximumMessageSize", "2048"),
        ("MessageRetentionPeriod", "600"),
        ("ReceiveMessageWaitTimeSeconds", "10"),
    ] {
        s.wait_attribute(&name, key, value).await;
    }
    let stored: serde_json::Value =
        serde_json::from_str(&s.attribute(&name, "Policy").await.unwrap()).unwrap();
    assert_eq!(stored, policy);
    assert_eq!(
        s.tags(&name).await.get("team").map(String::as_str),
        Some("orders")
    );
    let reasons = event_reasons(&s.env.kube, &s.ns, &name).await;
    assert!(
        reasons.iter().any(|r| r == "Created") && reasons.iter().any(|r| r == "Updated"),
        "{reasons:?}"
    );

    s.delete(&name).await;
    s.wait_queue_gone(&name).await;
}

#[tokio::test]
async fn a_minimal_queue_takes_the_original_defaults() {
    let s = setup("sqs-minimal", &[]).await;
    let _op = Operator::start(&s.ns, &[]);
    let name = s.queue("minimal");
    let (ok, err) = kubectl_apply(
        &s.ns,
        &format!(
            "apiVersion: service-operator.aws/v1alpha1\nkind: SQSQueue\nmetadata:\n  name: {name}\n"
        ),
    );
    assert!(ok, "{err}");
    let obj = s.wait_ready(&name).await;
    assert_eq!(obj.spec.visibility_timeout, 5);
    assert_eq!(
        s.attribute(&name, "VisibilityTimeout").await.as_deref(),
        Some("5")
    );
    assert_eq!(
        s.attribute(&name, "DelaySeconds").await.as_deref(),
        Some("5")
    );
    s.delete(&name).await;
    s.wait_queue_gone(&name).await;
}

#[tokio::test]
async fn drift_is_corrected_at_resync_and_quiet_resyncs_write_nothing() {
    let s = setup("sqs-drift", &[]).await;
    let op = Operator::start(&s.ns, &[]);
    let name = s.queue("drift");
    s.create(
        &name,
        json!({"visibilityTimeout": 20, "usedeadletterQueue": true, "tags": {"team": "a"}}),
        json!({"service-operator.aws/resync-period": "2s"}),
    )
    .await;
    s.wait_ready(&name).await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    let (writes, reads, url_lookups) = (
        op.aws_calls("write"),
        op.aws_calls("read"),
        op.aws_calls("GetQueueUrl"),
    );
    let version = s.api.get(&name).await.unwrap().metadata.resource_version;
    tokio::time::sleep(Duration::from_secs(7)).await;
    let (writes_after, reads_after) = (op.aws_calls("write"), op.aws_calls("read"));
    assert_eq!(
        op.aws_calls("GetQueueUrl"),
        url_lookups,
        "resyncs looked up the queue URLs they have recorded"
    );
    assert_eq!(
        writes_after,
        writes,
        "steady state made AWS write calls:\n{}",
        op.metrics()
    );
    assert!(
        reads_after >= reads + 9,
        "resyncs did not run: reads {reads} -> {reads_after}"
    );
    assert_eq!(
        s.api.get(&name).await.unwrap().metadata.resource_version,
        version,
        "quiet resyncs changed the object (its status)"
    );

    // Changes behind the operator's back: an attribute, the redrive policy, a tag.
    s.set_attribute(&name, QueueAttributeName::VisibilityTimeout, "99")
        .await;
    s.set_attribute(&name, QueueAttributeName::RedrivePolicy, "")
        .await;
    let url = s.url(&name).await.unwrap();
    s.sqs
        .untag_queue()
        .queue_url(&url)
        .tag_keys("team")
        .send()
        .await
        .unwrap();
    s.wait_attribute(&name, "VisibilityTimeout", "20").await;
    let redrive = wait_until(TIMEOUT, || async {
        s.attribute(&name, "RedrivePolicy").await
    })
    .await;
    assert!(redrive.is_some_and(|r| r.contains(&format!("{name}-dlq"))));
    let tagged = wait_until(TIMEOUT, || async {
        s.tags(&name).await.contains_key("team").then_some(())
    })
    .await;
    assert!(tagged.is_some(), "the removed tag was not restored");
    let reasons = event_reasons(&s.env.kube, &s.ns, &name).await;
    assert!(reasons.iter().any(|r| r == "DriftCorrected"), "{reasons:?}");

    // Deleted behind the operator's back: the URL in status leads nowhere, the name decides, and
    // the queue is created again.
    s.sqs.delete_queue().queue_url(&url).send().await.unwrap();
    let recreated = wait_until(TIMEOUT, || async {
        let created = event_reasons(&s.env.kube, &s.ns, &name)
            .await
            .iter()
            .filter(|r| *r == "Created")
            .count();
        (created >= 2 && s.url(&name).await.is_some()).then_some(())
    })
    .await;
    assert!(
        recreated.is_some(),
        "the deleted queue was not created again"
    );

    s.delete(&name).await;
    s.wait_queue_gone(&name).await;
    s.wait_queue_gone(&format!("{name}-dlq")).await;
}

#[tokio::test]
async fn dead_letter_queues_own_and_referenced_by_name() {
    let s = setup("sqs-dlq", &[]).await;
    let _op = Operator::start(&s.ns, &[]);

    // usedeadletterQueue: the operator creates, wires and owns `<queue>-dlq`.
    let name = s.queue("main");
    let dlq = format!("{name}-dlq");
    let obj = s
        .create(&name, json!({"usedeadletterQueue": true}), json!({}))
        .await;
    let ready = s.wait_ready(&name).await;
    let dlq_arn = s
        .attribute(&dlq, "QueueArn")
        .await
        .expect("the dead-letter queue exists");
    let redrive: serde_json::Value =
        serde_json::from_str(&s.attribute(&name, "RedrivePolicy").await.unwrap()).unwrap();
    assert_eq!(redrive["deadLetterTargetArn"], json!(dlq_arn));
    assert_eq!(redrive["maxReceiveCount"].to_string(), "5");
    assert_eq!(
        s.tags(&dlq).await.get("service-operator.aws/uid"),
        obj.uid().as_ref()
    );
    assert_eq!(
        ready
            .status
            .unwrap()
            .fields
            .dead_letter_queue_arn
            .as_deref(),
        Some(dlq_arn.as_str())
    );
    let data = config_map(&s.env.kube, &s.ns, &name).await.data.unwrap();
    assert_eq!(data.get("deadLetterQueueARN"), Some(&dlq_arn));
    assert_eq!(data.get("deadLetterQueueName"), Some(&dlq));
    assert_eq!(data.get("deadLetterQueueURL"), s.url(&dlq).await.as_ref());

    // A FIFO queue gets a FIFO dead-letter queue.
    let fifo = s.queue("ordered");
    s.create(
        &fifo,
        json!({"fifoQueue": true, "usedeadletterQueue": true}),
        json!({}),
    )
    .await;
    s.wait_ready(&fifo).await;
    assert_eq!(
        s.attribute(&format!("{fifo}.fifo"), "ContentBasedDeduplication")
            .await
            .as_deref(),
        Some("true")
    );
    assert_eq!(
        s.attribute(&format!("{fifo}-dlq.fifo"), "FifoQueue")
            .await
            .as_deref(),
        Some("true")
    );

    // A redrive policy naming another SQSQueue, created after it: waits for it, then wires it.
    let source = s.queue("source");
    let errors = s.queue("errors");
    s.create(
        &source,
        json!({"redrivePolicy": {"deadLetterQueue": errors, "maxReceiveCount": 3}}),
        json!({}),
    )
    .await;
    wait_for(&s.api, &source, TIMEOUT, "waiting on its reference", |o| {
        condition(o, "Ready").is_some_and(|c| c.reason == "ReferenceNotFound")
    })
    .await;
    s.create(&errors, json!({}), json!({})).await;
    s.wait_ready(&source).await;
    let errors_arn = s.attribute(&errors, "QueueArn").await.unwrap();
    let redrive: serde_json::Value =
        serde_json::from_str(&s.attribute(&source, "RedrivePolicy").await.unwrap()).unwrap();
    assert_eq!(redrive["deadLetterTargetArn"], json!(errors_arn));
    assert_eq!(redrive["maxReceiveCount"].to_string(), "3");

    // Turning the own dead-letter queue off unwires and deletes it.
    s.patch_spec(&name, json!({"usedeadletterQueue": false}))
        .await;
    s.wait_queue_gone(&dlq).await;
    assert_eq!(s.attribute(&name, "RedrivePolicy").await, None);

    // Deleting a queue deletes its own dead-letter queue.
    s.delete(&fifo).await;
    s.wait_queue_gone(&format!("{fifo}.fifo")).await;
    s.wait_queue_gone(&format!("{fifo}-dlq.fifo")).await;
    for n in [&name, &source, &errors] {
        s.delete(n).await;
        s.wait_queue_gone(n).await;
    }
}

#[tokio::test]
async fn retain_policy_keeps_the_queue() {
    let s = setup("sqs-retain", &[]).await;
    let _op = Operator::start(&s.ns, &[]);
    let name = s.queue("kept");
    s.create(
        &name,
        json!({}),
        json!({"service-operator.aws/deletion-policy": "retain"}),
    )
    .await;
    s.wait_ready(&name).await;
    s.delete(&name).await;
    let url = s.url(&name).await.expect("retain deleted the queue");
    s.sqs.delete_queue().queue_url(url).send().await.unwrap();
}

#[tokio::test]
async fn a_queue_that_is_not_ours_is_left_alone_until_adopted() {
    let s = setup("sqs-adopt", &[]).await;
    let _op = Operator::start(&s.ns, &[]);
    let queue = s.queue("foreign");
    s.sqs
        .create_queue()
        .queue_name(&queue)
        .attributes(QueueAttributeName::VisibilityTimeout, "7")
        .send()
        .await
        .unwrap();

    s.create(
        "foreign",
        json!({"queueName": queue, "visibilityTimeout": 30}),
        json!({}),
    )
    .await;
    let obj = wait_for(&s.api, "foreign", TIMEOUT, "NotOwned", |o| {
        condition(o, "Terminal").is_some_and(|c| c.status == "True" && c.reason == "NotOwned")
    })
    .await;
    assert!(condition(&obj, "Ready").unwrap().message.contains("adopt"));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        s.attribute(&queue, "VisibilityTimeout").await.as_deref(),
        Some("7")
    );
    assert!(s.tags(&queue).await.is_empty());

    s.api
        .patch(
            "foreign",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"annotations": {"service-operator.aws/adopt": "true"}}}),
            ),
        )
        .await
        .unwrap();
    let adopted = s.wait_ready("foreign").await;
    assert_eq!(
        s.tags(&queue).await.get("service-operator.aws/uid"),
        adopted.uid().as_ref()
    );
    s.wait_attribute(&queue, "VisibilityTimeout", "30").await;
    let reasons = event_reasons(&s.env.kube, &s.ns, "foreign").await;
    assert!(reasons.iter().any(|r| r == "Adopted"), "{reasons:?}");
    s.delete("foreign").await;
    s.wait_queue_gone(&queue).await;
}

#[tokio::test]
async fn bad_input_and_immutable_changes_are_refused_at_admission() {
    let s = setup("sqs-admission", &[]).await;
    let manifest = |name: &str, spec: &str| {
        format!(
            "apiVersion: service-operator.aws/v1alpha1\nkind: SQSQueue\nmetadata:\n  name: {name}\nspec:\n{spec}"
        )
    };
    let refused = [
        (
            "long-delay",
            "  delaySeconds: 901\n",
            "should be less than or equal to 900",
        ),
        (
            "string-delay",
            "  delaySeconds: \"5\"\n",
            "must be of type integer",
        ),
        (
            "tiny-messages",
            "  maximumMessageSize: 10\n",
            "should be greater than or equal to 1024",
        ),
        (
            "fifo-name",
            "  queueName: q.fifo\n",
            "may end in .fifo only when fifoQueue is true",
        ),
        (
            "two-targets",
            "  redrivePolicy: {deadLetterQueue: a, deadLetterTargetArn: \"arn:aws:sqs:us-east-1:1:b\"}\n",
            "mutually exclusive",
        ),
        (
            "no-target",
            "  redrivePolicy: {maxReceiveCount: 3}\n",
            "needs deadLetterQueue or deadLetterTargetArn",
        ),
        (
            "own-and-named",
            "  usedeadletterQueue: true\n  redrivePolicy: {deadLetterQueue: a}\n",
            "must not name a dead-letter queue when usedeadletterQueue is true",
        ),
    ];
    for (name, spec, message) in refused {
        let (ok, err) = kubectl_apply(&s.ns, &manifest(name, spec));
        assert!(!ok, "{name} was accepted");
        assert!(
            err.contains(message),
            "{name}: expected {message:?} in: {err}"
        );
    }

    let valid = "  queueName: fixed\n  fifoQueue: true\n";
    let (ok, err) = kubectl_apply(&s.ns, &manifest("immutable", valid));
    assert!(ok, "{err}");
    for (spec, message) in [
        (valid.replace("fixed", "other"), "queueName is immutable"),
        (valid.replace("true", "false"), "fifoQueue is immutable"),
    ] {
        let (ok, err) = kubectl_apply(&s.ns, &manifest("immutable", &spec));
        assert!(
            !ok && err.contains(message),
            "expected {message:?}, got ok={ok}: {err}"
        );
    }
    let (ok, err) = kubectl_apply(
        &s.ns,
        &manifest("immutable", &format!("{valid}  visibilityTimeout: 9\n")),
    );
    assert!(ok, "{err}");
    s.api
        .delete("immutable", &DeleteParams::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn the_sqs_controller_binary_manages_only_queues() {
    let s = setup("sqs-binary", &[]).await;
    let _op = Operator::start_binary("sqs-controller", &s.ns, &[]);
    let name = s.queue("alone");
    s.create(&name, json!({}), json!({})).await;
    s.wait_ready(&name).await;
    assert!(s.url(&name).await.is_some());

    let ddb: Api<dynamodb_controller::DynamoDB> = Api::namespaced(s.env.kube.clone(), &s.ns);
    let table: dynamodb_controller::DynamoDB = serde_json::from_value(json!({
        "apiVersion": "service-operator.aws/v1alpha1",
        "kind": "DynamoDB",
        "metadata": {"name": "not-mine"},
        "spec": {"tableName": s.queue("table"), "hashAttribute": {"name": "id", "type": "S"}, "billingMode": "PAY_PER_REQUEST"},
    }))
    .unwrap();
    ddb.create(&PostParams::default(), &table).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let table = ddb.get("not-mine").await.unwrap();
    assert!(
        table.status.is_none() && table.finalizers().is_empty(),
        "{table:?}"
    );
    ddb.delete("not-mine", &DeleteParams::default())
        .await
        .unwrap();

    s.delete(&name).await;
    s.wait_queue_gone(&name).await;
}
