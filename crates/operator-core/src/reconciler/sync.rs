//! One pass over one resource: observe, create if absent (intent first), ownership and
//! adoption, diff and update; and on delete, the deletion policy.

use std::time::Instant;

use k8s_openapi::api::core::v1::{ConfigMap, Service};
use kube::{
    Api, ResourceExt,
    runtime::{controller::Action, events::EventType},
};

use super::{
    Context, Error, REFERENCE_REQUEUE, SHORT_REQUEUE,
    place::{self, Placed},
    report::{SyncState, managed_status, previous_status, publish, report_error, write_status},
};
use crate::{
    changes,
    conditions::{Condition, READY, SYNCED, TERMINAL},
    outputs,
    ownership::{self, Owner},
    placement::Refused,
    policy::{self, DeletionPolicy},
    references::{self, Reference, Resolved},
    resource::{AwsResource, Readiness},
    status::DriftCorrection,
    triggers::hash_of,
};

/// What one pass of synchronisation found.
enum Synced<O> {
    Managed {
        observed: O,
        readiness: Readiness,
        state: SyncState,
        /// The fields this pass put back after a change outside the spec.
        corrected: Option<Vec<String>>,
    },
    /// Read-only, and AWS has no such resource: nothing is created.
    Missing,
    NotOwned(NotOwned),
}

/// Why a found AWS resource is not this object's to manage.
enum NotOwned {
    /// No ownership tags: someone else made it.
    Foreign,
    /// Tagged by another object of this kind; `exists` says whether that object still does.
    Other {
        recorded: ownership::Recorded,
        exists: bool,
    },
}

pub(super) async fn apply<K: AwsResource>(
    obj: &K,
    ctx: &Context<K>,
    api: &Api<K>,
) -> Result<Action, Error> {
    if policy::is_paused(obj) {
        return paused(obj, ctx, api, false).await;
    }
    let namespace = obj.namespace().unwrap_or_default();
    let placed = match place::placed(obj, ctx, false).await? {
        Ok(placed) => placed,
        Err(refused) => return refuse(obj, ctx, api, refused).await,
    };
    // Before the first complete lists, a missing entry is unknown, not absent: wait rather than
    // write a status (or a ConfigMap) from a half-filled cache.
    let references = obj.references();
    if let Some(kind) = unlisted(&references, ctx) {
        return Err(Error::Unlisted(format!(
            "waiting for the first list of {kind} objects"
        )));
    }
    if !references.is_empty() {
        ctx.dependents.record(obj, &references);
    }
    let refs = match references::resolve(
        &namespace,
        &references,
        &ctx.ref_indexes,
        ctx.settings.allow_cross_namespace_references,
    ) {
        Ok(refs) => refs,
        Err(unresolved) => {
            // Not an error: the reference's watch wakes this resource when it changes.
            let (reason, message) = (unresolved.reason, unresolved.message);
            blocked(obj, ctx, api, reason, message, false).await?;
            return Ok(Action::requeue(REFERENCE_REQUEUE));
        }
    };
    // Holds `obj` with the create intent this pass records, so that a failure after it keeps
    // the intent in status (a status written from `obj` alone would drop it).
    let mut intent = None;
    match sync(obj, ctx, api, &refs, &placed, &mut intent).await {
        Ok(Synced::Managed {
            observed,
            readiness,
            state,
            corrected,
        }) => {
            let data = K::outputs(&observed);
            let mut status = managed_status(obj, &observed, &readiness, &state, data.clone());
            placed.record(&mut status);
            if let Some(fields) = corrected {
                status.last_drift_correction = Some(DriftCorrection {
                    time: jiff::Timestamp::now().to_string(),
                    fields,
                });
            }
            let message = status
                .conditions
                .iter()
                .find(|c| c.type_ == SYNCED)
                .map(|c| c.message.clone())
                .unwrap_or_default();
            if write_status(ctx, api, obj, status).await? {
                match &state {
                    SyncState::Looping { changes, .. } => {
                        for change in changes {
                            ctx.metrics.update_loop(&K::kind(&()), &change.field);
                        }
                        publish(ctx, obj, EventType::Warning, "UpdateLoop", message).await;
                    }
                    SyncState::ReadOnly(changes) if !changes.is_empty() => {
                        publish(ctx, obj, EventType::Normal, "Differs", message).await;
                    }
                    _ => {}
                }
            }
            let cm_api: Api<ConfigMap> = Api::namespaced(ctx.kube.clone(), &namespace);
            outputs::export::<K>(&cm_api, &ctx.config_maps, outputs::config_map(obj, data)).await?;
            if let Some(endpoint) = K::service(&observed) {
                let svc_api: Api<Service> = Api::namespaced(ctx.kube.clone(), &namespace);
                if let Some(name) =
                    outputs::export_service::<K>(&svc_api, outputs::service(obj, &endpoint)).await?
                {
                    let note = format!(
                        "Service {name:?} exists and is not this resource's; it is left as it is"
                    );
                    publish(ctx, obj, EventType::Warning, "ServiceNotOwned", note).await;
                }
            }
            // Ready and settled: the resync clock comes back a resync period after this reconcile.
            Ok(match (readiness, state) {
                (Readiness::Ready, SyncState::InSync | SyncState::ReadOnly(_)) => {
                    Action::await_change()
                }
                // Written no more until the spec changes; the resync still looks.
                (_, SyncState::Looping { .. }) => Action::await_change(),
                // Waits on a change outside the resource: no tight loop.
                (Readiness::Unusable { .. }, _) => Action::requeue(REFERENCE_REQUEUE),
                _ => Action::requeue(SHORT_REQUEUE),
            })
        }
        Ok(Synced::Missing) => {
            let message = format!(
                "{} {:?} does not exist in AWS; {} is set, so it is not created",
                K::SERVICE,
                obj.aws_name(),
                policy::READ_ONLY
            );
            blocked(obj, ctx, api, "NotFound", message, false).await?;
            Ok(Action::await_change())
        }
        Ok(Synced::NotOwned(why)) => {
            let message = not_owned_message::<K>(&obj.aws_name(), &why);
            let mut status = previous_status(obj);
            status.conditions = vec![
                Condition::new(READY, false, "NotOwned", &message),
                Condition::new(SYNCED, false, "NotOwned", &message),
                Condition::new(TERMINAL, true, "NotOwned", &message),
            ];
            status.observed_generation = obj.meta().generation;
            if write_status(ctx, api, obj, status).await? {
                publish(ctx, obj, EventType::Warning, "NotOwned", message).await;
            }
            Ok(Action::await_change())
        }
        Err(Error::Aws(e)) => {
            report_error(intent.as_ref().unwrap_or(obj), ctx, api, &e, "SyncFailed").await?;
            Err(Error::Aws(e))
        }
        Err(e) => Err(e),
    }
}

