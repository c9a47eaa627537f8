//! The SNS controller end to end: topics and subscriptions (with SQS queues as endpoints), the
//! all-in-one operator (and the `sns-controller` binary) against the local control plane and
//! moto. Run by `just test`.

use std::{collections::HashMap, time::Duration};

use aws_sdk_sns::types::MessageAttributeValue;
use e2e::{
    Env, Operator, condition, config_map, env, event_reasons, install_crds, is_ready, kubectl,
    kubectl_apply, namespace, wait_for, wait_gone, wait_until,
};
use kube::{
    Api, ResourceExt,
    api::{DeleteParams, Patch, PatchParams, PostParams},
};
use serde_json::json;
use sns_controller::{SNSSubscription, SNSTopic};
use sqs_controller::SQSQueue;

const TIMEOUT: Duration = Duration::from_secs(60);

struct Setup {
    env: Env,
    ns: String,
    topics: Api<SNSTopic>,
    subscriptions: Api<SNSSubscription>,
    queues: Api<SQSQueue>,
    sns: aws_sdk_sns::Client,
    sqs: aws_sdk_sqs::Client,
}

async fn setup(test: &str) -> Setup {
    let env = env().await;
    install_crds(&env.kube).await;
    let ns = namespace(&env.kube, test, &[]).await;
    Setup {
        topics: Api::namespaced(env.kube.clone(), &ns),
        subscriptions: Api::namespaced(env.kube.clone(), &ns),
        queues: Api::namespaced(env.kube.clone(), &ns),
        sns: aws_sdk_sns::Client::new(&env.aws),
        sqs: aws_sdk_sqs::Client::new(&env.aws),
        env,
        ns,
    }
}

fn object<K: serde::de::DeserializeOwned>(
    kind: &str,
    name: &str,
    spec: serde_json::Value,
    annotations: serde_json::Value,
) -> K {
    serde_json::from_value(json!({
        "apiVersion": "service-operator.aws/v1alpha1",
        "kind": kind,
        "metadata": {"name": name, "annotations": annotations},
        "spec": spec,
    }))
    .unwrap()
}

/// A queue policy letting SNS topics named `topic` (any account, any region) send to the queue.
fn allow_topic(topic: &str) -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "sns.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": "*",
            "Condition": {"ArnLike": {"aws:SourceArn": format!("arn:aws:sns:*:*:{topic}")}}
        }]
    })
    .to_string()
}

impl Setup {
    fn name(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.ns)
    }

    async fn topic(&self, name: &str, spec: serde_json::Value, annotations: serde_json::Value) {
        let obj: SNSTopic = object("SNSTopic", name, spec, annotations);
        self.topics
            .create(&PostParams::default(), &obj)
            .await
            .unwrap();
    }

    async fn subscription(
        &self,
        name: &str,
        spec: serde_json::Value,
        annotations: serde_json::Value,
    ) {
        let obj: SNSSubscription = object("SNSSubscription", name, spec, annotations);
        self.subscriptions
            .create(&PostParams::default(), &obj)
            .await
            .unwrap();
    }

    async fn queue(&self, name: &str, spec: serde_json::Value) {
        let obj: SQSQueue = object("SQSQueue", name, spec, json!({}));
        self.queues
            .create(&PostParams::default(), &obj)
            .await
            .unwrap();
    }

    /// The topic's ARN, found by name; `None` when it does not exist.
    async fn topic_arn(&self, topic: &str) -> Option<String> {
        let out = self.sns.list_topics().send().await.unwrap();
        let mut token = out.next_token.clone();
        let mut arns: Vec<String> = out
            .topics()
            .iter()
            .filter_map(|t| t.topic_arn().map(str::to_owned))
            .collect();
        while let Some(t) = token {
            let out = self.sns.list_topics().next_token(t).send().await.unwrap();
            arns.extend(
                out.topics()
                    .iter()
                    .filter_map(|t| t.topic_arn().map(str::to_owned)),
            );
            token = out.next_token.clone();
        }
        arns.into_iter()
            .find(|a| a.rsplit(':').next() == Some(topic))
    }

    async fn topic_attributes(&self, arn: &str) -> HashMap<String, String> {
        self.sns
            .get_topic_attributes()
            .topic_arn(arn)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap_or_default()
    }

    async fn topic_tags(&self, arn: &str) -> HashMap<String, String> {
        self.sns
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .unwrap()
            .tags()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect()
    }

    /// The subscription's attributes; `None` once it is gone.
    async fn subscription_attributes(&self, arn: &str) -> Option<HashMap<String, String>> {
        self.sns
            .get_subscription_attributes()
            .subscription_arn(arn)
            .send()
            .await
            .ok()?
            .attributes
    }

    async fn queue_url(&self, queue: &str) -> String {
        self.sqs
            .get_queue_url()
            .queue_name(queue)
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap()
    }

    /// Message bodies received from the queue within `wait`.
    async fn receive(&self, queue: &str, wait: Duration) -> Vec<String> {
        let url = self.queue_url(queue).await;
        let mut bodies = Vec::new();
        let deadline = std::time::Instant::now() + wait;
        while std::time::Instant::now() < deadline {
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
            if !bodies.is_empty() {
                break;
            }
        }
        bodies
    }

    async fn publish(&self, topic_arn: &str, message: &str, kind: &str) {
        self.sns
            .publish()
            .topic_arn(topic_arn)
            .message(message)
            .message_attributes(
                "kind",
                MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(kind)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    }

    async fn annotate_adopt<K>(&self, api: &Api<K>, name: &str)
    where
        K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        api.patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"annotations": {"service-operator.aws/adopt": "true"}}}),
            ),
        )
        .await
        .unwrap();
    }
}

