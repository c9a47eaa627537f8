//! What a queue looks like in AWS, and the pure comparison of that with the spec.

use std::{collections::BTreeMap, fmt};

use operator_core::ownership::{self, TAG_UID};
use serde_json::json;

use crate::{
    grants,
    spec::{RedrivePolicy, SQSQueueSpec},
};

/// A queue as SQS reports it, in the spec's own terms.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObservedQueue {
    pub name: String,
    pub url: String,
    pub arn: String,
    pub delay_seconds: Option<i32>,
    pub maximum_message_size: Option<i32>,
    pub message_retention_period: Option<i32>,
    pub receive_message_wait_time_seconds: Option<i32>,
    pub visibility_timeout: Option<i32>,
    pub fifo_queue: bool,
    pub content_based_deduplication: bool,
    pub policy: Option<String>,
    pub kms_master_key_id: Option<String>,
    pub redrive_policy: Option<Redrive>,
    pub tags: BTreeMap<String, String>,
    /// The operator's dead-letter queue, looked up only when the spec asks for one or the
    /// queue still points at it.
    pub dead_letter_queue: Option<ObservedDeadLetterQueue>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObservedDeadLetterQueue {
    pub name: String,
    pub url: String,
    pub arn: String,
    pub tags: BTreeMap<String, String>,
}

/// A redrive policy: where messages go, after how many receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redrive {
    pub dead_letter_target_arn: String,
    pub max_receive_count: i32,
}

impl Redrive {
    /// The `RedrivePolicy` attribute value.
    pub fn to_json(&self) -> String {
        json!({"deadLetterTargetArn": self.dead_letter_target_arn, "maxReceiveCount": self.max_receive_count})
            .to_string()
    }

    /// Parses the attribute; AWS has reported `maxReceiveCount` both as a number and a string.
    pub fn parse(doc: &str) -> Option<Self> {
        let value: serde_json::Value = serde_json::from_str(doc).ok()?;
        let count = value.get("maxReceiveCount")?;
        Some(Self {
            dead_letter_target_arn: value.get("deadLetterTargetArn")?.as_str()?.to_owned(),
            max_receive_count: count
                .as_i64()
                .or_else(|| count.as_str()?.parse().ok())
                .and_then(|c| i32::try_from(c).ok())?,
        })
    }
}

/// One difference between spec and AWS.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// The operator's dead-letter queue is missing: create it before pointing at it.
    CreateDeadLetterQueue,
    /// A queue with the dead-letter queue's name exists and is not ours: refuse to use it.
    DeadLetterQueueNotOwned(String),
    /// One queue attribute; all of them are written with one SetQueueAttributes call.
    Attribute {
        field: &'static str,
        attribute: &'static str,
        value: String,
    },
    Tags {
        set: BTreeMap<String, String>,
        remove: Vec<String>,
    },
    /// `usedeadletterQueue` was turned off: the operator's dead-letter queue goes.
    DeleteDeadLetterQueue,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::CreateDeadLetterQueue => f.write_str("usedeadletterQueue (create)"),
            Change::DeadLetterQueueNotOwned(name) => {
                write!(f, "usedeadletterQueue ({name} is not ours)")
            }
            Change::Attribute { field, .. } => f.write_str(field),
            Change::Tags { .. } => f.write_str("tags"),
            Change::DeleteDeadLetterQueue => f.write_str("usedeadletterQueue (delete)"),
        }
    }
}

/// What AWS has for one spec field, for plans; documents (policy) are left out: long, and the
/// plan names the field.
pub fn observed_value(observed: &ObservedQueue, field: &str) -> Option<String> {
    let number = |v: Option<i32>| v.map(|n| n.to_string());
    match field {
        "delaySeconds" => number(observed.delay_seconds),
        "maximumMessageSize" => number(observed.maximum_message_size),
        "messageRetentionPeriod" => number(observed.message_retention_period),
        "receiveMessageWaitTimeSeconds" => number(observed.receive_message_wait_time_seconds),
        "visibilityTimeout" => number(observed.visibility_timeout),
        "contentBasedDeduplication" => Some(observed.content_based_deduplication.to_string()),
        "kmsMasterKeyId" => observed.kms_master_key_id.clone(),
        "redrivePolicy" => observed.redrive_policy.as_ref().map(Redrive::to_json),
        _ => None,
    }
}

