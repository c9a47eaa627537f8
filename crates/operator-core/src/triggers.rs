//! What wakes a reconcile besides references, outputs and the resync clock: a change worth
//! reconciling. It keeps 16 bytes per object where kube-runtime's predicate cache (keyed by
//! name, namespace and uid strings) took about 0.4 KB. And the hashed identities the other
//! hashed indexes share.

use std::{
    collections::HashMap,
    hash::{Hash, Hasher},
};

use futures::{Stream, StreamExt, future};
use kube::{Resource, runtime::watcher};

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

/// Objects for the tests of the modules that key by identity.
#[cfg(test)]
pub(crate) mod test_objects {
    use k8s_openapi::api::core::v1::ConfigMap;

    /// A ConfigMap with this name, uid and resource version.
    pub fn cm(name: &str, uid: &str, generation: &str) -> ConfigMap {
        let mut cm = ConfigMap::default();
        cm.metadata.name = Some(name.into());
        cm.metadata.uid = Some(uid.into());
        cm.metadata.resource_version = Some(generation.into());
        cm
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use futures::stream;
    use k8s_openapi::api::core::v1::ConfigMap;

    use super::test_objects::cm;

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
}