fn not_owned<K: serde::Serialize>(o: &K) -> bool {
    condition(o, "Terminal").is_some_and(|c| c.status == "True" && c.reason == "NotOwned")
}

#[tokio::test]
async fn original_topic_manifest_becomes_a_topic_follows_updates_and_is_deleted() {
    let s = setup("sns-topic").await;
    let _op = Operator::start(&s.ns, &[]);
    let name = s.name("events");
    // The original operator's topic had no spec at all.
    let (ok, err) = kubectl_apply(
        &s.ns,
        &format!(
            "apiVersion: service-operator.aws/v1alpha1\nkind: SNSTopic\nmetadata:\n  name: {name}\n"
        ),
    );
    assert!(ok, "{err}");
    let obj = wait_for(&s.topics, &name, TIMEOUT, "Ready", is_ready).await;
    let arn = s.topic_arn(&name).await.expect("the topic exists in AWS");
    assert_eq!(
        obj.status.as_ref().unwrap().arn.as_deref(),
        Some(arn.as_str())
    );
    assert_eq!(
        s.topic_tags(&arn).await.get("service-operator.aws/uid"),
        obj.uid().as_ref()
    );
    let data = config_map(&s.env.kube, &s.ns, &name).await.data.unwrap();
    assert_eq!(data.get("topicARN"), Some(&arn));
    assert_eq!(data.get("topicName"), Some(&name));
    let view = kubectl(&["get", "topic", "-n", &s.ns]);
    let header: Vec<&str> = view.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, vec!["NAME", "READY", "SYNCED", "AGE"], "{view}");
    let wide = kubectl(&["get", "sns", "-n", &s.ns, "-o", "wide"]);
    assert!(wide.contains(&arn), "{wide}");

    // Every mutable field reaches AWS; policies are compared parsed, so their formatting is free.
    let delivery = json!({"http": {"defaultHealthyRetryPolicy": {"numRetries": 5, "minDelayTarget": 1, "maxDelayTarget": 10}}});
    let policy = json!({
        "Version": "2008-10-17",
        "Statement": [{"Sid": "owner", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "SNS:Publish", "Resource": arn}]
    });
    s.topics
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {
                "displayName": "Events",
                "deliveryPolicy": serde_json::to_string_pretty(&delivery).unwrap(),
                "policy": policy.to_string(),
                "tags": {"team": "events"},
            }})),
        )
        .await
        .unwrap();
    let reached = wait_until(TIMEOUT, || async {
        let a = s.topic_attributes(&arn).await;
        let parsed = |k: &str| {
            a.get(k)
                .and_then(|v| serde_json::from_str::<serde_json::Value>(v).ok())
        };
        (a.get("DisplayName").map(String::as_str) == Some("Events")
            && parsed("DeliveryPolicy") == Some(delivery.clone())
            && parsed("Policy") == Some(policy.clone())
            && s.topic_tags(&arn).await.get("team").map(String::as_str) == Some("events"))
        .then_some(())
    })
    .await;
    assert!(
        reached.is_some(),
        "updates never reached AWS: {:?}",
        s.topic_attributes(&arn).await
    );

    s.topics
        .delete(&name, &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&s.topics, &name, TIMEOUT).await;
    assert!(
        s.topic_arn(&name).await.is_none(),
        "the topic outlived its resource"
    );
}