/// A spec that describes `observed` as SQS has it, for export: the diff against it finds
/// nothing but the ownership tags.
pub fn exported_spec(observed: &ObservedQueue) -> SQSQueueSpec {
    let defaults: SQSQueueSpec =
        serde_json::from_value(json!({})).expect("every field has a default");
    SQSQueueSpec {
        queue_name: Some(observed.name.clone()),
        content_based_deduplication: if observed.fifo_queue {
            observed.content_based_deduplication
        } else {
            defaults.content_based_deduplication
        },
        delay_seconds: observed.delay_seconds.unwrap_or(defaults.delay_seconds),
        maximum_message_size: observed
            .maximum_message_size
            .unwrap_or(defaults.maximum_message_size),
        message_retention_period: observed
            .message_retention_period
            .unwrap_or(defaults.message_retention_period),
        receive_message_wait_time_seconds: observed
            .receive_message_wait_time_seconds
            .unwrap_or(defaults.receive_message_wait_time_seconds),
        visibility_timeout: observed
            .visibility_timeout
            .unwrap_or(defaults.visibility_timeout),
        fifo_queue: observed.fifo_queue,
        usedeadletter_queue: false,
        redrive_policy: observed.redrive_policy.as_ref().map(|r| RedrivePolicy {
            dead_letter_queue: None,
            dead_letter_target_arn: Some(r.dead_letter_target_arn.clone()),
            max_receive_count: r.max_receive_count,
        }),
        policy: observed.policy.clone(),
        kms_master_key_id: observed.kms_master_key_id.clone(),
        tags: ownership::exported_tags(&observed.tags),
    }
}

/// The ARN a queue named `name` has next to the queue `arn` (same partition, region, account).
pub fn sibling_arn(arn: &str, name: &str) -> String {
    match arn.rsplit_once(':') {
        Some((prefix, _)) => format!("{prefix}:{name}"),
        None => name.to_owned(),
    }
}

/// The URL of the queue called `name` next to the queue at `url` (same account and region).
pub fn sibling_url(url: &str, name: &str) -> String {
    match url.rsplit_once('/') {
        Some((prefix, _)) => format!("{prefix}/{name}"),
        None => name.to_owned(),
    }
}

/// The redrive policy the spec asks for, if it manages one. `Some(None)` removes it.
/// `referenced` is the resolved ARN of `redrivePolicy.deadLetterQueue`.
pub fn desired_redrive(
    spec: &SQSQueueSpec,
    own_dlq_arn: &str,
    referenced: Option<&str>,
    observed: Option<&Redrive>,
) -> Option<Option<Redrive>> {
    let max_receive_count = spec
        .redrive_policy
        .as_ref()
        .map_or(5, |r| r.max_receive_count);
    if spec.usedeadletter_queue {
        return Some(Some(Redrive {
            dead_letter_target_arn: own_dlq_arn.to_owned(),
            max_receive_count,
        }));
    }
    if let Some(policy) = &spec.redrive_policy {
        let target = policy.dead_letter_target_arn.as_deref().or(referenced)?;
        return Some(Some(Redrive {
            dead_letter_target_arn: target.to_owned(),
            max_receive_count,
        }));
    }
    // Turned off: stop pointing at the operator's own dead-letter queue.
    observed
        .is_some_and(|r| r.dead_letter_target_arn == own_dlq_arn)
        .then_some(None)
}

/// The `Policy` value for the user's `spec.policy` next to the `observed` one: the user's
/// document plus the operator's grants in AWS (see [`grants::merged`]); `None` for no policy.
/// A document that is not JSON is written as it is, for SQS to refuse it with its own message.
fn desired_policy(policy: &str, observed: Option<&str>) -> Option<String> {
    let value = grants::merged(policy, observed).unwrap_or_else(|_| policy.trim().to_owned());
    (!value.is_empty()).then_some(value)
}

