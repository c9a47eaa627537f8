//! The namespaces' annotations the operator reads (deletion policy, region, role), kept from
//! one metadata watch shared by every controller instead of a GET per reconcile.

use std::collections::BTreeMap;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::{
    Api,
    core::PartialObjectMeta,
    runtime::{
        WatchStreamExt,
        reflector::{self, ObjectRef, Store},
        watcher,
    },
};

use crate::{PREFIX, kube_client::watched, listed::Listed, server::Health};

#[derive(Clone)]
pub struct Namespaces {
    store: Store<PartialObjectMeta<Namespace>>,
    pub listed: Listed,
}

impl Namespaces {
    /// Starts the watch: every namespace, or only `only` (a namespace-scoped install may read its
    /// own namespace and no other).
    pub fn watch(kube: kube::Client, only: Option<&str>, health: &Health) -> Self {
        let api: Api<PartialObjectMeta<Namespace>> = Api::all(kube);
        let config = match only {
            Some(ns) => watcher::Config::default().fields(&format!("metadata.name={ns}")),
            None => watcher::Config::default(),
        }
        .any_semantic();
        let (store, writer) = reflector::store();
        let listed = Listed::default();
        let opened = listed.clone();
        let stream = watched(api, config, health, "namespaces")
            .modify(|ns| {
                // Only this operator's annotations are read: the rest would be memory for nothing.
                ns.metadata.managed_fields = None;
                if let Some(a) = ns.metadata.annotations.as_mut() {
                    a.retain(|k, _| k.starts_with(PREFIX));
                }
                ns.metadata.labels = None;
            })
            .reflect(writer)
            .inspect(move |event| {
                if matches!(event, Ok(watcher::Event::InitDone)) {
                    opened.open();
                }
            });
        tokio::spawn(stream.for_each(|_| futures::future::ready(())));
        Self { store, listed }
    }

    /// The operator's annotations on `namespace`; empty when it has none or is not known.
    pub fn annotations(&self, namespace: &str) -> BTreeMap<String, String> {
        self.store
            .get(&ObjectRef::new(namespace))
            .and_then(|ns| ns.metadata.annotations.clone())
            .unwrap_or_default()
    }
}