#[tokio::test]
async fn pipeline_from_one_apply_delivers_and_filters_messages() {
    let s = setup("sns-pipeline").await;
    let _op = Operator::start(&s.ns, &[]);
    let (topic, all, orders) = (s.name("events"), s.name("all"), s.name("orders"));
    // Subscriptions first: the order of a manifest does not matter.
    let manifest = format!(
        r#"apiVersion: service-operator.aws/v1alpha1
kind: SNSSubscription
metadata:
  name: everything
spec:
  topicName: {topic}
  protocol: sqs
  endpoint: {all}
---
apiVersion: service-operator.aws/v1alpha1
kind: SNSSubscription
metadata:
  name: only-orders
spec:
  topicName: {topic}
  protocol: sqs
  endpoint: {orders}
  rawMessageDelivery: true
  filterPolicy: '{{"kind": ["order"]}}'
---
apiVersion: service-operator.aws/v1alpha1
kind: SNSTopic
metadata:
  name: {topic}
---
apiVersion: service-operator.aws/v1alpha1
kind: SQSQueue
metadata:
  name: {all}
spec:
  policy: '{all_policy}'
---
apiVersion: service-operator.aws/v1alpha1
kind: SQSQueue
metadata:
  name: {orders}
spec:
  policy: '{orders_policy}'
"#,
        all_policy = allow_topic(&topic),
        orders_policy = allow_topic(&topic),
    );
    let (ok, err) = kubectl_apply(&s.ns, &manifest);
    assert!(ok, "{err}");
    let everything = wait_for(&s.subscriptions, "everything", TIMEOUT, "Ready", is_ready).await;
    let only_orders = wait_for(&s.subscriptions, "only-orders", TIMEOUT, "Ready", is_ready).await;
    let topic_arn = s.topic_arn(&topic).await.unwrap();
    let queue_arn = wait_for(&s.queues, &all, TIMEOUT, "Ready", is_ready)
        .await
        .status
        .unwrap()
        .arn
        .unwrap();

    let sub_arn = everything.status.as_ref().unwrap().arn.clone().unwrap();
    let attributes = s.subscription_attributes(&sub_arn).await.unwrap();
    assert_eq!(attributes.get("TopicArn"), Some(&topic_arn));
    assert_eq!(attributes.get("Endpoint"), Some(&queue_arn));
    assert_eq!(attributes.get("Protocol").map(String::as_str), Some("sqs"));
    let data = config_map(&s.env.kube, &s.ns, "everything")
        .await
        .data
        .unwrap();
    assert_eq!(data.get("subscriptionARN"), Some(&sub_arn));
    let filtered_arn = only_orders.status.as_ref().unwrap().arn.clone().unwrap();
    let filtered = s.subscription_attributes(&filtered_arn).await.unwrap();
    assert_eq!(
        filtered.get("RawMessageDelivery").map(|v| v.to_lowercase()),
        Some("true".into())
    );

    // A message the filter excludes reaches only the unfiltered queue.
    s.publish(&topic_arn, "shipment 1", "shipment").await;
    let got = s.receive(&all, Duration::from_secs(10)).await;
    assert!(got.iter().any(|b| b.contains("shipment 1")), "{got:?}");
    assert!(s.receive(&orders, Duration::from_secs(2)).await.is_empty());
    s.publish(&topic_arn, "order 1", "order").await;
    let got = s.receive(&orders, Duration::from_secs(10)).await;
    assert_eq!(
        got,
        vec!["order 1".to_owned()],
        "raw delivery of the matching message"
    );

    // Updates reach AWS: the filter now lets shipments through, raw delivery goes off.
    s.subscriptions
        .patch(
            "only-orders",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"filterPolicy": "{\"kind\": [\"shipment\"]}", "rawMessageDelivery": false}})),
        )
        .await
        .unwrap();
    let updated = wait_until(TIMEOUT, || async {
        let a = s.subscription_attributes(&filtered_arn).await?;
        let policy: serde_json::Value = serde_json::from_str(a.get("FilterPolicy")?).ok()?;
        (policy == json!({"kind": ["shipment"]})
            && a.get("RawMessageDelivery").map(|v| v.to_lowercase()) == Some("false".into()))
        .then_some(())
    })
    .await;
    assert!(
        updated.is_some(),
        "{:?}",
        s.subscription_attributes(&filtered_arn).await
    );

    // Deleting a subscription unsubscribes it.
    s.subscriptions
        .delete("everything", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&s.subscriptions, "everything", TIMEOUT).await;
    assert!(s.subscription_attributes(&sub_arn).await.is_none());
    for name in ["only-orders"] {
        s.subscriptions
            .delete(name, &DeleteParams::default())
            .await
            .unwrap();
    }
    s.topics
        .delete(&topic, &DeleteParams::default())
        .await
        .unwrap();
    for q in [&all, &orders] {
        s.queues.delete(q, &DeleteParams::default()).await.unwrap();
    }
    wait_gone(&s.subscriptions, "only-orders", TIMEOUT).await;
    wait_gone(&s.topics, &topic, TIMEOUT).await;
}

