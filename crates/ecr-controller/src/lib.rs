//! The ECR controller: the `ECRRepository` kind and its mapping onto the ECR API.

pub mod diff;
mod repository;
pub mod spec;

pub use spec::ECRRepository;

/// The name this service goes by in `--controllers`.
pub const SERVICE: &str = "ecr";

use futures::future::BoxFuture;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use operator_core::operator::Operator;

/// Every controller of this service.
pub fn controllers(operator: &Operator) -> Vec<BoxFuture<'static, ()>> {
    vec![operator.controller::<ECRRepository>()]
}

/// Every CRD of this service.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![operator_core::crd::definition::<ECRRepository>()]
}
