//! What a pass found, told: status (written only when it changed), conditions and Events.

use std::collections::BTreeMap;

use kube::{
    Api, ResourceExt,
    api::{Patch, PatchParams},
    runtime::events::{Event, EventType, Recorder},
};
use serde_json::json;
use tracing::warn;

use super::{Context, Error};
use crate::{
    MANAGER, changes,
    conditions::{Condition, READY, SYNCED, TERMINAL},
    errors::AwsError,
    policy,
    resource::{AwsResource, PlannedChange, Readiness},
    status::ResourceStatus,
    triggers,
};

pub(super) fn previous_status<K: AwsResource>(obj: &K) -> ResourceStatus<K::StatusFields> {
    obj.status().cloned().unwrap_or_default()
}

/// How AWS compares with the spec after a pass over a resource that exists.
pub(super) enum SyncState {
    InSync,
    /// On its way: AWS is busy, or the change takes more steps.
    Behind,
    /// Read-only: what the operator would write (nothing when empty).
    ReadOnly(Vec<PlannedChange>),
    /// These changes were written again and again and AWS did not keep them.
    Looping {
        changes: Vec<PlannedChange>,
        writes: u32,
        window: std::time::Duration,
    },
}

pub(super) fn managed_status<K: AwsResource>(
    obj: &K,
    observed: &K::Observed,
    readiness: &Readiness,
    state: &SyncState,
    output: BTreeMap<String, String>,
) -> ResourceStatus<K::StatusFields> {
    let mut conditions = vec![ready_condition::<K>(readiness)];
    let mut plan = Vec::new();
    let synced = match (readiness, state) {
        (_, SyncState::ReadOnly(changes)) if changes.is_empty() => Condition::new(
            SYNCED,
            true,
            "Synced",
            format!(
                "AWS matches the spec ({} is set: nothing is written)",
                policy::READ_ONLY
            ),
        ),
        (_, SyncState::ReadOnly(changes)) => {
            plan.clone_from(changes);
            Condition::new(
                SYNCED,
                false,
                "Differs",
                format!(
                    "AWS differs from the spec in {}; {} is set, so nothing is written",
                    changes::describe(changes),
                    policy::READ_ONLY
                ),
            )
        }
        (
            _,
            SyncState::Looping {
                changes,
                writes,
                window,
            },
        ) => {
            let message = format!(
                "AWS did not keep {} after {writes} writes within {}; the operator writes this \
                 resource no more until its spec changes",
                changes::describe(changes),
                humantime::format_duration(*window)
            );
            conditions.push(Condition::new(TERMINAL, true, "UpdateLoop", &message));
            Condition::new(SYNCED, false, "UpdateLoop", message)
        }
        (Readiness::Unusable { reason, message }, _) => {
            Condition::new(SYNCED, false, reason, message.clone())
        }
        (_, SyncState::InSync) => Condition::new(SYNCED, true, "Synced", "AWS matches the spec"),
        (_, SyncState::Behind) => Condition::new(
            SYNCED,
            false,
            "Updating",
            "Waiting for AWS to finish applying the spec",
        ),
    };
    conditions.insert(1, synced);
    let previous = obj.status();
    ResourceStatus {
        conditions,
        observed_generation: obj.meta().generation,
        arn: K::arn(observed),
        output,
        create_pending: None,
        // Set by the caller, which knows the placement.
        region: None,
        account_id: None,
        plan,
        last_drift_correction: previous.and_then(|s| s.last_drift_correction.clone()),
        fields: K::status_fields(observed),
    }
}

fn ready_condition<K: AwsResource>(readiness: &Readiness) -> Condition {
    match readiness {
        Readiness::Ready => Condition::new(
            READY,
            true,
            "Available",
            format!("{} is available", K::SERVICE),
        ),
        Readiness::Pending(state) => Condition::new(
            READY,
            false,
            &camel_case(state),
            format!("AWS reports {} state {state}", K::SERVICE),
        ),
        Readiness::Deleting => {
            Condition::new(READY, false, "Deleting", "AWS is deleting the resource")
        }
        Readiness::Unusable { reason, message } => {
            Condition::new(READY, false, reason, message.clone())
        }
    }
}