/// The attributes a new queue is created with.
pub fn create_attributes(
    spec: &SQSQueueSpec,
    redrive: Option<&Redrive>,
) -> BTreeMap<&'static str, String> {
    let mut attributes = BTreeMap::from([
        ("DelaySeconds", spec.delay_seconds.to_string()),
        ("MaximumMessageSize", spec.maximum_message_size.to_string()),
        (
            "MessageRetentionPeriod",
            spec.message_retention_period.to_string(),
        ),
        (
            "ReceiveMessageWaitTimeSeconds",
            spec.receive_message_wait_time_seconds.to_string(),
        ),
        ("VisibilityTimeout", spec.visibility_timeout.to_string()),
    ]);
    if spec.fifo_queue {
        attributes.insert("FifoQueue", "true".into());
        attributes.insert(
            "ContentBasedDeduplication",
            spec.content_based_deduplication.to_string(),
        );
    }
    if let Some(policy) = spec.policy.as_deref().and_then(|p| desired_policy(p, None)) {
        attributes.insert("Policy", policy);
    }
    if let Some(key) = spec.kms_master_key_id.as_deref().filter(|k| !k.is_empty()) {
        attributes.insert("KmsMasterKeyId", key.to_owned());
    }
    if let Some(redrive) = redrive {
        attributes.insert("RedrivePolicy", redrive.to_json());
    }
    attributes
}

