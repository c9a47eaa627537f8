//! What wakes a reconcile besides references and outputs: a change worth reconciling, and the
//! resync clock. Both keep a few bytes per object instead of kube-runtime's per-object entries
//! (a predicate cache keyed by name, namespace and uid strings, and a scheduled requeue per
//! object), which at 50,000 resources were about 0.9 KB each.

use std::{
    collections::HashMap,
    hash::{Hash, Hasher},
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use futures::{Stream, StreamExt, future, stream};
use kube::{
    Resource,
    runtime::{
        reflector::{ObjectRef, Store},
        watcher,
    },
};

/// How often the resync clock looks for resources that are due.
const TICK: Duration = Duration::from_secs(1);

fn hash_of(value: impl Hash) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    value.hash(&mut h);
    h.finish()
}

/// The identity of an object, hashed: a uid is new when an object of the same name is re-created.
fn identity<K: Resource>(obj: &K) -> u64 {
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
        let pass = |obj: K, into: &mut HashMap<u64, u64>, before: Option<u64>| {
            let value = property(&obj);
            into.insert(identity(&obj), value);
            (before != Some(value)).then_some(obj)
        };
        future::ready(match event {
            Err(e) => Some(Err(e)),
            Ok(watcher::Event::Apply(obj)) => {
                let before = seen.get(&identity(&obj)).copied();
                pass(obj, &mut seen, before).map(Ok)
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
                let before = seen.get(&identity(&obj)).copied();
                let into = relisted.get_or_insert_with(HashMap::new);
                pass(obj, into, before).map(Ok)
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

/// Whether a resource with this phase and period falls due in the interval `(before, now]`
/// (milliseconds since the epoch). Each resource resyncs at a fixed phase of its period, so
/// resources created together still resync spread over the period.
pub fn due(phase: u64, period: Duration, before: u64, now: u64) -> bool {
    let period = (period.as_millis() as u64).max(1);
    let phase = phase % period;
    let slot = |t: u64| t.saturating_sub(phase) / period;
    now > before && now >= phase && slot(now) != slot(before)
}

/// Emits each cached resource once per its resync period, at a phase given by its identity.
/// No state per resource: it scans the cache once per tick. Monotonic, so a clock step neither
/// skips nor repeats a pass.
pub fn resync<K>(
    store: Store<K>,
    period_of: impl Fn(&K) -> Duration + Send + Sync + 'static,
) -> impl Stream<Item = ObjectRef<K>> + Send
where
    K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    let epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let started = Instant::now();
    let clock = move || epoch + started.elapsed().as_millis() as u64;
    let period_of = Arc::new(period_of);
    stream::unfold(clock(), move |before| {
        let (store, period_of) = (store.clone(), period_of.clone());
        async move {
            tokio::time::sleep(TICK).await;
            let now = clock();
            let due_now: Vec<ObjectRef<K>> = store
                .state()
                .iter()
                .filter(|obj| due(identity(obj.as_ref()), period_of(obj), before, now))
                .map(|obj| ObjectRef::from_obj(obj.as_ref()))
                .collect();
            Some((due_now, now))
        }
    })
    .flat_map(stream::iter)
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
            Apply(cm("a", "1", "v1")),         // unchanged: dropped
            Apply(cm("a", "1", "v2")),         // changed
            Delete(cm("a", "1", "v2")),        // forgotten
            Apply(cm("a", "2", "v2")),         // re-created under the same name: new uid
            Init,                              // relist: "a" unchanged, "b" new
            InitApply(cm("a", "2", "v2")),
            InitApply(cm("b", "3", "v1")),
            InitDone,
            Apply(cm("b", "3", "v1")),
        ];
        let passed: Vec<(String, String)> = changed(stream::iter(events.into_iter().map(Ok)), version)
            .map(|r| {
                let cm = r.unwrap();
                (cm.metadata.name.unwrap(), cm.metadata.resource_version.unwrap())
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
    async fn the_resync_clock_emits_each_cached_resource() {
        let (reader, mut writer) = kube::runtime::reflector::store::<ConfigMap>();
        for i in 0..50 {
            writer.apply_watcher_event(&watcher::Event::Apply(cm(&format!("cm{i}"), &i.to_string(), "v1")));
        }
        // A 2 s period with 1 s ticks: within 3 s every resource comes due at least once.
        let emitted: std::collections::HashSet<String> =
            resync(reader, |_: &ConfigMap| Duration::from_secs(2))
                .take_until(tokio::time::sleep(Duration::from_millis(3100)))
                .map(|r| r.name)
                .collect()
                .await;
        assert_eq!(emitted.len(), 50);
    }

    #[test]
    fn each_resource_is_due_once_per_period() {
        let period = Duration::from_secs(60);
        let start = 1_700_000_000_000u64;
        for phase in [0u64, 1, 59_999, 123_456_789] {
            let mut count = 0;
            let mut before = start;
            for step in 1..=600 {
                let now = start + step * 1000;
                count += due(phase, period, before, now) as u32;
                before = now;
            }
            assert_eq!(count, 10, "phase {phase}: ten minutes hold ten periods");
        }
    }

    #[test]
    fn phases_spread_resources_over_the_period() {
        let period = Duration::from_secs(60);
        let start = 1_700_000_000_000u64;
        // Within one tick, only resources whose phase falls in that second are due.
        let due_in_first_second = (0..60_000u64)
            .step_by(1000)
            .filter(|phase| due(*phase, period, start, start + 1000))
            .count();
        assert_eq!(due_in_first_second, 1);
        assert!(!due(5, period, start, start), "an empty interval holds nothing");
    }
}
