//! The ECR controller: the `ECRRepository` kind and its mapping onto the ECR API.

pub mod diff;
mod repository;
pub mod spec;

pub use spec::ECRRepository;

use operator_core::service::{Kind, Service};

/// This service, as `--controllers`, the binaries and the charts know it.
pub const SERVICE: Service = Service {
    name: "ecr",
    description: "Amazon ECR repositories",
    kinds: &[Kind::of::<ECRRepository>()],
    objects: &[],
};