#[tokio::test]
async fn drift_is_corrected_and_quiet_resyncs_write_nothing() {
    let s = setup("sns-drift").await;
    let op = Operator::start(&s.ns, &[]);
    let (topic, queue) = (s.name("events"), s.name("inbox"));
    let resync = json!({"service-operator.aws/resync-period": "2s"});
    s.topic(
        &topic,
        json!({"displayName": "Events", "tags": {"team": "a"}}),
        resync.clone(),
    )
    .await;
    s.queue(&queue, json!({"policy": allow_topic(&topic)}))
        .await;
    s.subscription(
        "inbox",
        json!({"topicName": topic, "protocol": "sqs", "endpoint": queue, "rawMessageDelivery": true}),
        resync.clone(),
    )
    .await;
    let sub = wait_for(&s.subscriptions, "inbox", TIMEOUT, "Ready", is_ready).await;
    wait_for(&s.topics, &topic, TIMEOUT, "Ready", is_ready).await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    let (writes, reads) = (op.aws_calls("write"), op.aws_calls("read"));
    tokio::time::sleep(Duration::from_secs(7)).await;
    let (writes_after, reads_after) = (op.aws_calls("write"), op.aws_calls("read"));
    assert_eq!(
        writes_after,
        writes,
        "steady state made AWS write calls:\n{}",
        op.metrics()
    );
    // Each resync reads the topic (attributes, tags) and the subscription (attributes).
    assert!(
        reads_after >= reads + 6,
        "resyncs did not run: reads {reads} -> {reads_after}"
    );

    let topic_arn = s.topic_arn(&topic).await.unwrap();
    let sub_arn = sub.status.unwrap().arn.unwrap();
    s.sns
        .set_topic_attributes()
        .topic_arn(&topic_arn)
        .attribute_name("DisplayName")
        .attribute_value("Changed")
        .send()
        .await
        .unwrap();
    s.sns
        .untag_resource()
        .resource_arn(&topic_arn)
        .tag_keys("team")
        .send()
        .await
        .unwrap();
    s.sns
        .set_subscription_attributes()
        .subscription_arn(&sub_arn)
        .attribute_name("RawMessageDelivery")
        .attribute_value("false")
        .send()
        .await
        .unwrap();
    let corrected = wait_until(TIMEOUT, || async {
        let t = s.topic_attributes(&topic_arn).await;
        let a = s.subscription_attributes(&sub_arn).await?;
        (t.get("DisplayName").map(String::as_str) == Some("Events")
            && s.topic_tags(&topic_arn).await.contains_key("team")
            && a.get("RawMessageDelivery").map(|v| v.to_lowercase()) == Some("true".into()))
        .then_some(())
    })
    .await;
    assert!(corrected.is_some(), "drift was not corrected");
    for name in [topic.as_str(), "inbox"] {
        let reasons = event_reasons(&s.env.kube, &s.ns, name).await;
        assert!(
            reasons.iter().any(|r| r == "DriftCorrected"),
            "{name}: {reasons:?}"
        );
    }
    s.subscriptions
        .delete("inbox", &DeleteParams::default())
        .await
        .unwrap();
    s.topics
        .delete(&topic, &DeleteParams::default())
        .await
        .unwrap();
    s.queues
        .delete(&queue, &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&s.subscriptions, "inbox", TIMEOUT).await;
    wait_gone(&s.topics, &topic, TIMEOUT).await;
}

