//! The reconcile loop every kind shares: finalizer, observe → create → adopt → diff → update,
//! status, Events, outputs, requeue; and on delete, the deletion policy.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::{StreamExt, TryStreamExt, future};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service};
use kube::{
    Api, Resource, ResourceExt,
    api::{Patch, PatchParams},
    runtime::{
        Controller, WatchStreamExt,
        controller::{self, Action},
        events::{Event, EventType, Recorder, Reporter},
        finalizer::{self, finalizer},
        reflector::{self, reflector},
        watcher,
    },
};
use serde_json::json;
use tracing::{Instrument, info, info_span, warn};

use crate::{
    MANAGER,
    aws::AwsClients,
    conditions::{self, Condition, READY, SYNCED, TERMINAL},
    errors::AwsError,
    metrics::Metrics,
    outputs,
    ownership::{self, Owner},
    policy::{self, DeletionPolicy},
    references::{self, RefObject, Resolved},
    resource::{AwsResource, Readiness},
    server,
    status::ResourceStatus,
    triggers,
};

pub const FINALIZER: &str = "service-operator.aws/finalizer";
/// How soon to look again while AWS is busy with the resource.
const SHORT_REQUEUE: Duration = Duration::from_secs(5);
/// How soon to look again while a watch has not listed once: lists take about a second.
const LIST_REQUEUE: Duration = Duration::from_secs(1);
/// A backstop for resources waiting on a reference; its watch normally wakes them first.
const REFERENCE_REQUEUE: Duration = Duration::from_secs(30);
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// How late a resync may be at most (shorter when a resource asks for a short period).
const RESYNC_TICK: Duration = Duration::from_secs(10);
/// Changed resources handed to the controller at once, per reconcile it runs in parallel; the
/// rest wait in the gate, at a third of the memory of a scheduler entry.
const GATE_PER_WORKER: usize = 4;

/// Operator-wide behaviour, from the command line.
#[derive(Clone, Debug)]
pub struct Settings {
    pub resync_period: Duration,
    pub deletion_policy: DeletionPolicy,
    pub concurrency: u16,
    pub watch_namespace: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("finalizer: {0}")]
    Finalizer(String),
    /// Not a failure: AWS is still working (e.g. deleting); look again soon.
    #[error("{0}")]
    Pending(String),
    /// Not a failure: a watch this reconcile reads has not listed once yet (at start).
    #[error("{0}")]
    Unlisted(String),
}

impl Error {
    pub fn metric_label(&self) -> String {
        match self {
            Error::Aws(e) => e.code().to_owned(),
            Error::Kube(_) => "Kubernetes".into(),
            Error::Finalizer(_) => "Finalizer".into(),
            Error::Pending(_) | Error::Unlisted(_) => "Pending".into(),
        }
    }
}

struct Context<K: AwsResource> {
    kube: kube::Client,
    aws: K::Client,
    settings: Settings,
    metrics: Metrics,
    /// Aggregates repeated Warnings into series; it keeps each published Event for six minutes.
    recorder: Recorder,
    reporter: Reporter,
    config_maps: outputs::Fingerprints,
    /// Readiness and ARN of the kinds `K` refers to.
    ref_indexes: BTreeMap<&'static str, references::RefIndex>,
    /// Who refers to whom, to wake dependents when a referenced resource changes.
    dependents: Arc<references::Dependents<K>>,
    /// Consecutive retryable failures per object uid, for exponential backoff.
    failures: Mutex<HashMap<String, u32>>,
    last_reconciled: triggers::LastReconciled,
    gate: triggers::Gate<K>,
    /// What the cache keeps of each resource's conditions (the cached objects have none).
    conditions: conditions::Memo,
}

