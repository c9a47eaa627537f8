//! References between this operator's resources (a subscription to a topic by name, a queue to
//! its dead-letter queue), in the referring resource's namespace or, when the operator allows
//! it, another (`namespace/name`): resolved from the watch cache, never by an API round-trip,
//! and a resource waiting on one is woken when it changes.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
};

use futures::{Stream, StreamExt, stream};
use kube::{
    api::ApiResource,
    core::{NotUsed, Object},
    runtime::reflector::ObjectRef,
    runtime::watcher,
};
use serde::{Deserialize, Serialize};

use crate::{GROUP, listed::Listed};

/// A kind that resources can refer to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RefKind {
    pub kind: &'static str,
    pub plural: &'static str,
}

impl RefKind {
    pub fn api_resource(&self) -> ApiResource {
        ApiResource {
            group: GROUP.into(),
            version: "v1alpha1".into(),
            api_version: format!("{GROUP}/v1alpha1"),
            kind: self.kind.into(),
            plural: self.plural.into(),
        }
    }
}

/// One resource referred to by name, in the referring resource's namespace, or by
/// `namespace/name` in another.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    pub kind: &'static str,
    pub name: String,
}

impl Reference {
    pub fn new(kind: &RefKind, name: impl Into<String>) -> Self {
        Self {
            kind: kind.kind,
            name: name.into(),
        }
    }

    /// The namespace and name of the target, for a reference made from `namespace`.
    pub fn target<'a>(&'a self, namespace: &'a str) -> (&'a str, &'a str) {
        self.name.split_once('/').unwrap_or((namespace, &self.name))
    }
}

/// A referenced resource as its dependents' watch reads it: metadata and the part of its status
/// references use (readiness and ARN); its spec is skipped.
pub type RefObject = Object<NotUsed, RefStatus>;

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
pub struct RefStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    #[serde(default)]
    pub conditions: Vec<RefCondition>,
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq)]
pub struct RefCondition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What a Ready referenced resource reports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Target {
    pub arn: String,
}

/// The references of one resource, resolved.
#[derive(Debug, Clone, Default)]
pub struct Resolved(BTreeMap<Reference, Target>);

impl Resolved {
    pub fn get(&self, kind: &RefKind, name: &str) -> Option<&Target> {
        self.0.get(&Reference::new(kind, name))
    }
    /// The ARN of a referenced resource; empty when it was not resolved (e.g. during deletion).
    pub fn arn(&self, kind: &RefKind, name: &str) -> Option<&str> {
        self.get(kind, name).map(|t| t.arn.as_str())
    }
    pub fn insert(&mut self, reference: Reference, target: Target) {
        self.0.insert(reference, target);
    }
}

/// Why a reference cannot be used yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unresolved {
    pub reason: &'static str,
    pub message: String,
}

/// What resolution needs of every object of one referenced kind, kept from its watch: the
/// target when it is Ready, else why not. About 160 bytes an object, where caching the object
/// costs a kilobyte or more.
#[derive(Clone, Default)]
pub struct RefIndex {
    state: Arc<Mutex<IndexState>>,
    pub listed: Listed,
}

/// An object's namespace and name, hashed twice (128 bits): no two objects' keys collide in
/// practice, and none holds a copy of the strings.
type ObjectKey = (u64, u64);

fn object_key(namespace: &str, name: &str) -> ObjectKey {
    use crate::triggers::hash_of;
    (hash_of((namespace, name)), hash_of((name, namespace, 1u8)))
}

#[derive(Default)]
struct IndexState {
    current: HashMap<ObjectKey, Entry>,
    /// Filled during a (re)list, then replaces `current`.
    relisting: Option<HashMap<ObjectKey, Entry>>,
}

#[derive(Clone, PartialEq)]
struct Entry {
    target: Result<Target, String>,
    deleting: bool,
}

impl RefIndex {
    /// Records a watch event; whether the object's dependents should hear of it (its readiness
    /// or ARN changed, or it was deleted).
    pub fn observe(&self, event: &watcher::Event<RefObject>) -> bool {
        let mut state = self.state.lock().expect("poisoned");
        match event {
            watcher::Event::Init => {
                state.relisting = Some(HashMap::new());
                false
            }
            watcher::Event::InitApply(obj) => {
                let (key, entry) = (key(obj), entry(obj));
                let changed = state.current.get(&key) != Some(&entry);
                if let Some(relisting) = state.relisting.as_mut() {
                    relisting.insert(key, entry);
                }
                changed
            }
            watcher::Event::InitDone => {
                if let Some(relisted) = state.relisting.take() {
                    state.current = relisted;
                }
                self.listed.open();
                false
            }
            watcher::Event::Apply(obj) => {
                let entry = entry(obj);
                state.current.insert(key(obj), entry.clone()) != Some(entry)
            }
            watcher::Event::Delete(obj) => {
                state.current.remove(&key(obj));
                true
            }
        }
    }

