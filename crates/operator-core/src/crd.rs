//! The CRD of a kind as the API server gets it: kube's generated definition, plus what the derive
//! cannot say (an optional `spec`, a check of `metadata.name`).

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps, ValidationRule,
};

use crate::resource::AwsResource;

/// `K`'s CRD. A `spec` whose schema has a default may be left out of a manifest (the original
/// operator's ECR and SNS examples have none): the API server fills it in before validating.
pub fn definition<K: AwsResource>() -> CustomResourceDefinition {
    let mut crd = K::crd();
    for version in &mut crd.spec.versions {
        let Some(root) = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
        else {
            continue;
        };
        if spec_has_default(root)
            && let Some(required) = root.required.as_mut()
        {
            required.retain(|r| r != "spec");
            if required.is_empty() {
                root.required = None;
            }
        }
        if let Some(name) = K::DEFAULTED_NAME {
            root.x_kubernetes_validations
                .get_or_insert_with(Vec::new)
                .push(ValidationRule {
                    rule: name.rule.into(),
                    message: Some(name.message.into()),
                    ..ValidationRule::default()
                });
        }
    }
    crd
}

fn spec_has_default(root: &JSONSchemaProps) -> bool {
    root.properties
        .as_ref()
        .and_then(|p| p.get("spec"))
        .is_some_and(|spec| spec.default.is_some())
}
