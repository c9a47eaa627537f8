//! The `S3Bucket` kind: an S3 bucket, as the original AWS Service Operator described it, plus the
//! bucket settings the S3 API offers. Secure by default: all public access is blocked.

use std::collections::BTreeMap;

use kube::CustomResource;
use operator_core::ResourceStatus;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "service-operator.aws",
    version = "v1alpha1",
    kind = "S3Bucket",
    plural = "s3buckets",
    shortname = "s3",
    shortname = "bucket",
    category = "aws",
    namespaced,
    status = "S3BucketStatus",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Synced","type":"string","jsonPath":".status.conditions[?(@.type==\"Synced\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    printcolumn = r#"{"name":"ARN","type":"string","jsonPath":".status.arn","priority":1}"#
)]
#[serde(rename_all = "camelCase")]
// `default: {}` lets a manifest leave out `spec`, as the original operator's did.
#[schemars(extend("default" = {}, "x-kubernetes-validations" = [
    {"rule": "has(self.bucketName) == has(oldSelf.bucketName) && (!has(self.bucketName) || self.bucketName == oldSelf.bucketName)", "message": "bucketName is immutable"},
    {"rule": "!has(self.encryption) || !has(self.encryption.kmsMasterKeyId) || self.encryption.sseAlgorithm != 'AES256'", "message": "encryption.kmsMasterKeyId needs sseAlgorithm aws:kms"}
]))]
pub struct S3BucketSpec {
    /// Name of the bucket in AWS; defaults to metadata.name. Lowercase letters, digits, dots and
    /// hyphens. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 3, max = 63),
        regex(pattern = r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$")
    )]
    pub bucket_name: Option<String>,

    /// Keep every version of every object. Once enabled, turning it off suspends versioning.
    #[serde(default)]
    pub versioning: bool,

    /// The bucket's canned ACL. Anything but Private needs ownershipControls other than
    /// BucketOwnerEnforced and, for public ACLs, publicAccessBlock lifted.
    #[serde(default)]
    pub access_control: AccessControl,

    /// Server access logging.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<Logging>,

    /// Static website hosting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<Website>,

    /// Default encryption of new objects; left as AWS has it when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<Encryption>,

    /// Blocks public ACLs and policies; every setting is on unless turned off here.
    #[serde(default)]
    pub public_access_block: PublicAccessBlock,

    /// When set, exactly these lifecycle rules apply (an empty list removes them all). When
    /// absent, the bucket's lifecycle is left as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1000))]
    pub lifecycle_rules: Option<Vec<LifecycleRule>>,

    /// When set, exactly these CORS rules apply (an empty list removes them all). When absent,
    /// the bucket's CORS configuration is left as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100))]
    pub cors: Option<Vec<CorsRule>>,

    /// The bucket policy, a JSON document; an empty string removes it. Left as it is when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 20480))]
    pub policy: Option<String>,

    /// Who owns objects written by other accounts, and whether ACLs apply at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ownership_controls: Option<OwnershipControls>,

    /// Tags on the bucket, besides the operator's ownership tags.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(length(max = 40))]
    pub tags: BTreeMap<String, String>,
}

/// A canned ACL, named as in the original operator (CloudFormation's names).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum AccessControl {
    #[default]
    Private,
    PublicRead,
    PublicReadWrite,
    AuthenticatedRead,
    LogDeliveryWrite,
    BucketOwnerRead,
    BucketOwnerFullControl,
    AwsExecRead,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Logging {
    #[serde(default)]
    pub enabled: bool,
    /// Prefix of the log objects' keys.
    #[serde(default = "default_log_prefix")]
    pub prefix: String,
    /// The bucket receiving the logs; this bucket itself when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 3, max = 63))]
    pub target_bucket: Option<String>,
}

fn default_log_prefix() -> String {
    "-archive".into()
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Website {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default = "default_index_page")]
    #[schemars(length(min = 1))]
    pub index_page: String,
    #[serde(default = "default_error_page")]
    #[schemars(length(min = 1))]
    pub error_page: String,
}

fn default_index_page() -> String {
    "index.html".into()
}

fn default_error_page() -> String {
    "500.html".into()
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Encryption {
    /// AES256 (SSE-S3) or aws:kms (SSE-KMS).
    pub sse_algorithm: SseAlgorithm,
    /// With aws:kms: the key id, ARN or alias; the AWS-managed key when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_master_key_id: Option<String>,
    /// With aws:kms: use an S3 Bucket Key to cut KMS requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_key_enabled: Option<bool>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum SseAlgorithm {
    #[serde(rename = "AES256")]
    Aes256,
    #[serde(rename = "aws:kms")]
    AwsKms,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublicAccessBlock {
    #[serde(default = "yes")]
    pub block_public_acls: bool,
    #[serde(default = "yes")]
    pub ignore_public_acls: bool,
    #[serde(default = "yes")]
    pub block_public_policy: bool,
    #[serde(default = "yes")]
    pub restrict_public_buckets: bool,
}

fn yes() -> bool {
    true
}

impl Default for PublicAccessBlock {
    fn default() -> Self {
        Self::all(true)
    }
}

impl PublicAccessBlock {
    pub fn all(on: bool) -> Self {
        Self {
            block_public_acls: on,
            ignore_public_acls: on,
            block_public_policy: on,
            restrict_public_buckets: on,
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LifecycleRule {
    #[schemars(length(min = 1, max = 255))]
    pub id: String,
    #[serde(default)]
    pub status: RuleStatus,
    /// Applies to objects whose keys start with this; all objects when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration: Option<Expiration>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transitions: Vec<Transition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noncurrent_version_expiration: Option<NoncurrentVersionExpiration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort_incomplete_multipart_upload: Option<AbortIncompleteMultipartUpload>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum RuleStatus {
    #[default]
    Enabled,
    Disabled,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Expiration {
    #[schemars(range(min = 1))]
    pub days: i32,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Transition {
    #[schemars(range(min = 0))]
    pub days: i32,
    pub storage_class: StorageClass,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StorageClass {
    StandardIa,
    OnezoneIa,
    IntelligentTiering,
    Glacier,
    GlacierIr,
    DeepArchive,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NoncurrentVersionExpiration {
    #[schemars(range(min = 1))]
    pub noncurrent_days: i32,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AbortIncompleteMultipartUpload {
    #[schemars(range(min = 1))]
    pub days_after_initiation: i32,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CorsRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 255))]
    pub id: Option<String>,
    #[schemars(length(min = 1))]
    pub allowed_origins: Vec<String>,
    #[schemars(length(min = 1))]
    pub allowed_methods: Vec<CorsMethod>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_headers: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expose_headers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max_age_seconds: Option<i32>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum CorsMethod {
    Get,
    Put,
    Post,
    Delete,
    Head,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OwnershipControls {
    pub object_ownership: ObjectOwnership,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ObjectOwnership {
    /// ACLs are disabled; the bucket owner owns every object (AWS's default for new buckets).
    BucketOwnerEnforced,
    BucketOwnerPreferred,
    ObjectWriter,
}

/// What the bucket looks like in AWS, next to the shared conditions and ARN.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BucketStatusFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

pub type S3BucketStatus = ResourceStatus<BucketStatusFields>;

impl S3Bucket {
    /// The bucket's name in AWS.
    pub fn bucket_name(&self) -> String {
        self.spec
            .bucket_name
            .clone()
            .unwrap_or_else(|| self.metadata.name.clone().unwrap_or_default())
    }
}
