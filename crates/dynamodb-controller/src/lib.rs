//! The DynamoDB controller: the `DynamoDB` kind and its mapping onto the DynamoDB API.

pub mod diff;
pub mod spec;
mod table;

pub use spec::DynamoDB;

use operator_core::service::{Kind, Service};

/// This service, as `--controllers`, the binaries and the charts know it.
pub const SERVICE: Service = Service {
    name: "dynamodb",
    description: "Amazon DynamoDB tables",
    kinds: &[Kind::of::<DynamoDB>()],
    objects: &[],
};
