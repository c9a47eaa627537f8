//! What a topic looks like in AWS, and the pure comparison of that with the spec.

use std::{collections::BTreeMap, fmt};

use operator_core::{PlannedChange, json, ownership};

use super::spec::SNSTopicSpec;

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

/// `change` as plans show it: the values of short attributes; only the field for the policies
/// (JSON documents) and tags.
pub fn planned(change: &Change, observed: &ObservedTopic) -> PlannedChange {
    match change {
        Change::Attribute {
            field: field @ ("policy" | "deliveryPolicy"),
            ..
        } => PlannedChange::field(*field),
        Change::Attribute { field, value, .. } => PlannedChange::values(
            *field,
            observed_value(observed, field),
            Some(value).filter(|v| !v.is_empty()),
        ),
        Change::Tags { .. } => PlannedChange::field(change.to_string()),
    }
}

/// What AWS has for one of the short attributes, by its spec field.
fn observed_value(observed: &ObservedTopic, field: &str) -> Option<String> {
    match field {
        "displayName" => observed.display_name.clone(),
        "contentBasedDeduplication" => Some(observed.content_based_deduplication.to_string()),
        "kmsMasterKeyId" => observed.kms_master_key_id.clone(),
        _ => None,
    }
}

/// A spec that describes `observed` as SNS has it, for export: the diff against it finds
/// nothing but the ownership tags. Attributes the topic lacks are left out, as a topic created
/// from the spec starts without them.
pub fn exported_spec(observed: &ObservedTopic) -> SNSTopicSpec {
    SNSTopicSpec {
        topic_name: Some(observed.name.clone()),
        display_name: observed.display_name.clone(),
        fifo_topic: observed.fifo_topic,
        // The API server refuses it on a standard topic.
        content_based_deduplication: observed
            .fifo_topic
            .then_some(observed.content_based_deduplication),
        policy: observed.policy.clone(),
        delivery_policy: observed.delivery_policy.clone(),
        kms_master_key_id: observed.kms_master_key_id.clone(),
        tags: ownership::exported_tags(&observed.tags),
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
    fn short_attributes_are_planned_with_both_values() {
        let s = spec(serde_json::json!({
            "displayName": "Events",
            "kmsMasterKeyId": "",
            "deliveryPolicy": "{\"http\":{}}"
        }));
        let mut o = observed();
        o.display_name = Some("Old".into());
        o.kms_master_key_id = Some("alias/aws/sns".into());
        let plan: Vec<PlannedChange> = diff(&s, &o, &BTreeMap::new())
            .iter()
            .map(|c| planned(c, &o))
            .collect();
        assert_eq!(
            plan,
            vec![
                PlannedChange::values("displayName", Some("Old"), Some("Events")),
                PlannedChange::field("deliveryPolicy"),
                PlannedChange::values("kmsMasterKeyId", Some("alias/aws/sns"), None::<&str>),
            ]
        );
    }

    #[test]
    fn an_exported_spec_matches_the_topic_it_came_from() {
        let mut o = observed();
        o.name = "Orders.fifo".into();
        o.fifo_topic = true;
        o.content_based_deduplication = true;
        o.display_name = Some("Orders".into());
        o.delivery_policy = Some(r#"{"http":{}}"#.into());
        o.tags = BTreeMap::from([
            ("team".into(), "a".into()),
            (ownership::TAG_UID.into(), "u".into()),
        ]);
        let exported = exported_spec(&o);
        assert_eq!(exported.topic_name.as_deref(), Some("Orders.fifo"));
        assert_eq!(exported.content_based_deduplication, Some(true));
        assert_eq!(exported.kms_master_key_id, None);
        let mut tags = exported.tags.clone();
        assert_eq!(tags.keys().collect::<Vec<_>>(), ["team"]);
        tags.insert(ownership::TAG_UID.into(), "u".into());
        assert_eq!(diff(&exported, &o, &tags), vec![]);
        // A standard topic's spec leaves deduplication out, as the API server requires.
        o.fifo_topic = false;
        assert_eq!(exported_spec(&o).content_based_deduplication, None);
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
