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
    doc = "An Amazon S3 bucket, created, kept in sync and deleted by the AWS Service Operator.",
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
/// The bucket's desired settings; every field has a default, so `spec` may be left out.
pub struct S3BucketSpec {
    /// Name of the bucket in AWS; defaults to metadata.name. Lowercase letters, digits, dots and
    /// hyphens. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 3, max = 63),
        regex(pattern = r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$")
    )]
    pub bucket_name: Option<String>,

    /// Keep every version of every object (S3 Versioning); default false. Once enabled, false suspends it.
    #[serde(default)]
    pub versioning: bool,

    /// The bucket's canned ACL; default Private. Anything but Private needs ownershipControls other than
    /// BucketOwnerEnforced and, for public ACLs, publicAccessBlock lifted.
    #[serde(default)]
    pub access_control: AccessControl,

    /// Server access logging (S3 BucketLogging); left as it is in AWS when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<Logging>,

    /// Static website hosting (S3 BucketWebsite); left as it is in AWS when absent.
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
    /// Write access logs to targetBucket; false turns logging off. Default false.
    #[serde(default)]
    pub enabled: bool,
    /// Prefix of the log objects' keys (S3 TargetPrefix); default `-archive`.
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
    /// Serve the bucket as a static website; false turns website hosting off. Default false.
    #[serde(default)]
    pub enabled: bool,
    /// The object served for a directory request (S3 IndexDocument suffix); default `index.html`.
    #[serde(default = "default_index_page")]
    #[schemars(length(min = 1))]
    pub index_page: String,
    /// The object served when a request fails (S3 ErrorDocument key); default `500.html`.
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
    /// Reject requests that add a public ACL (S3 BlockPublicAcls); default true.
    #[serde(default = "yes")]
    pub block_public_acls: bool,
    /// Ignore public ACLs on the bucket and its objects (S3 IgnorePublicAcls); default true.
    #[serde(default = "yes")]
    pub ignore_public_acls: bool,
    /// Reject bucket policies that grant public access (S3 BlockPublicPolicy); default true.
    #[serde(default = "yes")]
    pub block_public_policy: bool,
    /// Under a public policy, allow only AWS services and the owner's account (S3 RestrictPublicBuckets); default true.
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
    /// The rule's name (S3 ID), unique within the bucket.
    #[schemars(length(min = 1, max = 255))]
    pub id: String,
    /// Whether the rule applies (S3 Status): Enabled or Disabled; default Enabled.
    #[serde(default)]
    pub status: RuleStatus,
    /// Applies to objects whose keys start with this; all objects when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// When current objects expire (S3 Expiration); never when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration: Option<Expiration>,
    /// Moves of objects to cheaper storage classes (S3 Transitions); none by default.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transitions: Vec<Transition>,
    /// When noncurrent object versions are deleted (S3 NoncurrentVersionExpiration); never when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noncurrent_version_expiration: Option<NoncurrentVersionExpiration>,
    /// When unfinished multipart uploads are aborted (S3 AbortIncompleteMultipartUpload); never when absent.
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
    /// Days after an object's creation that S3 expires it (S3 Days).
    #[schemars(range(min = 1))]
    pub days: i32,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Transition {
    /// Days after an object's creation that S3 moves it to storageClass (S3 Days).
    #[schemars(range(min = 0))]
    pub days: i32,
    /// The storage class objects move to (S3 StorageClass).
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
    /// Days after a version becomes noncurrent that S3 deletes it (S3 NoncurrentDays).
    #[schemars(range(min = 1))]
    pub noncurrent_days: i32,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AbortIncompleteMultipartUpload {
    /// Days after a multipart upload starts that S3 aborts it if unfinished (S3 DaysAfterInitiation).
    #[schemars(range(min = 1))]
    pub days_after_initiation: i32,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CorsRule {
    /// The rule's name (S3 ID); none when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 255))]
    pub id: Option<String>,
    /// Origins allowed to make cross-origin requests, such as `https://example.com` or `*` (S3 AllowedOrigins).
    #[schemars(length(min = 1))]
    pub allowed_origins: Vec<String>,
    /// HTTP methods those origins may use: GET, PUT, POST, DELETE or HEAD (S3 AllowedMethods).
    #[schemars(length(min = 1))]
    pub allowed_methods: Vec<CorsMethod>,
    /// Headers a preflight request may ask for (S3 AllowedHeaders); none by default.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_headers: Vec<String>,
    /// Response headers browsers may expose to scripts (S3 ExposeHeaders); none by default.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expose_headers: Vec<String>,
    /// Seconds browsers may cache a preflight response (S3 MaxAgeSeconds); not set when absent.
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
    /// S3 Object Ownership: BucketOwnerEnforced (ACLs disabled, the bucket owner owns every object; AWS's default for new buckets), BucketOwnerPreferred or ObjectWriter.
    pub object_ownership: ObjectOwnership,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ObjectOwnership {
    BucketOwnerEnforced,
    BucketOwnerPreferred,
    ObjectWriter,
}

/// The bucket as last observed in AWS, and how its reconciliation went.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BucketStatusFields {
    /// The bucket's name in AWS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_name: Option<String>,
    // The region is the status's own `region`, which every kind records (under the same key as
    // this kind recorded it before regions were per resource).
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
