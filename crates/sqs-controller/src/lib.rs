//! The SQS controller: the `SQSQueue` kind and its mapping onto the SQS API.

pub mod diff;
pub mod grants;
pub mod naming;
mod queue;
pub mod spec;

pub use queue::{NOT_FOUND, SQS_QUEUE};
pub use spec::SQSQueue;

/// The name this service goes by in `--controllers`.
pub const SERVICE: &str = "sqs";

use futures::future::BoxFuture;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use operator_core::operator::Operator;

/// Every controller of this service.
pub fn controllers(operator: &Operator) -> Vec<BoxFuture<'static, ()>> {
    vec![operator.controller::<SQSQueue>()]
}

/// Every CRD of this service.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![operator_core::crd::definition::<SQSQueue>()]
}
