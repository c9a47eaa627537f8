//! What a subscription looks like in AWS, and the pure comparison of that with the spec.

use std::fmt;

use super::spec::{FilterPolicyScope, SNSSubscriptionSpec};
use operator_core::{PlannedChange, json};
use sqs_controller::grants::{self, Delivery};

/// A subscription as SNS reports it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObservedSubscription {
    pub arn: String,
    pub topic_arn: String,
    pub protocol: String,
    pub endpoint: String,
    pub pending_confirmation: bool,
    pub raw_message_delivery: bool,
    pub filter_policy: Option<String>,
    pub filter_policy_scope: Option<String>,
    pub redrive_policy: Option<String>,
    /// For an `sqs` subscription to an SQSQueue of this cluster: the queue and its policy.
    pub queue: Option<QueueAccess>,
}

/// The queue an `sqs` subscription delivers to, as SQS reports it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueAccess {
    pub arn: String,
    pub url: String,
    /// The queue's access policy document, if it has one.
    pub policy: Option<String>,
}

impl QueueAccess {
    /// Whether SNS may deliver from `topic_arn` to this queue, by its policy.
    pub fn delivery(&self, topic_arn: &str) -> Delivery {
        grants::evaluate(self.policy.as_deref(), &self.arn, topic_arn)
    }
}

/// One difference between the spec and AWS.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// One subscription attribute, written by one SetSubscriptionAttributes call.
    Attribute {
        field: &'static str,
        attribute: &'static str,
        value: String,
    },
    /// The queue's policy does not let the topic send: the operator adds its own statement.
    GrantQueueAccess,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Attribute { field, .. } => f.write_str(field),
            Change::GrantQueueAccess => f.write_str("queue policy"),
        }
    }
}

/// `change` as plans show it: the values of short attributes; only the field for the policies
/// (JSON documents) and the queue's grant.
pub fn planned(change: &Change, observed: &ObservedSubscription) -> PlannedChange {
    match change {
        Change::Attribute {
            field: field @ "rawMessageDelivery",
            value,
            ..
        } => PlannedChange::values(*field, Some(observed.raw_message_delivery), Some(value)),
        // Compared with MessageAttributes when AWS has none, as SNS applies it then.
        Change::Attribute {
            field: field @ "filterPolicyScope",
            value,
            ..
        } => PlannedChange::values(
            *field,
            Some(
                observed
                    .filter_policy_scope
                    .as_deref()
                    .unwrap_or(FilterPolicyScope::MessageAttributes.as_str()),
            ),
            Some(value),
        ),
        _ => PlannedChange::field(change.to_string()),
    }
}

fn has_filter(spec: &SNSSubscriptionSpec) -> bool {
    spec.filter_policy
        .as_deref()
        .is_some_and(|p| !p.trim().is_empty())
}

/// The attributes a new subscription is created with; the scope comes before the filter
/// policy it qualifies.
pub fn create_attributes(spec: &SNSSubscriptionSpec) -> Vec<(&'static str, String)> {
    let mut attributes = Vec::new();
    if let Some(raw) = spec.raw_message_delivery {
        attributes.push(("RawMessageDelivery", raw.to_string()));
    }
    if has_filter(spec) {
        let scope = spec
            .filter_policy_scope
            .unwrap_or(FilterPolicyScope::MessageAttributes);
        attributes.push(("FilterPolicyScope", scope.as_str().to_owned()));
        attributes.push((
            "FilterPolicy",
            spec.filter_policy.clone().unwrap_or_default(),
        ));
    }
    if let Some(redrive) = spec.redrive_policy.as_deref().filter(|r| !r.is_empty()) {
        attributes.push(("RedrivePolicy", redrive.to_owned()));
    }
    attributes
}