    fn get(&self, namespace: &str, name: &str) -> Option<Result<Target, String>> {
        let state = self.state.lock().expect("poisoned");
        state
            .current
            .get(&object_key(namespace, name))
            .map(|e| e.target.clone())
    }
}

fn key(obj: &RefObject) -> ObjectKey {
    object_key(
        obj.metadata.namespace.as_deref().unwrap_or_default(),
        obj.metadata.name.as_deref().unwrap_or_default(),
    )
}

fn entry(obj: &RefObject) -> Entry {
    Entry {
        target: ready_target(obj),
        deleting: obj.metadata.deletion_timestamp.is_some(),
    }
}

/// Resolves every reference from the indexes, or says which one is missing or not Ready, or
/// names another namespace when `cross_namespace` is not allowed.
pub fn resolve(
    namespace: &str,
    references: &[Reference],
    indexes: &BTreeMap<&'static str, RefIndex>,
    cross_namespace: bool,
) -> Result<Resolved, Unresolved> {
    let mut resolved = Resolved::default();
    for reference in references {
        let (target_ns, name) = reference.target(namespace);
        if target_ns != namespace && !cross_namespace {
            return Err(Unresolved {
                reason: "CrossNamespaceReference",
                message: format!(
                    "{} {:?} is in another namespace, and references across namespaces are \
                     off (the operator's --allow-cross-namespace-references)",
                    reference.kind, reference.name
                ),
            });
        }
        let Some(index) = indexes.get(reference.kind) else {
            return Err(Unresolved {
                reason: "ReferenceUnsupported",
                message: format!("references to {} are not supported here", reference.kind),
            });
        };
        match index.get(target_ns, name) {
            None => {
                return Err(Unresolved {
                    reason: "ReferenceNotFound",
                    message: format!(
                        "{} {name:?} does not exist in namespace {target_ns}",
                        reference.kind
                    ),
                });
            }
            Some(Err(state)) => {
                return Err(Unresolved {
                    reason: "ReferenceNotReady",
                    message: format!(
                        "{} {:?} is not Ready ({state})",
                        reference.kind, reference.name
                    ),
                });
            }
            Some(Ok(target)) => resolved.insert(reference.clone(), target),
        }
    }
    Ok(resolved)
}

/// The target of a Ready object, or the reason it is not Ready.
fn ready_target(obj: &RefObject) -> Result<Target, String> {
    let Some(status) = &obj.status else {
        return Err("no status yet".into());
    };
    let Some(ready) = status.conditions.iter().find(|c| c.type_ == "Ready") else {
        return Err("no status yet".into());
    };
    if ready.status != "True" {
        return Err(ready.reason.clone().unwrap_or_else(|| "Unknown".into()));
    }
    match status.arn.as_deref() {
        Some(arn) if !arn.is_empty() => Ok(Target {
            arn: arn.to_owned(),
        }),
        _ => Err("no ARN yet".into()),
    }
}

/// A hashed (namespace, kind, name) of a target, or (namespace, name) of a dependent. A collision
/// costs at most a spurious wake-up, like a stale entry.
type Key = u64;

fn hashed(parts: impl std::hash::Hash) -> Key {
    crate::triggers::hash_of(parts)
}

/// Which resources refer to which target, so a target's change wakes exactly its dependents
/// without scanning every resource. Filled as resources are reconciled; a stale entry costs at
/// most one spurious reconcile. About 200 bytes per reference.
pub struct Dependents<K: kube::Resource<DynamicType = ()>> {
    index: std::sync::Mutex<DependentIndex>,
    _kind: std::marker::PhantomData<fn() -> K>,
}

/// A dependent's namespace and name.
type DependentName = (Box<str>, Box<str>);

#[derive(Default)]
struct DependentIndex {
    /// Target -> the resources that refer to it, by namespace and name.
    by_target: HashMap<Key, Vec<DependentName>>,
    /// Dependent -> the targets it referred to when last reconciled.
    by_dependent: HashMap<Key, Box<[Key]>>,
}

impl DependentIndex {
    fn unlink(&mut self, namespace: &str, name: &str, targets: &[Key]) {
        for target in targets {
            if let Some(names) = self.by_target.get_mut(target) {
                names.retain(|(ns, n)| (&**ns, &**n) != (namespace, name));
                if names.is_empty() {
                    self.by_target.remove(target);
                }
            }
        }
    }
}

impl<K: kube::Resource<DynamicType = ()>> Default for Dependents<K> {
    fn default() -> Self {
        Self {
            index: std::sync::Mutex::default(),
            _kind: std::marker::PhantomData,
        }
    }
}

