//! The reconcile loop every kind shares: finalizer, observe → create → adopt → diff → update,
//! status, Events, outputs, requeue; and on delete, the deletion policy.
//!
//! `mod.rs` wires the watches and the controller; [`sync`] is one pass over one resource;
//! [`report`] turns what it found into status, conditions and Events.

mod place;
mod report;
mod sync;

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::{StreamExt, TryStreamExt, future};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::{
    Api, Resource, ResourceExt,
    runtime::{
        Controller,
        controller::{self, Action},
        events::{Recorder, Reporter},
        finalizer::{self, finalizer},
        reflector::{self, reflector},
        watcher,
    },
};
use tracing::{Instrument, info, info_span, warn};

use crate::{
    MANAGER,
    aws::AwsPlacements,
    conditions,
    errors::AwsError,
    gate::Gate,
    kube_client::watched,
    metrics::Metrics,
    namespaces::Namespaces,
    outputs,
    placement::Placement,
    policy::{self, DeletionPolicy},
    references::{self, RefObject},
    resource::AwsResource,
    resync::{self, LastReconciled},
    server, triggers,
    write_loop::{LoopBreaker, LoopLimit},
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
    pub allow_cross_namespace_references: bool,
    pub reconcile_timeout: Duration,
    pub update_loop: LoopLimit,
}

/// The Kubernetes clients a controller uses: its watches poll long, every other call is bounded.
#[derive(Clone)]
pub struct Clients {
    pub watches: kube::Client,
    pub calls: kube::Client,
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
    /// A deletion that cannot reach the account or region the resource lives in.
    #[error("{0}")]
    Misplaced(String),
    /// Not a failure: a paused resource's deletion waits (the finalizer stays) until the
    /// annotation is removed, which wakes it.
    #[error("{0}")]
    Paused(String),
    /// The reconcile took longer than `--reconcile-timeout` and was abandoned.
    #[error("reconcile took longer than {0:?}; abandoned, to be retried")]
    Timeout(Duration),
}

impl Error {
    pub fn metric_label(&self) -> String {
        match self {
            Error::Aws(e) => e.code().to_owned(),
            Error::Kube(_) => "Kubernetes".into(),
            Error::Finalizer(_) => "Finalizer".into(),
            Error::Pending(_) | Error::Unlisted(_) => "Pending".into(),
            Error::Misplaced(_) => "Misplaced".into(),
            Error::Timeout(_) => "Timeout".into(),
            Error::Paused(_) => "Paused".into(),
        }
    }
}

struct Context<K: AwsResource> {
    kube: kube::Client,
    aws: AwsPlacements,
    /// The kind's client per placement, made on first use.
    clients: Mutex<HashMap<Placement, K::Client>>,
    namespaces: Namespaces,
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
    last_reconciled: LastReconciled,
    gate: Gate<K>,
    /// What the cache keeps of each resource's conditions (the cached objects have none).
    conditions: conditions::Memo,
    /// Changes written that AWS did not keep, per resource.
    loops: LoopBreaker,
}

impl<K: AwsResource> Context<K> {
    async fn client(&self, placement: &Placement) -> K::Client {
        if let Some(client) = self.clients.lock().expect("poisoned").get(placement) {
            return client.clone();
        }
        let client = K::client(&self.aws.clients(placement).await);
        self.clients
            .lock()
            .expect("poisoned")
            .entry(placement.clone())
            .or_insert(client)
            .clone()
    }
}

