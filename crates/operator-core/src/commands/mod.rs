//! The operator's commands beside `run`: `plan` (what applying a manifest would change in AWS)
//! and `export` (manifests for what already exists in AWS). Both read AWS with the operator's
//! credentials and flags and the cluster with the caller's kubeconfig, and write nothing.

mod export;
mod plan;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Namespace;
use kube::Api;

pub use export::{ExportMode, Exported, export};
pub use plan::{Planned, Verdict, plan};

use crate::{aws::AwsPlacements, cli::CoreArgs, metrics::Metrics};

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    Aws(#[from] crate::AwsError),
    #[error("{0}")]
    Manifest(String),
}

/// What the commands read with: the cluster and AWS, as the operator would.
pub struct Tools {
    pub kube: kube::Client,
    pub aws: AwsPlacements,
    pub allow_cross_namespace_references: bool,
}

impl Tools {
    pub async fn connect(args: &CoreArgs) -> Result<Self, CommandError> {
        Ok(Self {
            kube: kube::Client::try_default().await?,
            aws: AwsPlacements::load(args, Metrics::default()).await,
            allow_cross_namespace_references: args.allow_cross_namespace_references,
        })
    }

    async fn namespace_annotations(
        &self,
        namespace: &str,
    ) -> Result<BTreeMap<String, String>, CommandError> {
        let api: Api<Namespace> = Api::all(self.kube.clone());
        Ok(api
            .get_metadata_opt(namespace)
            .await?
            .and_then(|n| n.metadata.annotations)
            .unwrap_or_default())
    }
}
