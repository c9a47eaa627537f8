//! What wakes a reconcile besides references and outputs: a change worth reconciling, and the
//! resync clock. Both keep 16 bytes per object where kube-runtime's predicate cache (keyed by
//! name, namespace and uid strings) and a scheduled requeue per object took about 0.9 KB. And
//! the gate that holds a burst of changes back from kube-runtime's scheduler.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    hash::{Hash, Hasher},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures::{Stream, StreamExt, channel::mpsc, future, stream};
use kube::{
    Resource,
    runtime::{
        reflector::{ObjectRef, Store},
        watcher,
    },
};

/// A 64-bit hash for the indexes that key by hash instead of keeping strings.
pub(crate) fn hash_of(value: impl Hash) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    value.hash(&mut h);
    h.finish()
}

/// The identity of an object, hashed: a uid is new when an object of the same name is re-created.
pub(crate) fn identity<K: Resource>(obj: &K) -> u64 {
    let meta = obj.meta();
    hash_of((&meta.namespace, &meta.name, &meta.uid))
}

/// Passes on applied objects whose `property` changed since the object was last seen (and every
/// object the first time), so our own status writes do not cost a reconcile. Forgets deleted
/// objects, and on a relist keeps only the objects the relist returned.
pub fn changed<K, S>(
    events: S,
    property: impl Fn(&K) -> u64 + Send + 'static,
) -> impl Stream<Item = Result<K, watcher::Error>> + Send
where
    K: Resource + Send + 'static,
    S: Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send,
{
    let mut seen: HashMap<u64, u64> = HashMap::new();
    let mut relisted: Option<HashMap<u64, u64>> = None;
    events.filter_map(move |event| {
        future::ready(match event {
            Err(e) => Some(Err(e)),
            Ok(watcher::Event::Apply(obj)) => {
                let (id, value) = (identity(&obj), property(&obj));
                (seen.insert(id, value) != Some(value)).then_some(Ok(obj))
            }
            Ok(watcher::Event::Delete(obj)) => {
                seen.remove(&identity(&obj));
                None
            }
            Ok(watcher::Event::Init) => {
                relisted = Some(HashMap::with_capacity(seen.len()));
                None
            }
            Ok(watcher::Event::InitApply(obj)) => {
                let (id, value) = (identity(&obj), property(&obj));
                let relisted = relisted.get_or_insert_with(HashMap::new);
                relisted.insert(id, value);
                (seen.get(&id) != Some(&value)).then_some(Ok(obj))
            }
            Ok(watcher::Event::InitDone) => {
                if let Some(mut fresh) = relisted.take() {
                    fresh.shrink_to_fit();
                    seen = fresh;
                }
                None
            }
        })
    })
}

/// When each resource was last reconciled, in tenths of a second on the operator's monotonic
/// clock, keyed by its hashed identity: 16 bytes a resource. Drives the resync clock.
#[derive(Clone)]
pub struct LastReconciled {
    at: Arc<Mutex<HashMap<u64, u32>>>,
    started: Instant,
}

impl Default for LastReconciled {
    fn default() -> Self {
        Self {
            at: Arc::default(),
            started: Instant::now(),
        }
    }
}

impl LastReconciled {
    fn now(&self) -> u32 {
        (self.started.elapsed().as_millis() / 100) as u32
    }

    /// A reconcile of `obj` just ended.
    pub fn touch<K: Resource>(&self, obj: &K) {
        let now = self.now();
        self.at.lock().expect("poisoned").insert(identity(obj), now);
    }

    /// `obj` is gone (its finalizer was removed).
    pub fn forget<K: Resource>(&self, obj: &K) {
        self.at.lock().expect("poisoned").remove(&identity(obj));
    }
}

/// Whether a resource last reconciled at `last` is due at `now` (tenths of a second): once its period,
/// stretched by -10 %..+10 % according to its identity so that resources reconciled together
/// do not resync together, has passed.
pub fn due(identity: u64, period: Duration, last: u32, now: u32) -> bool {
    let spread = 0.9 + 0.2 * (identity % 1000) as f64 / 1000.0;
    let period = (period.as_secs_f64() * spread * 10.0).max(1.0);
    f64::from(now.saturating_sub(last)) >= period
}

