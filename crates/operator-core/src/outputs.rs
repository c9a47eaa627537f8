//! The outputs ConfigMap: the values an app reads with `envFrom` (ARN, URL, name).

use std::{
    collections::{BTreeMap, HashMap},
    hash::{Hash, Hasher},
    sync::{Arc, Mutex},
};

use k8s_openapi::{
    api::core::v1::{ConfigMap, Service, ServicePort, ServiceSpec},
    apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference},
};
use kube::{
    Api, Resource, ResourceExt,
    api::{Patch, PatchParams},
    runtime::watcher,
};

use crate::{GROUP, MANAGER, listed::Listed, resource::EndpointService};

pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";

/// The label each kind sets on the outputs ConfigMaps it writes to (`sqsqueue.service-operator.aws/outputs`),
/// so each controller watches only those. A ConfigMap may carry several: a topic and a queue
/// both named `orders` share the ConfigMap `orders`.
pub fn kind_label<K: Resource<DynamicType = ()>>() -> String {
    format!("{}.{GROUP}/outputs", K::kind(&()).to_ascii_lowercase())
}

/// Each kind writes its keys with a field manager of its own, so that server-side apply merges
/// the keys of resources of different kinds sharing a name, and takes away only a kind's own.
pub fn field_manager<K: Resource<DynamicType = ()>>() -> String {
    format!("{MANAGER}/{}", K::kind(&()))
}

/// The outputs for `owner`: in the ConfigMap named after it, beside the keys of any other kind's
/// resource of that name; owned by it (not as controller, as several may own one), so it goes
/// with the last of them.
pub fn config_map<K: Resource<DynamicType = ()>>(
    owner: &K,
    data: BTreeMap<String, String>,
) -> ConfigMap {
    ConfigMap {
        metadata: owned_metadata(owner, owner.meta().name.clone(), None),
        data: Some(data),
        ..ConfigMap::default()
    }
}

