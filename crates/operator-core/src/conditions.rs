//! The small set of condition types users learn once, and how they are built.

use std::{
    collections::HashMap,
    hash::{Hash, Hasher},
    sync::{Arc, Mutex},
};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::triggers::hash_of;

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

/// What the watch cache keeps of each object's conditions, in place of the conditions themselves
/// (about 440 bytes an object with their strings): a digest, so that only a changed set is
/// written, and when each condition took its current status, which an unchanged condition keeps.
/// About 110 bytes an object. Filled from the watch and from our own writes, keyed by the
/// object's hashed identity.
#[derive(Clone, Default)]
pub struct Memo {
    state: Arc<Mutex<MemoState>>,
}

#[derive(Default)]
struct MemoState {
    current: HashMap<u64, Written>,
    /// Filled during a (re)list, then replaces `current`.
    relisting: Option<HashMap<u64, Written>>,
}

#[derive(Clone, Debug, PartialEq)]
struct Written {
    digest: u64,
    /// (hash of type and status, transition time in Unix seconds) of each condition.
    since: Box<[(u64, Option<i64>)]>,
}

impl Written {
    fn of(conditions: &[Condition]) -> Self {
        Self {
            digest: digest(conditions),
            since: conditions
                .iter()
                .map(|c| (hash_of((&c.type_, &c.status)), transition_seconds(c)))
                .collect(),
        }
    }
}

/// Every field of every condition, the transition time to the second as `since` keeps it.
fn digest(conditions: &[Condition]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for c in conditions {
        (
            &c.type_,
            &c.status,
            &c.reason,
            &c.message,
            transition_seconds(c),
        )
            .hash(&mut h);
    }
    h.finish()
}

fn transition_seconds(c: &Condition) -> Option<i64> {
    c.last_transition_time.as_deref().and_then(unix_seconds)
}

impl Memo {
    /// Records the conditions an object has (as watched, or as just written).
    pub fn record(&self, object: u64, conditions: &[Condition]) {
        let written = Written::of(conditions);
        let mut state = self.state.lock().expect("poisoned");
        if let Some(relisting) = state.relisting.as_mut() {
            relisting.insert(object, written.clone());
        }
        state.current.insert(object, written);
    }

    pub fn forget(&self, object: u64) {
        let mut state = self.state.lock().expect("poisoned");
        state.current.remove(&object);
        if let Some(relisting) = state.relisting.as_mut() {
            relisting.remove(&object);
        }
    }

    /// A relist starts: what it does not return is forgotten when it is done.
    pub fn relist_started(&self) {
        self.state.lock().expect("poisoned").relisting = Some(HashMap::new());
    }

    pub fn relist_done(&self) {
        let mut state = self.state.lock().expect("poisoned");
        if let Some(mut relisted) = state.relisting.take() {
            relisted.shrink_to_fit();
            state.current = relisted;
        }
    }

    /// Gives each of `next` the transition time recorded for the same type and status (`now` for
    /// the others); and whether the result differs from what was recorded.
    pub fn merge(
        &self,
        object: u64,
        next: Vec<Condition>,
        now: jiff::Timestamp,
    ) -> (Vec<Condition>, bool) {
        let state = self.state.lock().expect("poisoned");
        let previous = state.current.get(&object);
        let merged: Vec<Condition> = next
            .into_iter()
            .map(|mut c| {
                let key = hash_of((&c.type_, &c.status));
                let kept = previous
                    .and_then(|p| p.since.iter().find(|(k, _)| *k == key))
                    .and_then(|(_, time)| *time);
                c.last_transition_time = Some(rfc3339(kept.unwrap_or(now.as_second())));
                c
            })
            .collect();
        let changed = previous.map(|p| p.digest) != Some(digest(&merged));
        (merged, changed)
    }

    /// Whether the object's recorded condition `type_` is True.
    pub fn is_true(&self, object: u64, type_: &str) -> bool {
        let key = hash_of((type_, "True"));
        let state = self.state.lock().expect("poisoned");
        state
            .current
            .get(&object)
            .is_some_and(|p| p.since.iter().any(|(k, _)| *k == key))
    }
}

fn unix_seconds(rfc3339: &str) -> Option<i64> {
    rfc3339
        .parse::<jiff::Timestamp>()
        .ok()
        .map(|t| t.as_second())
}

fn rfc3339(seconds: i64) -> String {
    jiff::Timestamp::from_second(seconds)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(seconds).unwrap()
    }

    fn watched(status: bool, reason: &str, time: &str) -> Vec<Condition> {
        let mut c = Condition::new(READY, status, reason, "");
        c.last_transition_time = Some(time.into());
        vec![c]
    }

    #[test]
    fn unchanged_status_keeps_transition_time_and_is_not_rewritten() {
        let memo = Memo::default();
        memo.record(1, &watched(true, "Available", "2020-01-01T00:00:00Z"));
        let (merged, changed) = memo.merge(
            1,
            vec![Condition::new(READY, true, "Available", "")],
            at(1_900_000_000),
        );
        assert_eq!(
            merged[0].last_transition_time.as_deref(),
            Some("2020-01-01T00:00:00Z")
        );
        assert!(!changed);
        assert!(memo.is_true(1, READY));
    }

    #[test]
    fn changed_status_gets_new_transition_time() {
        let memo = Memo::default();
        memo.record(1, &watched(false, "Creating", "2020-01-01T00:00:00Z"));
        let (merged, changed) =
            memo.merge(1, vec![Condition::new(READY, true, "Available", "")], at(0));
        assert_eq!(
            merged[0].last_transition_time.as_deref(),
            Some("1970-01-01T00:00:00Z")
        );
        assert!(changed);
        assert!(!memo.is_true(1, READY));
    }

    #[test]
    fn a_new_message_is_a_change_that_keeps_the_transition_time() {
        let memo = Memo::default();
        memo.record(1, &watched(false, "Creating", "2020-01-01T00:00:00Z"));
        let (merged, changed) = memo.merge(
            1,
            vec![Condition::new(READY, false, "Creating", "still")],
            at(0),
        );
        assert_eq!(
            merged[0].last_transition_time.as_deref(),
            Some("2020-01-01T00:00:00Z")
        );
        assert!(changed);
    }

    #[test]
    fn what_was_written_is_not_written_again() {
        let memo = Memo::default();
        let next = || vec![Condition::new(READY, true, "Available", "up")];
        let (first, changed) = memo.merge(7, next(), at(1_700_000_000));
        assert!(changed, "nothing recorded yet");
        memo.record(7, &first);
        let (second, changed) = memo.merge(7, next(), at(1_800_000_000));
        assert_eq!(first, second);
        assert!(!changed);
    }

    #[test]
    fn forgets_deleted_objects_and_what_a_relist_does_not_return() {
        let memo = Memo::default();
        let ready = watched(true, "Available", "2020-01-01T00:00:00Z");
        memo.record(1, &ready);
        memo.record(2, &ready);
        memo.record(3, &ready);
        memo.forget(1);
        memo.relist_started();
        memo.record(2, &ready);
        memo.relist_done();
        assert!(!memo.is_true(1, READY));
        assert!(memo.is_true(2, READY));
        assert!(!memo.is_true(3, READY), "not returned by the relist");
    }
}