/// Emits each cached resource once its resync period has passed since it was last reconciled.
/// It scans the cache once per tick (one hash and one lookup per resource) instead of holding
/// a scheduled requeue per resource. A tick is a twentieth of the shortest period in the cache,
/// from 0.1 s to `max_tick`, so a short per-resource period is kept as well as a long default.
pub fn resync<K>(
    store: Store<K>,
    last: LastReconciled,
    max_tick: Duration,
    period_of: impl Fn(&K) -> Duration + Send + Sync + 'static,
) -> impl Stream<Item = ObjectRef<K>> + Send
where
    K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    let period_of = Arc::new(period_of);
    let min_tick = max_tick.min(Duration::from_millis(100));
    // The first scan comes soon: the cache may hold resources with short periods.
    let first = max_tick.min(Duration::from_secs(1));
    stream::unfold((0u64, first), move |(ticks, tick)| {
        let (store, last, period_of) = (store.clone(), last.clone(), period_of.clone());
        async move {
            tokio::time::sleep(tick).await;
            let now = last.now();
            let objects = store.state();
            let mut at = last.at.lock().expect("poisoned");
            let mut due_now = Vec::new();
            let mut next_tick = max_tick;
            for obj in &objects {
                let id = identity(obj.as_ref());
                let period = period_of(obj);
                next_tick = next_tick.min(period / 20);
                if let Some(t) = at.get_mut(&id)
                    && due(id, period, *t, now)
                {
                    // Counted from now until the reconcile ends, so a long queue does not
                    // emit it twice.
                    *t = now;
                    due_now.push(ObjectRef::from_obj(obj.as_ref()));
                }
            }
            // Now and then, forget resources that left the cache without a cleanup (deleted
            // while the operator was down, or by someone removing the finalizer).
            if ticks % 100 == 99 {
                let cached: std::collections::HashSet<u64> =
                    objects.iter().map(|o| identity(o.as_ref())).collect();
                at.retain(|id, _| cached.contains(id));
            }
            drop(at);
            Some((due_now, (ticks + 1, next_tick.max(min_tick))))
        }
    })
    .flat_map(stream::iter)
}

/// Hands the controller at most `limit` resources at a time and keeps the rest waiting here, in
/// order, as a name each (about 240 bytes) rather than as entries of kube-runtime's scheduler
/// (about 750 bytes; `just bench-memory`): applying 50,000 resources at once, or restarting with
/// them, does not queue 50,000 scheduler entries. A resource already handed over passes at once (the controller runs
/// it again after its current reconcile).
pub struct Gate<K: Resource<DynamicType = ()>> {
    state: Arc<Mutex<GateState<K>>>,
    ready: mpsc::UnboundedSender<ObjectRef<K>>,
}

impl<K: Resource<DynamicType = ()>> Clone for Gate<K> {
    fn clone(&self) -> Self {
        Self {
            state: self.state.clone(),
            ready: self.ready.clone(),
        }
    }
}

struct GateState<K: Resource<DynamicType = ()>> {
    limit: usize,
    /// Handed over and not reconciled yet, with when.
    handed: HashMap<u64, Instant>,
    waiting: VecDeque<(u64, ObjectRef<K>)>,
    /// The identities in `waiting` that still wait (a deleted one is skipped when its turn comes).
    waiting_ids: HashSet<u64>,
}

/// A resource handed over this long ago no longer counts against the limit: it was reconciled
/// without `done` (or never will be), and the gate must not close for good.
const HANDED_EXPIRY: Duration = Duration::from_secs(300);

impl<K: Resource<DynamicType = ()>> Gate<K> {
    /// The gate, and the stream of resources to reconcile that it lets through.
    pub fn new(limit: usize) -> (Self, impl Stream<Item = ObjectRef<K>> + Send + use<K>)
    where
        K: 'static,
    {
        let (ready, through) = mpsc::unbounded();
        let gate = Self {
            state: Arc::new(Mutex::new(GateState {
                limit: limit.max(1),
                handed: HashMap::new(),
                waiting: VecDeque::new(),
                waiting_ids: HashSet::new(),
            })),
            ready,
        };
        (gate, through)
    }

