//! The CRDs of every service compiled into the all-in-one operator, for `crdgen` and its test.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;

/// Every CRD, in the order of the services.
pub fn crds() -> Vec<CustomResourceDefinition> {
    [
        dynamodb_controller::crds(),
        s3_controller::crds(),
        ecr_controller::crds(),
        sqs_controller::crds(),
        sns_controller::crds(),
    ]
    .concat()
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