/// Runs the controller for kind `K` until a termination signal.
pub async fn run<K: AwsResource>(
    kube: kube::Client,
    aws: &AwsClients,
    settings: Settings,
    metrics: Metrics,
    ready: server::Readiness,
) {
    let kind = K::kind(&()).into_owned();
    let (resources, config_maps): (Api<K>, Api<ConfigMap>) = match &settings.watch_namespace {
        Some(ns) => (
            Api::namespaced(kube.clone(), ns),
            Api::namespaced(kube.clone(), ns),
        ),
        None => (Api::all(kube.clone()), Api::all(kube.clone())),
    };

    let (reader, writer) = reflector::store();
    // Stripped before the store sees them: the cache holds only what reconcile reads.
    let memo = conditions::Memo::default();
    let (gate, admitted) = triggers::Gate::new(usize::from(settings.concurrency) * GATE_PER_WORKER);
    let trigger = reflector(
        writer,
        watcher(resources, watcher::Config::default().any_semantic()).map_ok({
            let (memo, gate) = (memo.clone(), gate.clone());
            move |event| cache_view(event, &memo, &gate)
        }),
    )
    .inspect(listed(&ready))
    .default_backoff();
    // Changes go through the gate; only watch errors reach the controller this way.
    let trigger = triggers::changed(trigger, worth_reconciling::<K>).filter_map({
        let gate = gate.clone();
        move |change| {
            future::ready(match change {
                Ok(obj) => {
                    gate.admit(&obj);
                    None
                }
                Err(e) => Some(Err(e)),
            })
        }
    });
    // Every resource resyncs a period after its last reconcile.
    let last_reconciled = triggers::LastReconciled::default();
    let resync = triggers::resync(reader.clone(), last_reconciled.clone(), RESYNC_TICK, {
        let settings = settings.clone();
        move |obj: &K| resync_period(obj, &settings)
    });

    // Only our own ConfigMaps are watched, and only their fingerprints kept. Only a deleted one
    // wakes its owner (to re-create it): our own writes must not cost a second reconcile, and
    // other edits are undone at resync.
    let cm_fingerprints = outputs::Fingerprints::of::<K>();
    let selector = outputs::kind_label::<K>();
    let cm_trigger = watcher(config_maps, watcher::Config::default().labels(&selector))
        .inspect({
            let fingerprints = cm_fingerprints.clone();
            move |event| {
                if let Ok(event) = event {
                    fingerprints.observe(event);
                }
            }
        })
        .inspect(listed(&ready))
        .default_backoff()
        .filter_map(|event| {
            future::ready(match event {
                Ok(watcher::Event::Delete(cm)) => Some(Ok(cm)),
                Ok(_) => None,
                Err(e) => Some(Err(e)),
            })
        });

    // For each kind this one refers to, an index of readiness and ARN by name, fed by a watch;
    // its changes wake exactly the resources that refer to it.
    let mut ref_indexes = BTreeMap::new();
    let mut ref_triggers = Vec::new();
    for ref_kind in K::REFERENCED_KINDS {
        let ar = ref_kind.api_resource();
        let api: Api<RefObject> = match &settings.watch_namespace {
            Some(ns) => Api::namespaced_with(kube.clone(), ns, &ar),
            None => Api::all_with(kube.clone(), &ar),
        };
        let index = references::RefIndex::default();
        let stream = watcher(api, watcher::Config::default().any_semantic()).default_backoff();
        ref_triggers.push((*ref_kind, ar, references::changes(stream, index.clone())));
        ref_indexes.insert(ref_kind.kind, index);
    }

    let reporter = Reporter {
        controller: MANAGER.into(),
        instance: std::env::var("POD_NAME").ok(),
    };
    let ctx = Arc::new(Context::<K> {
        aws: K::client(aws),
        kube: kube.clone(),
        recorder: Recorder::new(kube, reporter.clone()),
        reporter,
        settings: settings.clone(),
        metrics,
        config_maps: cm_fingerprints,
        ref_indexes,
        dependents: Arc::default(),
        failures: Mutex::default(),
        last_reconciled,
        gate,
        conditions: memo,
    });

    info!(%kind, concurrency = settings.concurrency, "starting controller");
    let mut controller = Controller::for_stream(trigger, reader)
        .reconcile_on(admitted)
        .reconcile_on(resync)
        .owns_stream(cm_trigger)
        .with_config(controller::Config::default().concurrency(settings.concurrency));
    for (ref_kind, ar, stream) in ref_triggers {
        let dependents = ctx.dependents.clone();
        let mapper = move |target: RefObject| {
            dependents.of(
                &target.namespace().unwrap_or_default(),
                ref_kind.kind,
                &target.name_any(),
            )
        };
        controller = controller.watches_stream_with(stream, mapper, ar);
    }
    controller
        .shutdown_on_signal()
        .run(reconcile::<K>, error_policy::<K>, ctx)
        .for_each(|result| {
            if let Err(e) = result {
                tracing::debug!(error = %e, "reconcile loop");
            }
            future::ready(())
        })
        .await;
}