    /// `obj` changed in a way worth reconciling.
    pub fn admit(&self, obj: &K) {
        let id = identity(obj);
        let mut state = self.state.lock().expect("poisoned");
        if state.handed.contains_key(&id) {
            self.hand(&mut state, id, obj_ref(obj));
        } else if !state.waiting_ids.contains(&id) {
            if state.handed.len() >= state.limit {
                // No reconcile may end for a while (all hung): expired hand-overs must not block.
                state.handed.retain(|_, at| at.elapsed() < HANDED_EXPIRY);
            }
            if state.handed.len() < state.limit {
                self.hand(&mut state, id, obj_ref(obj));
            } else {
                state.waiting_ids.insert(id);
                state.waiting.push_back((id, obj_ref(obj)));
            }
        }
    }

    /// A reconcile of `obj` ended: the next waiting resource may go.
    pub fn done(&self, obj: &K) {
        self.release(identity(obj));
    }

    /// `obj` left the cache: it neither waits nor counts any longer.
    pub fn forget(&self, obj: &K) {
        let id = identity(obj);
        self.state.lock().expect("poisoned").waiting_ids.remove(&id);
        self.release(id);
    }

    fn release(&self, id: u64) {
        let mut state = self.state.lock().expect("poisoned");
        state.handed.remove(&id);
        if state.handed.len() >= state.limit {
            state.handed.retain(|_, at| at.elapsed() < HANDED_EXPIRY);
        }
        while state.handed.len() < state.limit {
            let Some((id, obj_ref)) = state.waiting.pop_front() else {
                break;
            };
            if state.waiting_ids.remove(&id) {
                self.hand(&mut state, id, obj_ref);
            }
        }
        if state.waiting.is_empty() && state.waiting.capacity() > 1024 {
            state.waiting.shrink_to_fit();
            state.waiting_ids.shrink_to_fit();
        }
    }

    fn hand(&self, state: &mut GateState<K>, id: u64, obj_ref: ObjectRef<K>) {
        state.handed.insert(id, Instant::now());
        // The receiver lives as long as the controller; after that nothing needs the resource.
        let _ = self.ready.unbounded_send(obj_ref);
    }
}

