//! The generic machinery shared by every AWS service controller.
//!
//! A service crate implements [`AwsResource`] for each of its kinds: how to observe, create,
//! update and delete the AWS resource, and what to report. Everything else — finalizer, ownership
//! tags, adoption, deletion policy, conditions, status writes, Events, outputs ConfigMap, error
//! classification, backoff, drift resync and metrics — lives here, once.

pub mod aws;
pub mod changes;
pub mod cli;
pub mod commands;
pub mod conditions;
pub mod crd;
pub mod errors;
pub mod gate;
pub mod json;
pub mod kube_client;
pub mod limits;
pub mod listed;
pub mod metrics;
pub mod namespaces;
pub mod operator;
pub mod outputs;
pub mod ownership;
pub mod placement;
pub mod policy;
pub mod reconciler;
pub mod references;
pub mod resource;
pub mod resync;
pub mod server;
pub mod service;
pub mod status;
pub mod telemetry;
pub mod triggers;
pub mod write_loop;

pub use errors::AwsError;
pub use resource::{AwsResource, EndpointService, NameRule, PlannedChange, Readiness};
pub use status::ResourceStatus;

// Re-exported so every service crate builds against the same versions.
pub use k8s_openapi;
pub use kube;
pub use schemars;

#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read at its start (`_RJEM_MALLOC_CONF` in the environment overrides them):
/// two arenas instead of four per CPU (the controllers' allocations are small and rarely
/// contended), and a background thread that returns freed pages within a second, so RSS
/// follows the live heap instead of its high-water mark.
#[cfg(feature = "jemalloc")]
#[unsafe(export_name = "_rjem_malloc_conf")]
pub static MALLOC_CONF: &[u8; 70] =
    b"narenas:2,background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0";

/// API group of every kind this operator serves.
pub const GROUP: &str = "service-operator.aws";
/// Prefix of every annotation, label, finalizer and AWS tag key this operator owns.
pub const PREFIX: &str = "service-operator.aws/";
/// Field manager for server-side apply and the `managed-by` label value.
pub const MANAGER: &str = "aws-service-operator";
