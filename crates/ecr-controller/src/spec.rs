//! The `ECRRepository` kind: an ECR image repository, as the original AWS Service Operator
//! described it, plus the repository settings the ECR API offers.

use std::collections::BTreeMap;

use kube::CustomResource;
use operator_core::ResourceStatus;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "service-operator.aws",
    version = "v1alpha1",
    kind = "ECRRepository",
    doc = "An Amazon ECR image repository, created, kept in sync and deleted by the AWS Service Operator.",
    plural = "ecrrepositories",
    shortname = "ecr",
    shortname = "repository",
    category = "aws",
    namespaced,
    status = "ECRRepositoryStatus",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Synced","type":"string","jsonPath":".status.conditions[?(@.type==\"Synced\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    printcolumn = r#"{"name":"ARN","type":"string","jsonPath":".status.arn","priority":1}"#
)]
#[serde(rename_all = "camelCase")]
// `default: {}` lets a manifest leave out `spec`, as the original operator's did.
#[schemars(extend("default" = {}, "x-kubernetes-validations" = [
    {"rule": "has(self.repositoryName) == has(oldSelf.repositoryName) && (!has(self.repositoryName) || self.repositoryName == oldSelf.repositoryName)", "message": "repositoryName is immutable"},
    {"rule": "has(self.encryption) == has(oldSelf.encryption) && (!has(self.encryption) || self.encryption == oldSelf.encryption)", "message": "encryption is immutable"},
    {"rule": "!has(self.encryption) || !has(self.encryption.kmsKey) || self.encryption.encryptionType == 'KMS'", "message": "encryption.kmsKey needs encryptionType KMS"}
]))]
/// The repository's desired settings; every field has a default, so `spec` may be left out.
pub struct ECRRepositorySpec {
    /// Name of the repository in AWS; defaults to metadata.name. Lowercase, may hold `/`
    /// namespaces. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 2, max = 256),
        regex(pattern = r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$")
    )]
    pub repository_name: Option<String>,

    /// Whether a pushed tag may move to another image. MUTABLE when the repository is created;
    /// left as it is when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_tag_mutability: Option<ImageTagMutability>,

    /// Scan every image for vulnerabilities when it is pushed (ECR scanOnPush); left as it is when absent (off when created).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan_on_push: Option<bool>,

    /// The lifecycle policy, a JSON document; an empty string removes it. Left as it is when
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 30720))]
    pub lifecycle_policy: Option<String>,

    /// The repository policy, a JSON document; an empty string removes it. Left as it is when
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 10240))]
    pub repository_policy: Option<String>,

    /// How images are encrypted at rest; AES256 when absent. Immutable (AWS sets it at creation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<Encryption>,

    /// Tags on the repository, besides the operator's ownership tags.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(length(max = 40))]
    pub tags: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ImageTagMutability {
    Mutable,
    Immutable,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Encryption {
    /// AES256 (Amazon S3-managed keys) or KMS (an AWS KMS key) (ECR encryptionType).
    pub encryption_type: EncryptionType,
    /// With KMS: the key's ARN or id; the AWS-managed key for ECR when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum EncryptionType {
    #[serde(rename = "AES256")]
    Aes256,
    #[serde(rename = "KMS")]
    Kms,
}

/// The repository as last observed in AWS, and how its reconciliation went.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RepositoryStatusFields {
    /// The repository's name in AWS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository_name: Option<String>,
    /// Where images are pushed and pulled: `<registry>/<name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository_uri: Option<String>,
}

pub type ECRRepositoryStatus = ResourceStatus<RepositoryStatusFields>;

impl ECRRepository {
    /// The repository's name in AWS.
    pub fn repository_name(&self) -> String {
        self.spec
            .repository_name
            .clone()
            .unwrap_or_else(|| self.metadata.name.clone().unwrap_or_default())
    }
}
