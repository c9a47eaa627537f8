//! What a topic looks like in AWS, and the pure comparison of that with the spec.

use std::{collections::BTreeMap, fmt};

use operator_core::ownership;

use super::spec::SNSTopicSpec;
use operator_core::json;

/// A topic as SNS reports it, in the spec's own terms.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObservedTopic {
    pub name: String,
    pub arn: String,
    pub display_name: Option<String>,
    pub fifo_topic: bool,
    pub content_based_deduplication: bool,
    pub policy: Option<String>,
    pub delivery_policy: Option<String>,
    pub kms_master_key_id: Option<String>,
    pub tags: BTreeMap<String, String>,
}

/// One difference between spec and AWS.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// One topic attribute, written by one SetTopicAttributes call.
    Attribute {
        field: &'static str,
        attribute: &'static str,
        value: String,
    },
    Tags {
        set: BTreeMap<String, String>,
        remove: Vec<String>,
    },
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Attribute { field, .. } => f.write_str(field),
            Change::Tags { .. } => f.write_str("tags"),
        }
    }
}

/// The attributes a new topic is created with.
pub fn create_attributes(spec: &SNSTopicSpec) -> BTreeMap<&'static str, String> {
    let mut attributes = BTreeMap::new();
    if spec.fifo_topic {
        attributes.insert("FifoTopic", "true".to_owned());
        if let Some(dedup) = spec.content_based_deduplication {
            attributes.insert("ContentBasedDeduplication", dedup.to_string());
        }
    }
    let optional = [
        ("DisplayName", &spec.display_name),
        ("Policy", &spec.policy),
        ("DeliveryPolicy", &spec.delivery_policy),
        ("KmsMasterKeyId", &spec.kms_master_key_id),
    ];
    for (name, value) in optional {
        if let Some(value) = value.as_deref().filter(|v| !v.is_empty()) {
            attributes.insert(name, value.to_owned());
        }
    }
    attributes
}

/// The differences between `spec` and `observed`. Fields the spec leaves out are not managed.
pub fn diff(
    spec: &SNSTopicSpec,
    observed: &ObservedTopic,
    tags: &BTreeMap<String, String>,
) -> Vec<Change> {
    let mut changes = Vec::new();
    let mut attribute = |field, attribute, differs: bool, value: &str| {
        if differs {
            changes.push(Change::Attribute {
                field,
                attribute,
                value: value.to_owned(),
            });
        }
    };
    if let Some(name) = &spec.display_name {
        attribute(
            "displayName",
            "DisplayName",
            observed.display_name.as_deref().unwrap_or_default() != name,
            name,
        );
    }
    if observed.fifo_topic
        && let Some(dedup) = spec.content_based_deduplication
    {
        attribute(
            "contentBasedDeduplication",
            "ContentBasedDeduplication",
            dedup != observed.content_based_deduplication,
            &dedup.to_string(),
        );
    }
    if let Some(policy) = &spec.policy {
        attribute(
            "policy",
            "Policy",
            !json::same(Some(policy), observed.policy.as_deref()),
            policy,
        );
    }
    if let Some(policy) = &spec.delivery_policy {
        attribute(
            "deliveryPolicy",
            "DeliveryPolicy",
            !json::same(Some(policy), observed.delivery_policy.as_deref()),
            policy,
        );
    }
    if let Some(key) = &spec.kms_master_key_id {
        attribute(
            "kmsMasterKeyId",
            "KmsMasterKeyId",
            observed.kms_master_key_id.as_deref().unwrap_or_default() != key,
            key,
        );
    }
    let (set, remove) = ownership::tag_changes(tags, &observed.tags);
    if !set.is_empty() || !remove.is_empty() {
        changes.push(Change::Tags { set, remove });
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(value: serde_json::Value) -> SNSTopicSpec {
        serde_json::from_value(value).unwrap()
    }

    fn observed() -> ObservedTopic {
        ObservedTopic {
            name: "events".into(),
            arn: "arn:aws:sns:us-east-1:123456789012:events".into(),
            policy: Some(r#"{"Version":"2008-10-17","Statement":[]}"#.into()),
            ..Default::default()
        }
    }

    #[test]
    fn an_empty_spec_manages_nothing_but_tags() {
        assert_eq!(
            diff(&spec(serde_json::json!({})), &observed(), &BTreeMap::new()),
            vec![]
        );
    }

    #[test]
    fn display_name_and_policies_are_compared() {
        let s = spec(serde_json::json!({
            "displayName": "Events",
            "policy": "{ \"Statement\": [], \"Version\": \"2008-10-17\" }",
            "deliveryPolicy": "{\"http\":{\"defaultHealthyRetryPolicy\":{\"numRetries\":5}}}"
        }));
        let changes = diff(&s, &observed(), &BTreeMap::new());
        let fields: Vec<String> = changes.iter().map(ToString::to_string).collect();
        assert_eq!(fields, vec!["displayName", "deliveryPolicy"]);
    }

    #[test]
    fn deduplication_only_for_fifo_topics() {
        let s = spec(serde_json::json!({"fifoTopic": true, "contentBasedDeduplication": true}));
        let mut o = observed();
        assert_eq!(diff(&s, &o, &BTreeMap::new()), vec![]);
        o.fifo_topic = true;
        assert_eq!(diff(&s, &o, &BTreeMap::new()).len(), 1);
        let a = create_attributes(&s);
        assert_eq!(a.get("FifoTopic").map(String::as_str), Some("true"));
        assert_eq!(
            a.get("ContentBasedDeduplication").map(String::as_str),
            Some("true")
        );
    }

    #[test]
    fn tags_follow_the_desired_set() {
        let mut o = observed();
        o.tags.insert("old".into(), "1".into());
        let tags = BTreeMap::from([("new".to_owned(), "2".to_owned())]);
        assert_eq!(
            diff(&spec(serde_json::json!({})), &o, &tags),
            vec![Change::Tags {
                set: tags.clone(),
                remove: vec!["old".into()]
            }]
        );
    }
}
