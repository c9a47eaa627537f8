//! The DynamoDB controller: the `DynamoDB` kind and its mapping onto the DynamoDB API.

pub mod diff;
pub mod spec;
mod table;

pub use spec::DynamoDB;

/// The name this service goes by in `--controllers`.
pub const SERVICE: &str = "dynamodb";

use futures::future::BoxFuture;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use operator_core::operator::Operator;

/// Every controller of this service.
pub fn controllers(operator: &Operator) -> Vec<BoxFuture<'static, ()>> {
    vec![operator.controller::<DynamoDB>()]
}

/// Every CRD of this service.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![operator_core::crd::definition::<DynamoDB>()]
}
