//! The small set of condition types users learn once, and how they are built.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The AWS resource exists and is usable.
pub const READY: &str = "Ready";
/// The AWS resource matches the spec as of `observedGeneration`.
pub const SYNCED: &str = "Synced";
/// Progress needs a change to the spec or to AWS; the message says what AWS refused.
pub const TERMINAL: &str = "Terminal";

/// A condition as Kubernetes conventions describe it.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Ready, Synced or Terminal.
    #[serde(rename = "type")]
    pub type_: String,
    /// "True", "False" or "Unknown".
    pub status: String,
    /// A one-word CamelCase reason.
    pub reason: String,
    /// A human-readable message; for AWS errors, AWS's own message.
    #[serde(default)]
    pub message: String,
    /// When the status last changed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
}

impl Condition {
    pub fn new(type_: &str, status: bool, reason: &str, message: impl Into<String>) -> Self {
        Self {
            type_: type_.to_owned(),
            status: if status { "True" } else { "False" }.to_owned(),
            reason: reason.to_owned(),
            message: message.into(),
            last_transition_time: None,
        }
    }

    pub fn is_true(&self) -> bool {
        self.status == "True"
    }
}

/// Merges freshly computed conditions with the previous ones: a condition whose status did not
/// change keeps its transition time, so an unchanged resource produces an identical status.
pub fn merge(previous: &[Condition], next: Vec<Condition>, now: &str) -> Vec<Condition> {
    next.into_iter()
        .map(|mut c| {
            c.last_transition_time = previous
                .iter()
                .find(|p| p.type_ == c.type_ && p.status == c.status)
                .and_then(|p| p.last_transition_time.clone())
                .or_else(|| Some(now.to_owned()));
            c
        })
        .collect()
}

pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unchanged_status_keeps_transition_time() {
        let mut old = Condition::new(READY, true, "Available", "");
        old.last_transition_time = Some("2020-01-01T00:00:00Z".into());
        let merged = merge(
            &[old],
            vec![Condition::new(READY, true, "Available", "")],
            "now",
        );
        assert_eq!(
            merged[0].last_transition_time.as_deref(),
            Some("2020-01-01T00:00:00Z")
        );
    }

    #[test]
    fn changed_status_gets_new_transition_time() {
        let mut old = Condition::new(READY, false, "Creating", "");
        old.last_transition_time = Some("2020-01-01T00:00:00Z".into());
        let merged = merge(
            &[old],
            vec![Condition::new(READY, true, "Available", "")],
            "now",
        );
        assert_eq!(merged[0].last_transition_time.as_deref(), Some("now"));
    }
}
