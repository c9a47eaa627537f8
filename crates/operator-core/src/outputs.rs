//! The outputs ConfigMap: the values an app reads with `envFrom` (ARN, URL, name).

use std::collections::BTreeMap;

use k8s_openapi::{
    api::core::v1::ConfigMap,
    apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference},
};
use kube::{
    Api, Resource, ResourceExt,
    api::{Patch, PatchParams},
    runtime::reflector::{ObjectRef, Store},
};

use crate::MANAGER;

/// Label on every outputs ConfigMap, so each controller watches only its own.
pub const KIND_LABEL: &str = "service-operator.aws/kind";
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";

/// The ConfigMap for `owner`: same name and namespace, owned by it so it goes when it goes.
pub fn config_map<K: Resource<DynamicType = ()>>(
    owner: &K,
    data: BTreeMap<String, String>,
) -> ConfigMap {
    let meta = owner.meta();
    ConfigMap {
        metadata: ObjectMeta {
            name: meta.name.clone(),
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
        },
        data: Some(data),
        ..ConfigMap::default()
    }
}

/// Whether the cached ConfigMap already holds exactly `desired`.
fn is_current(cached: Option<&ConfigMap>, desired: &ConfigMap) -> bool {
    cached.is_some_and(|c| {
        c.data == desired.data
            && c.metadata.owner_references == desired.metadata.owner_references
            && desired
                .metadata
                .labels
                .iter()
                .flatten()
                .all(|(k, v)| c.labels().get(k) == Some(v))
    })
}

/// Applies the ConfigMap unless the watch cache shows it is already up to date.
pub async fn export(
    api: &Api<ConfigMap>,
    cache: &Store<ConfigMap>,
    desired: ConfigMap,
) -> kube::Result<bool> {
    let name = desired.name_any();
    let key =
        ObjectRef::new(&name).within(desired.metadata.namespace.as_deref().unwrap_or_default());
    if is_current(cache.get(&key).as_deref(), &desired) {
        return Ok(false);
    }
    api.patch(
        &name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&desired),
    )
    .await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_data_is_not_current() {
        let cm = ConfigMap {
            data: Some(BTreeMap::from([("a".into(), "1".into())])),
            ..ConfigMap::default()
        };
        let mut other = cm.clone();
        assert!(is_current(Some(&cm), &other));
        other.data = Some(BTreeMap::from([("a".into(), "2".into())]));
        assert!(!is_current(Some(&cm), &other));
        assert!(!is_current(None, &other));
    }
}