/// Counts a watch towards readiness until its first complete list. (Polling the store's
/// `wait_until_ready` from a second task would steal the controller's wake-up.)
fn listed<K>(
    ready: &server::Readiness,
) -> impl FnMut(&Result<watcher::Event<K>, watcher::Error>) + use<K> {
    ready.expect();
    let ready = ready.clone();
    let mut pending = true;
    move |event| {
        if pending && matches!(event, Ok(watcher::Event::InitDone)) {
            pending = false;
            ready.mark_synced();
        }
    }
}

/// What the watch cache keeps of an object: no managed fields, resource version or last-applied
/// copy, and its conditions only as a digest and transition times in `memo`.
/// A deleted object also leaves the gate.
pub fn cache_view<K: AwsResource>(
    mut event: watcher::Event<K>,
    memo: &conditions::Memo,
    gate: &triggers::Gate<K>,
) -> watcher::Event<K> {
    match &mut event {
        watcher::Event::Apply(obj) | watcher::Event::InitApply(obj) => {
            strip_unread_metadata(obj);
            let conditions = obj
                .status_mut()
                .as_mut()
                .map(|s| std::mem::take(&mut s.conditions))
                .unwrap_or_default();
            memo.record(triggers::identity(obj), &conditions);
        }
        watcher::Event::Delete(obj) => {
            strip_unread_metadata(obj);
            memo.forget(triggers::identity(obj));
            gate.forget(obj);
        }
        watcher::Event::Init => memo.relist_started(),
        watcher::Event::InitDone => memo.relist_done(),
    }
    event
}

fn strip_unread_metadata<K: Resource>(obj: &mut K) {
    let meta = obj.meta_mut();
    meta.managed_fields = None;
    // The watch tracks resource versions itself; reconcile writes without preconditions.
    meta.resource_version = None;
    if let Some(a) = meta.annotations.as_mut() {
        a.remove("kubectl.kubernetes.io/last-applied-configuration");
        // An empty map still holds a B-tree node of about 500 bytes.
        if a.is_empty() {
            meta.annotations = None;
        }
    }
}

/// Status writes (our own) do not trigger a reconcile; spec, annotation, finalizer and deletion changes do.
fn worth_reconciling<K: Resource>(obj: &K) -> u64 {
    let meta = obj.meta();
    triggers::hash_of((
        &meta.generation,
        &meta.annotations,
        &meta.finalizers,
        meta.deletion_timestamp.is_some(),
    ))
}

async fn reconcile<K: AwsResource>(obj: Arc<K>, ctx: Arc<Context<K>>) -> Result<Action, Error> {
    let kind = K::kind(&());
    let span = info_span!("reconcile", %kind, namespace = obj.namespace().unwrap_or_default(), name = obj.name_any());
    async move {
        let _timer = ctx.metrics.reconcile(&kind);
        let api: Api<K> = Api::namespaced(ctx.kube.clone(), &obj.namespace().unwrap_or_default());
        let result = finalizer(&api, FINALIZER, obj.clone(), |event| async {
            match event {
                finalizer::Event::Apply(obj) => apply(&*obj, &ctx, &api).await,
                finalizer::Event::Cleanup(obj) => cleanup(&*obj, &ctx, &api).await,
            }
        })
        .await;
        let result = match result {
            Ok(action) => Ok(action),
            Err(finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e)) => Err(e),
            Err(e) => Err(Error::Finalizer(e.to_string())),
        };
        if result.is_ok() && obj.meta().deletion_timestamp.is_some() {
            ctx.dependents.forget(&obj);
            ctx.last_reconciled.forget(&*obj);
        } else {
            ctx.last_reconciled.touch(&*obj);
        }
        ctx.gate.done(&*obj);
        if result.is_ok() {
            ctx.failures
                .lock()
                .expect("poisoned")
                .remove(&obj.uid().unwrap_or_default());
        }
        result
    }
    .instrument(span)
    .await
}