impl<K: kube::Resource<DynamicType = ()>> Dependents<K> {
    pub fn record(&self, obj: &K, references: &[Reference]) {
        let (namespace, name) = namespace_and_name(obj);
        let dependent = hashed((namespace, name));
        let targets: Box<[Key]> = references
            .iter()
            .map(|r| {
                let (target_ns, target) = r.target(namespace);
                hashed((target_ns, r.kind, target))
            })
            .collect();
        let mut index = self.index.lock().expect("poisoned");
        if index.by_dependent.get(&dependent) == Some(&targets) {
            return;
        }
        if let Some(before) = index.by_dependent.remove(&dependent) {
            index.unlink(namespace, name, &before);
        }
        for target in &targets {
            let names = index.by_target.entry(*target).or_default();
            if !names
                .iter()
                .any(|(ns, n)| (&**ns, &**n) == (namespace, name))
            {
                names.push((namespace.into(), name.into()));
            }
        }
        index.by_dependent.insert(dependent, targets);
    }

    pub fn forget(&self, obj: &K) {
        let (namespace, name) = namespace_and_name(obj);
        let mut index = self.index.lock().expect("poisoned");
        if let Some(before) = index.by_dependent.remove(&hashed((namespace, name))) {
            index.unlink(namespace, name, &before);
        }
    }

