//! The S3 controller: the `S3Bucket` kind and its mapping onto the S3 API.

mod bucket;
pub mod diff;
pub mod spec;

pub use spec::S3Bucket;

use operator_core::service::{Kind, Service};

/// This service, as `--controllers`, the binaries and the charts know it.
pub const SERVICE: Service = Service {
    name: "s3",
    description: "Amazon S3 buckets",
    kinds: &[Kind::of::<S3Bucket>()],
    objects: &["services"],
};