/// Runs the controller for kind `K` until a termination signal.
pub async fn run<K: AwsResource>(
    clients: Clients,
    aws: &AwsPlacements,
    namespaces: Namespaces,
    settings: Settings,
    metrics: Metrics,
    ready: server::Health,
) {
    let kind = K::kind(&()).into_owned();
    let kube = clients.watches;
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
    let (gate, admitted) = Gate::new(usize::from(settings.concurrency) * GATE_PER_WORKER);
    let trigger = reflector(
        writer,
        watched(
            resources,
            watcher::Config::default().any_semantic(),
            &ready,
            &kind,
        )
        .map_ok({
            let (memo, gate) = (memo.clone(), gate.clone());
            move |event| cache_view(event, &memo, &gate)
        }),
    );
    // Changes go through the gate. No watch error reaches the controller, from any of its
    // streams: each watch backs off on its own and counts in the health check, while the
    // controller's own trigger backoff would pause every stream at once, for up to 30 s per
    // error, so that watches back from an API server outage stayed unpolled past the
    // liveness deadline.
    let trigger = triggers::changed(trigger, worth_reconciling::<K>).filter_map({
        let gate = gate.clone();
        move |change| {
            if let Ok(obj) = change {
                gate.admit(&obj);
            }
            future::ready(None::<Result<K, watcher::Error>>)
        }
    });
    // Every resource resyncs a period after its last reconcile.
    let last_reconciled = LastReconciled::default();
    let resync = resync::resync(reader.clone(), last_reconciled.clone(), RESYNC_TICK, {
        let settings = settings.clone();
        move |obj: &K| resync_period(obj, &settings)
    });

    // Only our own ConfigMaps are watched, and only their fingerprints kept. Only a deleted one
    // wakes its owner (to re-create it): our own writes must not cost a second reconcile, and
    // other edits are undone at resync.
    let cm_fingerprints = outputs::Fingerprints::of::<K>();
    let selector = outputs::kind_label::<K>();
    let cm_trigger = watched(
        config_maps,
        watcher::Config::default().labels(&selector),
        &ready,
        &format!("{kind} outputs ConfigMap"),
    )
    .inspect({
        let fingerprints = cm_fingerprints.clone();
        move |event| {
            if let Ok(event) = event {
                fingerprints.observe(event);
            }
        }
    })
    .filter_map(|event| {
        future::ready(match event {
            Ok(watcher::Event::Delete(cm)) => Some(Ok(cm)),
            _ => None,
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
        let stream = watched(
            api,
            watcher::Config::default().any_semantic(),
            &ready,
            &format!("{kind} -> {}", ref_kind.kind),
        );
        ref_triggers.push((*ref_kind, ar, references::changes(stream, index.clone())));
        ref_indexes.insert(ref_kind.kind, index);
    }

    let reporter = Reporter {
        controller: MANAGER.into(),
        instance: std::env::var("POD_NAME").ok(),
    };
    let ctx = Arc::new(Context::<K> {
        aws: aws.clone(),
        clients: Mutex::default(),
        namespaces,
        kube: clients.calls.clone(),
        recorder: Recorder::new(clients.calls, reporter.clone()),
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
        loops: LoopBreaker::default(),
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

/// What the watch cache keeps of an object: no managed fields, resource version or last-applied
/// copy, and its conditions only as a digest and transition times in `memo`.
/// A deleted object also leaves the gate.
pub fn cache_view<K: AwsResource>(
    mut event: watcher::Event<K>,
    memo: &conditions::Memo,
    gate: &Gate<K>,
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
        let deadline = ctx.settings.reconcile_timeout;
        let result = tokio::time::timeout(
            deadline,
            finalizer(&api, FINALIZER, obj.clone(), |event| async {
                match event {
                    finalizer::Event::Apply(obj) => sync::apply(&*obj, &ctx, &api).await,
                    finalizer::Event::Cleanup(obj) => sync::cleanup(&*obj, &ctx, &api).await,
                }
            }),
        )
        .await;
        // Abandoned at the deadline, a reconcile leaves at most a create intent in status,
        // which the next one resolves.
        let result = match result {
            Ok(Ok(action)) => Ok(action),
            Ok(Err(finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e))) => {
                Err(e)
            }
            Ok(Err(e)) => Err(Error::Finalizer(e.to_string())),
            Err(_) => Err(Error::Timeout(deadline)),
        };
        if result.is_ok() && obj.meta().deletion_timestamp.is_some() {
            ctx.dependents.forget(&obj);
            ctx.last_reconciled.forget(&*obj);
            ctx.loops.forget(&obj.uid().unwrap_or_default());
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
        Error::Paused(_) => Action::await_change(),
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