fn error_policy<K: AwsResource>(obj: Arc<K>, error: &Error, ctx: Arc<Context<K>>) -> Action {
    ctx.metrics
        .reconcile_error(&K::kind(&()), &error.metric_label());
    match error {
        Error::Pending(_) => Action::requeue(SHORT_REQUEUE),
        Error::Unlisted(_) => Action::requeue(LIST_REQUEUE),
        // No hot loop: a spec change triggers a reconcile anyway, otherwise try at the next resync.
        Error::Aws(e) if e.is_terminal() => Action::await_change(),
        _ => {
            warn!(kind = %K::kind(&()), name = obj.name_any(), %error, "reconcile failed; backing off");
            let mut failures = ctx.failures.lock().expect("poisoned");
            let n = failures.entry(obj.uid().unwrap_or_default()).or_insert(0);
            *n += 1;
            Action::requeue(policy::backoff(*n - 1, MAX_BACKOFF))
        }
    }
}

fn resync_period<K: AwsResource>(obj: &K, settings: &Settings) -> Duration {
    policy::resync_period(obj).unwrap_or(settings.resync_period)
}

/// What one pass of synchronisation found.
enum Synced<O> {
    Managed {
        observed: O,
        readiness: Readiness,
        in_sync: bool,
    },
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

async fn apply<K: AwsResource>(obj: &K, ctx: &Context<K>, api: &Api<K>) -> Result<Action, Error> {
    let namespace = obj.namespace().unwrap_or_default();
    // Before the first complete lists, a missing entry is unknown, not absent: wait rather than
    // write a status (or a ConfigMap) from a half-filled cache.
    let references = obj.references();
    let unlisted = references
        .iter()
        .find(|r| {
            ctx.ref_indexes
                .get(r.kind)
                .is_some_and(|index| !index.listed.is_done())
        })
        .map(|r| r.kind)
        .or((!ctx.config_maps.listed.is_done()).then_some("ConfigMap"));
    if let Some(kind) = unlisted {
        return Err(Error::Unlisted(format!(
            "waiting for the first list of {kind} objects"
        )));
    }
    if !references.is_empty() {
        ctx.dependents.record(obj, &references);
    }
    let refs = match references::resolve(&namespace, &references, &ctx.ref_indexes) {
        Ok(refs) => refs,
        Err(unresolved) => {
            // Not an error: the reference's watch wakes this resource when it changes.
            let mut status = previous_status(obj);
            status.conditions = vec![
                Condition::new(READY, false, unresolved.reason, &unresolved.message),
                Condition::new(SYNCED, false, unresolved.reason, &unresolved.message),
            ];
            status.observed_generation = obj.meta().generation;
            if write_status(ctx, api, obj, status).await? {
                publish(
                    ctx,
                    obj,
                    EventType::Normal,
                    unresolved.reason,
                    unresolved.message,
                )
                .await;
            }
            return Ok(Action::requeue(REFERENCE_REQUEUE));
        }
    };
    match sync(obj, ctx, api, &refs).await {
        Ok(Synced::Managed {
            observed,
            readiness,
            in_sync,
        }) => {
            let data = K::outputs(&observed);
            let status = managed_status(obj, &observed, &readiness, in_sync, data.clone());
            write_status(ctx, api, obj, status).await?;
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
            // Ready and in sync: the resync clock comes back a resync period after this reconcile.
            Ok(match readiness {
                Readiness::Ready if in_sync => Action::await_change(),
                // Waits on a change outside the resource: no tight loop.
                Readiness::Unusable { .. } => Action::requeue(REFERENCE_REQUEUE),
                _ => Action::requeue(SHORT_REQUEUE),
            })
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
            report_error(obj, ctx, api, &e, "SyncFailed").await?;
            Err(Error::Aws(e))
        }
        Err(e) => Err(e),
    }
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

/// Whether the object the AWS resource's tags name still exists in this cluster. This object
/// (same namespace and name, a new uid: re-created after a retain) does not count.
async fn recorded_owner_exists<K: AwsResource>(
    obj: &K,
    ctx: &Context<K>,
    recorded: &ownership::Recorded,
) -> Result<bool, Error> {
    if obj.namespace().as_deref() == Some(recorded.namespace.as_str())
        && obj.name_any() == recorded.name
    {
        return Ok(false);
    }
    let api: Api<K> = Api::namespaced(ctx.kube.clone(), &recorded.namespace);
    match api.get_opt(&recorded.name).await {
        Ok(found) => Ok(found.is_some_and(|o| o.uid().as_deref() == Some(recorded.uid.as_str()))),
        // Not allowed to look (a namespace-scoped install): it may exist, so it is not taken.
        Err(kube::Error::Api(e)) if e.code == 403 => Ok(true),
        Err(e) => Err(e.into()),
    }
}

/// Observe, create if absent, check ownership (adopting on request), then correct differences.
async fn sync<K: AwsResource>(
    obj: &K,
    ctx: &Context<K>,
    api: &Api<K>,
    refs: &Resolved,
) -> Result<Synced<K::Observed>, Error> {
    let uid = obj.uid().unwrap_or_default();
    let owner_tags = ownership::owner_tags(obj);
    let tags = ownership::desired_tags(&obj.user_tags(), &owner_tags);

    // Set when this reconcile records a create intent: `obj` with that status from then on.
    let intent: K;
    let mut obj = obj;
    let mut observed = match obj.observe(&ctx.aws, refs).await? {
        Some(observed) => observed,
        None => {
            // The intent first: should the process die before the result is recorded, what
            // the next reconcile finds without ownership tags is what this create made.
            let message = format!("Creating {} {:?}", K::SERVICE, obj.aws_name());
            let mut status = previous_status(obj);
            status.create_pending = Some(jiff::Timestamp::now().to_string());
            status.conditions = vec![
                Condition::new(READY, false, "Creating", &message),
                Condition::new(SYNCED, false, "Creating", &message),
            ];
            status.observed_generation = obj.meta().generation;
            write_status(ctx, api, obj, status.clone()).await?;
            status.conditions.clear(); // as the watch cache keeps it
            let mut pending = obj.clone();
            *pending.status_mut() = Some(status);
            intent = pending;
            obj = &intent;
            obj.create(&ctx.aws, refs, &tags).await?;
            publish(
                ctx,
                obj,
                EventType::Normal,
                "Created",
                format!("Created {} {:?}", K::SERVICE, obj.aws_name()),
            )
            .await;
            observed_after_write(obj, ctx, refs).await?
        }
    };

    let create_pending = obj.status().is_some_and(|s| s.create_pending.is_some());
    let adoptable = match ownership::owner_of(K::tags(&observed), &uid) {
        Owner::Us => false,
        // It did not exist when our create began: our create made it (and died before tagging
        // it, or before recording it).
        Owner::Nobody if create_pending => true,
        Owner::Nobody if policy::wants_adoption(obj) => true,
        Owner::Nobody => return Ok(Synced::NotOwned(NotOwned::Foreign)),
        // A resource whose recorded owner exists is never taken, even when asked to adopt.
        Owner::Other(recorded) => {
            let exists = recorded_owner_exists(obj, ctx, &recorded).await?;
            if exists || !policy::wants_adoption(obj) {
                return Ok(Synced::NotOwned(NotOwned::Other { recorded, exists }));
            }
            true
        }
    };
    if adoptable {
        obj.tag(&ctx.aws, &observed, &owner_tags).await?;
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
        observed = observed_after_write(obj, ctx, refs).await?;
    }

    let readiness = K::readiness(&observed);
    if readiness != Readiness::Ready {
        // AWS rejects updates mid-transition; look again shortly.
        return Ok(Synced::Managed {
            observed,
            readiness,
            in_sync: false,
        });
    }
    let changes = obj.diff(&observed, refs, &tags);
    if changes.is_empty() {
        return Ok(Synced::Managed {
            observed,
            readiness,
            in_sync: true,
        });
    }

    let described = changes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let spec_changed = obj.meta().generation != obj.status().and_then(|s| s.observed_generation);
    obj.update(&ctx.aws, refs, &observed, changes).await?;
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
        format!("{verb} {described}"),
    )
    .await;

    let observed = observed_after_write(obj, ctx, refs).await?;
    let readiness = K::readiness(&observed);
    // Some changes take several steps (AWS accepts one at a time); the next pass continues.
    let in_sync = readiness == Readiness::Ready && obj.diff(&observed, refs, &tags).is_empty();
    Ok(Synced::Managed {
        observed,
        readiness,
        in_sync,
    })
}

async fn observed_after_write<K: AwsResource>(
    obj: &K,
    ctx: &Context<K>,
    refs: &Resolved,
) -> Result<K::Observed, Error> {
    obj.observe(&ctx.aws, refs).await?.ok_or_else(|| {
        Error::Pending(format!(
            "{} {:?} is not visible yet after a write",
            K::SERVICE,
            obj.aws_name()
        ))
    })
}

async fn cleanup<K: AwsResource>(obj: &K, ctx: &Context<K>, api: &Api<K>) -> Result<Action, Error> {
    let name = obj.aws_name();
    // The outputs go whatever the policy: they describe this object, which is going. Another
    // kind's keys in the same ConfigMap stay.
    let cm_api: Api<ConfigMap> =
        Api::namespaced(ctx.kube.clone(), &obj.namespace().unwrap_or_default());
    outputs::withdraw(&cm_api, obj).await?;
    let policy = match policy::resource_deletion_policy(obj) {
        Some(p) => policy::deletion_policy(Some(p), None, ctx.settings.deletion_policy),
        None => {
            let ns = Api::<Namespace>::all(ctx.kube.clone())
                .get_opt(&obj.namespace().unwrap_or_default())
                .await?;
            let ns_policy = ns
                .as_ref()
                .and_then(|n| n.annotations().get(policy::DELETION_POLICY))
                .map(String::as_str);
            policy::deletion_policy(None, ns_policy, ctx.settings.deletion_policy)
        }
    };
    // Deletion never waits on references: a topic deleted first must not block its subscription.
    let no_refs = Resolved::default();
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

    let Some(observed) = obj.observe(&ctx.aws, &no_refs).await? else {
        obj.delete_leftovers(&ctx.aws).await?;
        return Ok(Action::await_change());
    };
    if ownership::owner_of(K::tags(&observed), &obj.uid().unwrap_or_default()) != Owner::Us {
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
        if let Err(e) = obj.delete(&ctx.aws, &observed).await {
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
    match obj.observe(&ctx.aws, &no_refs).await? {
        None => Ok(Action::await_change()),
        Some(_) => Err(Error::Pending(format!(
            "waiting for AWS to delete {} {name:?}",
            K::SERVICE
        ))),
    }
}

fn previous_status<K: AwsResource>(obj: &K) -> ResourceStatus<K::StatusFields> {
    obj.status().cloned().unwrap_or_default()
}

fn managed_status<K: AwsResource>(
    obj: &K,
    observed: &K::Observed,
    readiness: &Readiness,
    in_sync: bool,
    output: BTreeMap<String, String>,
) -> ResourceStatus<K::StatusFields> {
    let synced = match readiness {
        Readiness::Unusable { reason, message } => {
            Condition::new(SYNCED, false, reason, message.clone())
        }
        _ if in_sync => Condition::new(SYNCED, true, "Synced", "AWS matches the spec"),
        _ => Condition::new(
            SYNCED,
            false,
            "Updating",
            "Waiting for AWS to finish applying the spec",
        ),
    };
    ResourceStatus {
        conditions: vec![ready_condition::<K>(readiness), synced],
        observed_generation: obj.meta().generation,
        arn: K::arn(observed),
        output,
        create_pending: None,
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
async fn report_error<K: AwsResource>(
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
async fn write_status<K: AwsResource>(
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

async fn publish<K: AwsResource>(
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
