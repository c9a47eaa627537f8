//! `plan`: per resource of a manifest, what the operator would do in AWS — create it, change
//! these fields, nothing, or leave it because it is not ours — from the core's own diff.

use std::fmt;

use kube::{Api, ResourceExt, runtime::watcher};

use super::{CommandError, Tools};
use crate::{
    changes,
    ownership::{self, Owner},
    placement, policy,
    references::{self, RefIndex, RefObject, Resolved},
    resource::{AwsResource, PlannedChange},
};

/// One resource of the manifest, and what applying it would do.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub verdict: Verdict,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Create(String),
    Update(Vec<PlannedChange>),
    NoChange,
    /// Exists in AWS and is someone else's; left untouched.
    NotOurs(String),
    /// Someone else's, annotated to be adopted: tagged as ours, then these changes.
    Adopt(Vec<PlannedChange>),
    /// Read-only: what differs, written by nobody.
    ReadOnly(Vec<PlannedChange>),
    /// Read-only, and AWS has no such resource.
    Missing,
    /// Nothing can be done yet (a reference, a placement); the message says why.
    Waits(String),
}

impl fmt::Display for Planned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}/{}: ", self.kind, self.namespace, self.name)?;
        match &self.verdict {
            Verdict::Create(what) => write!(f, "create {what}"),
            Verdict::Update(plan) => write!(f, "update {}", changes::describe(plan)),
            Verdict::NoChange => f.write_str("no change"),
            Verdict::NotOurs(why) => write!(f, "not ours: {why}"),
            Verdict::Adopt(plan) if plan.is_empty() => f.write_str("adopt (tag as ours)"),
            Verdict::Adopt(plan) => {
                write!(
                    f,
                    "adopt (tag as ours), then update {}",
                    changes::describe(plan)
                )
            }
            Verdict::ReadOnly(plan) if plan.is_empty() => f.write_str("no change (read-only)"),
            Verdict::ReadOnly(plan) => write!(
                f,
                "read-only, differs in {} (nothing is written)",
                changes::describe(plan)
            ),
            Verdict::Missing => {
                f.write_str("read-only, does not exist in AWS (nothing is created)")
            }
            Verdict::Waits(why) => write!(f, "waits: {why}"),
        }
    }
}

