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

use crate::{MANAGER, gate::Listed, resource::EndpointService};

/// Label on every outputs ConfigMap, so each controller watches only its own.
pub const KIND_LABEL: &str = "service-operator.aws/kind";
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";

/// The ConfigMap for `owner`: same name and namespace, owned by it so it goes when it goes.
pub fn config_map<K: Resource<DynamicType = ()>>(
    owner: &K,
    data: BTreeMap<String, String>,
) -> ConfigMap {
    ConfigMap {
        metadata: owned_metadata(owner, owner.meta().name.clone()),
        data: Some(data),
        ..ConfigMap::default()
    }
}

/// The ExternalName Service for `owner`'s endpoint, owned by it.
pub fn service<K: Resource<DynamicType = ()>>(owner: &K, endpoint: &EndpointService) -> Service {
    Service {
        metadata: owned_metadata(owner, Some(endpoint.name.clone())),
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

/// Labels that say who wrote the object, and `owner` as its controller, so the garbage collector
/// deletes it with `owner`.
fn owned_metadata<K: Resource<DynamicType = ()>>(owner: &K, name: Option<String>) -> ObjectMeta {
    let meta = owner.meta();
    ObjectMeta {
        name,
        namespace: meta.namespace.clone(),
        labels: Some(BTreeMap::from([
            (MANAGED_BY_LABEL.to_owned(), MANAGER.to_owned()),
            (KIND_LABEL.to_owned(), K::kind(&()).into_owned()),
        ])),
        owner_references: Some(vec![OwnerReference {
            api_version: K::api_version(&()).into_owned(),
            kind: K::kind(&()).into_owned(),
            name: meta.name.clone().unwrap_or_default(),
            uid: meta.uid.clone().unwrap_or_default(),
            controller: Some(true),
            block_owner_deletion: None,
        }]),
        ..ObjectMeta::default()
    }
}

/// Applies the endpoint Service unless a Service of that name exists that `desired`'s owner does
/// not control (someone else's is never taken over). Returns the foreign one's name.
pub async fn export_service(api: &Api<Service>, desired: Service) -> kube::Result<Option<String>> {
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
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&desired),
    )
    .await?;
    Ok(None)
}

/// What each outputs ConfigMap in the cluster holds, as a fingerprint of the parts the operator
/// writes: enough to skip writing one that is already current, at about 30 bytes per ConfigMap
/// where caching the ConfigMap itself costs 2.3 KB. Fed by the ConfigMap watch.
#[derive(Clone, Default)]
pub struct Fingerprints {
    index: Arc<Mutex<Index>>,
    pub listed: Listed,
}

#[derive(Default)]
struct Index {
    current: HashMap<u64, u64>,
    /// Filled during a (re)list, then replaces `current`.
    relisting: Option<HashMap<u64, u64>>,
}

impl Fingerprints {
    pub fn observe(&self, event: &watcher::Event<ConfigMap>) {
        let mut index = self.index.lock().expect("poisoned");
        match event {
            watcher::Event::Init => index.relisting = Some(HashMap::new()),
            watcher::Event::InitApply(cm) => {
                if let Some(relisting) = index.relisting.as_mut() {
                    relisting.insert(key(cm), fingerprint(cm));
                }
            }
            watcher::Event::InitDone => {
                self.listed.open();
                if let Some(relisted) = index.relisting.take() {
                    index.current = relisted;
                }
            }
            watcher::Event::Apply(cm) => {
                index.current.insert(key(cm), fingerprint(cm));
            }
            watcher::Event::Delete(cm) => {
                index.current.remove(&key(cm));
            }
        }
    }

    /// Whether the cluster's ConfigMap already holds exactly what `desired` sets.
    fn is_current(&self, desired: &ConfigMap) -> bool {
        let index = self.index.lock().expect("poisoned");
        index.current.get(&key(desired)) == Some(&fingerprint(desired))
    }
}

/// The ConfigMap's namespace and name, hashed: a collision costs at most a spurious write, as the
/// fingerprints of two owners' ConfigMaps differ.
fn key(cm: &ConfigMap) -> u64 {
    crate::triggers::hash_of((&cm.metadata.namespace, &cm.metadata.name))
}

/// The data, owner and our labels: what `config_map` sets. Other labels and annotations are
/// someone else's.
fn fingerprint(cm: &ConfigMap) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    cm.data.hash(&mut h);
    for owner in cm.metadata.owner_references.iter().flatten() {
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
    let labels = cm.labels();
    (labels.get(MANAGED_BY_LABEL), labels.get(KIND_LABEL)).hash(&mut h);
    h.finish()
}

/// Applies the ConfigMap unless the cluster already has it as desired.
pub async fn export(
    api: &Api<ConfigMap>,
    cluster: &Fingerprints,
    desired: ConfigMap,
) -> kube::Result<bool> {
    if cluster.is_current(&desired) {
        return Ok(false);
    }
    api.patch(
        &desired.name_any(),
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&desired),
    )
    .await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cm(name: &str, value: &str) -> ConfigMap {
        let mut owner = ConfigMap::default();
        owner.metadata.name = Some("owner".into());
        owner.metadata.namespace = Some("ns".into());
        owner.metadata.uid = Some("uid-1".into());
        let mut cm = config_map(&owner, BTreeMap::from([("a".into(), value.into())]));
        cm.metadata.name = Some(name.into());
        cm
    }

    #[test]
    fn only_what_the_cluster_holds_is_current() {
        let cluster = Fingerprints::default();
        assert!(!cluster.is_current(&cm("x", "1")), "nothing listed yet");
        cluster.observe(&watcher::Event::Init);
        cluster.observe(&watcher::Event::InitApply(cm("x", "1")));
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
        cluster.observe(&watcher::Event::InitApply(cm("x", "1")));
        cluster.observe(&watcher::Event::InitDone);
        assert!(!cluster.is_current(&cm("x", "2")), "changed data");
        assert!(!cluster.is_current(&cm("y", "1")), "another ConfigMap");

        // Someone else's label and server-set metadata do not matter; a removed label of ours does.
        let mut edited = cm("x", "1");
        edited.metadata.resource_version = Some("42".into());
        edited.labels_mut().insert("team".into(), "a".into());
        cluster.observe(&watcher::Event::Apply(edited.clone()));
        assert!(cluster.is_current(&cm("x", "1")));
        edited.labels_mut().remove(KIND_LABEL);
        cluster.observe(&watcher::Event::Apply(edited));
        assert!(!cluster.is_current(&cm("x", "1")));

        cluster.observe(&watcher::Event::Delete(cm("x", "1")));
        assert!(!cluster.is_current(&cm("x", "1")));
    }
}