/// Puts AWS's own message in the conditions and an Event.
pub(super) async fn report_error<K: AwsResource>(
    obj: &K,
    ctx: &Context<K>,
    api: &Api<K>,
    error: &AwsError,
    reason: &str,
) -> Result<(), Error> {
    let mut status = previous_status(obj);
    if error.is_terminal() {
        // AWS refused: a create that failed so made nothing, and what appears later is not ours.
        status.create_pending = None;
    }
    // A usable resource stays Ready while an update or a deletion fails.
    let ready = if ctx.conditions.is_true(triggers::identity(obj), READY) {
        ready_condition::<K>(&Readiness::Ready)
    } else {
        Condition::new(READY, false, reason, error.to_string())
    };
    let mut next = vec![
        ready,
        Condition::new(SYNCED, false, reason, error.to_string()),
    ];
    if error.is_terminal() {
        next.push(Condition::new(
            TERMINAL,
            true,
            error.code(),
            error.to_string(),
        ));
    }
    status.conditions = next;
    status.observed_generation = obj.meta().generation;
    write_status(ctx, api, obj, status).await?;
    publish(ctx, obj, EventType::Warning, reason, error.to_string()).await;
    Ok(())
}

/// Writes status through the status subresource, only when it changed. Returns whether it wrote.
pub(super) async fn write_status<K: AwsResource>(
    ctx: &Context<K>,
    api: &Api<K>,
    obj: &K,
    mut status: ResourceStatus<K::StatusFields>,
) -> Result<bool, Error> {
    let id = triggers::identity(obj);
    let (merged, conditions_changed) = ctx.conditions.merge(
        id,
        std::mem::take(&mut status.conditions),
        jiff::Timestamp::now(),
    );
    // The cached status has everything but its conditions.
    let unchanged = !conditions_changed
        && match obj.status() {
            Some(previous) => *previous == status,
            None => status == ResourceStatus::default(),
        };
    status.conditions = merged;
    if unchanged {
        return Ok(false);
    }
    let patch =
        json!({ "apiVersion": K::api_version(&()), "kind": K::kind(&()), "status": status });
    api.patch_status(
        &obj.name_any(),
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(patch),
    )
    .await?;
    // Recorded now, so a reconcile that runs before the watch brings the write does not repeat it.
    ctx.conditions.record(id, &status.conditions);
    Ok(true)
}

pub(super) async fn publish<K: AwsResource>(
    ctx: &Context<K>,
    obj: &K,
    type_: EventType,
    reason: &str,
    note: String,
) {
    let event = Event {
        type_,
        reason: reason.into(),
        note: Some(truncate(note, 1000)),
        action: "Reconcile".into(),
        secondary: None,
    };
    // Normal events (Created, Updated, Deleted, ...) mark one-off transitions: a Recorder without
    // history sends them, so a burst of creates is not held in memory for six minutes.
    let recorder = match type_ {
        EventType::Warning => ctx.recorder.clone(),
        EventType::Normal => Recorder::new(ctx.kube.clone(), ctx.reporter.clone()),
    };
    if let Err(e) = recorder.publish(&event, &obj.object_ref(&())).await {
        warn!(error = %e, "publishing event failed");
    }
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// `UPDATING` → `Updating`, for condition reasons.
fn camel_case(state: &str) -> String {
    state
        .split(['_', '-', ' '])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let lower = w.to_ascii_lowercase();
            let mut chars = lower.chars();
            chars
                .next()
                .map(|f| f.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn states_become_condition_reasons() {
        assert_eq!(super::camel_case("UPDATING"), "Updating");
        assert_eq!(
            super::camel_case("INACCESSIBLE_ENCRYPTION_CREDENTIALS"),
            "InaccessibleEncryptionCredentials"
        );
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(super::truncate("héllo".into(), 2), "h");
    }
}