/// What applying `doc` (one object of kind `K`) would do. Reads only.
pub async fn plan<K: AwsResource>(
    tools: &Tools,
    mut doc: serde_json::Value,
) -> Result<Planned, CommandError> {
    // The API server defaults a missing spec to {} (every field has a default).
    if let Some(map) = doc.as_object_mut() {
        map.entry("spec").or_insert_with(|| serde_json::json!({}));
    }
    let mut obj: K = serde_json::from_value(doc)
        .map_err(|e| CommandError::Manifest(format!("{}: {e}", K::kind(&()))))?;
    let namespace = obj.namespace().unwrap_or_else(|| "default".into());
    obj.meta_mut().namespace = Some(namespace.clone());
    // The object as the cluster has it gives the uid its AWS resource is tagged with, and the
    // status (a recorded URL, region) the operator reads.
    let api: Api<K> = Api::namespaced(tools.kube.clone(), &namespace);
    if let Some(live) = api.get_opt(&obj.name_any()).await? {
        obj.meta_mut().uid = live.uid();
        *obj.status_mut() = live.status().cloned();
    }
    let planned = |verdict| Planned {
        kind: K::kind(&()).into_owned(),
        namespace: namespace.clone(),
        name: obj.name_any(),
        verdict,
    };
    let ns_annotations = tools.namespace_annotations(&namespace).await?;
    let default_region = &tools.aws.default_placement().region;
    let placement = match placement::place(obj.annotations(), &ns_annotations, default_region) {
        Ok(p) => p,
        Err(refused) => return Ok(planned(Verdict::Waits(refused.message))),
    };
    let refs = match resolved(tools, &obj, &namespace).await? {
        Ok(refs) => refs,
        Err(why) => return Ok(planned(Verdict::Waits(why))),
    };
    let client = K::client(&tools.aws.clients(&placement).await);
    let read_only = policy::is_read_only(&obj);
    let Some(observed) = obj.observe(&client, &refs).await? else {
        return Ok(planned(if read_only {
            Verdict::Missing
        } else {
            Verdict::Create(format!("{} {:?}", K::SERVICE, obj.aws_name()))
        }));
    };
    let as_it_is = changes::tags_as_they_are(&obj.user_tags(), K::tags(&observed));
    let plan_with = |tags| {
        changes::planned::<K>(
            &changes::wanted(&obj, &observed, &refs, tags, false),
            &observed,
        )
    };
    if read_only {
        return Ok(planned(Verdict::ReadOnly(plan_with(&as_it_is))));
    }
    let owner = ownership::owner_of_observed(&obj, &observed);
    let verdict = match owner {
        Owner::Us => {
            let tags = ownership::desired_tags(&obj.user_tags(), &ownership::owner_tags(&obj));
            match plan_with(&tags) {
                plan if plan.is_empty() => Verdict::NoChange,
                plan => Verdict::Update(plan),
            }
        }
        Owner::Nobody if policy::wants_adoption(&obj) => Verdict::Adopt(plan_with(&as_it_is)),
        Owner::Nobody => Verdict::NotOurs(format!(
            "{} {:?} exists in AWS and was not created by this operator (annotate {} to adopt it)",
            K::SERVICE,
            obj.aws_name(),
            policy::ADOPT
        )),
        Owner::Other(recorded) => {
            let exists = ownership::recorded_owner_exists(&tools.kube, &obj, &recorded).await?;
            if !exists && policy::wants_adoption(&obj) {
                Verdict::Adopt(plan_with(&as_it_is))
            } else {
                Verdict::NotOurs(format!(
                    "{} {:?} is managed by {} {recorded}{}",
                    K::SERVICE,
                    obj.aws_name(),
                    K::kind(&()),
                    if exists {
                        ""
                    } else {
                        ", which no longer exists"
                    }
                ))
            }
        }
    };
    Ok(planned(verdict))
}

/// The references of `obj`, resolved from the cluster as the operator's watches would.
async fn resolved<K: AwsResource>(
    tools: &Tools,
    obj: &K,
    namespace: &str,
) -> Result<Result<Resolved, String>, CommandError> {
    let references = obj.references();
    let mut indexes = std::collections::BTreeMap::new();
    for ref_kind in K::REFERENCED_KINDS {
        let index = RefIndex::default();
        index.observe(&watcher::Event::Init);
        let ar = ref_kind.api_resource();
        for reference in references.iter().filter(|r| r.kind == ref_kind.kind) {
            let (target_ns, name) = reference.target(namespace);
            let api: Api<RefObject> = Api::namespaced_with(tools.kube.clone(), target_ns, &ar);
            if let Some(target) = api.get_opt(name).await? {
                index.observe(&watcher::Event::InitApply(target));
            }
        }
        index.observe(&watcher::Event::InitDone);
        indexes.insert(ref_kind.kind, index);
    }
    Ok(references::resolve(
        namespace,
        &references,
        &indexes,
        tools.allow_cross_namespace_references,
    )
    .map_err(|u| u.message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(verdict: Verdict) -> String {
        Planned {
            kind: "SQSQueue".into(),
            namespace: "shop".into(),
            name: "orders".into(),
            verdict,
        }
        .to_string()
    }

    #[test]
    fn each_verdict_reads_as_one_line() {
        assert_eq!(
            line(Verdict::Create("SQS queue \"orders\"".into())),
            "SQSQueue shop/orders: create SQS queue \"orders\""
        );
        assert_eq!(
            line(Verdict::Update(vec![PlannedChange::values(
                "visibilityTimeout",
                Some(30),
                Some(45)
            )])),
            "SQSQueue shop/orders: update visibilityTimeout (AWS 30, spec 45)"
        );
        assert_eq!(line(Verdict::NoChange), "SQSQueue shop/orders: no change");
        assert_eq!(
            line(Verdict::Adopt(vec![])),
            "SQSQueue shop/orders: adopt (tag as ours)"
        );
        assert!(
            line(Verdict::ReadOnly(vec![PlannedChange::field("policy")]))
                .contains("differs in policy")
        );
    }
}