/// A placement that is malformed or leads elsewhere than the resource lives: nothing is called
/// until the annotations change back (or the resource is re-created).
async fn refuse<K: AwsResource>(
    obj: &K,
    ctx: &Context<K>,
    api: &Api<K>,
    refused: Refused,
) -> Result<Action, Error> {
    blocked(obj, ctx, api, refused.reason, refused.message, true).await?;
    Ok(Action::await_change())
}

/// Not Ready nor Synced for `reason`, with nothing called in AWS; `terminal` when only a change
/// from the user can unblock it (a Warning Event then, a Normal one otherwise). The Event goes
/// out only when the status changed.
async fn blocked<K: AwsResource>(
    obj: &K,
    ctx: &Context<K>,
    api: &Api<K>,
    reason: &str,
    message: String,
    terminal: bool,
) -> Result<(), Error> {
    let mut status = previous_status(obj);
    status.conditions = vec![
        Condition::new(READY, false, reason, &message),
        Condition::new(SYNCED, false, reason, &message),
    ];
    if terminal {
        status
            .conditions
            .push(Condition::new(TERMINAL, true, reason, &message));
    }
    status.observed_generation = obj.meta().generation;
    if write_status(ctx, api, obj, status).await? {
        let kind = if terminal {
            EventType::Warning
        } else {
            EventType::Normal
        };
        publish(ctx, obj, kind, reason, message).await;
    }
    Ok(())
}

/// Paused: nothing is called in AWS (not even a read), Synced says so and Ready stays what it
/// was; a deletion keeps the finalizer until the annotation is removed.
async fn paused<K: AwsResource>(
    obj: &K,
    ctx: &Context<K>,
    api: &Api<K>,
    deleting: bool,
) -> Result<Action, Error> {
    const REASON: &str = "Paused";
    let message = if deleting {
        format!(
            "{} is set: the deletion waits until it is removed",
            policy::PAUSED
        )
    } else {
        format!(
            "{} is set: no AWS calls until it is removed",
            policy::PAUSED
        )
    };
    // The cache keeps no conditions: Ready comes from the object itself.
    let live = api.get_status(&obj.name_any()).await?;
    let ready = live
        .status()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == READY).cloned())
        .unwrap_or_else(|| Condition::new(READY, false, REASON, &message));
    let mut status = previous_status(obj);
    status.conditions = vec![
        Condition::new(READY, ready.is_true(), &ready.reason, &ready.message),
        Condition::new(SYNCED, false, REASON, &message),
    ];
    if write_status(ctx, api, obj, status).await? {
        publish(ctx, obj, EventType::Normal, REASON, message.clone()).await;
    }
    if deleting {
        // An Ok cleanup would remove the finalizer, and the AWS resource would stay behind.
        return Err(Error::Paused(message));
    }
    Ok(Action::await_change())
}

