//! The `SQSQueue` kind: an SQS queue as the original AWS Service Operator described it (same
//! field names and defaults, so its manifests still apply), plus the queue settings the SQS API
//! offers.

use std::collections::BTreeMap;

use kube::CustomResource;
use operator_core::ResourceStatus;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "service-operator.aws",
    version = "v1alpha1",
    kind = "SQSQueue",
    doc = "An Amazon SQS queue, created, kept in sync and deleted by the AWS Service Operator.",
    plural = "sqsqueues",
    shortname = "sqs",
    shortname = "queue",
    category = "aws",
    namespaced,
    status = "SQSQueueStatus",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Synced","type":"string","jsonPath":".status.conditions[?(@.type==\"Synced\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    printcolumn = r#"{"name":"ARN","type":"string","jsonPath":".status.arn","priority":1}"#
)]
#[serde(rename_all = "camelCase")]
// `default: {}` lets a manifest leave out `spec` entirely: every field has a default.
#[schemars(extend(
    "default" = {},
    "x-kubernetes-validations" = [
        {"rule": "has(self.queueName) == has(oldSelf.queueName) && (!has(self.queueName) || self.queueName == oldSelf.queueName)", "message": "queueName is immutable"},
        {"rule": "(has(self.fifoQueue) && self.fifoQueue) == (has(oldSelf.fifoQueue) && oldSelf.fifoQueue)", "message": "fifoQueue is immutable"},
        {"rule": "!has(self.queueName) || !self.queueName.endsWith('.fifo') || (has(self.fifoQueue) && self.fifoQueue)", "message": "queueName may end in .fifo only when fifoQueue is true"},
        {"rule": "!has(self.usedeadletterQueue) || !self.usedeadletterQueue || !has(self.redrivePolicy) || (!has(self.redrivePolicy.deadLetterQueue) && !has(self.redrivePolicy.deadLetterTargetArn))", "message": "redrivePolicy must not name a dead-letter queue when usedeadletterQueue is true (the operator creates one)"},
        {"rule": "(has(self.usedeadletterQueue) && self.usedeadletterQueue) || !has(self.redrivePolicy) || has(self.redrivePolicy.deadLetterQueue) || has(self.redrivePolicy.deadLetterTargetArn)", "message": "redrivePolicy needs deadLetterQueue or deadLetterTargetArn"}
    ]
))]
/// The queue's desired settings; every field has a default, so `spec` may be left out.
pub struct SQSQueueSpec {
    /// Name of the queue in AWS; defaults to metadata.name (plus `.fifo` for a FIFO queue).
    /// Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 80),
        regex(pattern = r"^[a-zA-Z0-9_-]{1,75}(\.fifo)?$|^[a-zA-Z0-9_-]{1,80}$")
    )]
    pub queue_name: Option<String>,

    /// FIFO queues only: deduplicate messages by a hash of their body (SQS ContentBasedDeduplication); default true.
    #[serde(default = "default_true")]
    pub content_based_deduplication: bool,

    /// Seconds every message is delayed before it can be received (SQS DelaySeconds); default 5.
    #[serde(default = "default_delay_seconds")]
    #[schemars(range(min = 0, max = 900))]
    pub delay_seconds: i32,

    /// Largest message accepted, in bytes (SQS MaximumMessageSize); default 262144 (256 KiB).
    #[serde(default = "default_maximum_message_size")]
    #[schemars(range(min = 1024, max = 1_048_576))]
    pub maximum_message_size: i32,

    /// Seconds a message is kept (SQS MessageRetentionPeriod); default 345600 (4 days).
    #[serde(default = "default_message_retention_period")]
    #[schemars(range(min = 60, max = 1_209_600))]
    pub message_retention_period: i32,

    /// Seconds ReceiveMessage waits for a message, for long polling (SQS ReceiveMessageWaitTimeSeconds); default 0.
    #[serde(default)]
    #[schemars(range(min = 0, max = 20))]
    pub receive_message_wait_time_seconds: i32,

    /// Seconds a received message stays hidden from other consumers (SQS VisibilityTimeout); default 5.
    #[serde(default = "default_visibility_timeout")]
    #[schemars(range(min = 0, max = 43_200))]
    pub visibility_timeout: i32,

    /// A FIFO queue, exactly-once and ordered (SQS FifoQueue); default false. Immutable.
    #[serde(default)]
    pub fifo_queue: bool,

    /// When true, the operator also creates a dead-letter queue `<queueName>-dlq` (deleted with
    /// this queue) and sends messages there after `redrivePolicy.maxReceiveCount` receives.
    /// Default false.
    #[serde(default, rename = "usedeadletterQueue")]
    pub usedeadletter_queue: bool,

    /// Where messages go after too many receives (SQS RedrivePolicy). Left as it is in AWS when
    /// absent, unless `usedeadletterQueue` manages it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redrive_policy: Option<RedrivePolicy>,

    /// The queue's access policy, a JSON document. Left as it is in AWS when absent; `""`
    /// removes it. To let an SNS topic deliver here, allow `sqs:SendMessage` from the topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,

    /// KMS key for server-side encryption. Left as it is in AWS when absent; `""` turns KMS
    /// encryption off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub kms_master_key_id: Option<String>,

    /// Tags on the queue, besides the operator's ownership tags; default none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(length(max = 40))]
    pub tags: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "!(has(self.deadLetterQueue) && has(self.deadLetterTargetArn))", "message": "deadLetterQueue and deadLetterTargetArn are mutually exclusive"}
]))]
pub struct RedrivePolicy {
    /// An SQSQueue in the same namespace to use as the dead-letter queue (or `namespace/name` in
    /// another when the operator runs with --allow-cross-namespace-references).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub dead_letter_queue: Option<String>,

