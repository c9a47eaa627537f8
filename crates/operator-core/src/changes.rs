//! What the operator would change in AWS for one resource: the kind's own diff, less the fields
//! the resource leaves to other tools. The reconciler, the read-only plan in status and the
//! `plan` command all go through here, so they cannot disagree.

use std::collections::BTreeMap;

use crate::{
    PREFIX, policy,
    references::Resolved,
    resource::{AwsResource, PlannedChange},
};

/// The changes that would make AWS match `obj`. After creation, the fields named by
/// `ignore-drift` are left as AWS has them; the pass that creates the resource still writes them.
pub fn wanted<K: AwsResource>(
    obj: &K,
    observed: &K::Observed,
    refs: &Resolved,
    tags: &BTreeMap<String, String>,
    creating: bool,
) -> Vec<K::Change> {
    let mut changes = obj.diff(observed, refs, tags);
    let ignored = policy::ignored_drift(obj);
    if !creating && !ignored.is_empty() {
        changes.retain(|c| !is_ignored(&K::planned(c, observed).field, &ignored));
    }
    changes
}

pub fn planned<K: AwsResource>(
    changes: &[K::Change],
    observed: &K::Observed,
) -> Vec<PlannedChange> {
    changes.iter().map(|c| K::planned(c, observed)).collect()
}

/// `field` is one of `ignored` (lower-case), or a part of it: `tags` covers `tags (remove)`.
fn is_ignored(field: &str, ignored: &[String]) -> bool {
    let field = field.to_ascii_lowercase();
    ignored.iter().any(|i| {
        field == *i
            || field
                .strip_prefix(i.as_str())
                .is_some_and(|rest| rest.starts_with([' ', '.', '[', '(']))
    })
}

/// The tags to compare with for a resource the operator does not manage (read-only, or a plan
/// before adoption): the user's, and whatever ownership tags it carries, so that a plan never
/// lists ownership tags as a difference.
pub fn tags_as_they_are(
    user: &BTreeMap<String, String>,
    observed: Option<&BTreeMap<String, String>>,
) -> BTreeMap<String, String> {
    let mut tags = user.clone();
    if let Some(observed) = observed {
        tags.extend(
            observed
                .iter()
                .filter(|(k, _)| k.starts_with(PREFIX))
                .map(|(k, v)| (k.clone(), v.clone())),
        );
    }
    tags
}

/// Fields, for messages: `a, b (AWS 1, spec 2)`.
pub fn describe(plan: &[PlannedChange]) -> String {
    plan.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignored_fields_match_whole_names_case_insensitively() {
        let ignored = vec!["provisionedthroughput".to_owned(), "tags".to_owned()];
        assert!(is_ignored("provisionedThroughput", &ignored));
        assert!(is_ignored("tags (remove)", &ignored));
        assert!(is_ignored(
            "provisionedThroughput.readCapacityUnits",
            &ignored
        ));
        assert!(!is_ignored("provisionedThroughputMode", &ignored));
        assert!(!is_ignored("visibilityTimeout", &ignored));
    }

    #[test]
    fn a_resource_left_as_it_is_keeps_its_ownership_tags_in_the_comparison() {
        let user = BTreeMap::from([("team".to_owned(), "a".to_owned())]);
        let observed = BTreeMap::from([
            ("service-operator.aws/uid".to_owned(), "u".to_owned()),
            ("other".to_owned(), "x".to_owned()),
        ]);
        let tags = tags_as_they_are(&user, Some(&observed));
        assert_eq!(tags.len(), 2);
        assert_eq!(tags["service-operator.aws/uid"], "u");
        assert!(!tags.contains_key("other"));
    }

    #[test]
    fn changes_are_described_with_their_values() {
        let plan = vec![
            PlannedChange::values("visibilityTimeout", Some(30), Some(60)),
            PlannedChange::field("tags"),
        ];
        assert_eq!(describe(&plan), "visibilityTimeout (AWS 30, spec 60), tags");
    }
}