/// A kind whose watch has not listed once (what `obj` refers to, or outputs ConfigMaps).
fn unlisted<K: AwsResource>(references: &[Reference], ctx: &Context<K>) -> Option<&'static str> {
    references
        .iter()
        .find(|r| {
            ctx.ref_indexes
                .get(r.kind)
                .is_some_and(|index| !index.listed.is_done())
        })
        .map(|r| r.kind)
        .or((!ctx.config_maps.listed.is_done()).then_some("ConfigMap"))
}

/// Says why the resource is not taken, and what would let the user proceed.
fn not_owned_message<K: AwsResource>(aws_name: &str, why: &NotOwned) -> String {
    let kind = K::kind(&());
    let adopt = policy::ADOPT;
    let (whose, next) = match why {
        NotOwned::Foreign => (
            "it was not created by this operator".to_owned(),
            format!("Annotate {adopt}=\"true\" to adopt it."),
        ),
        NotOwned::Other {
            recorded,
            exists: true,
        } => (
            format!("it is managed by {kind} {recorded}, which still exists"),
            format!(
                "It is never taken from a resource that exists, even with {adopt}: delete \
                 {kind} {}/{} (annotated deletion-policy retain to keep the AWS resource), or \
                 give this resource another AWS name.",
                recorded.namespace, recorded.name
            ),
        ),
        NotOwned::Other {
            recorded,
            exists: false,
        } => (
            format!("its tags name {kind} {recorded}, which no longer exists in this cluster"),
            format!("Annotate {adopt}=\"true\" to adopt it."),
        ),
    };
    format!(
        "{} {aws_name:?} already exists in AWS and is not managed by this resource ({whose}); \
         it is left untouched. {next}",
        K::SERVICE,
    )
}

