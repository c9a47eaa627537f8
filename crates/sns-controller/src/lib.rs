//! The SNS controller: the `SNSTopic` and `SNSSubscription` kinds and their mapping onto the SNS
//! API.

pub mod subscription;
pub mod topic;

pub use subscription::spec::SNSSubscription;
pub use topic::spec::SNSTopic;

/// The name this service goes by in `--controllers`.
pub const SERVICE: &str = "sns";

use aws_sdk_sns::Client;
use futures::future::BoxFuture;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use operator_core::{aws::AwsClients, operator::Operator, references::RefKind};

/// Topics, as subscriptions refer to them.
pub const SNS_TOPIC: RefKind = RefKind {
    kind: "SNSTopic",
    plural: "snstopics",
};
/// SQS queues (served by the SQS controller), as `sqs` subscriptions refer to them by name.
pub const SQS_QUEUE: RefKind = RefKind {
    kind: "SQSQueue",
    plural: "sqsqueues",
};

/// SNS's codes for a topic or subscription that does not exist.
const NOT_FOUND: &[&str] = &[
    "NotFound",
    "NotFoundException",
    "ResourceNotFound",
    "ResourceNotFoundException",
];

fn client(aws: &AwsClients) -> Client {
    let config = aws_sdk_sns::config::Builder::from(&aws.config)
        .interceptor(aws.calls.clone())
        .build();
    Client::from_conf(config)
}

/// Every controller of this service.
pub fn controllers(operator: &Operator) -> Vec<BoxFuture<'static, ()>> {
    vec![
        operator.controller::<SNSTopic>(),
        operator.controller::<SNSSubscription>(),
    ]
}

/// Every CRD of this service.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![
        operator_core::crd::definition::<SNSTopic>(),
        operator_core::crd::definition::<SNSSubscription>(),
    ]
}
