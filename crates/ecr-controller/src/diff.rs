//! What a repository looks like in AWS, and the pure comparison of that with the spec.

use std::{collections::BTreeMap, fmt};

use operator_core::resource::spelled;
use operator_core::{PlannedChange, json, ownership};

use crate::spec::{ECRRepositorySpec, Encryption, ImageTagMutability};

/// A repository as ECR reports it, in the spec's own terms. Policies the spec does not manage
/// are not read, and stay `None`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObservedRepository {
    pub name: String,
    pub arn: String,
    pub uri: String,
    pub registry_id: String,
    pub image_tag_mutability: Option<ImageTagMutability>,
    pub scan_on_push: bool,
    /// Set at creation, never changed: only export reads it.
    pub encryption: Option<Encryption>,
    pub tags: BTreeMap<String, String>,
    pub lifecycle_policy: Option<String>,
    pub repository_policy: Option<String>,
}

/// One difference between spec and AWS, written by one AWS call.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    ImageTagMutability(ImageTagMutability),
    ScanOnPush(bool),
    /// `None` removes the policy.
    LifecyclePolicy(Option<String>),
    /// `None` removes the policy.
    RepositoryPolicy(Option<String>),
    Tags {
        set: BTreeMap<String, String>,
        remove: Vec<String>,
    },
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Change::ImageTagMutability(_) => "imageTagMutability",
            Change::ScanOnPush(_) => "scanOnPush",
            Change::LifecyclePolicy(_) => "lifecyclePolicy",
            Change::RepositoryPolicy(_) => "repositoryPolicy",
            Change::Tags { .. } => "tags",
        })
    }
}

/// `change` as plans show it: the values of the repository's settings; only the field for its
/// policies (JSON documents) and tags.
pub fn planned(change: &Change, observed: &ObservedRepository) -> PlannedChange {
    let field = change.to_string();
    match change {
        Change::ImageTagMutability(m) => PlannedChange::values(
            field,
            observed.image_tag_mutability.map(spelled),
            Some(spelled(m)),
        ),
        Change::ScanOnPush(scan) => {
            PlannedChange::values(field, Some(observed.scan_on_push), Some(scan))
        }
        Change::LifecyclePolicy(_) | Change::RepositoryPolicy(_) | Change::Tags { .. } => {
            PlannedChange::field(field)
        }
    }
}

/// A spec that describes `observed` as ECR has it, for export: the diff against it finds
/// nothing but the ownership tags. `observed` must hold both policies (export reads them);
/// a policy the repository lacks is left out, as a repository created from the spec has none.
pub fn exported_spec(observed: &ObservedRepository) -> ECRRepositorySpec {
    ECRRepositorySpec {
        repository_name: Some(observed.name.clone()),
        image_tag_mutability: observed.image_tag_mutability,
        scan_on_push: Some(observed.scan_on_push),
        lifecycle_policy: observed.lifecycle_policy.clone(),
        repository_policy: observed.repository_policy.clone(),
        encryption: observed.encryption.clone(),
        tags: ownership::exported_tags(&observed.tags),
    }
}

/// A policy from the spec as ECR takes it: an empty string means none.
fn document(policy: &str) -> Option<String> {
    Some(policy.to_owned()).filter(|p| !p.trim().is_empty())
}