    pub fn of(&self, namespace: &str, kind: &'static str, name: &str) -> Vec<ObjectRef<K>> {
        let index = self.index.lock().expect("poisoned");
        index
            .by_target
            .get(&hashed((namespace, kind, name)))
            .map(|names| {
                names
                    .iter()
                    .map(|(ns, n)| ObjectRef::new(n).within(ns))
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn namespace_and_name<K: kube::Resource>(obj: &K) -> (&str, &str) {
    let meta = obj.meta();
    (
        meta.namespace.as_deref().unwrap_or_default(),
        meta.name.as_deref().unwrap_or_default(),
    )
}

/// Feeds `index` from a watch of referenced objects and passes on the objects whose dependents
/// should hear of them: readiness or ARN changed, or deleted.
pub fn changes<S>(
    events: S,
    index: RefIndex,
) -> impl Stream<Item = Result<RefObject, watcher::Error>>
where
    S: Stream<Item = Result<watcher::Event<RefObject>, watcher::Error>>,
{
    events.flat_map(move |event| {
        let passed = match event {
            Ok(event) => {
                let changed = index.observe(&event);
                match event {
                    watcher::Event::Apply(obj)
                    | watcher::Event::InitApply(obj)
                    | watcher::Event::Delete(obj)
                        if changed =>
                    {
                        Some(Ok(obj))
                    }
                    _ => None,
                }
            }
            // Counted by the health check; the controller must not back off on it.
            Err(_) => None,
        };
        stream::iter(passed)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use serde_json::json;

    #[test]
    fn dependents_are_found_by_target_and_forgotten() {
        let topic = RefKind {
            kind: "SNSTopic",
            plural: "snstopics",
        };
        let mut sub = ConfigMap::default();
        sub.metadata.name = Some("sub".into());
        sub.metadata.namespace = Some("ns".into());
        let deps = Dependents::<ConfigMap>::default();
        deps.record(&sub, &[Reference::new(&topic, "orders")]);
        assert_eq!(
            deps.of("ns", "SNSTopic", "orders"),
            vec![ObjectRef::from_obj(&sub)]
        );
        assert!(deps.of("other", "SNSTopic", "orders").is_empty());
        // A dependent in another namespace is woken by its target's namespace and name.
        let mut far = sub.clone();
        far.metadata.namespace = Some("far".into());
        deps.record(&far, &[Reference::new(&topic, "ns/orders")]);
        assert!(
            deps.of("ns", "SNSTopic", "orders")
                .contains(&ObjectRef::from_obj(&far))
        );
        deps.forget(&far);
        let mut second = sub.clone();
        second.metadata.name = Some("second".into());
        deps.record(&second, &[Reference::new(&topic, "orders")]);
        deps.record(&second, &[Reference::new(&topic, "orders")]);
        assert_eq!(deps.of("ns", "SNSTopic", "orders").len(), 2);
        // A changed reference moves the dependent from the old target to the new one.
        deps.record(&sub, &[Reference::new(&topic, "payments")]);
        assert_eq!(
            deps.of("ns", "SNSTopic", "orders"),
            vec![ObjectRef::from_obj(&second)]
        );
        assert_eq!(
            deps.of("ns", "SNSTopic", "payments"),
            vec![ObjectRef::from_obj(&sub)]
        );
        deps.forget(&sub);
        deps.forget(&second);
        assert!(deps.of("ns", "SNSTopic", "orders").is_empty());
        assert!(deps.of("ns", "SNSTopic", "payments").is_empty());
        let index = deps.index.lock().unwrap();
        assert!(index.by_target.is_empty() && index.by_dependent.is_empty());
    }

    const TOPIC: RefKind = RefKind {
        kind: "SNSTopic",
        plural: "snstopics",
    };

    fn object(status: serde_json::Value) -> RefObject {
        serde_json::from_value(json!({
            "apiVersion": "service-operator.aws/v1alpha1",
            "kind": "SNSTopic",
            "metadata": {"name": "orders", "namespace": "ns"},
            "spec": {"name": "orders", "tags": {"team": "a"}},
            "status": status,
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn only_readiness_changes_and_deletions_wake_dependents() {
        let ready = object(
            json!({"arn": "arn:x", "conditions": [{"type": "Ready", "status": "True", "reason": "Available"}]}),
        );
        let mut relabelled = ready.clone();
        relabelled.metadata.labels = Some([("a".to_string(), "b".to_string())].into());
        let not_ready = object(
            json!({"arn": "arn:x", "conditions": [{"type": "Ready", "status": "False", "reason": "Updating"}]}),
        );
        let events = futures::stream::iter(vec![
            Ok(watcher::Event::Apply(ready.clone())),
            Ok(watcher::Event::Apply(relabelled)),
            Ok(watcher::Event::Apply(not_ready)),
            Ok(watcher::Event::Delete(ready)),
        ]);
        let passed: Vec<_> = changes(events, RefIndex::default()).collect().await;
        assert_eq!(passed.len(), 3, "{passed:?}");
    }

    #[test]
    fn ready_object_resolves_to_its_arn() {
        let t = ready_target(&object(
            json!({"arn": "arn:x", "conditions": [{"type": "Ready", "status": "True", "reason": "Available"}]}),
        ));
        assert_eq!(t.unwrap().arn, "arn:x");
    }

    #[test]
    fn not_ready_object_gives_its_reason() {
        let t = ready_target(&object(
            json!({"conditions": [{"type": "Ready", "status": "False", "reason": "Creating"}]}),
        ));
        assert_eq!(t.unwrap_err(), "Creating");
        assert_eq!(
            ready_target(&object(json!({}))).unwrap_err(),
            "no status yet"
        );
    }

    #[test]
    fn references_resolve_from_the_index_once_listed() {
        let index = RefIndex::default();
        let indexes = BTreeMap::from([("SNSTopic", index.clone())]);
        let ready = object(
            json!({"arn": "arn:x", "conditions": [{"type": "Ready", "status": "True", "reason": "Available"}]}),
        );
        let topic = |name: &str| {
            [Reference {
                kind: "SNSTopic",
                name: name.into(),
            }]
        };
        assert!(!index.observe(&watcher::Event::Init));
        assert!(index.observe(&watcher::Event::InitApply(ready.clone())));
        assert!(!index.listed.is_done());
        assert!(!index.observe(&watcher::Event::InitDone));
        assert!(index.listed.is_done());

        let resolved = resolve("ns", &topic("orders"), &indexes, false).unwrap();
        assert_eq!(resolved.arn(&TOPIC, "orders"), Some("arn:x"));
        assert_eq!(
            resolve("ns", &topic("other"), &indexes, false)
                .unwrap_err()
                .reason,
            "ReferenceNotFound"
        );
        assert_eq!(
            resolve("elsewhere", &topic("orders"), &indexes, false)
                .unwrap_err()
                .reason,
            "ReferenceNotFound"
        );
        // Another namespace's, by namespace/name, only when allowed.
        assert_eq!(
            resolve("elsewhere", &topic("ns/orders"), &indexes, false)
                .unwrap_err()
                .reason,
            "CrossNamespaceReference"
        );
        let across = resolve("elsewhere", &topic("ns/orders"), &indexes, true).unwrap();
        assert_eq!(across.arn(&TOPIC, "ns/orders"), Some("arn:x"));
        // Naming one's own namespace is no crossing.
        assert!(resolve("ns", &topic("ns/orders"), &indexes, false).is_ok());
        let not_ready = object(
            json!({"arn": "arn:x", "conditions": [{"type": "Ready", "status": "False", "reason": "Updating"}]}),
        );
        assert!(index.observe(&watcher::Event::Apply(not_ready)));
        let err = resolve("ns", &topic("orders"), &indexes, false).unwrap_err();
        assert_eq!(err.reason, "ReferenceNotReady");
        assert!(err.message.contains("Updating"), "{}", err.message);
        assert!(index.observe(&watcher::Event::Delete(ready)));
        assert_eq!(
            resolve("ns", &topic("orders"), &indexes, false)
                .unwrap_err()
                .reason,
            "ReferenceNotFound"
        );
    }
}
