//! `export`: manifests for what exists in AWS, so that `kubectl apply` takes it under
//! management (adopted) or under observation (read-only). What this cluster already manages is
//! skipped and named.

use std::collections::BTreeMap;

use kube::ResourceExt;
use serde_json::{Value, json};

use super::{CommandError, Tools};
use crate::{
    changes,
    ownership::{self, Owner},
    policy,
    references::Resolved,
    resource::AwsResource,
};

/// How exported resources are taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportMode {
    /// Adopted: tagged as ours, then kept in sync with the exported spec.
    Managed,
    /// Observed and reported only; nothing is written to AWS.
    ReadOnly,
}

#[derive(Debug, Default)]
pub struct Exported {
    /// One manifest per AWS resource.
    pub manifests: Vec<Value>,
    /// Already managed by an object in this cluster, or exported with a spec that would
    /// still differ: why, one line each.
    pub notes: Vec<String>,
    /// The kind cannot be exported (it needs references to describe).
    pub unsupported: bool,
}

/// Every resource of kind `K` (in the operator's account and region) whose AWS name starts
/// with `prefix`, as manifests in `namespace`. Reads only.
pub async fn export<K: AwsResource>(
    tools: &Tools,
    prefix: &str,
    namespace: &str,
    mode: ExportMode,
) -> Result<Exported, CommandError> {
    let kind = K::kind(&()).into_owned();
    let client = K::client(tools.aws.own());
    let Some(found) = K::export(&client, prefix).await else {
        return Ok(Exported {
            unsupported: true,
            ..Exported::default()
        });
    };
    let mut exported = Exported::default();
    for mut obj in found? {
        // Gone since the list.
        let Some(observed) = obj.observe(&client, &Resolved::default()).await? else {
            continue;
        };
        let aws_name = obj.aws_name();
        // Before its namespace is set: an object of this name elsewhere still counts.
        if let Owner::Other(recorded) = ownership::owner_of_observed(&obj, &observed)
            && ownership::recorded_owner_exists(&tools.kube, &obj, &recorded).await?
        {
            exported.notes.push(format!(
                "{} {aws_name:?}: skipped, managed by {kind} {}/{}",
                K::SERVICE,
                recorded.namespace,
                recorded.name
            ));
            continue;
        }
        let tags = changes::tags_as_they_are(&obj.user_tags(), K::tags(&observed));
        let differs = changes::planned::<K>(
            &changes::wanted(&obj, &observed, &Resolved::default(), &tags, false),
            &observed,
        );
        if !differs.is_empty() {
            exported.notes.push(format!(
                "{} {aws_name:?}: exported, but its spec cannot say {}; applying it would change that",
                K::SERVICE,
                changes::describe(&differs)
            ));
        }
        let annotation = match mode {
            ExportMode::Managed => policy::ADOPT,
            ExportMode::ReadOnly => policy::READ_ONLY,
        };
        let meta = obj.meta_mut();
        meta.namespace = Some(namespace.to_owned());
        meta.annotations = Some(BTreeMap::from([(annotation.to_owned(), "true".to_owned())]));
        exported.manifests.push(manifest(&obj)?);
    }
    Ok(exported)
}

/// The object as a manifest: apiVersion, kind, name, namespace, annotations and spec.
fn manifest<K: AwsResource>(obj: &K) -> Result<Value, CommandError> {
    let value = serde_json::to_value(obj).map_err(|e| CommandError::Manifest(e.to_string()))?;
    Ok(json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "metadata": {
            "name": obj.name_any(),
            "namespace": obj.namespace(),
            "annotations": obj.annotations(),
        },
        "spec": value.get("spec").cloned().unwrap_or_else(|| json!({})),
    }))
}