/// Observe, create if absent, check ownership (adopting on request), then correct differences.
async fn sync<'a, K: AwsResource>(
    obj: &'a K,
    ctx: &Context<K>,
    api: &Api<K>,
    refs: &Resolved,
    placed: &Placed<K::Client>,
    intent: &'a mut Option<K>,
) -> Result<Synced<K::Observed>, Error> {
    let client = &placed.client;
    let owner_tags = ownership::owner_tags(obj);
    let tags = ownership::desired_tags(&obj.user_tags(), &owner_tags);

    if policy::is_read_only(obj) {
        let Some(observed) = obj.observe(client, refs).await? else {
            return Ok(Synced::Missing);
        };
        // Compared as it is: its ownership tags, whoever's, are not a difference.
        let tags = changes::tags_as_they_are(&obj.user_tags(), K::tags(&observed));
        let wanted = changes::wanted(obj, &observed, refs, &tags, false);
        let plan = changes::planned::<K>(&wanted, &observed);
        return Ok(Synced::Managed {
            readiness: K::readiness(&observed),
            observed,
            state: SyncState::ReadOnly(plan),
            corrected: None,
        });
    }

    // Once this pass records a create intent, `obj` is the object with that status.
    let mut obj = obj;
    let (mut observed, created) = match obj.observe(client, refs).await? {
        Some(observed) => (observed, false),
        None => {
            // The intent first: should the process die before the result is recorded, what
            // the next reconcile finds without ownership tags is what this create made.
            let message = format!("Creating {} {:?}", K::SERVICE, obj.aws_name());
            let mut status = previous_status(obj);
            status.create_pending = Some(jiff::Timestamp::now().to_string());
            placed.record(&mut status);
            status.conditions = vec![
                Condition::new(READY, false, "Creating", &message),
                Condition::new(SYNCED, false, "Creating", &message),
            ];
            status.observed_generation = obj.meta().generation;
            write_status(ctx, api, obj, status.clone()).await?;
            status.conditions.clear(); // as the watch cache keeps it
            let mut pending = obj.clone();
            *pending.status_mut() = Some(status);
            obj = intent.insert(pending);
            let answered = obj.create(client, refs, &tags).await?;
            publish(
                ctx,
                obj,
                EventType::Normal,
                "Created",
                format!("Created {} {:?}", K::SERVICE, obj.aws_name()),
            )
            .await;
            let observed = match answered {
                Some(observed) => observed,
                None => observed_after_write(obj, client, refs).await?,
            };
            (observed, true)
        }
    };

    // What this pass created is ours by construction (a kind without tags has not recorded
    // its ARN yet).
    let create_pending = obj.status().is_some_and(|s| s.create_pending.is_some());
    let owner = if created {
        Owner::Us
    } else {
        ownership::owner_of_observed(obj, &observed)
    };
    let adoptable = match owner {
        Owner::Us => false,
        // It did not exist when our create began: our create made it (and died before tagging
        // it, or before recording it).
        Owner::Nobody if create_pending => true,
        Owner::Nobody if policy::wants_adoption(obj) => true,
        Owner::Nobody => return Ok(Synced::NotOwned(NotOwned::Foreign)),
        // A resource whose recorded owner exists is never taken, even when asked to adopt.
        Owner::Other(recorded) => {
            let exists = ownership::recorded_owner_exists(&ctx.kube, obj, &recorded).await?;
            if exists || !policy::wants_adoption(obj) {
                return Ok(Synced::NotOwned(NotOwned::Other { recorded, exists }));
            }
            true
        }
    };
    if adoptable {
        // Without tags, the status write that follows records the ARN: nothing to write in AWS.
        let tagged = K::tags(&observed).is_some();
        if tagged {
            obj.tag(client, &observed, &owner_tags).await?;
        }
        let (reason, note) = if create_pending {
            (
                "Recovered",
                format!(
                    "Took over {} {:?}, made by this resource's interrupted create",
                    K::SERVICE,
                    obj.aws_name()
                ),
            )
        } else {
            (
                "Adopted",
                format!("Adopted existing {} {:?}", K::SERVICE, obj.aws_name()),
            )
        };
        publish(ctx, obj, EventType::Normal, reason, note).await;
        if tagged {
            observed = observed_after_write(obj, client, refs).await?;
        }
    }

    let readiness = K::readiness(&observed);
    if readiness != Readiness::Ready {
        // AWS rejects updates mid-transition; look again shortly.
        return Ok(Synced::Managed {
            observed,
            readiness,
            state: SyncState::Behind,
            corrected: None,
        });
    }
    let uid = obj.uid().unwrap_or_default();
    let generation = obj.meta().generation;
    // Until the create's result is recorded, ignored fields are still set: a pass that failed
    // right after the create leaves them to the next.
    let creating = created || create_pending;
    let wanted = changes::wanted(obj, &observed, refs, &tags, creating);
    if wanted.is_empty() {
        ctx.loops.forget(&uid);
        return Ok(Synced::Managed {
            observed,
            readiness,
            state: SyncState::InSync,
            corrected: None,
        });
    }
    let plan = changes::planned::<K>(&wanted, &observed);
    let limit = ctx.settings.update_loop;
    let signature = hash_of(format!("{wanted:?}"));
    if ctx.loops.tripped(&uid, generation, signature, limit) {
        return Ok(Synced::Managed {
            observed,
            readiness,
            state: SyncState::Looping {
                changes: plan,
                writes: limit.writes,
                window: limit.window,
            },
            corrected: None,
        });
    }

    // Settings written right after the create are part of it, not drift.
    let spec_changed = created || generation != obj.status().and_then(|s| s.observed_generation);
    obj.update(client, refs, &observed, wanted).await?;
    ctx.loops
        .wrote(&uid, generation, signature, limit, Instant::now());
    let (reason, verb) = if spec_changed {
        ("Updated", "Updated")
    } else {
        ("DriftCorrected", "Corrected drift in")
    };
    publish(
        ctx,
        obj,
        EventType::Normal,
        reason,
        format!("{verb} {}", changes::describe(&plan)),
    )
    .await;
    let corrected = (!spec_changed).then(|| {
        let kind = K::kind(&());
        for change in &plan {
            ctx.metrics.drift_corrected(&kind, &change.field);
        }
        plan.into_iter().map(|c| c.field).collect()
    });

    let observed = observed_after_write(obj, client, refs).await?;
    let readiness = K::readiness(&observed);
    // Some changes take several steps (AWS accepts one at a time); the next pass continues.
    let in_sync = readiness == Readiness::Ready
        && changes::wanted(obj, &observed, refs, &tags, creating).is_empty();
    if in_sync {
        ctx.loops.forget(&uid);
    }
    Ok(Synced::Managed {
        observed,
        readiness,
        state: if in_sync {
            SyncState::InSync
        } else {
            SyncState::Behind
        },
        corrected,
    })
}

