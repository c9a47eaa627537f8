//! What a subscription looks like in AWS, and the pure comparison of that with the spec.

use std::{collections::BTreeMap, fmt};

use super::spec::{FilterPolicyScope, SNSSubscriptionSpec};
use operator_core::json;

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
    /// Subscriptions have no tags in AWS: the ownership tags are synthesised for one whose ARN
    /// this resource recorded, empty for one merely found on the topic.
    pub tags: BTreeMap<String, String>,
}

/// One subscription attribute, written by one SetSubscriptionAttributes call.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub field: &'static str,
    pub attribute: &'static str,
    pub value: String,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.field)
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
            changes.push(Change {
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

    fn observed() -> ObservedSubscription {
        ObservedSubscription {
            arn: "arn:aws:sns:us-east-1:123456789012:events:abc".into(),
            protocol: "sqs".into(),
            ..Default::default()
        }
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
            vec![Change {
                field: "filterPolicy",
                attribute: "FilterPolicy",
                value: String::new()
            }]
        );
    }

    #[test]
    fn raw_delivery_is_a_change() {
        let s = spec(serde_json::json!({"rawMessageDelivery": true}));
        assert_eq!(diff(&s, &observed())[0].attribute, "RawMessageDelivery");
        assert_eq!(
            create_attributes(&s),
            vec![("RawMessageDelivery", "true".to_owned())]
        );
    }
}