/// The differences between `spec` and `observed`, in the order they should be applied.
/// `dlq_name` is the operator's dead-letter queue's name; `referenced` the resolved ARN of
/// `redrivePolicy.deadLetterQueue`; `tags` the full desired tag set.
pub fn diff(
    spec: &SQSQueueSpec,
    observed: &ObservedQueue,
    dlq_name: &str,
    referenced: Option<&str>,
    tags: &BTreeMap<String, String>,
) -> Vec<Change> {
    let mut changes = Vec::new();
    let own_dlq_arn = sibling_arn(&observed.arn, dlq_name);
    let mut dlq_usable = true;
    if spec.usedeadletter_queue {
        match &observed.dead_letter_queue {
            None => changes.push(Change::CreateDeadLetterQueue),
            Some(dlq) if dlq.tags.get(TAG_UID) != tags.get(TAG_UID) => {
                dlq_usable = false;
                changes.push(Change::DeadLetterQueueNotOwned(dlq.name.clone()));
            }
            Some(_) => {}
        }
    }

    let mut attribute = |field, attribute, differs: bool, value: String| {
        if differs {
            changes.push(Change::Attribute {
                field,
                attribute,
                value,
            });
        }
    };
    let numbers = [
        (
            "delaySeconds",
            "DelaySeconds",
            spec.delay_seconds,
            observed.delay_seconds,
        ),
        (
            "maximumMessageSize",
            "MaximumMessageSize",
            spec.maximum_message_size,
            observed.maximum_message_size,
        ),
        (
            "messageRetentionPeriod",
            "MessageRetentionPeriod",
            spec.message_retention_period,
            observed.message_retention_period,
        ),
        (
            "receiveMessageWaitTimeSeconds",
            "ReceiveMessageWaitTimeSeconds",
            spec.receive_message_wait_time_seconds,
            observed.receive_message_wait_time_seconds,
        ),
        (
            "visibilityTimeout",
            "VisibilityTimeout",
            spec.visibility_timeout,
            observed.visibility_timeout,
        ),
    ];
    for (field, name, wanted, seen) in numbers {
        attribute(field, name, seen != Some(wanted), wanted.to_string());
    }
    // Standard queues have no deduplication; AWS refuses the attribute on them.
    if observed.fifo_queue {
        attribute(
            "contentBasedDeduplication",
            "ContentBasedDeduplication",
            spec.content_based_deduplication != observed.content_based_deduplication,
            spec.content_based_deduplication.to_string(),
        );
    }
    if let Some(policy) = &spec.policy {
        let seen = observed.policy.as_deref();
        let wanted = desired_policy(policy, seen).unwrap_or_default();
        // The user's parts compared, so the operator's grants (and a user's copy of one) never
        // make a difference; a policy left with nothing in it is still removed.
        let differs = grants::user_document(Some(policy)) != grants::user_document(seen)
            || (wanted.is_empty() && seen.is_some_and(|p| !p.trim().is_empty()));
        attribute("policy", "Policy", differs, wanted);
    }
    if let Some(key) = &spec.kms_master_key_id {
        attribute(
            "kmsMasterKeyId",
            "KmsMasterKeyId",
            observed.kms_master_key_id.as_deref().unwrap_or_default() != key,
            key.clone(),
        );
    }
    if dlq_usable
        && let Some(wanted) = desired_redrive(
            spec,
            &own_dlq_arn,
            referenced,
            observed.redrive_policy.as_ref(),
        )
    {
        attribute(
            "redrivePolicy",
            "RedrivePolicy",
            wanted != observed.redrive_policy,
            wanted.as_ref().map(Redrive::to_json).unwrap_or_default(),
        );
    }

    let (set, remove) = ownership::tag_changes(tags, &observed.tags);
    if !set.is_empty() || !remove.is_empty() {
        changes.push(Change::Tags { set, remove });
    }

    if !spec.usedeadletter_queue
        && observed
            .dead_letter_queue
            .as_ref()
            .is_some_and(|d| d.tags.get(TAG_UID) == tags.get(TAG_UID))
    {
        changes.push(Change::DeleteDeadLetterQueue);
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:sqs:us-east-1:123456789012:orders";
    const DLQ_ARN: &str = "arn:aws:sqs:us-east-1:123456789012:orders-dlq";

    /// The original operator's example manifest.
    fn spec() -> SQSQueueSpec {
        serde_json::from_value(serde_json::json!({
            "contentBasedDeduplication": true,
            "delaySeconds": 5,
            "usedeadletterQueue": false,
            "maximumMessageSize": 262144,
            "messageRetentionPeriod": 345600,
            "visibilityTimeout": 30
        }))
        .unwrap()
    }

    fn tags() -> BTreeMap<String, String> {
        BTreeMap::from([(TAG_UID.to_owned(), "u1".to_owned())])
    }

    fn matching(spec: &SQSQueueSpec) -> ObservedQueue {
        ObservedQueue {
            name: "orders".into(),
            url: "https://sqs/123456789012/orders".into(),
            arn: ARN.into(),
            delay_seconds: Some(spec.delay_seconds),
            maximum_message_size: Some(spec.maximum_message_size),
            message_retention_period: Some(spec.message_retention_period),
            receive_message_wait_time_seconds: Some(spec.receive_message_wait_time_seconds),
            visibility_timeout: Some(spec.visibility_timeout),
            tags: tags(),
            ..Default::default()
        }
    }

    fn attributes(changes: &[Change]) -> Vec<(&'static str, String)> {
        changes
            .iter()
            .filter_map(|c| match c {
                Change::Attribute {
                    attribute, value, ..
                } => Some((*attribute, value.clone())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn defaults_are_the_original_operators() {
        let s: SQSQueueSpec = serde_json::from_value(serde_json::json!({})).unwrap();
        assert!(s.content_based_deduplication && !s.fifo_queue && !s.usedeadletter_queue);
        assert_eq!(
            (
                s.delay_seconds,
                s.maximum_message_size,
                s.message_retention_period,
                s.receive_message_wait_time_seconds,
                s.visibility_timeout
            ),
            (5, 262_144, 345_600, 0, 5)
        );
    }

    #[test]
    fn an_exported_spec_matches_the_queue_it_came_from() {
        let mut observed = matching(&spec());
        observed.visibility_timeout = Some(77);
        observed.redrive_policy = Some(Redrive {
            dead_letter_target_arn: DLQ_ARN.into(),
            max_receive_count: 4,
        });
        observed.tags.insert("team".into(), "a".into());
        let exported = exported_spec(&observed);
        assert_eq!(exported.queue_name.as_deref(), Some("orders"));
        assert_eq!(exported.tags.len(), 1);
        let mut tags = exported.tags.clone();
        tags.extend(tags_of_owner());
        assert_eq!(
            diff(&exported, &observed, "orders-dlq", None, &tags),
            vec![]
        );
    }

    fn tags_of_owner() -> BTreeMap<String, String> {
        tags()
    }

    #[test]
    fn matching_queue_has_no_changes() {
        let s = spec();
        assert_eq!(diff(&s, &matching(&s), "orders-dlq", None, &tags()), vec![]);
    }

    #[test]
    fn changed_numbers_are_attribute_changes() {
        let s = spec();
        let mut observed = matching(&s);
        observed.visibility_timeout = Some(10);
        observed.delay_seconds = Some(0);
        let changes = diff(&s, &observed, "orders-dlq", None, &tags());
        assert_eq!(
            attributes(&changes),
            vec![
                ("DelaySeconds", "5".to_owned()),
                ("VisibilityTimeout", "30".to_owned())
            ]
        );
        assert_eq!(changes[0].to_string(), "delaySeconds");
    }

    #[test]
    fn deduplication_only_matters_for_fifo_queues() {
        let s = spec();
        let observed = matching(&s);
        assert!(!observed.content_based_deduplication);
        assert_eq!(diff(&s, &observed, "orders-dlq", None, &tags()), vec![]);
        let mut fifo = observed.clone();
        fifo.fifo_queue = true;
        assert_eq!(
            attributes(&diff(&s, &fifo, "orders-dlq", None, &tags())),
            vec![("ContentBasedDeduplication", "true".to_owned())]
        );
    }

    const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:events";

    /// A user's policy: one statement, not the operator's.
    fn user_policy(action: &str) -> String {
        serde_json::json!({"Version": "2012-10-17", "Statement": [{
            "Sid": "App", "Effect": "Allow", "Action": action, "Resource": ARN,
            "Principal": {"AWS": "arn:aws:iam::123456789012:role/app"},
        }]})
        .to_string()
    }

    /// The policy change in `changes`, parsed ("" as null).
    fn written_policy(changes: &[Change]) -> Option<serde_json::Value> {
        attributes(changes)
            .into_iter()
            .find(|(attribute, _)| *attribute == "Policy")
            .map(|(_, v)| serde_json::from_str(&v).unwrap_or(serde_json::Value::Null))
    }

    #[test]
    fn policy_is_compared_as_json() {
        let mut s = spec();
        s.policy = Some(
            r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "sqs:GetQueueUrl", "Resource": "*"}]}"#.into(),
        );
        let mut observed = matching(&s);
        observed.policy = Some(
            r#"{"Statement":[{"Resource":"*","Action":"sqs:GetQueueUrl","Principal":"*","Effect":"Allow"}],"Version":"2012-10-17"}"#.into(),
        );
        assert_eq!(diff(&s, &observed, "orders-dlq", None, &tags()), vec![]);
        observed.policy = None;
        assert_eq!(
            attributes(&diff(&s, &observed, "orders-dlq", None, &tags()))[0].0,
            "Policy"
        );
    }

    #[test]
    fn the_users_policy_plus_the_operators_grant_is_in_sync() {
        let mut s = spec();
        s.policy = Some(user_policy("sqs:ReceiveMessage"));
        let mut observed = matching(&s);
        observed.policy = Some(grants::with_grant(s.policy.as_deref(), ARN, TOPIC).unwrap());
        assert_eq!(diff(&s, &observed, "orders-dlq", None, &tags()), vec![]);
        // A user's copy of the operator's statement is not a difference either.
        s.policy = observed.policy.clone();
        assert_eq!(diff(&s, &observed, "orders-dlq", None, &tags()), vec![]);
    }

    #[test]
    fn a_spec_policy_change_keeps_the_operators_grant() {
        let mut s = spec();
        let mut observed = matching(&s);
        let old = user_policy("sqs:ReceiveMessage");
        observed.policy = Some(grants::with_grant(Some(&old), ARN, TOPIC).unwrap());
        s.policy = Some(user_policy("sqs:*"));
        let written = written_policy(&diff(&s, &observed, "orders-dlq", None, &tags())).unwrap();
        let new: serde_json::Value = serde_json::from_str(&user_policy("sqs:*")).unwrap();
        assert_eq!(
            written["Statement"],
            serde_json::json!([new["Statement"][0], grants::statement(ARN, TOPIC)])
        );
    }

    #[test]
    fn an_empty_spec_policy_leaves_only_the_operators_grant() {
        let mut s = spec();
        s.policy = Some(String::new());
        let mut observed = matching(&s);
        let user = user_policy("sqs:ReceiveMessage");
        observed.policy = Some(grants::with_grant(Some(&user), ARN, TOPIC).unwrap());
        let written = written_policy(&diff(&s, &observed, "orders-dlq", None, &tags())).unwrap();
        assert_eq!(
            written["Statement"],
            serde_json::json!([grants::statement(ARN, TOPIC)])
        );
        observed.policy = Some(grants::with_grant(None, ARN, TOPIC).unwrap());
        assert_eq!(diff(&s, &observed, "orders-dlq", None, &tags()), vec![]);
    }

    #[test]
    fn an_absent_spec_policy_never_changes_the_policy() {
        let s = spec();
        let mut observed = matching(&s);
        for policy in [
            None,
            Some(user_policy("sqs:*")),
            Some(grants::with_grant(None, ARN, TOPIC).unwrap()),
            Some("not json".to_owned()),
        ] {
            observed.policy = policy;
            assert_eq!(diff(&s, &observed, "orders-dlq", None, &tags()), vec![]);
        }
    }

    #[test]
    fn a_policy_that_is_not_json_is_written_as_it_is() {
        let mut s = spec();
        s.policy = Some("{oops".into());
        let mut observed = matching(&s);
        observed.policy = Some(grants::with_grant(None, ARN, TOPIC).unwrap());
        assert_eq!(
            attributes(&diff(&s, &observed, "orders-dlq", None, &tags())),
            vec![("Policy", "{oops".to_owned())]
        );
        observed.policy = Some("{oops".into());
        assert_eq!(diff(&s, &observed, "orders-dlq", None, &tags()), vec![]);
    }

    #[test]
    fn absent_policy_and_key_are_not_managed_but_empty_ones_are() {
        let mut s = spec();
        let mut observed = matching(&s);
        observed.policy = Some("{}".into());
        observed.kms_master_key_id = Some("alias/aws/sqs".into());
        assert_eq!(diff(&s, &observed, "orders-dlq", None, &tags()), vec![]);
        s.policy = Some(String::new());
        s.kms_master_key_id = Some(String::new());
        assert_eq!(
            attributes(&diff(&s, &observed, "orders-dlq", None, &tags())),
            vec![("Policy", String::new()), ("KmsMasterKeyId", String::new())]
        );
    }

    #[test]
    fn own_dead_letter_queue_is_created_then_wired() {
        let mut s = spec();
        s.usedeadletter_queue = true;
        let observed = matching(&s);
        let changes = diff(&s, &observed, "orders-dlq", None, &tags());
        assert_eq!(changes[0], Change::CreateDeadLetterQueue);
        assert_eq!(
            attributes(&changes),
            vec![(
                "RedrivePolicy",
                Redrive {
                    dead_letter_target_arn: DLQ_ARN.into(),
                    max_receive_count: 5
                }
                .to_json()
            )]
        );
    }

    #[test]
    fn a_foreign_queue_is_never_used_as_our_dead_letter_queue() {
        let mut s = spec();
        s.usedeadletter_queue = true;
        let mut observed = matching(&s);
        observed.dead_letter_queue = Some(ObservedDeadLetterQueue {
            name: "orders-dlq".into(),
            arn: DLQ_ARN.into(),
            ..Default::default()
        });
        assert_eq!(
            diff(&s, &observed, "orders-dlq", None, &tags()),
            vec![Change::DeadLetterQueueNotOwned("orders-dlq".into())]
        );
    }

    #[test]
    fn turning_the_dead_letter_queue_off_unwires_and_deletes_it() {
        let s = spec();
        let mut observed = matching(&s);
        observed.redrive_policy = Some(Redrive {
            dead_letter_target_arn: DLQ_ARN.into(),
            max_receive_count: 5,
        });
        observed.dead_letter_queue = Some(ObservedDeadLetterQueue {
            name: "orders-dlq".into(),
            arn: DLQ_ARN.into(),
            tags: tags(),
            ..Default::default()
        });
        let changes = diff(&s, &observed, "orders-dlq", None, &tags());
        assert_eq!(attributes(&changes), vec![("RedrivePolicy", String::new())]);
        assert_eq!(changes.last(), Some(&Change::DeleteDeadLetterQueue));
    }

    #[test]
    fn redrive_to_a_referenced_queue_uses_its_resolved_arn() {
        let mut s = spec();
        s.redrive_policy = Some(crate::spec::RedrivePolicy {
            dead_letter_queue: Some("errors".into()),
            dead_letter_target_arn: None,
            max_receive_count: 3,
        });
        let mut observed = matching(&s);
        let errors = "arn:aws:sqs:us-east-1:123456789012:errors";
        let changes = diff(&s, &observed, "orders-dlq", Some(errors), &tags());
        assert_eq!(attributes(&changes)[0].0, "RedrivePolicy");
        observed.redrive_policy = Redrive::parse(&format!(
            r#"{{"maxReceiveCount":"3","deadLetterTargetArn":"{errors}"}}"#
        ));
        assert_eq!(
            diff(&s, &observed, "orders-dlq", Some(errors), &tags()),
            vec![]
        );
    }

    #[test]
    fn a_redrive_policy_not_in_the_spec_is_left_alone() {
        let s = spec();
        let mut observed = matching(&s);
        observed.redrive_policy = Some(Redrive {
            dead_letter_target_arn: "arn:aws:sqs:us-east-1:123456789012:theirs".into(),
            max_receive_count: 2,
        });
        assert_eq!(diff(&s, &observed, "orders-dlq", None, &tags()), vec![]);
    }

    #[test]
    fn tags_are_set_and_removed() {
        let s = spec();
        let mut observed = matching(&s);
        observed.tags.insert("old".into(), "x".into());
        let mut wanted = tags();
        wanted.insert("team".into(), "a".into());
        assert_eq!(
            diff(&s, &observed, "orders-dlq", None, &wanted),
            vec![Change::Tags {
                set: BTreeMap::from([("team".into(), "a".into())]),
                remove: vec!["old".into()]
            }]
        );
    }

    #[test]
    fn create_attributes_follow_the_spec() {
        let mut s = spec();
        s.fifo_queue = true;
        let a = create_attributes(&s, None);
        assert_eq!(a.get("FifoQueue").map(String::as_str), Some("true"));
        assert_eq!(
            a.get("ContentBasedDeduplication").map(String::as_str),
            Some("true")
        );
        assert_eq!(a.get("VisibilityTimeout").map(String::as_str), Some("30"));
        assert!(!create_attributes(&spec(), None).contains_key("FifoQueue"));
    }

    #[test]
    fn create_attributes_hold_the_users_policy_without_reserved_statements() {
        let mut s = spec();
        s.policy = Some(String::new());
        assert!(!create_attributes(&s, None).contains_key("Policy"));
        s.policy = Some(grants::with_grant(None, ARN, TOPIC).unwrap());
        assert!(!create_attributes(&s, None).contains_key("Policy"));
        let user = user_policy("sqs:ReceiveMessage");
        s.policy = Some(grants::with_grant(Some(&user), ARN, TOPIC).unwrap());
        let policy = create_attributes(&s, None).remove("Policy").unwrap();
        assert_eq!(
            grants::user_document(Some(&policy)),
            grants::user_document(Some(&user))
        );
        assert_eq!(
            grants::evaluate(Some(&policy), ARN, TOPIC),
            grants::Delivery::Missing
        );
    }

    #[test]
    fn sibling_url_replaces_the_name() {
        assert_eq!(
            sibling_url(
                "https://sqs.eu-west-1.amazonaws.com/123456789012/orders",
                "orders-dlq"
            ),
            "https://sqs.eu-west-1.amazonaws.com/123456789012/orders-dlq"
        );
    }

    #[test]
    fn sibling_arn_replaces_the_name() {
        assert_eq!(sibling_arn(ARN, "orders-dlq"), DLQ_ARN);
    }
}