/// The resource's name and namespace; no uid or resource version, which the controller's
/// lookup ignores.
fn obj_ref<K: Resource<DynamicType = ()>>(obj: &K) -> ObjectRef<K> {
    let meta = obj.meta();
    let obj_ref = ObjectRef::new(meta.name.as_deref().unwrap_or_default());
    match meta.namespace.as_deref() {
        Some(ns) => obj_ref.within(ns),
        None => obj_ref,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use k8s_openapi::api::core::v1::ConfigMap;

    fn cm(name: &str, uid: &str, generation: &str) -> ConfigMap {
        let mut cm = ConfigMap::default();
        cm.metadata.name = Some(name.into());
        cm.metadata.uid = Some(uid.into());
        cm.metadata.resource_version = Some(generation.into());
        cm
    }

    fn version(cm: &ConfigMap) -> u64 {
        hash_of(&cm.metadata.resource_version)
    }

    #[tokio::test]
    async fn passes_first_sightings_and_changes_only() {
        use watcher::Event::*;
        let events = vec![
            Init,
            InitApply(cm("a", "1", "v1")),
            InitDone,
            Apply(cm("a", "1", "v1")),  // unchanged: dropped
            Apply(cm("a", "1", "v2")),  // changed
            Delete(cm("a", "1", "v2")), // forgotten
            Apply(cm("a", "2", "v2")),  // re-created under the same name: new uid
            Init,                       // relist: "a" unchanged, "b" new
            InitApply(cm("a", "2", "v2")),
            InitApply(cm("b", "3", "v1")),
            InitDone,
            Apply(cm("b", "3", "v1")),
        ];
        let passed: Vec<(String, String)> =
            changed(stream::iter(events.into_iter().map(Ok)), version)
                .map(|r| {
                    let cm = r.unwrap();
                    (
                        cm.metadata.name.unwrap(),
                        cm.metadata.resource_version.unwrap(),
                    )
                })
                .collect()
                .await;
        let expect = [("a", "v1"), ("a", "v2"), ("a", "v2"), ("b", "v1")];
        assert_eq!(
            passed,
            expect.map(|(n, v)| (n.to_string(), v.to_string())).to_vec()
        );
    }

    #[tokio::test]
    async fn a_relist_forgets_what_it_no_longer_returns() {
        use watcher::Event::*;
        let events = vec![
            Apply(cm("gone", "1", "v1")),
            Init,
            InitDone,
            // The relist no longer returned it, so it counts as new when seen again.
            Apply(cm("gone", "1", "v1")),
        ];
        let passed = changed(stream::iter(events.into_iter().map(Ok)), version)
            .count()
            .await;
        assert_eq!(passed, 2);
    }

    #[tokio::test]
    async fn the_resync_clock_emits_resources_a_period_after_their_last_reconcile() {
        let (reader, mut writer) = kube::runtime::reflector::store::<ConfigMap>();
        let last = LastReconciled::default();
        for i in 0..50 {
            let cm = cm(&format!("cm{i}"), &i.to_string(), "v1");
            writer.apply_watcher_event(&watcher::Event::Apply(cm.clone()));
            // Ten were never reconciled (their first reconcile is the watch's to trigger).
            if i >= 10 {
                last.touch(&cm);
            }
        }
        // A 1 s period and 200 ms ticks: within 1.5 s each reconciled resource comes due
        // exactly once, since its emission counts as a reconcile until one ends.
        let emitted: Vec<String> = resync(
            reader,
            last.clone(),
            Duration::from_millis(200),
            |_: &ConfigMap| Duration::from_secs(1),
        )
        .take_until(tokio::time::sleep(Duration::from_millis(1500)))
        .map(|r| r.name)
        .collect()
        .await;
        let distinct: std::collections::HashSet<&String> = emitted.iter().collect();
        assert_eq!(distinct.len(), 40, "{emitted:?}");
        assert_eq!(emitted.len(), 40, "none twice: {emitted:?}");
        assert!(!emitted.contains(&"cm0".to_string()));
        last.forget(&cm("cm20", "20", "v1"));
        assert_eq!(last.at.lock().unwrap().len(), 39);
    }

    #[test]
    fn due_after_the_period_spread_by_identity() {
        let period = Duration::from_secs(600);
        assert!(!due(0, period, 100, 100 + 5399));
        assert!(due(0, period, 100, 100 + 5400), "identity 0: -10 %");
        assert!(!due(999, period, 100, 100 + 6598));
        assert!(due(999, period, 100, 100 + 6599), "identity 999: +10 %");
        let spread: std::collections::HashSet<bool> =
            (0..1000u64).map(|id| due(id, period, 0, 6000)).collect();
        assert_eq!(spread.len(), 2, "some are due at the period, some not yet");
    }

    #[tokio::test]
    async fn the_gate_hands_over_at_most_its_limit_and_the_rest_in_order() {
        let (gate, through) = Gate::<ConfigMap>::new(2);
        let (a, b, c, d) = (
            cm("a", "1", "v"),
            cm("b", "2", "v"),
            cm("c", "3", "v"),
            cm("d", "4", "v"),
        );
        for obj in [&a, &b, &c, &d, &c] {
            gate.admit(obj);
        }
        gate.admit(&a); // handed over already: passes again
        gate.forget(&d); // deleted while waiting: never handed over
        gate.done(&a);
        gate.done(&b);
        drop(gate);
        let names: Vec<String> = through.map(|r| r.name).collect().await;
        assert_eq!(names, ["a", "b", "a", "c"]);
    }

    #[tokio::test]
    async fn a_forgotten_handed_resource_frees_its_place() {
        let (gate, through) = Gate::<ConfigMap>::new(1);
        let (a, b) = (cm("a", "1", "v"), cm("b", "2", "v"));
        gate.admit(&a);
        gate.admit(&b);
        gate.forget(&a); // deleted before its reconcile: the controller never runs it
        drop(gate);
        let names: Vec<String> = through.map(|r| r.name).collect().await;
        assert_eq!(names, ["a", "b"]);
    }
}
