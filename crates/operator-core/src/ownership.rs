//! Ownership tags: how the operator recognises the AWS resources it created, after a crash too,
//! and never mistakes someone else's resource for its own.

use std::collections::BTreeMap;

use kube::{Api, Resource, ResourceExt};

use crate::resource::AwsResource;

pub const TAG_NAMESPACE: &str = "service-operator.aws/namespace";
pub const TAG_NAME: &str = "service-operator.aws/name";
pub const TAG_UID: &str = "service-operator.aws/uid";

/// The tags that mark an AWS resource as managed by one Kubernetes object.
pub fn owner_tags<K: Resource>(obj: &K) -> BTreeMap<String, String> {
    let meta = obj.meta();
    BTreeMap::from([
        (
            TAG_NAMESPACE.to_owned(),
            meta.namespace.clone().unwrap_or_default(),
        ),
        (TAG_NAME.to_owned(), meta.name.clone().unwrap_or_default()),
        (TAG_UID.to_owned(), meta.uid.clone().unwrap_or_default()),
    ])
}

/// Who an observed AWS resource belongs to, judged by its tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// Tagged with this object's uid.
    Us,
    /// Tagged by another Kubernetes object (this kind's), which may or may not still exist.
    Other(Recorded),
    /// No ownership tag: created outside the operator.
    Nobody,
}

/// The Kubernetes object an AWS resource's tags name as its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

impl std::fmt::Display for Recorded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{} (uid {})", self.namespace, self.name, self.uid)
    }
}

pub fn owner_of(tags: &BTreeMap<String, String>, our_uid: &str) -> Owner {
    let tag = |key: &str| tags.get(key).cloned().unwrap_or_default();
    match tags.get(TAG_UID) {
        Some(uid) if uid == our_uid => Owner::Us,
        Some(uid) => Owner::Other(Recorded {
            namespace: tag(TAG_NAMESPACE),
            name: tag(TAG_NAME),
            uid: uid.clone(),
        }),
        None => Owner::Nobody,
    }
}

/// Who the observed AWS resource belongs to: by its tags, or for a kind without tags, by the
/// ARN `obj`'s status records.
pub fn owner_of_observed<K: AwsResource>(obj: &K, observed: &K::Observed) -> Owner {
    match K::tags(observed) {
        Some(tags) => owner_of(tags, &obj.uid().unwrap_or_default()),
        None => {
            let recorded = obj.status().and_then(|s| s.arn.as_deref());
            if recorded.is_some() && recorded == K::arn(observed).as_deref() {
                Owner::Us
            } else {
                Owner::Nobody
            }
        }
    }
}

/// Whether the object the AWS resource's tags name still exists in this cluster. `obj` itself
/// (same namespace and name, a new uid: re-created after a retain) does not count.
pub async fn recorded_owner_exists<K: AwsResource>(
    kube: &kube::Client,
    obj: &K,
    recorded: &Recorded,
) -> Result<bool, kube::Error> {
    if obj.namespace().as_deref() == Some(recorded.namespace.as_str())
        && obj.name_any() == recorded.name
    {
        return Ok(false);
    }
    let api: Api<K> = Api::namespaced(kube.clone(), &recorded.namespace);
    match api.get_opt(&recorded.name).await {
        Ok(found) => Ok(found.is_some_and(|o| o.uid().as_deref() == Some(recorded.uid.as_str()))),
        // Not allowed to look (a namespace-scoped install): it may exist, so it is not taken.
        Err(kube::Error::Api(e)) if e.code == 403 => Ok(true),
        Err(e) => Err(e),
    }
}

/// The complete tag set the resource should carry: the user's tags plus ownership tags.
/// Ownership tags win, so a user cannot break the operator's bookkeeping by accident.
pub fn desired_tags(
    user: &BTreeMap<String, String>,
    owner: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut tags = user.clone();
    tags.extend(owner.iter().map(|(k, v)| (k.clone(), v.clone())));
    tags
}

/// The tags a spec exported from AWS carries: all but the operator's own and AWS's.
pub fn exported_tags(observed: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    observed
        .iter()
        .filter(|(k, _)| !k.starts_with(crate::PREFIX) && !k.starts_with("aws:"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// A Kubernetes object name (RFC 1123, at most 63 characters) for an AWS resource named
/// `aws_name`; the spec keeps the exact AWS name.
pub fn object_name(aws_name: &str) -> String {
    let name: String = aws_name
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let name: String = name.trim_matches('-').chars().take(63).collect();
    let name = name.trim_end_matches('-');
    if name.is_empty() {
        "unnamed".to_owned()
    } else {
        name.to_owned()
    }
}

/// What to change so `observed` tags become `desired`: keys to set and keys to remove.
/// Tags under the reserved `aws:` prefix belong to AWS and are never touched.
pub fn tag_changes(
    desired: &BTreeMap<String, String>,
    observed: &BTreeMap<String, String>,
) -> (BTreeMap<String, String>, Vec<String>) {
    let set = desired
        .iter()
        .filter(|(k, v)| observed.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let remove = observed
        .keys()
        .filter(|k| !desired.contains_key(*k) && !k.starts_with("aws:"))
        .cloned()
        .collect();
    (set, remove)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exported_names_are_kubernetes_names() {
        assert_eq!(object_name("Orders_Queue.fifo"), "orders-queue-fifo");
        assert_eq!(object_name("-x-"), "x");
        assert_eq!(object_name(&"a".repeat(80)).len(), 63);
        assert_eq!(object_name("__"), "unnamed");
    }

    #[test]
    fn exported_tags_leave_out_ours_and_aws() {
        let tags = BTreeMap::from([
            (TAG_UID.to_owned(), "u".to_owned()),
            ("aws:cloudformation:stack-name".to_owned(), "s".to_owned()),
            ("team".to_owned(), "a".to_owned()),
        ]);
        assert_eq!(
            exported_tags(&tags).into_keys().collect::<Vec<_>>(),
            ["team"]
        );
    }

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn recognises_owner_by_uid() {
        let t = tags(&[(TAG_UID, "u1"), (TAG_NAMESPACE, "ns"), (TAG_NAME, "a")]);
        assert_eq!(owner_of(&t, "u1"), Owner::Us);
        assert_eq!(
            owner_of(&t, "u2"),
            Owner::Other(Recorded {
                namespace: "ns".into(),
                name: "a".into(),
                uid: "u1".into()
            })
        );
        assert_eq!(owner_of(&tags(&[("team", "x")]), "u1"), Owner::Nobody);
    }

    #[test]
    fn ownership_tags_override_user_tags() {
        let d = desired_tags(
            &tags(&[(TAG_UID, "forged"), ("team", "x")]),
            &tags(&[(TAG_UID, "u1")]),
        );
        assert_eq!(d, tags(&[(TAG_UID, "u1"), ("team", "x")]));
    }

    #[test]
    fn tag_changes_sets_differences_and_removes_extras_but_not_aws_tags() {
        let desired = tags(&[("a", "1"), ("b", "2")]);
        let observed = tags(&[
            ("a", "1"),
            ("b", "old"),
            ("c", "3"),
            ("aws:cloudformation:stack", "s"),
        ]);
        let (set, remove) = tag_changes(&desired, &observed);
        assert_eq!(set, tags(&[("b", "2")]));
        assert_eq!(remove, vec!["c".to_string()]);
    }

    #[test]
    fn equal_tags_need_no_change() {
        let t = tags(&[("a", "1")]);
        let (set, remove) = tag_changes(&t, &t);
        assert!(set.is_empty() && remove.is_empty());
    }
}