async fn observed_after_write<K: AwsResource>(
    obj: &K,
    client: &K::Client,
    refs: &Resolved,
) -> Result<K::Observed, Error> {
    obj.observe(client, refs).await?.ok_or_else(|| {
        Error::Pending(format!(
            "{} {:?} is not visible yet after a write",
            K::SERVICE,
            obj.aws_name()
        ))
    })
}

pub(super) async fn cleanup<K: AwsResource>(
    obj: &K,
    ctx: &Context<K>,
    api: &Api<K>,
) -> Result<Action, Error> {
    if policy::is_paused(obj) {
        return paused(obj, ctx, api, true).await;
    }
    let name = obj.aws_name();
    // The outputs go whatever the policy: they describe this object, which is going. Another
    // kind's keys in the same ConfigMap stay.
    let cm_api: Api<ConfigMap> =
        Api::namespaced(ctx.kube.clone(), &obj.namespace().unwrap_or_default());
    outputs::withdraw(&cm_api, obj).await?;
    if !ctx.namespaces.listed.is_done() {
        return Err(Error::Unlisted(
            "waiting for the first list of namespaces".into(),
        ));
    }
    let ns_annotations = ctx
        .namespaces
        .annotations(&obj.namespace().unwrap_or_default());
    let policy = policy::deletion_policy(
        policy::resource_deletion_policy(obj),
        ns_annotations
            .get(policy::DELETION_POLICY)
            .map(String::as_str),
        ctx.settings.deletion_policy,
    );
    // Deletion never waits on references (a topic deleted first must not block its
    // subscription): it uses those that still resolve. Only an interrupted create waits for
    // the first lists, to find what it made (a subscription is found through its topic).
    let create_pending = obj.status().is_some_and(|s| s.create_pending.is_some());
    let references = obj.references();
    if create_pending && let Some(kind) = unlisted(&references, ctx) {
        return Err(Error::Unlisted(format!(
            "waiting for the first list of {kind} objects"
        )));
    }
    let refs = references::resolve(
        &obj.namespace().unwrap_or_default(),
        &references,
        &ctx.ref_indexes,
        ctx.settings.allow_cross_namespace_references,
    )
    .unwrap_or_default();
    if policy::is_read_only(obj) {
        publish(
            ctx,
            obj,
            EventType::Normal,
            "Retained",
            format!(
                "{} is set: {} {name:?} is left in AWS",
                policy::READ_ONLY,
                K::SERVICE
            ),
        )
        .await;
        return Ok(Action::await_change());
    }
    if policy == DeletionPolicy::Retain {
        publish(
            ctx,
            obj,
            EventType::Normal,
            "Retained",
            format!(
                "Deletion policy is retain: {} {name:?} is kept in AWS",
                K::SERVICE
            ),
        )
        .await;
        return Ok(Action::await_change());
    }

    let placed = match place::placed(obj, ctx, true).await? {
        Ok(placed) => placed,
        Err(refused) => {
            let message = format!("cannot delete: {}", refused.message);
            let mut status = previous_status(obj);
            status.conditions = vec![
                Condition::new(READY, false, refused.reason, &message),
                Condition::new(SYNCED, false, refused.reason, &message),
            ];
            if write_status(ctx, api, obj, status).await? {
                publish(
                    ctx,
                    obj,
                    EventType::Warning,
                    refused.reason,
                    message.clone(),
                )
                .await;
            }
            return Err(Error::Misplaced(message));
        }
    };
    let client = &placed.client;
    let Some(observed) = obj.observe(client, &refs).await? else {
        obj.delete_leftovers(client).await?;
        return Ok(Action::await_change());
    };
    // What an interrupted create made is ours too: it did not exist when the create began.
    let ours = match ownership::owner_of_observed(obj, &observed) {
        Owner::Us => true,
        Owner::Nobody => create_pending,
        Owner::Other(_) => false,
    };
    if !ours {
        publish(
            ctx,
            obj,
            EventType::Normal,
            "NotDeleted",
            format!(
                "{} {name:?} is not managed by this resource; it is left in AWS",
                K::SERVICE
            ),
        )
        .await;
        return Ok(Action::await_change());
    }
    if K::readiness(&observed) != Readiness::Deleting {
        if let Err(e) = obj.delete(client, &observed).await {
            report_error(obj, ctx, api, &e, "DeleteFailed").await?;
            return Err(e.into());
        }
        publish(
            ctx,
            obj,
            EventType::Normal,
            "Deleting",
            format!("Deleting {} {name:?}", K::SERVICE),
        )
        .await;
    }
    match obj.observe(client, &refs).await? {
        None => Ok(Action::await_change()),
        Some(_) => Err(Error::Pending(format!(
            "waiting for AWS to delete {} {name:?}",
            K::SERVICE
        ))),
    }
}