#[tokio::test]
async fn deleting_the_topic_first_does_not_strand_the_subscription() {
    let s = setup("sns-topic-first").await;
    let _op = Operator::start(&s.ns, &[]);
    let (topic, queue) = (s.name("events"), s.name("inbox"));
    s.topic(&topic, json!({}), json!({})).await;
    s.queue(&queue, json!({})).await;
    s.subscription(
        "inbox",
        json!({"topicName": topic, "protocol": "sqs", "endpoint": queue}),
        json!({}),
    )
    .await;
    let sub = wait_for(&s.subscriptions, "inbox", TIMEOUT, "Ready", is_ready).await;
    let sub_arn = sub.status.unwrap().arn.unwrap();

    s.topics
        .delete(&topic, &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&s.topics, &topic, TIMEOUT).await;
    // AWS deleted the topic's subscriptions with it: deleting the resource finds nothing to
    // unsubscribe (and no topic to resolve) and must not hang on its finalizer.
    assert!(s.subscription_attributes(&sub_arn).await.is_none());
    s.subscriptions
        .delete("inbox", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&s.subscriptions, "inbox", TIMEOUT).await;
    assert!(s.subscription_attributes(&sub_arn).await.is_none());
    s.queues
        .delete(&queue, &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&s.queues, &queue, TIMEOUT).await;
}

