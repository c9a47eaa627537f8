//! The `SNSSubscription` kind: a subscription of an endpoint to an SNS topic, with the original
//! AWS Service Operator's fields (`topicName`, `protocol`, `endpoint`) and the SNS API's.

use kube::CustomResource;
use operator_core::ResourceStatus;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "service-operator.aws",
    version = "v1alpha1",
    kind = "SNSSubscription",
    doc = "A subscription of an endpoint to an Amazon SNS topic, created, kept in sync and deleted by the AWS Service Operator.",
    plural = "snssubscriptions",
    shortname = "subscription",
    category = "aws",
    namespaced,
    status = "SNSSubscriptionStatus",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Synced","type":"string","jsonPath":".status.conditions[?(@.type==\"Synced\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    printcolumn = r#"{"name":"ARN","type":"string","jsonPath":".status.arn","priority":1}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "has(self.topicName) != has(self.topicARN)", "message": "exactly one of topicName and topicARN must be set"},
    {"rule": "has(self.endpoint) != has(self.endpointARN)", "message": "exactly one of endpoint and endpointARN must be set"},
    {"rule": "has(self.topicName) == has(oldSelf.topicName) && (!has(self.topicName) || self.topicName == oldSelf.topicName)", "message": "topicName is immutable"},
    {"rule": "has(self.topicARN) == has(oldSelf.topicARN) && (!has(self.topicARN) || self.topicARN == oldSelf.topicARN)", "message": "topicARN is immutable"},
    {"rule": "self.protocol == oldSelf.protocol", "message": "protocol is immutable"},
    {"rule": "has(self.endpoint) == has(oldSelf.endpoint) && (!has(self.endpoint) || self.endpoint == oldSelf.endpoint)", "message": "endpoint is immutable"},
    {"rule": "has(self.endpointARN) == has(oldSelf.endpointARN) && (!has(self.endpointARN) || self.endpointARN == oldSelf.endpointARN)", "message": "endpointARN is immutable"},
    {"rule": "!has(self.filterPolicyScope) || has(self.filterPolicy)", "message": "filterPolicyScope needs filterPolicy"}
]))]
/// The topic, the protocol and endpoint it delivers to, and how it delivers.
pub struct SNSSubscriptionSpec {
    /// An SNSTopic in the same namespace, or `namespace/name` in another when the operator runs
    /// with --allow-cross-namespace-references. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub topic_name: Option<String>,

    /// The ARN of a topic not managed here, instead of topicName. Immutable.
    #[serde(default, rename = "topicARN", skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^arn:[^:]+:sns:"))]
    pub topic_arn: Option<String>,

    /// How messages are delivered (SNS Protocol). Immutable.
    pub protocol: Protocol,

    /// Where messages go: for protocol `sqs`, the name of an SQSQueue in the same namespace (or
    /// `namespace/name`, as for topicName);
    /// otherwise the endpoint itself (URL, email address, phone number, function ARN). Immutable.
    /// AWS delivers to a queue only if the queue's policy lets the topic send: set it with the
    /// SQSQueue's `policy` (allow `sqs:SendMessage` with condition `aws:SourceArn` = the topic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub endpoint: Option<String>,

    /// The ARN of an endpoint not managed here (an SQS queue, a Lambda function), instead of
    /// endpoint. Immutable.
    #[serde(
        default,
        rename = "endpointARN",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(regex(pattern = r"^arn:"))]
    pub endpoint_arn: Option<String>,

    /// Deliver the message body as published, without SNS's JSON envelope. Left as it is in
    /// AWS when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_message_delivery: Option<bool>,

    /// Which messages this endpoint receives, a JSON document. Left as it is in AWS when
    /// absent; `""` removes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_policy: Option<String>,

    /// What the filter policy applies to (SNS FilterPolicyScope); MessageAttributes when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_policy_scope: Option<FilterPolicyScope>,

    /// Where undeliverable messages go, a JSON document (`{"deadLetterTargetArn": "…"}`).
    /// Left as it is in AWS when absent; `""` removes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redrive_policy: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    Http,
    Https,
    Email,
    EmailJson,
    Sms,
    Sqs,
    Application,
    Lambda,
    Firehose,
}

impl Protocol {
    pub fn as_str(&self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Https => "https",
            Protocol::Email => "email",
            Protocol::EmailJson => "email-json",
            Protocol::Sms => "sms",
            Protocol::Sqs => "sqs",
            Protocol::Application => "application",
            Protocol::Lambda => "lambda",
            Protocol::Firehose => "firehose",
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum FilterPolicyScope {
    MessageAttributes,
    MessageBody,
}

impl FilterPolicyScope {
    pub fn as_str(&self) -> &'static str {
        match self {
            FilterPolicyScope::MessageAttributes => "MessageAttributes",
            FilterPolicyScope::MessageBody => "MessageBody",
        }
    }
}

/// The subscription as last observed in AWS, and how its reconciliation went.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionStatusFields {
    /// The ARN of the topic subscribed to.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "topicARN")]
    pub topic_arn: Option<String>,
    /// The endpoint messages go to (for `sqs`, the queue's ARN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// True until the endpoint's owner confirms the subscription (HTTP/S, email).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_confirmation: Option<bool>,
}

pub type SNSSubscriptionStatus = ResourceStatus<SubscriptionStatusFields>;
