//! The services compiled into the all-in-one operator, and what `crdgen` derives from them: the
//! CRDs and the services manifest the Helm charts are generated from.

pub mod commands;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use operator_core::service::Service;

/// Every service, each described by its own crate.
pub const SERVICES: &[Service] = &[
    dynamodb_controller::SERVICE,
    s3_controller::SERVICE,
    ecr_controller::SERVICE,
    sqs_controller::SERVICE,
    sns_controller::SERVICE,
];

/// Every CRD, in the order of the services.
pub fn crds() -> Vec<CustomResourceDefinition> {
    SERVICES.iter().flat_map(Service::crds).collect()
}

/// `charts/_src/services.json`: each service's name, description, kinds (plural), the kinds of other
/// services it reads and the core objects it creates; `charts/generate.py` renders RBAC from it.
pub fn services_manifest() -> String {
    let manifests: Vec<_> = SERVICES.iter().map(Service::manifest).collect();
    serde_json::to_string_pretty(&manifests).expect("a manifest always serialises") + "\n"
}

/// The file under `crds/` and the YAML it must hold.
pub fn crd_files() -> Vec<(String, String)> {
    crds()
        .into_iter()
        .map(|crd| {
            let name = format!("{}.yaml", crd.metadata.name.clone().unwrap_or_default());
            let yaml = format!(
                "# Generated from the Rust types by `just crds`; do not edit.\n{}",
                serde_saphyr::to_string(&crd).expect("a CRD always serialises")
            );
            (name, yaml)
        })
        .collect()
}

/// Where `crdgen` writes [`services_manifest`], relative to the repository.
pub const SERVICES_MANIFEST: &str = "charts/_src/services.json";
