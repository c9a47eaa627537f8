//! Per-resource behaviour chosen by annotations: deletion policy, resync period, adoption.

use std::{str::FromStr, time::Duration};

use kube::Resource;

pub const DELETION_POLICY: &str = "service-operator.aws/deletion-policy";
pub const RESYNC_PERIOD: &str = "service-operator.aws/resync-period";
pub const ADOPT: &str = "service-operator.aws/adopt";
pub const FORCE_DELETE: &str = "service-operator.aws/force-delete";
pub const PAUSED: &str = "service-operator.aws/paused";
pub const READ_ONLY: &str = "service-operator.aws/read-only";
pub const IGNORE_DRIFT: &str = "service-operator.aws/ignore-drift";

/// What happens to the AWS resource when its Kubernetes object is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DeletionPolicy {
    Delete,
    Retain,
}

impl FromStr for DeletionPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "delete" => Ok(Self::Delete),
            "retain" => Ok(Self::Retain),
            other => Err(format!(
                "deletion policy must be delete or retain, not {other:?}"
            )),
        }
    }
}

fn annotation<'a, K: Resource>(obj: &'a K, key: &str) -> Option<&'a str> {
    obj.meta()
        .annotations
        .as_ref()?
        .get(key)
        .map(String::as_str)
}

/// The resource's annotation, else its namespace's annotation, else the operator's default.
/// An unparsable annotation falls through to the next level rather than deleting by surprise.
pub fn deletion_policy(
    resource: Option<&str>,
    namespace: Option<&str>,
    default: DeletionPolicy,
) -> DeletionPolicy {
    resource
        .and_then(|v| v.parse().ok())
        .or_else(|| namespace.and_then(|v| v.parse().ok()))
        .unwrap_or(default)
}

pub fn resource_deletion_policy<K: Resource>(obj: &K) -> Option<&str> {
    annotation(obj, DELETION_POLICY)
}

/// The per-resource resync period, if annotated with a duration like `30s` or `10m`.
pub fn resync_period<K: Resource>(obj: &K) -> Option<Duration> {
    annotation(obj, RESYNC_PERIOD).and_then(|v| humantime::parse_duration(v.trim()).ok())
}

pub fn wants_adoption<K: Resource>(obj: &K) -> bool {
    annotation(obj, ADOPT).is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// No AWS call of any kind while set; removing it resumes at once (an annotation change
/// triggers a reconcile).
pub fn is_paused<K: Resource>(obj: &K) -> bool {
    annotation(obj, PAUSED).is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// Observe and report only: nothing is created, written, tagged or deleted in AWS.
pub fn is_read_only<K: Resource>(obj: &K) -> bool {
    annotation(obj, READ_ONLY).is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// The fields (spec names, case-insensitive) left alone after creation: values other tools own.
pub fn ignored_drift<K: Resource>(obj: &K) -> Vec<String> {
    annotation(obj, IGNORE_DRIFT)
        .map(|v| {
            v.split(',')
                .map(|f| f.trim().to_ascii_lowercase())
                .filter(|f| !f.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

pub fn wants_force_delete<K: Resource>(obj: &K) -> bool {
    annotation(obj, FORCE_DELETE).is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// A requeue delay spread over ±10 % so resources created together do not resync together.
pub fn jittered(period: Duration) -> Duration {
    let spread = period.as_secs_f64() * 0.1;
    let offset = rand::random_range(-spread..=spread);
    Duration::from_secs_f64((period.as_secs_f64() + offset).max(1.0))
}

/// Exponential backoff for retryable failures: 1 s, 2 s, 4 s … capped, with jitter.
pub fn backoff(failures: u32, cap: Duration) -> Duration {
    let base = Duration::from_secs(1u64 << failures.min(16));
    jittered(base.min(cap))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_annotation_wins_over_namespace_and_default() {
        use DeletionPolicy::*;
        assert_eq!(
            deletion_policy(Some("retain"), Some("delete"), Delete),
            Retain
        );
        assert_eq!(deletion_policy(None, Some("retain"), Delete), Retain);
        assert_eq!(deletion_policy(None, None, Retain), Retain);
        assert_eq!(
            deletion_policy(Some("bogus"), Some("retain"), Delete),
            Retain
        );
        assert_eq!(deletion_policy(Some("Delete"), None, Retain), Delete);
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        for _ in 0..100 {
            let d = jittered(Duration::from_secs(600)).as_secs_f64();
            assert!((540.0..=660.0).contains(&d), "{d}");
        }
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let cap = Duration::from_secs(300);
        assert!(backoff(0, cap) <= Duration::from_secs_f64(1.1));
        assert!(backoff(3, cap) >= Duration::from_secs_f64(7.2));
        assert!(backoff(30, cap) <= Duration::from_secs(330));
    }
}