    /// The ARN of a dead-letter queue not managed here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^arn:[^:]+:sqs:"))]
    pub dead_letter_target_arn: Option<String>,

    /// Receives after which a message moves to the dead-letter queue (SQS maxReceiveCount); default 5.
    #[serde(default = "default_max_receive_count")]
    #[schemars(range(min = 1, max = 1000))]
    pub max_receive_count: i32,
}

fn default_true() -> bool {
    true
}
fn default_delay_seconds() -> i32 {
    5
}
fn default_maximum_message_size() -> i32 {
    262_144
}
fn default_message_retention_period() -> i32 {
    345_600
}
fn default_visibility_timeout() -> i32 {
    5
}
/// The original operator's dead-letter queue setting.
fn default_max_receive_count() -> i32 {
    5
}

/// The queue as last observed in AWS, and how its reconciliation went.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueueStatusFields {
    /// The queue's name in AWS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_name: Option<String>,
    /// The queue's URL, which SQS API calls and clients address it by.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "queueURL")]
    pub queue_url: Option<String>,
    /// The ARN of the operator-managed dead-letter queue, when `usedeadletterQueue` is true.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        rename = "deadLetterQueueARN"
    )]
    pub dead_letter_queue_arn: Option<String>,
}

pub type SQSQueueStatus = ResourceStatus<QueueStatusFields>;

impl SQSQueue {
    /// The queue's name in AWS.
    pub fn queue_name(&self) -> String {
        let base = self
            .spec
            .queue_name
            .clone()
            .unwrap_or_else(|| self.metadata.name.clone().unwrap_or_default());
        crate::naming::queue_name(&base, self.spec.fifo_queue)
    }

    /// The name of the dead-letter queue the operator creates for `usedeadletterQueue`.
    pub fn dead_letter_queue_name(&self) -> String {
        crate::naming::dead_letter_queue_name(&self.queue_name())
    }

    /// The queue URL the last reconcile recorded in status.
    pub fn recorded_url(&self) -> Option<&str> {
        self.status.as_ref()?.fields.queue_url.as_deref()
    }
}