/// The differences between `spec` and `observed`, in the order they should be applied.
/// Fields the spec leaves out are not managed.
pub fn diff(spec: &SNSSubscriptionSpec, observed: &ObservedSubscription) -> Vec<Change> {
    let mut changes = Vec::new();
    let mut attribute = |field, attribute, differs: bool, value: String| {
        if differs {
            changes.push(Change::Attribute {
                field,
                attribute,
                value,
            });
        }
    };
    if let Some(raw) = spec.raw_message_delivery {
        attribute(
            "rawMessageDelivery",
            "RawMessageDelivery",
            raw != observed.raw_message_delivery,
            raw.to_string(),
        );
    }
    if has_filter(spec) {
        let scope = spec
            .filter_policy_scope
            .unwrap_or(FilterPolicyScope::MessageAttributes)
            .as_str();
        let observed_scope = observed
            .filter_policy_scope
            .as_deref()
            .unwrap_or("MessageAttributes");
        attribute(
            "filterPolicyScope",
            "FilterPolicyScope",
            scope != observed_scope,
            scope.to_owned(),
        );
    }
    if let Some(policy) = &spec.filter_policy {
        attribute(
            "filterPolicy",
            "FilterPolicy",
            !json::same(Some(policy), observed.filter_policy.as_deref()),
            policy.clone(),
        );
    }
    if let Some(policy) = &spec.redrive_policy {
        attribute(
            "redrivePolicy",
            "RedrivePolicy",
            !json::same(Some(policy), observed.redrive_policy.as_deref()),
            policy.clone(),
        );
    }
    if let Some(queue) = &observed.queue
        && queue.delivery(&observed.topic_arn) == Delivery::Missing
    {
        changes.push(Change::GrantQueueAccess);
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(extra: serde_json::Value) -> SNSSubscriptionSpec {
        let mut value =
            serde_json::json!({"topicName": "events", "protocol": "sqs", "endpoint": "orders"});
        value
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        serde_json::from_value(value).unwrap()
    }

    const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:events";
    const QUEUE: &str = "arn:aws:sqs:us-east-1:123456789012:orders";

    fn observed() -> ObservedSubscription {
        ObservedSubscription {
            arn: format!("{TOPIC}:abc"),
            topic_arn: TOPIC.into(),
            protocol: "sqs".into(),
            ..Default::default()
        }
    }

    fn to_queue(policy: Option<String>) -> ObservedSubscription {
        ObservedSubscription {
            queue: Some(QueueAccess {
                arn: QUEUE.into(),
                url: "https://sqs.us-east-1.amazonaws.com/123456789012/orders".into(),
                policy,
            }),
            ..observed()
        }
    }

    #[test]
    fn a_queue_whose_policy_lacks_the_topic_gets_the_grant_once() {
        let s = spec(serde_json::json!({}));
        assert_eq!(diff(&s, &to_queue(None)), vec![Change::GrantQueueAccess]);
        let granted = grants::with_grant(None, QUEUE, TOPIC).unwrap();
        assert_eq!(diff(&s, &to_queue(Some(granted.clone()))), vec![]);
        // Another topic's grant does not let this one send.
        let other =
            grants::with_grant(None, QUEUE, "arn:aws:sns:us-east-1:123456789012:x").unwrap();
        assert_eq!(
            diff(&s, &to_queue(Some(other))),
            vec![Change::GrantQueueAccess]
        );
        // The user's own statement allowing the topic is enough: nothing to add.
        let user = serde_json::json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
            "Action": "sqs:SendMessage", "Resource": QUEUE,
            "Condition": {"ArnEquals": {"aws:SourceArn": TOPIC}}}]});
        assert_eq!(diff(&s, &to_queue(Some(user.to_string()))), vec![]);
    }

    #[test]
    fn a_queue_that_denies_the_topic_is_not_granted_over() {
        let deny = serde_json::json!({"Statement": [{
            "Effect": "Deny", "Principal": "*", "Action": "sqs:*", "Resource": QUEUE}]});
        let o = to_queue(Some(deny.to_string()));
        assert_eq!(diff(&spec(serde_json::json!({})), &o), vec![]);
        assert!(matches!(
            o.queue.unwrap().delivery(TOPIC),
            Delivery::Denied(_)
        ));
    }

    #[test]
    fn the_original_manifest_manages_no_attributes() {
        assert_eq!(diff(&spec(serde_json::json!({})), &observed()), vec![]);
        assert!(create_attributes(&spec(serde_json::json!({}))).is_empty());
    }

    #[test]
    fn filter_policy_is_compared_as_json_with_its_scope() {
        let s = spec(serde_json::json!({"filterPolicy": "{\"kind\": [\"order\"]}"}));
        let mut o = observed();
        let fields: Vec<String> = diff(&s, &o).iter().map(ToString::to_string).collect();
        assert_eq!(fields, vec!["filterPolicy"]);
        o.filter_policy_scope = Some("MessageBody".into());
        let fields: Vec<String> = diff(&s, &o).iter().map(ToString::to_string).collect();
        assert_eq!(fields, vec!["filterPolicyScope", "filterPolicy"]);
        o.filter_policy = Some("{\"kind\":[\"order\"]}".into());
        o.filter_policy_scope = Some("MessageAttributes".into());
        assert_eq!(diff(&s, &o), vec![]);
    }

    #[test]
    fn empty_filter_policy_removes_it() {
        let s = spec(serde_json::json!({"filterPolicy": ""}));
        let mut o = observed();
        o.filter_policy = Some("{\"kind\":[\"order\"]}".into());
        assert_eq!(
            diff(&s, &o),
            vec![Change::Attribute {
                field: "filterPolicy",
                attribute: "FilterPolicy",
                value: String::new()
            }]
        );
    }

    #[test]
    fn raw_delivery_and_scope_are_planned_with_both_values() {
        let s = spec(serde_json::json!({
            "rawMessageDelivery": true,
            "filterPolicy": "{\"kind\": [\"order\"]}",
            "filterPolicyScope": "MessageBody"
        }));
        let o = observed();
        let plan: Vec<PlannedChange> = diff(&s, &o).iter().map(|c| planned(c, &o)).collect();
        assert_eq!(
            plan,
            vec![
                PlannedChange::values("rawMessageDelivery", Some("false"), Some("true")),
                PlannedChange::values(
                    "filterPolicyScope",
                    Some("MessageAttributes"),
                    Some("MessageBody")
                ),
                PlannedChange::field("filterPolicy"),
            ]
        );
        assert_eq!(
            planned(&Change::GrantQueueAccess, &o),
            PlannedChange::field("queue policy")
        );
    }

    #[test]
    fn raw_delivery_is_a_change() {
        let s = spec(serde_json::json!({"rawMessageDelivery": true}));
        assert!(matches!(
            &diff(&s, &observed())[0],
            Change::Attribute {
                attribute: "RawMessageDelivery",
                ..
            }
        ));
        assert_eq!(
            create_attributes(&s),
            vec![("RawMessageDelivery", "true".to_owned())]
        );
    }
}
