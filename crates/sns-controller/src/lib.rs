//! The SNS controller: the `SNSTopic` and `SNSSubscription` kinds and their mapping onto the SNS
//! API.

pub mod subscription;
pub mod topic;

pub use subscription::spec::SNSSubscription;
pub use topic::spec::SNSTopic;

use aws_sdk_sns::Client;
use operator_core::{
    aws::AwsClients,
    references::RefKind,
    service::{Kind, Service},
};

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
    let config = aws_sdk_sns::config::Builder::from(aws.config_for(crate::SERVICE.name))
        .interceptor(aws.calls.clone())
        .build();
    Client::from_conf(config)
}

/// This service, as `--controllers`, the binaries and the charts know it.
pub const SERVICE: Service = Service {
    name: "sns",
    description: "Amazon SNS topics and subscriptions",
    kinds: &[Kind::of::<SNSTopic>(), Kind::of::<SNSSubscription>()],
    objects: &[],
};