/// The differences between `spec` and `observed`. Fields the spec leaves out are not managed;
/// encryption cannot change after creation, so it is never a difference.
pub fn diff(
    spec: &ECRRepositorySpec,
    observed: &ObservedRepository,
    tags: &BTreeMap<String, String>,
) -> Vec<Change> {
    let mut changes = Vec::new();
    if let Some(mutability) = spec.image_tag_mutability
        && observed.image_tag_mutability != Some(mutability)
    {
        changes.push(Change::ImageTagMutability(mutability));
    }
    if let Some(scan) = spec.scan_on_push
        && scan != observed.scan_on_push
    {
        changes.push(Change::ScanOnPush(scan));
    }
    // Compared by meaning: AWS may return the documents reformatted.
    if let Some(policy) = &spec.lifecycle_policy
        && !json::same(Some(policy), observed.lifecycle_policy.as_deref())
    {
        changes.push(Change::LifecyclePolicy(document(policy)));
    }
    if let Some(policy) = &spec.repository_policy
        && !json::same(Some(policy), observed.repository_policy.as_deref())
    {
        changes.push(Change::RepositoryPolicy(document(policy)));
    }
    let (set, remove) = ownership::tag_changes(tags, &observed.tags);
    if !set.is_empty() || !remove.is_empty() {
        changes.push(Change::Tags { set, remove });
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: serde_json::Value) -> ECRRepositorySpec {
        serde_json::from_value(json).unwrap()
    }

    fn observed() -> ObservedRepository {
        ObservedRepository {
            name: "r".into(),
            image_tag_mutability: Some(ImageTagMutability::Mutable),
            ..Default::default()
        }
    }

    #[test]
    fn the_original_manifest_manages_nothing_but_tags() {
        let mut o = observed();
        o.scan_on_push = true;
        o.image_tag_mutability = Some(ImageTagMutability::Immutable);
        o.lifecycle_policy = Some("{}".into());
        assert_eq!(
            diff(&spec(serde_json::json!({})), &o, &BTreeMap::new()),
            vec![]
        );
    }

    #[test]
    fn mutability_and_scanning_follow_the_spec() {
        let s = spec(serde_json::json!({"imageTagMutability": "IMMUTABLE", "scanOnPush": true}));
        assert_eq!(
            diff(&s, &observed(), &BTreeMap::new()),
            vec![
                Change::ImageTagMutability(ImageTagMutability::Immutable),
                Change::ScanOnPush(true)
            ]
        );
    }

    #[test]
    fn policies_differing_only_in_formatting_are_equal() {
        let s = spec(serde_json::json!({
            "lifecyclePolicy": r#"{"rules": [{"rulePriority": 1, "action": {"type": "expire"}}]}"#,
            "repositoryPolicy": r#"{"Version": "2012-10-17", "Statement": []}"#,
        }));
        let mut o = observed();
        o.lifecycle_policy =
            Some("{\"rules\":[{\"action\":{\"type\":\"expire\"},\"rulePriority\":1}]}".into());
        o.repository_policy =
            Some("{\n  \"Statement\" : [ ],\n  \"Version\" : \"2012-10-17\"\n}".into());
        assert_eq!(diff(&s, &o, &BTreeMap::new()), vec![]);

        o.lifecycle_policy = Some(r#"{"rules": []}"#.into());
        assert_eq!(
            diff(&s, &o, &BTreeMap::new()),
            vec![Change::LifecyclePolicy(s.lifecycle_policy.clone())]
        );
    }

    #[test]
    fn an_empty_policy_removes_it() {
        let s = spec(serde_json::json!({"repositoryPolicy": ""}));
        let mut o = observed();
        assert_eq!(diff(&s, &o, &BTreeMap::new()), vec![]);
        o.repository_policy = Some("{}".into());
        assert_eq!(
            diff(&s, &o, &BTreeMap::new()),
            vec![Change::RepositoryPolicy(None)]
        );
    }

    #[test]
    fn settings_are_planned_with_both_values() {
        let s = spec(serde_json::json!({"imageTagMutability": "IMMUTABLE", "scanOnPush": true}));
        let o = observed();
        let plan: Vec<PlannedChange> = diff(&s, &o, &BTreeMap::new())
            .iter()
            .map(|c| planned(c, &o))
            .collect();
        assert_eq!(
            plan,
            vec![
                PlannedChange::values("imageTagMutability", Some("MUTABLE"), Some("IMMUTABLE")),
                PlannedChange::values("scanOnPush", Some(false), Some(true)),
            ]
        );
        let policy = Change::RepositoryPolicy(None);
        assert_eq!(
            planned(&policy, &o),
            PlannedChange::field("repositoryPolicy")
        );
    }

    #[test]
    fn an_exported_spec_matches_the_repository_it_came_from() {
        let mut o = observed();
        o.name = "team/App_Images".into();
        o.scan_on_push = true;
        o.lifecycle_policy = Some(r#"{"rules":[]}"#.into());
        o.encryption = Some(Encryption {
            encryption_type: crate::spec::EncryptionType::Kms,
            kms_key: Some("arn:aws:kms:us-east-1:1:key/1234".into()),
        });
        o.tags = BTreeMap::from([
            ("team".into(), "a".into()),
            (ownership::TAG_UID.into(), "u".into()),
        ]);
        let exported = exported_spec(&o);
        assert_eq!(exported.repository_name.as_deref(), Some("team/App_Images"));
        assert_eq!(exported.repository_policy, None);
        let mut tags = exported.tags.clone();
        assert_eq!(tags.keys().collect::<Vec<_>>(), ["team"]);
        tags.insert(ownership::TAG_UID.into(), "u".into());
        assert_eq!(diff(&exported, &o, &tags), vec![]);
    }

    #[test]
    fn tags_are_set_and_removed() {
        let mut o = observed();
        o.tags = BTreeMap::from([("old".into(), "1".into()), ("team".into(), "a".into())]);
        let desired = BTreeMap::from([("team".to_owned(), "b".to_owned())]);
        assert_eq!(
            diff(&spec(serde_json::json!({})), &o, &desired),
            vec![Change::Tags {
                set: desired.clone(),
                remove: vec!["old".into()]
            }]
        );
    }
}
