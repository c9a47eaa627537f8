//! What a repository looks like in AWS, and the pure comparison of that with the spec.

use std::{collections::BTreeMap, fmt};

use operator_core::{json, ownership};

use crate::spec::{ECRRepositorySpec, ImageTagMutability};

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
