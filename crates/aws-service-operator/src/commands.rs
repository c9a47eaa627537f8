//! `plan -f manifest.yaml` and `export --kinds ...`: the kinds of every service, dispatched by
//! the manifests' apiVersion and kind, or by the names users type.

use std::io::Write;

use anyhow::{Context, bail};
use operator_core::{
    commands::{ExportMode, Tools},
    service::Kind,
};
use serde_json::Value;

use crate::SERVICES;

/// The kind a manifest document names, if it is one of ours.
fn kind_of(doc: &Value) -> Option<&'static Kind> {
    let api_version = doc.get("apiVersion")?.as_str()?;
    let kind = doc.get("kind")?.as_str()?;
    SERVICES
        .iter()
        .flat_map(|s| s.kinds)
        .find(|k| k.type_meta() == (api_version.to_owned(), kind.to_owned()))
}

/// Prints, per resource of the manifest, what applying it would do in AWS. Documents of other
/// kinds (a Deployment next to its table) are named and skipped.
pub async fn plan(tools: &Tools, manifest: &str, out: &mut impl Write) -> anyhow::Result<()> {
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(manifest).context("the manifest is not YAML")?;
    for doc in docs.into_iter().filter(|d| !d.is_null()) {
        let Some(kind) = kind_of(&doc) else {
            let name = |key| doc.pointer(key).and_then(Value::as_str).unwrap_or("?");
            writeln!(
                out,
                "{} {}: not an AWS kind of this operator; skipped",
                name("/kind"),
                name("/metadata/name")
            )?;
            continue;
        };
        let planned = kind.plan(tools, doc).await?;
        writeln!(out, "{planned}")?;
    }
    Ok(())
}

/// The kinds `names` selects: service names (`sqs`) select all their kinds, kind names
/// (`SQSQueue`, any case) one.
fn selected(names: &[String]) -> anyhow::Result<Vec<&'static Kind>> {
    let mut kinds = Vec::new();
    for name in names {
        let name = name.trim();
        if let Some(service) = SERVICES.iter().find(|s| s.name.eq_ignore_ascii_case(name)) {
            kinds.extend(service.kinds);
            continue;
        }
        match SERVICES
            .iter()
            .flat_map(|s| s.kinds)
            .find(|k| k.type_meta().1.eq_ignore_ascii_case(name))
        {
            Some(kind) => kinds.push(kind),
            None => bail!(
                "unknown kind {name:?}; known: {}",
                SERVICES
                    .iter()
                    .map(|s| s.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
    Ok(kinds)
}

/// Prints manifests for what exists in AWS (YAML documents on `out`); what is skipped, and why,
/// goes to `notes`.
pub async fn export(
    tools: &Tools,
    names: &[String],
    prefix: &str,
    namespace: &str,
    mode: ExportMode,
    out: &mut impl Write,
    notes: &mut impl Write,
) -> anyhow::Result<()> {
    for kind in selected(names)? {
        let exported = kind.export(tools, prefix, namespace, mode).await?;
        let (_, name) = kind.type_meta();
        if exported.unsupported {
            writeln!(notes, "{name}: cannot be exported; skipped")?;
            continue;
        }
        for manifest in &exported.manifests {
            write!(out, "---\n{}", serde_saphyr::to_string(manifest)?)?;
        }
        for note in &exported.notes {
            writeln!(notes, "{note}")?;
        }
        writeln!(notes, "{name}: {} exported", exported.manifests.len())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_selected_by_service_or_kind_name() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let kinds = selected(&names(&["sqs", "snstopic"])).unwrap();
        let kinds: Vec<_> = kinds.iter().map(|k| k.type_meta().1).collect();
        assert_eq!(kinds, ["SQSQueue", "SNSTopic"]);
        assert_eq!(selected(&names(&["sns"])).unwrap().len(), 2);
        assert!(selected(&names(&["lambda"])).is_err());
    }

    #[test]
    fn manifest_documents_find_their_kind() {
        let doc =
            serde_json::json!({"apiVersion": "service-operator.aws/v1alpha1", "kind": "SQSQueue"});
        assert!(kind_of(&doc).is_some());
        let doc = serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment"});
        assert!(kind_of(&doc).is_none());
    }
}
