//! The SQS controller: the `SQSQueue` kind and its mapping onto the SQS API.

pub mod diff;
pub mod grants;
pub mod naming;
mod queue;
pub mod spec;

pub use queue::{NOT_FOUND, SQS_QUEUE};
pub use spec::SQSQueue;

use operator_core::service::{Kind, Service};

/// This service, as `--controllers`, the binaries and the charts know it.
pub const SERVICE: Service = Service {
    name: "sqs",
    description: "Amazon SQS queues",
    kinds: &[Kind::of::<SQSQueue>()],
    objects: &[],
};
