//! The `SNSTopic` kind: an SNS topic. The original AWS Service Operator's topic had no fields, so
//! its manifests (without a spec) still apply; the rest follow the SNS API.

use std::collections::BTreeMap;

use kube::CustomResource;
use operator_core::ResourceStatus;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "service-operator.aws",
    version = "v1alpha1",
    kind = "SNSTopic",
    doc = "An Amazon SNS topic, created, kept in sync and deleted by the AWS Service Operator.",
    plural = "snstopics",
    shortname = "sns",
    shortname = "topic",
    category = "aws",
    namespaced,
    status = "SNSTopicStatus",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Synced","type":"string","jsonPath":".status.conditions[?(@.type==\"Synced\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    printcolumn = r#"{"name":"ARN","type":"string","jsonPath":".status.arn","priority":1}"#
)]
#[serde(rename_all = "camelCase")]
// `default: {}` lets a manifest leave out `spec`, as the original operator's did.
#[schemars(extend(
    "default" = {},
    "x-kubernetes-validations" = [
        {"rule": "has(self.topicName) == has(oldSelf.topicName) && (!has(self.topicName) || self.topicName == oldSelf.topicName)", "message": "topicName is immutable"},
        {"rule": "(has(self.fifoTopic) && self.fifoTopic) == (has(oldSelf.fifoTopic) && oldSelf.fifoTopic)", "message": "fifoTopic is immutable"},
        {"rule": "!has(self.topicName) || !self.topicName.endsWith('.fifo') || (has(self.fifoTopic) && self.fifoTopic)", "message": "topicName may end in .fifo only when fifoTopic is true"},
        {"rule": "!has(self.contentBasedDeduplication) || (has(self.fifoTopic) && self.fifoTopic)", "message": "contentBasedDeduplication applies to FIFO topics only"}
    ]
))]
/// The topic's desired settings; every field has a default, so `spec` may be left out.
pub struct SNSTopicSpec {
    /// Name of the topic in AWS; defaults to metadata.name (plus `.fifo` for a FIFO topic).
    /// Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 256),
        regex(pattern = r"^[a-zA-Z0-9_-]{1,256}(\.fifo)?$")
    )]
    pub topic_name: Option<String>,

    /// The name SMS and email subscribers see as the sender. Left as it is in AWS when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100))]
    pub display_name: Option<String>,

    /// A FIFO topic, ordered and deduplicated, delivering to FIFO queues (SNS FifoTopic); default false. Immutable.
    #[serde(default)]
    pub fifo_topic: bool,

    /// FIFO topics only: deduplicate messages by a hash of their body (SNS ContentBasedDeduplication); left as it is when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_based_deduplication: Option<bool>,

    /// The topic's access policy, a JSON document. Left as it is in AWS (which sets a default
    /// owner-only policy) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,

    /// How SNS retries HTTP/S deliveries, a JSON document. Left as it is in AWS when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_policy: Option<String>,

    /// KMS key for server-side encryption. Left as it is in AWS when absent; `""` turns it off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub kms_master_key_id: Option<String>,

    /// Tags on the topic, besides the operator's ownership tags; default none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(length(max = 40))]
    pub tags: BTreeMap<String, String>,
}

/// The topic as last observed in AWS, and how its reconciliation went.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TopicStatusFields {
    /// The topic's name in AWS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_name: Option<String>,
}

pub type SNSTopicStatus = ResourceStatus<TopicStatusFields>;

/// `base`, with the `.fifo` suffix a FIFO topic's name must carry.
pub fn topic_name(base: &str, fifo: bool) -> String {
    if fifo && !base.ends_with(".fifo") {
        format!("{base}.fifo")
    } else {
        base.to_owned()
    }
}

impl SNSTopic {
    /// The topic's name in AWS.
    pub fn topic_name(&self) -> String {
        let base = self
            .spec
            .topic_name
            .clone()
            .unwrap_or_else(|| self.metadata.name.clone().unwrap_or_default());
        topic_name(&base, self.spec.fifo_topic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_topics_end_in_fifo_once() {
        assert_eq!(topic_name("events", false), "events");
        assert_eq!(topic_name("events", true), "events.fifo");
        assert_eq!(topic_name("events.fifo", true), "events.fifo");
    }

    #[test]
    fn the_original_empty_spec_parses() {
        let spec: SNSTopicSpec = serde_json::from_value(serde_json::json!({})).unwrap();
        assert!(!spec.fifo_topic && spec.topic_name.is_none());
    }
}
