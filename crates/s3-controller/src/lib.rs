//! The S3 controller: the `S3Bucket` kind and its mapping onto the S3 API.

mod bucket;
pub mod diff;
pub mod spec;

pub use spec::S3Bucket;

/// The name this service goes by in `--controllers`.
pub const SERVICE: &str = "s3";

use futures::future::BoxFuture;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use operator_core::operator::Operator;

/// Every controller of this service.
pub fn controllers(operator: &Operator) -> Vec<BoxFuture<'static, ()>> {
    vec![operator.controller::<S3Bucket>()]
}

/// Every CRD of this service.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![operator_core::crd::definition::<S3Bucket>()]
}