#[tokio::test]
async fn resources_that_are_not_ours_are_left_alone_until_adopted() {
    let s = setup("sns-adopt").await;
    let _op = Operator::start(&s.ns, &[]);
    let topic = s.name("foreign");
    let topic_arn = s
        .sns
        .create_topic()
        .name(&topic)
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();

    s.topic(
        "foreign",
        json!({"topicName": topic, "displayName": "Mine"}),
        json!({}),
    )
    .await;
    let obj = wait_for(&s.topics, "foreign", TIMEOUT, "NotOwned", not_owned).await;
    assert!(condition(&obj, "Ready").unwrap().message.contains("adopt"));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(s.topic_tags(&topic_arn).await.is_empty());
    assert_eq!(
        s.topic_attributes(&topic_arn)
            .await
            .get("DisplayName")
            .map(String::as_str),
        Some("")
    );

    // A subscription made outside, to a queue not managed here: found, reported, not taken.
    let queue_url = s
        .sqs
        .create_queue()
        .queue_name(s.name("outside"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let queue_arn = s
        .sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()
        .into_values()
        .next()
        .unwrap();
    let foreign_sub = s
        .sns
        .subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(&queue_arn)
        .return_subscription_arn(true)
        .send()
        .await
        .unwrap()
        .subscription_arn
        .unwrap();
    s.subscription(
        "foreign",
        json!({"topicARN": topic_arn, "protocol": "sqs", "endpointARN": queue_arn, "rawMessageDelivery": true}),
        json!({}),
    )
    .await;
    wait_for(&s.subscriptions, "foreign", TIMEOUT, "NotOwned", not_owned).await;
    let a = s.subscription_attributes(&foreign_sub).await.unwrap();
    assert_ne!(
        a.get("RawMessageDelivery").map(|v| v.to_lowercase()),
        Some("true".into())
    );

    // Adoption: both become managed and are brought to the spec.
    s.annotate_adopt(&s.topics, "foreign").await;
    s.annotate_adopt(&s.subscriptions, "foreign").await;
    let adopted = wait_for(&s.topics, "foreign", TIMEOUT, "Ready", is_ready).await;
    assert_eq!(
        s.topic_tags(&topic_arn)
            .await
            .get("service-operator.aws/uid"),
        adopted.uid().as_ref()
    );
    let sub = wait_for(&s.subscriptions, "foreign", TIMEOUT, "Ready", is_ready).await;
    assert_eq!(
        sub.status.unwrap().arn.as_deref(),
        Some(foreign_sub.as_str())
    );
    let done = wait_until(TIMEOUT, || async {
        let a = s.subscription_attributes(&foreign_sub).await?;
        let t = s.topic_attributes(&topic_arn).await;
        (a.get("RawMessageDelivery").map(|v| v.to_lowercase()) == Some("true".into())
            && t.get("DisplayName").map(String::as_str) == Some("Mine"))
        .then_some(())
    })
    .await;
    assert!(
        done.is_some(),
        "the adopted resources were not brought to the spec"
    );
    for (kind_events, name) in [("topic", "foreign")] {
        let reasons = event_reasons(&s.env.kube, &s.ns, name).await;
        assert!(
            reasons.iter().any(|r| r == "Adopted"),
            "{kind_events}: {reasons:?}"
        );
    }

    // Deleting the adopted subscription unsubscribes it; the topic goes with its resource.
    s.subscriptions
        .delete("foreign", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&s.subscriptions, "foreign", TIMEOUT).await;
    assert!(s.subscription_attributes(&foreign_sub).await.is_none());
    s.topics
        .delete("foreign", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&s.topics, "foreign", TIMEOUT).await;
    assert!(s.topic_arn(&topic).await.is_none());
    s.sqs
        .delete_queue()
        .queue_url(queue_url)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn retain_policy_keeps_the_topic() {
    let s = setup("sns-retain").await;
    let _op = Operator::start(&s.ns, &[]);
    let topic = s.name("kept");
    s.topic(
        &topic,
        json!({}),
        json!({"service-operator.aws/deletion-policy": "retain"}),
    )
    .await;
    wait_for(&s.topics, &topic, TIMEOUT, "Ready", is_ready).await;
    s.topics
        .delete(&topic, &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&s.topics, &topic, TIMEOUT).await;
    let arn = s.topic_arn(&topic).await.expect("retain deleted the topic");
    s.sns.delete_topic().topic_arn(arn).send().await.unwrap();
}

#[tokio::test]
async fn bad_input_and_immutable_changes_are_refused_at_admission() {
    let s = setup("sns-admission").await;
    let manifest = |kind: &str, name: &str, spec: &str| {
        format!(
            "apiVersion: service-operator.aws/v1alpha1\nkind: {kind}\nmetadata:\n  name: {name}\nspec:\n{spec}"
        )
    };
    let refused = [
        (
            "SNSSubscription",
            "two-topics",
            "  topicName: a\n  topicARN: \"arn:aws:sns:us-east-1:1:a\"\n  protocol: sqs\n  endpoint: q\n",
            "exactly one of topicName and topicARN",
        ),
        (
            "SNSSubscription",
            "no-topic",
            "  protocol: sqs\n  endpoint: q\n",
            "exactly one of topicName and topicARN",
        ),
        (
            "SNSSubscription",
            "no-endpoint",
            "  topicName: a\n  protocol: sqs\n",
            "exactly one of endpoint and endpointARN",
        ),
        (
            "SNSSubscription",
            "bad-protocol",
            "  topicName: a\n  protocol: carrier-pigeon\n  endpoint: q\n",
            "Unsupported value: \"carrier-pigeon\"",
        ),
        (
            "SNSSubscription",
            "scope-alone",
            "  topicName: a\n  protocol: sqs\n  endpoint: q\n  filterPolicyScope: MessageBody\n",
            "filterPolicyScope needs filterPolicy",
        ),
        (
            "SNSTopic",
            "fifo-name",
            "  topicName: t.fifo\n",
            "may end in .fifo only when fifoTopic is true",
        ),
        (
            "SNSTopic",
            "dedup",
            "  contentBasedDeduplication: true\n",
            "FIFO topics only",
        ),
    ];
    for (kind, name, spec, message) in refused {
        let (ok, err) = kubectl_apply(&s.ns, &manifest(kind, name, spec));
        assert!(!ok, "{name} was accepted");
        assert!(
            err.contains(message),
            "{name}: expected {message:?} in: {err}"
        );
    }
    let sub = "  topicName: a\n  protocol: sqs\n  endpoint: q\n";
    let topic = "  topicName: t\n  fifoTopic: false\n";
    assert!(kubectl_apply(&s.ns, &manifest("SNSSubscription", "immutable", sub)).0);
    assert!(kubectl_apply(&s.ns, &manifest("SNSTopic", "immutable", topic)).0);
    let changes = [
        (
            "SNSSubscription",
            sub.replace("topicName: a", "topicName: b"),
            "topicName is immutable",
        ),
        (
            "SNSSubscription",
            sub.replace("protocol: sqs", "protocol: lambda"),
            "protocol is immutable",
        ),
        (
            "SNSSubscription",
            sub.replace("endpoint: q", "endpoint: r"),
            "endpoint is immutable",
        ),
        (
            "SNSTopic",
            topic.replace("topicName: t", "topicName: u"),
            "topicName is immutable",
        ),
        (
            "SNSTopic",
            topic.replace("false", "true"),
            "fifoTopic is immutable",
        ),
    ];
    for (kind, spec, message) in changes {
        let (ok, err) = kubectl_apply(&s.ns, &manifest(kind, "immutable", &spec));
        assert!(
            !ok && err.contains(message),
            "expected {message:?}, got ok={ok}: {err}"
        );
    }
    let (ok, err) = kubectl_apply(
        &s.ns,
        &manifest(
            "SNSSubscription",
            "immutable",
            &format!("{sub}  rawMessageDelivery: true\n"),
        ),
    );
    assert!(ok, "{err}");
    s.subscriptions
        .delete("immutable", &DeleteParams::default())
        .await
        .unwrap();
    s.topics
        .delete("immutable", &DeleteParams::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn the_sns_controller_binary_manages_only_topics_and_subscriptions() {
    let s = setup("sns-binary").await;
    let _op = Operator::start_binary("sns-controller", &s.ns, &[]);
    let topic = s.name("alone");
    s.topic(&topic, json!({}), json!({})).await;
    wait_for(&s.topics, &topic, TIMEOUT, "Ready", is_ready).await;
    assert!(s.topic_arn(&topic).await.is_some());

    // Queues are the SQS controller's: this binary leaves them without status, and a
    // subscription to one waits for it.
    let queue = s.name("unserved");
    s.queue(&queue, json!({})).await;
    s.subscription(
        "waits",
        json!({"topicName": topic, "protocol": "sqs", "endpoint": queue}),
        json!({}),
    )
    .await;
    wait_for(
        &s.subscriptions,
        "waits",
        TIMEOUT,
        "waiting on its queue",
        |o| condition(o, "Ready").is_some_and(|c| c.reason == "ReferenceNotReady"),
    )
    .await;
    let q = s.queues.get(&queue).await.unwrap();
    assert!(q.status.is_none() && q.finalizers().is_empty(), "{q:?}");

    s.subscriptions
        .delete("waits", &DeleteParams::default())
        .await
        .unwrap();
    s.queues
        .delete(&queue, &DeleteParams::default())
        .await
        .unwrap();
    s.topics
        .delete(&topic, &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&s.subscriptions, "waits", TIMEOUT).await;
    wait_gone(&s.topics, &topic, TIMEOUT).await;
    assert!(s.topic_arn(&topic).await.is_none());
}
