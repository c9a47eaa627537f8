//! The gate between the watch and kube-runtime's scheduler: a burst of changes waits here, in
//! order and small, instead of as scheduler entries.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures::{Stream, channel::mpsc};
use kube::{Resource, runtime::reflector::ObjectRef};

use crate::triggers::identity;

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

/// A resource handed over this long ago no longer counts against the limit. Every reconcile
/// ends (`--reconcile-timeout`) and calls `done`, but a hand-over the controller never runs (the
/// object left its cache first) would otherwise hold a slot for good.
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

    use futures::StreamExt;
    use k8s_openapi::api::core::v1::ConfigMap;

    use crate::triggers::test_objects::cm;

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