/// The ExternalName Service for `owner`'s endpoint, controlled by it.
pub fn service<K: Resource<DynamicType = ()>>(owner: &K, endpoint: &EndpointService) -> Service {
    Service {
        metadata: owned_metadata(owner, Some(endpoint.name.clone()), Some(true)),
        spec: Some(ServiceSpec {
            type_: Some("ExternalName".into()),
            external_name: Some(endpoint.host.clone()),
            ports: Some(vec![ServicePort {
                name: Some("https".into()),
                port: endpoint.port,
                protocol: Some("TCP".into()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

/// Labels that say who wrote the object, and `owner` as its owner, so the garbage collector
/// deletes it with `owner`.
fn owned_metadata<K: Resource<DynamicType = ()>>(
    owner: &K,
    name: Option<String>,
    controller: Option<bool>,
) -> ObjectMeta {
    let meta = owner.meta();
    ObjectMeta {
        name,
        namespace: meta.namespace.clone(),
        labels: Some(BTreeMap::from([
            (MANAGED_BY_LABEL.to_owned(), MANAGER.to_owned()),
            (kind_label::<K>(), "true".to_owned()),
        ])),
        owner_references: Some(vec![owner_reference(owner, controller)]),
        ..ObjectMeta::default()
    }
}

fn owner_reference<K: Resource<DynamicType = ()>>(
    owner: &K,
    controller: Option<bool>,
) -> OwnerReference {
    let meta = owner.meta();
    OwnerReference {
        api_version: K::api_version(&()).into_owned(),
        kind: K::kind(&()).into_owned(),
        name: meta.name.clone().unwrap_or_default(),
        uid: meta.uid.clone().unwrap_or_default(),
        controller,
        block_owner_deletion: None,
    }
}

/// Applies the endpoint Service unless a Service of that name exists that `desired`'s owner does
/// not control (someone else's is never taken over). Returns the foreign one's name.
pub async fn export_service<K: Resource<DynamicType = ()>>(
    api: &Api<Service>,
    desired: Service,
) -> kube::Result<Option<String>> {
    let name = desired.name_any();
    let owner = desired
        .owner_references()
        .first()
        .map(|o| o.uid.clone())
        .unwrap_or_default();
    if let Some(existing) = api.get_opt(&name).await?
        && !existing
            .owner_references()
            .iter()
            .any(|o| o.uid == owner && o.controller == Some(true))
    {
        return Ok(Some(name));
    }
    api.patch(
        &name,
        &PatchParams::apply(&field_manager::<K>()).force(),
        &Patch::Apply(&desired),
    )
    .await?;
    Ok(None)
}

/// What each outputs ConfigMap in the cluster holds of one kind's writes, as a fingerprint: the
/// keys its field manager owns and their values, its label and its owner reference. Enough to
/// skip writing one that is already current, at about 30 bytes per ConfigMap where caching the
/// ConfigMap itself costs 2.3 KB. Fed by the ConfigMap watch.
#[derive(Clone)]
pub struct Fingerprints {
    index: Arc<Mutex<Index>>,
    pub listed: Listed,
    kind: Arc<Whose>,
}

/// The kind whose writes a [`Fingerprints`] recognises.
struct Whose {
    kind: String,
    label: String,
    manager: String,
}

#[derive(Default)]
struct Index {
    current: HashMap<u64, u64>,
    /// Filled during a (re)list, then replaces `current`.
    relisting: Option<HashMap<u64, u64>>,
}

impl Fingerprints {
    pub fn of<K: Resource<DynamicType = ()>>() -> Self {
        Self {
            index: Arc::default(),
            listed: Listed::default(),
            kind: Arc::new(Whose {
                kind: K::kind(&()).into_owned(),
                label: kind_label::<K>(),
                manager: field_manager::<K>(),
            }),
        }
    }

    pub fn observe(&self, event: &watcher::Event<ConfigMap>) {
        let mut index = self.index.lock().expect("poisoned");
        match event {
            watcher::Event::Init => index.relisting = Some(HashMap::new()),
            watcher::Event::InitApply(cm) => {
                let print = self.kind.in_cluster(cm);
                if let Some(relisting) = index.relisting.as_mut() {
                    relisting.insert(key(cm), print);
                }
            }
            watcher::Event::InitDone => {
                self.listed.open();
                if let Some(relisted) = index.relisting.take() {
                    index.current = relisted;
                }
            }
            watcher::Event::Apply(cm) => {
                index.current.insert(key(cm), self.kind.in_cluster(cm));
            }
            watcher::Event::Delete(cm) => {
                index.current.remove(&key(cm));
            }
        }
    }

    /// Whether the cluster's ConfigMap already holds exactly what `desired` sets.
    fn is_current(&self, desired: &ConfigMap) -> bool {
        let print = self.kind.desired(desired);
        let index = self.index.lock().expect("poisoned");
        index.current.get(&key(desired)) == Some(&print)
    }
}

impl Whose {
    /// The data keys this kind's field manager applied, with their values, sorted by key.
    fn in_cluster(&self, cm: &ConfigMap) -> u64 {
        let ours = cm.metadata.managed_fields.iter().flatten().find(|m| {
            m.manager.as_deref() == Some(self.manager.as_str())
                && m.operation.as_deref() == Some("Apply")
        });
        let applied = ours
            .and_then(|m| m.fields_v1.as_ref())
            .and_then(|f| f.0.get("f:data"))
            .and_then(|d| d.as_object());
        let mut pairs: Vec<(&str, &str)> = match (applied, cm.data.as_ref()) {
            (Some(applied), Some(data)) => applied
                .keys()
                .filter_map(|k| k.strip_prefix("f:"))
                .filter_map(|k| data.get_key_value(k))
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect(),
            _ => Vec::new(),
        };
        pairs.sort_unstable();
        self.fingerprint(cm, pairs)
    }

    fn desired(&self, cm: &ConfigMap) -> u64 {
        let pairs = cm
            .data
            .iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.fingerprint(cm, pairs)
    }

    /// `pairs` (sorted), this kind's label and this kind's owner references.
    fn fingerprint(&self, cm: &ConfigMap, pairs: Vec<(&str, &str)>) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        pairs.hash(&mut h);
        for owner in cm
            .metadata
            .owner_references
            .iter()
            .flatten()
            .filter(|o| o.kind == self.kind)
        {
            (
                &owner.api_version,
                &owner.kind,
                &owner.name,
                &owner.uid,
                owner.controller,
                owner.block_owner_deletion,
            )
                .hash(&mut h);
        }
        cm.labels().get(&self.label).hash(&mut h);
        h.finish()
    }
}

/// The ConfigMap's namespace and name, hashed: a collision costs at most a spurious write, as the
/// fingerprints of two owners' ConfigMaps differ.
fn key(cm: &ConfigMap) -> u64 {
    crate::triggers::hash_of((&cm.metadata.namespace, &cm.metadata.name))
}

/// Applies `owner`'s outputs unless the cluster already has them as desired.
pub async fn export<K: Resource<DynamicType = ()>>(
    api: &Api<ConfigMap>,
    cluster: &Fingerprints,
    desired: ConfigMap,
) -> kube::Result<bool> {
    if cluster.is_current(&desired) {
        return Ok(false);
    }
    api.patch(
        &desired.name_any(),
        &PatchParams::apply(&field_manager::<K>()).force(),
        &Patch::Apply(&desired),
    )
    .await?;
    Ok(true)
}

/// Takes `owner`'s keys and label out of its outputs ConfigMap (an apply of only its owner
/// reference by its field manager) when another resource shares it, leaving that one's keys. A
/// ConfigMap that only `owner` owns is left to the garbage collector, which deletes it with
/// `owner` (the operator has no right to delete ConfigMaps).
pub async fn withdraw<K: Resource<DynamicType = ()>>(
    api: &Api<ConfigMap>,
    owner: &K,
) -> kube::Result<()> {
    let name = owner.name_any();
    let uid = owner.meta().uid.as_deref().unwrap_or_default();
    let Some(cm) = api.get_opt(&name).await? else {
        return Ok(());
    };
    let refs = cm.owner_references();
    let shared = refs.iter().any(|o| o.uid != uid);
    if !shared || !refs.iter().any(|o| o.uid == uid) {
        return Ok(());
    }
    // Our owner reference stays: were two sharers deleted at once, each dropping its own would
    // leave the ConfigMap owned by nobody; the garbage collector deletes it after the last one.
    let keys_gone = ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            owner_references: Some(vec![owner_reference(owner, None)]),
            ..ObjectMeta::default()
        },
        ..ConfigMap::default()
    };
    api.patch(
        &name,
        &PatchParams::apply(&field_manager::<K>()).force(),
        &Patch::Apply(&keys_gone),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{FieldsV1, ManagedFieldsEntry};

    use super::*;

    /// Outputs as `config_map` builds them, of an owner that is itself a ConfigMap.
    fn cm(name: &str, value: &str) -> ConfigMap {
        let mut owner = ConfigMap::default();
        owner.metadata.name = Some("owner".into());
        owner.metadata.namespace = Some("ns".into());
        owner.metadata.uid = Some("uid-1".into());
        let mut cm = config_map(&owner, BTreeMap::from([("a".into(), value.into())]));
        cm.metadata.name = Some(name.into());
        cm
    }

    /// `cm` as the API server returns it: `manager` applied the keys `keys`.
    fn applied(mut cm: ConfigMap, manager: &str, keys: &[&str]) -> ConfigMap {
        let data: serde_json::Map<String, serde_json::Value> = keys
            .iter()
            .map(|k| (format!("f:{k}"), serde_json::json!({})))
            .collect();
        cm.metadata
            .managed_fields
            .get_or_insert_with(Vec::new)
            .push(ManagedFieldsEntry {
                manager: Some(manager.into()),
                operation: Some("Apply".into()),
                fields_v1: Some(FieldsV1(serde_json::json!({ "f:data": data }))),
                ..ManagedFieldsEntry::default()
            });
        cm
    }

    fn ours(cm: ConfigMap) -> ConfigMap {
        let keys: Vec<String> = cm.data.iter().flatten().map(|(k, _)| k.clone()).collect();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        applied(cm, &field_manager::<ConfigMap>(), &keys)
    }

    #[test]
    fn only_what_the_cluster_holds_is_current() {
        let cluster = Fingerprints::of::<ConfigMap>();
        assert!(!cluster.is_current(&cm("x", "1")), "nothing listed yet");
        cluster.observe(&watcher::Event::Init);
        cluster.observe(&watcher::Event::InitApply(ours(cm("x", "1"))));
        assert!(!cluster.is_current(&cm("x", "1")), "the list is not done");
        assert!(!cluster.listed.is_done());
        cluster.observe(&watcher::Event::InitDone);
        assert!(cluster.listed.is_done());
        assert!(cluster.is_current(&cm("x", "1")));
        cluster.observe(&watcher::Event::Init);
        assert!(
            cluster.listed.is_done(),
            "a relist keeps the previous state usable"
        );
        assert!(
            cluster.is_current(&cm("x", "1")),
            "a relist keeps the previous state usable"
        );
        cluster.observe(&watcher::Event::InitApply(ours(cm("x", "1"))));
        cluster.observe(&watcher::Event::InitDone);
        assert!(!cluster.is_current(&cm("x", "2")), "changed data");
        assert!(!cluster.is_current(&cm("y", "1")), "another ConfigMap");

        // Someone else's label and server-set metadata do not matter; a removed label of ours does.
        let mut edited = ours(cm("x", "1"));
        edited.metadata.resource_version = Some("42".into());
        edited.labels_mut().insert("team".into(), "a".into());
        cluster.observe(&watcher::Event::Apply(edited.clone()));
        assert!(cluster.is_current(&cm("x", "1")));
        edited.labels_mut().remove(&kind_label::<ConfigMap>());
        cluster.observe(&watcher::Event::Apply(edited));
        assert!(!cluster.is_current(&cm("x", "1")));

        cluster.observe(&watcher::Event::Delete(cm("x", "1")));
        assert!(!cluster.is_current(&cm("x", "1")));
    }

    #[test]
    fn another_kinds_keys_in_the_same_config_map_are_not_ours() {
        let cluster = Fingerprints::of::<ConfigMap>();
        cluster.observe(&watcher::Event::Init);
        cluster.observe(&watcher::Event::InitDone);
        // A topic's keys beside ours, applied by the topic's own field manager.
        let mut shared = ours(cm("orders", "1"));
        shared
            .data
            .as_mut()
            .unwrap()
            .insert("topicARN".into(), "arn:t".into());
        let mut shared = applied(shared, "aws-service-operator/SNSTopic", &["topicARN"]);
        shared
            .metadata
            .owner_references
            .as_mut()
            .unwrap()
            .push(OwnerReference {
                kind: "SNSTopic".into(),
                uid: "uid-2".into(),
                ..OwnerReference::default()
            });
        cluster.observe(&watcher::Event::Apply(shared.clone()));
        assert!(cluster.is_current(&cm("orders", "1")));

        // One of our keys rewritten by someone else's edit is no longer ours: write it back.
        shared.metadata.managed_fields = None;
        let shared = applied(shared, "kubectl-edit", &["a"]);
        cluster.observe(&watcher::Event::Apply(shared));
        assert!(!cluster.is_current(&cm("orders", "1")));
    }
}
