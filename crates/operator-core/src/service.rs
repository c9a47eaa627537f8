//! What a service crate says of itself, once: its name, its kinds and what they touch. The
//! all-in-one binary, the standalone binaries and the Helm charts' RBAC (through `crdgen`'s
//! `services.json`) are all derived from it, so adding a kind is one line here and one module.

use futures::future::BoxFuture;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde::Serialize;
use serde_json::Value;

use crate::{
    commands::{self, CommandError, ExportMode, Exported, Planned, Tools},
    crd,
    operator::Operator,
    references::RefKind,
    resource::AwsResource,
};

/// One AWS service: the unit of `--controllers`, of a standalone binary and of a chart.
pub struct Service {
    /// As named in `--controllers` and in the chart `<name>-controller`.
    pub name: &'static str,
    /// What its kinds manage, for the chart's description (e.g. "Amazon SQS queues").
    pub description: &'static str,
    pub kinds: &'static [Kind],
    /// Core objects its kinds create beyond ConfigMaps and Events (e.g. "services"), for RBAC.
    pub objects: &'static [&'static str],
}

/// Lists a kind's AWS resources as manifests: tools, name prefix, namespace, mode.
type ExportFn = for<'a> fn(
    &'a Tools,
    &'a str,
    &'a str,
    ExportMode,
) -> BoxFuture<'a, Result<Exported, CommandError>>;

/// One kind of a service, with what the core needs to run, describe, plan and export it.
pub struct Kind {
    crd: fn() -> CustomResourceDefinition,
    controller: fn(&Operator) -> BoxFuture<'static, ()>,
    references: &'static [RefKind],
    plan: for<'a> fn(&'a Tools, Value) -> BoxFuture<'a, Result<Planned, CommandError>>,
    export: ExportFn,
    name: fn() -> (String, String),
}

impl Kind {
    pub const fn of<K: AwsResource>() -> Self {
        Self {
            crd: crd::definition::<K>,
            controller: controller_of::<K>,
            references: K::REFERENCED_KINDS,
            plan: |tools, doc| Box::pin(commands::plan::<K>(tools, doc)),
            export: |tools, prefix, namespace, mode| {
                Box::pin(commands::export::<K>(tools, prefix, namespace, mode))
            },
            name: || (K::api_version(&()).into_owned(), K::kind(&()).into_owned()),
        }
    }

    /// The kind's apiVersion and kind, as manifests name it.
    pub fn type_meta(&self) -> (String, String) {
        (self.name)()
    }

    /// What applying `doc`, an object of this kind, would do in AWS.
    pub fn plan<'a>(
        &self,
        tools: &'a Tools,
        doc: Value,
    ) -> BoxFuture<'a, Result<Planned, CommandError>> {
        (self.plan)(tools, doc)
    }

    /// Manifests for this kind's resources in AWS whose names start with `prefix`.
    pub fn export<'a>(
        &self,
        tools: &'a Tools,
        prefix: &'a str,
        namespace: &'a str,
        mode: ExportMode,
    ) -> BoxFuture<'a, Result<Exported, CommandError>> {
        (self.export)(tools, prefix, namespace, mode)
    }
}

fn controller_of<K: AwsResource>(operator: &Operator) -> BoxFuture<'static, ()> {
    operator.controller::<K>()
}

/// What the charts read of a service (`crdgen` writes it to `crds/services.json`).
#[derive(Debug, Serialize, PartialEq)]
pub struct Manifest {
    pub name: &'static str,
    pub description: &'static str,
    /// Plural names of its kinds.
    pub kinds: Vec<String>,
    /// Plural names of the kinds of other services its kinds read.
    pub references: Vec<&'static str>,
    pub objects: Vec<&'static str>,
}

impl Service {
    /// Every controller of this service.
    pub fn controllers(&self, operator: &Operator) -> Vec<BoxFuture<'static, ()>> {
        self.kinds
            .iter()
            .map(|k| (k.controller)(operator))
            .collect()
    }

    /// Every CRD of this service.
    pub fn crds(&self) -> Vec<CustomResourceDefinition> {
        self.kinds.iter().map(|k| (k.crd)()).collect()
    }

    pub fn manifest(&self) -> Manifest {
        let kinds: Vec<String> = self
            .crds()
            .into_iter()
            .map(|c| c.spec.names.plural)
            .collect();
        let mut references: Vec<&'static str> = self
            .kinds
            .iter()
            .flat_map(|k| k.references)
            .map(|r| r.plural)
            .filter(|p| !kinds.iter().any(|k| k == p))
            .collect();
        references.sort_unstable();
        references.dedup();
        Manifest {
            name: self.name,
            description: self.description,
            kinds,
            references,
            objects: self.objects.to_vec(),
        }
    }
}
