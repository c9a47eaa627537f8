//! References between this operator's resources in one namespace (a subscription to a topic by
//! name, a queue to its dead-letter queue): resolved from the watch cache, never by an API
//! round-trip, and a resource waiting on one is woken when it changes.

use std::collections::BTreeMap;

use kube::{
    ResourceExt,
    api::{ApiResource, DynamicObject},
    runtime::reflector::{ObjectRef, Store},
};

use crate::GROUP;

/// A kind that resources can refer to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RefKind {
    pub kind: &'static str,
    pub plural: &'static str,
}

impl RefKind {
    pub fn api_resource(&self) -> ApiResource {
        ApiResource {
            group: GROUP.into(),
            version: "v1alpha1".into(),
            api_version: format!("{GROUP}/v1alpha1"),
            kind: self.kind.into(),
            plural: self.plural.into(),
        }
    }
}

/// One resource referred to by name, in the referring resource's namespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    pub kind: &'static str,
    pub name: String,
}

impl Reference {
    pub fn new(kind: &RefKind, name: impl Into<String>) -> Self {
        Self {
            kind: kind.kind,
            name: name.into(),
        }
    }
}

/// What a Ready referenced resource reports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Target {
    pub arn: String,
    /// The referenced resource's whole status, for kind-specific fields.
    pub status: serde_json::Value,
}

/// The references of one resource, resolved.
#[derive(Debug, Clone, Default)]
pub struct Resolved(BTreeMap<Reference, Target>);

impl Resolved {
    pub fn get(&self, kind: &RefKind, name: &str) -> Option<&Target> {
        self.0.get(&Reference::new(kind, name))
    }
    /// The ARN of a referenced resource; empty when it was not resolved (e.g. during deletion).
    pub fn arn(&self, kind: &RefKind, name: &str) -> Option<&str> {
        self.get(kind, name).map(|t| t.arn.as_str())
    }
    pub fn insert(&mut self, reference: Reference, target: Target) {
        self.0.insert(reference, target);
    }
}

/// Why a reference cannot be used yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unresolved {
    pub reason: &'static str,
    pub message: String,
}

/// Resolves every reference from the caches, or says which one is missing or not Ready.
pub fn resolve(
    namespace: &str,
    references: &[Reference],
    caches: &BTreeMap<&'static str, (RefKind, Store<DynamicObject>)>,
) -> Result<Resolved, Unresolved> {
    let mut resolved = Resolved::default();
    for reference in references {
        let Some((kind, store)) = caches.get(reference.kind) else {
            return Err(Unresolved {
                reason: "ReferenceUnsupported",
                message: format!("references to {} are not supported here", reference.kind),
            });
        };
        let key = ObjectRef::new_with(&reference.name, kind.api_resource()).within(namespace);
        let Some(obj) = store.get(&key) else {
            return Err(Unresolved {
                reason: "ReferenceNotFound",
                message: format!(
                    "{} {:?} does not exist in namespace {namespace}",
                    reference.kind, reference.name
                ),
            });
        };
        resolved.insert(
            reference.clone(),
            ready_target(&obj).map_err(|state| Unresolved {
                reason: "ReferenceNotReady",
                message: format!(
                    "{} {:?} is not Ready ({state})",
                    reference.kind,
                    obj.name_any()
                ),
            })?,
        );
    }
    Ok(resolved)
}

/// The target of a Ready object, or the reason it is not Ready.
fn ready_target(obj: &DynamicObject) -> Result<Target, String> {
    let status = obj.data.get("status").cloned().unwrap_or_default();
    let ready = status
        .get("conditions")
        .and_then(|c| c.as_array())
        .and_then(|c| {
            c.iter()
                .find(|c| c.get("type").and_then(|t| t.as_str()) == Some("Ready"))
        });
    let Some(ready) = ready else {
        return Err("no status yet".into());
    };
    if ready.get("status").and_then(|s| s.as_str()) != Some("True") {
        return Err(ready
            .get("reason")
            .and_then(|r| r.as_str())
            .unwrap_or("Unknown")
            .to_owned());
    }
    let arn = status
        .get("arn")
        .and_then(|a| a.as_str())
        .unwrap_or_default()
        .to_owned();
    if arn.is_empty() {
        return Err("no ARN yet".into());
    }
    Ok(Target { arn, status })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(status: serde_json::Value) -> DynamicObject {
        let ar = RefKind {
            kind: "SNSTopic",
            plural: "snstopics",
        }
        .api_resource();
        let mut obj = DynamicObject::new("orders", &ar).within("ns");
        obj.data = json!({ "status": status });
        obj
    }

    #[test]
    fn ready_object_resolves_to_its_arn() {
        let t = ready_target(&object(
            json!({"arn": "arn:x", "conditions": [{"type": "Ready", "status": "True", "reason": "Available"}]}),
        ));
        assert_eq!(t.unwrap().arn, "arn:x");
    }

    #[test]
    fn not_ready_object_gives_its_reason() {
        let t = ready_target(&object(
            json!({"conditions": [{"type": "Ready", "status": "False", "reason": "Creating"}]}),
        ));
        assert_eq!(t.unwrap_err(), "Creating");
        assert_eq!(
            ready_target(&object(json!({}))).unwrap_err(),
            "no status yet"
        );
    }
}
