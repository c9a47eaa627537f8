//! The resync clock: each resource is reconciled again a period after its last reconcile, from
//! 16 bytes per resource (its hashed identity and a time) instead of a scheduled requeue of
//! about 530 bytes in kube-runtime's scheduler.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures::{Stream, StreamExt, stream};
use kube::{
    Resource,
    runtime::reflector::{ObjectRef, Store},
};

use crate::triggers::identity;

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

#[cfg(test)]
mod tests {
    use super::*;

    use k8s_openapi::api::core::v1::ConfigMap;

    use crate::triggers::test_objects::cm;
    use kube::runtime::watcher;

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
}
