//! How an `S3Bucket` resource maps onto the S3 API: observe, create, update, delete.

use std::collections::BTreeMap;

use aws_sdk_s3::{
    Client,
    config::http::HttpResponse,
    error::{ProvideErrorMetadata, SdkError},
    types::{self as s3, BucketCannedAcl, BucketVersioningStatus, Permission, Type},
};
use operator_core::{
    AwsError, AwsResource, EndpointService, NameRule, PlannedChange, Readiness,
    aws::AwsClients,
    errors::{from_sdk, is_not_found},
    ownership::object_name,
    policy,
    references::Resolved,
};
use tracing::{info, instrument};

use crate::{
    diff::{self, Change, GroupGrant, LoggingTarget, ObservedBucket, Versioning, WebsitePages},
    spec::{
        AbortIncompleteMultipartUpload, AccessControl, BucketStatusFields, CorsMethod, CorsRule,
        Encryption, Expiration, LifecycleRule, NoncurrentVersionExpiration, ObjectOwnership,
        PublicAccessBlock, RuleStatus, S3Bucket, S3BucketSpec, SseAlgorithm, StorageClass,
        Transition,
    },
};

/// HeadBucket answers a missing bucket with a bare 404.
const NOT_FOUND: &[&str] = &["NotFound", "NoSuchBucket"];
const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
const AUTHENTICATED_USERS: &str = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";
const LOG_DELIVERY: &str = "http://acs.amazonaws.com/groups/s3/LogDelivery";

impl AwsResource for S3Bucket {
    type Client = Client;
    type Observed = ObservedBucket;
    type Change = Change;
    type StatusFields = BucketStatusFields;

    const SERVICE: &'static str = "S3 bucket";
    /// S3's bucket naming rules, for a name taken from metadata.name.
    const DEFAULTED_NAME: Option<NameRule> = Some(NameRule {
        rule: r"has(self.spec.bucketName) || (self.metadata.name.matches('^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$') && !self.metadata.name.contains('..') && !self.metadata.name.matches('^[0-9]+\\.[0-9]+\\.[0-9]+\\.[0-9]+$') && !self.metadata.name.startsWith('xn--') && !self.metadata.name.startsWith('sthree-') && !self.metadata.name.endsWith('-s3alias') && !self.metadata.name.endsWith('--ol-s3'))",
        message: "metadata.name is used as the S3 bucket name and S3 refuses it: 3-63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit, no '..', not an IP address, not starting with xn-- or sthree-, not ending with -s3alias or --ol-s3; set spec.bucketName to use another name",
    });

    /// With a custom endpoint (moto, LocalStack, MinIO) bucket names cannot be resolved as host
    /// names, so requests use path-style addressing.
    fn client(aws: &AwsClients) -> Client {
        let config = aws_sdk_s3::config::Builder::from(aws.config_for(crate::SERVICE.name))
            .interceptor(aws.calls.clone())
            .force_path_style(aws.config_for(crate::SERVICE.name).endpoint_url().is_some())
            .build();
        Client::from_conf(config)
    }

    fn aws_name(&self) -> String {
        self.bucket_name()
    }

    /// Reads only what the spec manages; versioning, ACL and public access block always are.
    #[instrument(skip_all, fields(bucket = %self.bucket_name()))]
    async fn observe(
        &self,
        client: &Client,
        _refs: &Resolved,
    ) -> Result<Option<ObservedBucket>, AwsError> {
        let name = self.bucket_name();
        let Some(region) = bucket_region(client, &name).await? else {
            return Ok(None);
        };
        let ours = client_region(client);
        if !ours.is_empty() && region != ours {
            return Err(AwsError::terminal(
                "WrongRegion",
                format!(
                    "bucket {name:?} exists in region {region}, not in this operator's region {ours}"
                ),
            ));
        }
        read_bucket(client, name, region, Reads::of(&self.spec))
            .await
            .map(Some)
    }

    /// Creates the bucket and tags it at once, so the ownership tags are there before anything
    /// else can observe it; then brings every other setting to the spec.
    #[instrument(skip_all, fields(bucket = %self.bucket_name()))]
    async fn create(
        &self,
        client: &Client,
        _refs: &Resolved,
        tags: &BTreeMap<String, String>,
    ) -> Result<Option<ObservedBucket>, AwsError> {
        let name = self.bucket_name();
        let region = client_region(client);
        let mut request = client.create_bucket().bucket(&name);
        // us-east-1 is the default location and refuses to be named as a constraint.
        if !region.is_empty() && region != "us-east-1" {
            request = request.create_bucket_configuration(
                s3::CreateBucketConfiguration::builder()
                    .location_constraint(s3::BucketLocationConstraint::from(region.as_str()))
                    .build(),
            );
        }
        if let Some(controls) = &self.spec.ownership_controls {
            request = request.object_ownership(sdk_ownership(controls.object_ownership));
        }
        request.send().await.map_err(failed("CreateBucket"))?;
        // A crash before the tags are on is covered by the create intent in status.
        put_tags(client, &name, tags).await?;
        // Every other setting takes a call of its own: the core observes the bucket and writes
        // what `diff` finds missing.
        Ok(None)
    }

    fn tags(observed: &ObservedBucket) -> Option<&BTreeMap<String, String>> {
        Some(&observed.tags)
    }

    /// S3 replaces the whole tag set, so the bucket's own tags are kept alongside.
    #[instrument(skip_all, fields(bucket = %self.bucket_name()))]
    async fn tag(
        &self,
        client: &Client,
        observed: &ObservedBucket,
        tags: &BTreeMap<String, String>,
    ) -> Result<(), AwsError> {
        let mut all: BTreeMap<String, String> = observed
            .tags
            .iter()
            .filter(|(k, _)| !k.starts_with("aws:"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        all.extend(tags.iter().map(|(k, v)| (k.clone(), v.clone())));
        put_tags(client, &observed.name, &all).await
    }

    fn diff(
        &self,
        observed: &ObservedBucket,
        _refs: &Resolved,
        tags: &BTreeMap<String, String>,
    ) -> Vec<Change> {
        diff::diff(&self.spec, observed, tags)
    }

    #[instrument(skip_all, fields(bucket = %self.bucket_name()))]
    async fn update(
        &self,
        client: &Client,
        _refs: &Resolved,
        observed: &ObservedBucket,
        changes: Vec<Change>,
    ) -> Result<(), AwsError> {
        for change in changes {
            apply(client, &observed.name, change).await?;
        }
        Ok(())
    }

    /// Deletes the bucket. One that still holds objects is emptied first only when annotated
    /// for force deletion; otherwise AWS's refusal is reported and the resource stays.
    #[instrument(skip_all, fields(bucket = %self.bucket_name()))]
    async fn delete(&self, client: &Client, observed: &ObservedBucket) -> Result<(), AwsError> {
        let name = &observed.name;
        if policy::wants_force_delete(self) {
            let deleted = empty_bucket(client, name).await?;
            info!(objects = deleted, "emptied the bucket before deleting it");
        }
        match client.delete_bucket().bucket(name).send().await {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e, NOT_FOUND) => Ok(()),
            Err(e) if is_not_found(&e, &["BucketNotEmpty"]) => Err(AwsError::terminal(
                "BucketNotEmpty",
                format!(
                    "bucket {name:?} still holds objects, so it is not deleted; empty it, or \
                     annotate {}=\"true\" to have every object and version deleted with it",
                    policy::FORCE_DELETE
                ),
            )),
            Err(e) => Err(failed("DeleteBucket")(e)),
        }
    }

    /// A bucket is usable as soon as it exists.
    fn readiness(_observed: &ObservedBucket) -> Readiness {
        Readiness::Ready
    }

    fn arn(observed: &ObservedBucket) -> Option<String> {
        Some(bucket_arn(&observed.name, &observed.region))
    }

    fn status_fields(observed: &ObservedBucket) -> BucketStatusFields {
        BucketStatusFields {
            bucket_name: Some(observed.name.clone()),
        }
    }

    fn outputs(observed: &ObservedBucket) -> BTreeMap<String, String> {
        let (name, region) = (&observed.name, &observed.region);
        let mut out = BTreeMap::from([
            ("bucketName".to_owned(), name.clone()),
            ("bucketARN".to_owned(), bucket_arn(name, region)),
            ("region".to_owned(), region.clone()),
            (
                "bucketURL".to_owned(),
                format!("https://{}", virtual_host(name, region)),
            ),
        ]);
        out.insert("serviceName".to_owned(), service_name(name));
        // The original wrote the key even without a website: apps read it unconditionally.
        let website = observed
            .website
            .as_ref()
            .map(|_| website_url(name, region))
            .unwrap_or_default();
        out.insert("websiteURL".to_owned(), website);
        out
    }

    fn service(observed: &ObservedBucket) -> Option<EndpointService> {
        Some(EndpointService {
            name: service_name(&observed.name),
            host: virtual_host(&observed.name, &observed.region),
            port: 443,
        })
    }

    fn user_tags(&self) -> BTreeMap<String, String> {
        self.spec.tags.clone()
    }

    fn planned(change: &Change, observed: &ObservedBucket) -> PlannedChange {
        diff::planned(change, observed)
    }

    async fn export(client: &Client, prefix: &str) -> Option<Result<Vec<Self>, AwsError>> {
        Some(exported(client, prefix).await)
    }
}

/// Every bucket in this client's region whose name starts with `prefix`, as an `S3Bucket`
/// describing it with every setting read. ListBuckets is global: buckets of other regions are
/// left out, by the region the list gives or else HeadBucket's.
#[instrument(skip_all, fields(prefix = %prefix))]
async fn exported(client: &Client, prefix: &str) -> Result<Vec<S3Bucket>, AwsError> {
    let ours = client_region(client);
    let listed: Vec<s3::Bucket> = client
        .list_buckets()
        .set_prefix(Some(prefix.to_owned()).filter(|p| !p.is_empty()))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(failed("ListBuckets"))?;
    let elsewhere = |region: &str| !ours.is_empty() && region != ours;
    let mut buckets = Vec::new();
    // Filtered here too: not every S3 endpoint (moto, MinIO) honours the prefix.
    for bucket in listed
        .iter()
        .filter(|b| b.name().is_some_and(|n| n.starts_with(prefix)))
    {
        let name = bucket.name().unwrap_or_default();
        if bucket.bucket_region().is_some_and(elsewhere) {
            continue;
        }
        // Gone since the list: nothing to export.
        let Some(region) = bucket_region(client, name).await? else {
            continue;
        };
        if elsewhere(&region) {
            continue;
        }
        let observed = read_bucket(client, name.to_owned(), region, Reads::ALL).await?;
        buckets.push(S3Bucket::new(
            &object_name(name),
            diff::exported_spec(&observed),
        ));
    }
    Ok(buckets)
}

/// The settings read besides those every diff compares (tags, versioning, ACL, public access
/// block): those the spec manages, or all of them for export.
#[derive(Debug, Clone, Copy)]
struct Reads {
    ownership: bool,
    logging: bool,
    website: bool,
    encryption: bool,
    lifecycle_rules: bool,
    cors: bool,
    policy: bool,
}

impl Reads {
    const ALL: Reads = Reads {
        ownership: true,
        logging: true,
        website: true,
        encryption: true,
        lifecycle_rules: true,
        cors: true,
        policy: true,
    };

    fn of(spec: &S3BucketSpec) -> Reads {
        Reads {
            ownership: spec.ownership_controls.is_some(),
            logging: spec.logging.is_some(),
            website: spec.website.is_some(),
            encryption: spec.encryption.is_some(),
            lifecycle_rules: spec.lifecycle_rules.is_some(),
            cors: spec.cors.is_some(),
            policy: spec.policy.is_some(),
        }
    }
}

/// The bucket's region by HeadBucket (this client's when S3 does not say); `None` when there is
/// no such bucket.
async fn bucket_region(client: &Client, name: &str) -> Result<Option<String>, AwsError> {
    match client.head_bucket().bucket(name).send().await {
        Ok(out) => Ok(Some(
            out.bucket_region()
                .map_or_else(|| client_region(client), str::to_owned),
        )),
        Err(e) if is_not_found(&e, NOT_FOUND) || is_bare_404(&e) => Ok(None),
        Err(e) => Err(failed("HeadBucket")(e)),
    }
}

/// The bucket's settings, those `reads` names besides the ones always read.
async fn read_bucket(
    client: &Client,
    name: String,
    region: String,
    reads: Reads,
) -> Result<ObservedBucket, AwsError> {
    let mut observed = ObservedBucket {
        tags: bucket_tags(client, &name).await?,
        versioning: bucket_versioning(client, &name).await?,
        group_grants: group_grants(client, &name).await?,
        public_access_block: public_access_block(client, &name).await?,
        ..Default::default()
    };
    if reads.ownership {
        observed.ownership = ownership(client, &name).await?;
    }
    if reads.logging {
        observed.logging = logging(client, &name).await?;
    }
    if reads.website {
        observed.website = website(client, &name).await?;
    }
    if reads.encryption {
        observed.encryption = encryption(client, &name).await?;
    }
    if reads.lifecycle_rules {
        observed.lifecycle_rules = Some(lifecycle_rules(client, &name).await?);
    }
    if reads.cors {
        observed.cors = Some(cors(client, &name).await?);
    }
    if reads.policy {
        observed.policy = bucket_policy(client, &name).await?;
    }
    Ok(ObservedBucket {
        name,
        region,
        ..observed
    })
}

/// The bucket's virtual-hosted endpoint, `<bucket>.s3.<region>.amazonaws.com`: the form every
/// region answers (the original's `s3-<region>` dash form is legacy, missing in newer regions).
pub fn virtual_host(name: &str, region: &str) -> String {
    let suffix = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    format!("{name}.s3.{region}.{suffix}")
}

/// The endpoint Service's name: the bucket's, made a DNS-1035 label (Service names cannot hold
/// dots or start with a digit): dots become hyphens, `s3-` goes in front of a leading digit.
pub fn service_name(bucket: &str) -> String {
    let mut name: String = bucket.replace('.', "-");
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        name.insert_str(0, "s3-");
    }
    name.truncate(63);
    name.trim_end_matches('-').to_owned()
}

/// S3 has no ARN in its API: it is built from the partition and the bucket name.
pub fn bucket_arn(name: &str, region: &str) -> String {
    let partition = if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    };
    format!("arn:{partition}:s3:::{name}")
}

/// The website endpoint: older regions separate `s3-website` from the region with a dash.
pub fn website_url(name: &str, region: &str) -> String {
    const DASHED: &[&str] = &[
        "us-east-1",
        "us-west-1",
        "us-west-2",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-northeast-1",
        "eu-west-1",
        "sa-east-1",
        "us-gov-west-1",
    ];
    let sep = if DASHED.contains(&region) { '-' } else { '.' };
    format!("http://{name}.s3-website{sep}{region}.amazonaws.com")
}

fn client_region(client: &Client) -> String {
    client
        .config()
        .region()
        .map(ToString::to_string)
        .unwrap_or_default()
}

/// HEAD responses carry no body, so a missing bucket may come back without an error code.
fn is_bare_404<E>(err: &SdkError<E, HttpResponse>) -> bool {
    err.raw_response()
        .is_some_and(|r| r.status().as_u16() == 404)
}

/// Whether the SDK failed on a successful response (one it could not parse).
fn is_success<E>(err: &SdkError<E, HttpResponse>) -> bool {
    err.raw_response().is_some_and(|r| r.status().is_success())
}

fn raw_body<E>(err: &SdkError<E, HttpResponse>) -> &[u8] {
    err.raw_response()
        .and_then(|r| r.body().bytes())
        .unwrap_or_default()
}

/// The versioning status in a GetBucketVersioning body; `None` when never enabled.
fn versioning_in(body: &[u8]) -> Option<Versioning> {
    let has = |needle: &[u8]| body.windows(needle.len()).any(|w| w == needle);
    if has(b"<Status>Enabled</Status>") {
        Some(Versioning::Enabled)
    } else if has(b"<Status>Suspended</Status>") {
        Some(Versioning::Suspended)
    } else {
        None
    }
}

/// A read whose "not configured" error code means the setting is absent.
fn absent_if<T, E>(
    operation: &'static str,
    result: Result<T, SdkError<E, HttpResponse>>,
    codes: &[&str],
) -> Result<Option<T>, AwsError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match result {
        Ok(out) => Ok(Some(out)),
        Err(e) if is_not_found(&e, codes) => Ok(None),
        Err(e) => Err(failed(operation)(e)),
    }
}

/// Classifies an SDK error and names the call in its message: a bucket takes many calls.
fn failed<E>(operation: &'static str) -> impl FnOnce(SdkError<E, HttpResponse>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    move |e| match from_sdk(e) {
        AwsError::Terminal { code, message } => AwsError::Terminal {
            code,
            message: format!("{operation}: {message}"),
        },
        AwsError::Retryable { code, message } => AwsError::Retryable {
            code,
            message: format!("{operation}: {message}"),
        },
    }
}

async fn bucket_tags(client: &Client, name: &str) -> Result<BTreeMap<String, String>, AwsError> {
    let out = absent_if(
        "GetBucketTagging",
        client.get_bucket_tagging().bucket(name).send().await,
        &["NoSuchTagSet"],
    )?;
    Ok(out
        .iter()
        .flat_map(|o| o.tag_set())
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect())
}

async fn bucket_versioning(client: &Client, name: &str) -> Result<Option<Versioning>, AwsError> {
    let out = match client.get_bucket_versioning().bucket(name).send().await {
        Ok(out) => out,
        // moto answers with a root element the SDK refuses to parse (GetBucketVersioningResponse
        // instead of VersioningConfiguration): read the status from the body itself.
        Err(e) if is_success(&e) => return Ok(versioning_in(raw_body(&e))),
        Err(e) => return Err(failed("GetBucketVersioning")(e)),
    };
    Ok(match out.status() {
        Some(BucketVersioningStatus::Enabled) => Some(Versioning::Enabled),
        Some(BucketVersioningStatus::Suspended) => Some(Versioning::Suspended),
        _ => None,
    })
}

async fn group_grants(client: &Client, name: &str) -> Result<Vec<GroupGrant>, AwsError> {
    let out = client
        .get_bucket_acl()
        .bucket(name)
        .send()
        .await
        .map_err(failed("GetBucketAcl"))?;
    let mut grants = Vec::new();
    for grant in out.grants() {
        let Some(grantee) = grant.grantee().filter(|g| g.r#type() == &Type::Group) else {
            continue;
        };
        let permission = grant.permission();
        let uri = grantee.uri().unwrap_or_default();
        let found = match (uri, permission) {
            (ALL_USERS, Some(Permission::Read)) => GroupGrant::AllUsersRead,
            (ALL_USERS, Some(Permission::Write)) => GroupGrant::AllUsersWrite,
            (AUTHENTICATED_USERS, Some(Permission::Read)) => GroupGrant::AuthenticatedUsersRead,
            (LOG_DELIVERY, Some(Permission::Write)) => GroupGrant::LogDeliveryWrite,
            (LOG_DELIVERY, Some(Permission::ReadAcp)) => GroupGrant::LogDeliveryReadAcp,
            // Any other group grant makes the ACL differ from every canned one.
            _ => GroupGrant::Other,
        };
        grants.push(found);
    }
    Ok(grants)
}

async fn public_access_block(client: &Client, name: &str) -> Result<PublicAccessBlock, AwsError> {
    let out = absent_if(
        "GetPublicAccessBlock",
        client.get_public_access_block().bucket(name).send().await,
        &["NoSuchPublicAccessBlockConfiguration"],
    )?;
    let Some(c) = out
        .as_ref()
        .and_then(|o| o.public_access_block_configuration())
    else {
        return Ok(PublicAccessBlock::all(false));
    };
    Ok(PublicAccessBlock {
        block_public_acls: c.block_public_acls().unwrap_or(false),
        ignore_public_acls: c.ignore_public_acls().unwrap_or(false),
        block_public_policy: c.block_public_policy().unwrap_or(false),
        restrict_public_buckets: c.restrict_public_buckets().unwrap_or(false),
    })
}

async fn ownership(client: &Client, name: &str) -> Result<Option<ObjectOwnership>, AwsError> {
    let out = absent_if(
        "GetBucketOwnershipControls",
        client
            .get_bucket_ownership_controls()
            .bucket(name)
            .send()
            .await,
        &["OwnershipControlsNotFoundError"],
    )?;
    Ok(out
        .as_ref()
        .and_then(|o| o.ownership_controls())
        .and_then(|c| c.rules().first())
        .and_then(|r| match r.object_ownership() {
            s3::ObjectOwnership::BucketOwnerEnforced => Some(ObjectOwnership::BucketOwnerEnforced),
            s3::ObjectOwnership::BucketOwnerPreferred => {
                Some(ObjectOwnership::BucketOwnerPreferred)
            }
            s3::ObjectOwnership::ObjectWriter => Some(ObjectOwnership::ObjectWriter),
            _ => None,
        }))
}

async fn logging(client: &Client, name: &str) -> Result<Option<LoggingTarget>, AwsError> {
    let out = client
        .get_bucket_logging()
        .bucket(name)
        .send()
        .await
        .map_err(failed("GetBucketLogging"))?;
    Ok(out.logging_enabled().map(|l| LoggingTarget {
        bucket: l.target_bucket().to_owned(),
        prefix: l.target_prefix().to_owned(),
    }))
}

async fn website(client: &Client, name: &str) -> Result<Option<WebsitePages>, AwsError> {
    let out = absent_if(
        "GetBucketWebsite",
        client.get_bucket_website().bucket(name).send().await,
        &["NoSuchWebsiteConfiguration"],
    )?;
    Ok(out.map(|o| WebsitePages {
        index: o
            .index_document()
            .map(|d| d.suffix().to_owned())
            .unwrap_or_default(),
        error: o
            .error_document()
            .map(|d| d.key().to_owned())
            .unwrap_or_default(),
    }))
}

async fn encryption(client: &Client, name: &str) -> Result<Option<Encryption>, AwsError> {
    let out = absent_if(
        "GetBucketEncryption",
        client.get_bucket_encryption().bucket(name).send().await,
        &["ServerSideEncryptionConfigurationNotFoundError"],
    )?;
    let Some(rule) = out
        .as_ref()
        .and_then(|o| o.server_side_encryption_configuration())
        .and_then(|c| c.rules().first())
    else {
        return Ok(None);
    };
    let Some(default) = rule.apply_server_side_encryption_by_default() else {
        return Ok(None);
    };
    let sse_algorithm = match default.sse_algorithm() {
        s3::ServerSideEncryption::Aes256 => SseAlgorithm::Aes256,
        _ => SseAlgorithm::AwsKms,
    };
    Ok(Some(Encryption {
        sse_algorithm,
        kms_master_key_id: default.kms_master_key_id().map(str::to_owned),
        bucket_key_enabled: rule.bucket_key_enabled(),
    }))
}

async fn lifecycle_rules(client: &Client, name: &str) -> Result<Vec<LifecycleRule>, AwsError> {
    let out = absent_if(
        "GetBucketLifecycleConfiguration",
        client
            .get_bucket_lifecycle_configuration()
            .bucket(name)
            .send()
            .await,
        &["NoSuchLifecycleConfiguration"],
    )?;
    Ok(out
        .iter()
        .flat_map(|o| o.rules())
        .map(|r| LifecycleRule {
            id: r.id().unwrap_or_default().to_owned(),
            status: match r.status() {
                s3::ExpirationStatus::Enabled => RuleStatus::Enabled,
                _ => RuleStatus::Disabled,
            },
            #[allow(deprecated)]
            prefix: r
                .filter()
                .and_then(|f| f.prefix())
                .or(r.prefix())
                .map(str::to_owned),
            expiration: r
                .expiration()
                .and_then(|e| e.days())
                .map(|days| Expiration { days }),
            transitions: r
                .transitions()
                .iter()
                .filter_map(|t| {
                    Some(Transition {
                        days: t.days()?,
                        storage_class: storage_class(t.storage_class()?)?,
                    })
                })
                .collect(),
            noncurrent_version_expiration: r
                .noncurrent_version_expiration()
                .and_then(|e| e.noncurrent_days())
                .map(|noncurrent_days| NoncurrentVersionExpiration { noncurrent_days }),
            abort_incomplete_multipart_upload: r
                .abort_incomplete_multipart_upload()
                .and_then(|a| a.days_after_initiation())
                .map(|days_after_initiation| AbortIncompleteMultipartUpload {
                    days_after_initiation,
                }),
        })
        .collect())
}

async fn cors(client: &Client, name: &str) -> Result<Vec<CorsRule>, AwsError> {
    let out = absent_if(
        "GetBucketCors",
        client.get_bucket_cors().bucket(name).send().await,
        &["NoSuchCORSConfiguration"],
    )?;
    Ok(out
        .iter()
        .flat_map(|o| o.cors_rules())
        .map(|r| CorsRule {
            id: r.id().map(str::to_owned),
            allowed_origins: r.allowed_origins().to_vec(),
            allowed_methods: r
                .allowed_methods()
                .iter()
                .filter_map(|m| cors_method(m))
                .collect(),
            allowed_headers: r.allowed_headers().to_vec(),
            expose_headers: r.expose_headers().to_vec(),
            max_age_seconds: r.max_age_seconds(),
        })
        .collect())
}

async fn bucket_policy(client: &Client, name: &str) -> Result<Option<String>, AwsError> {
    let out = absent_if(
        "GetBucketPolicy",
        client.get_bucket_policy().bucket(name).send().await,
        &["NoSuchBucketPolicy"],
    )?;
    Ok(out.and_then(|o| o.policy).filter(|p| !p.trim().is_empty()))
}

async fn put_tags(
    client: &Client,
    name: &str,
    tags: &BTreeMap<String, String>,
) -> Result<(), AwsError> {
    if tags.is_empty() {
        client
            .delete_bucket_tagging()
            .bucket(name)
            .send()
            .await
            .map_err(failed("DeleteBucketTagging"))?;
        return Ok(());
    }
    let tag_set = tags
        .iter()
        .map(|(k, v)| s3::Tag::builder().key(k).value(v).build())
        .collect::<Result<Vec<_>, _>>()?;
    client
        .put_bucket_tagging()
        .bucket(name)
        .tagging(s3::Tagging::builder().set_tag_set(Some(tag_set)).build()?)
        .send()
        .await
        .map_err(failed("PutBucketTagging"))?;
    Ok(())
}

/// Writes one change.
async fn apply(client: &Client, name: &str, change: Change) -> Result<(), AwsError> {
    match change {
        Change::PublicAccessBlock(b) => {
            let config = s3::PublicAccessBlockConfiguration::builder()
                .block_public_acls(b.block_public_acls)
                .ignore_public_acls(b.ignore_public_acls)
                .block_public_policy(b.block_public_policy)
                .restrict_public_buckets(b.restrict_public_buckets)
                .build();
            client
                .put_public_access_block()
                .bucket(name)
                .public_access_block_configuration(config)
                .send()
                .await
                .map_err(failed("PutPublicAccessBlock"))?;
        }
        Change::Ownership(o) => {
            let rule = s3::OwnershipControlsRule::builder()
                .object_ownership(sdk_ownership(o))
                .build()?;
            client
                .put_bucket_ownership_controls()
                .bucket(name)
                .ownership_controls(s3::OwnershipControls::builder().rules(rule).build()?)
                .send()
                .await
                .map_err(failed("PutBucketOwnershipControls"))?;
        }
        Change::AccessControl(acl) => {
            client
                .put_bucket_acl()
                .bucket(name)
                .acl(canned_acl(acl))
                .send()
                .await
                .map_err(failed("PutBucketAcl"))?;
        }
        Change::Versioning(enabled) => {
            let status = if enabled {
                BucketVersioningStatus::Enabled
            } else {
                BucketVersioningStatus::Suspended
            };
            client
                .put_bucket_versioning()
                .bucket(name)
                .versioning_configuration(
                    s3::VersioningConfiguration::builder()
                        .status(status)
                        .build(),
                )
                .send()
                .await
                .map_err(failed("PutBucketVersioning"))?;
        }
        Change::Encryption(e) => {
            let algorithm = match e.sse_algorithm {
                SseAlgorithm::Aes256 => s3::ServerSideEncryption::Aes256,
                SseAlgorithm::AwsKms => s3::ServerSideEncryption::AwsKms,
            };
            let default = s3::ServerSideEncryptionByDefault::builder()
                .sse_algorithm(algorithm)
                .set_kms_master_key_id(e.kms_master_key_id.clone())
                .build()?;
            let rule = s3::ServerSideEncryptionRule::builder()
                .apply_server_side_encryption_by_default(default)
                .set_bucket_key_enabled(e.bucket_key_enabled)
                .build();
            client
                .put_bucket_encryption()
                .bucket(name)
                .server_side_encryption_configuration(
                    s3::ServerSideEncryptionConfiguration::builder()
                        .rules(rule)
                        .build()?,
                )
                .send()
                .await
                .map_err(failed("PutBucketEncryption"))?;
        }
        Change::Logging(target) => {
            let enabled = target
                .map(|t| {
                    s3::LoggingEnabled::builder()
                        .target_bucket(t.bucket)
                        .target_prefix(t.prefix)
                        .build()
                })
                .transpose()?;
            client
                .put_bucket_logging()
                .bucket(name)
                .bucket_logging_status(
                    s3::BucketLoggingStatus::builder()
                        .set_logging_enabled(enabled)
                        .build(),
                )
                .send()
                .await
                .map_err(failed("PutBucketLogging"))?;
        }
        Change::Website(None) => {
            client
                .delete_bucket_website()
                .bucket(name)
                .send()
                .await
                .map_err(failed("DeleteBucketWebsite"))?;
        }
        Change::Website(Some(pages)) => {
            let config = s3::WebsiteConfiguration::builder()
                .index_document(s3::IndexDocument::builder().suffix(pages.index).build()?)
                .error_document(s3::ErrorDocument::builder().key(pages.error).build()?)
                .build();
            client
                .put_bucket_website()
                .bucket(name)
                .website_configuration(config)
                .send()
                .await
                .map_err(failed("PutBucketWebsite"))?;
        }
        Change::LifecycleRules(rules) if rules.is_empty() => {
            client
                .delete_bucket_lifecycle()
                .bucket(name)
                .send()
                .await
                .map_err(failed("DeleteBucketLifecycle"))?;
        }
        Change::LifecycleRules(rules) => {
            let rules = rules
                .iter()
                .map(sdk_lifecycle_rule)
                .collect::<Result<Vec<_>, _>>()?;
            client
                .put_bucket_lifecycle_configuration()
                .bucket(name)
                .lifecycle_configuration(
                    s3::BucketLifecycleConfiguration::builder()
                        .set_rules(Some(rules))
                        .build()?,
                )
                .send()
                .await
                .map_err(failed("PutBucketLifecycleConfiguration"))?;
        }
        Change::Cors(rules) if rules.is_empty() => {
            client
                .delete_bucket_cors()
                .bucket(name)
                .send()
                .await
                .map_err(failed("DeleteBucketCors"))?;
        }
        Change::Cors(rules) => {
            let rules = rules
                .iter()
                .map(sdk_cors_rule)
                .collect::<Result<Vec<_>, _>>()?;
            client
                .put_bucket_cors()
                .bucket(name)
                .cors_configuration(
                    s3::CorsConfiguration::builder()
                        .set_cors_rules(Some(rules))
                        .build()?,
                )
                .send()
                .await
                .map_err(failed("PutBucketCors"))?;
        }
        Change::Policy(None) => {
            client
                .delete_bucket_policy()
                .bucket(name)
                .send()
                .await
                .map_err(failed("DeleteBucketPolicy"))?;
        }
        Change::Policy(Some(policy)) => {
            client
                .put_bucket_policy()
                .bucket(name)
                .policy(policy)
                .send()
                .await
                .map_err(failed("PutBucketPolicy"))?;
        }
        Change::Tags(tags) => put_tags(client, name, &tags).await?,
    }
    Ok(())
}

/// Pages of up to 1000 objects deleted in one reconcile; a larger bucket is emptied over several.
const MAX_PAGES: usize = 100;

/// Deletes every object version and delete marker (unversioned objects are listed with the
/// version id "null"). Returns how many were deleted.
async fn empty_bucket(client: &Client, name: &str) -> Result<usize, AwsError> {
    let mut deleted = 0;
    for page in 0.. {
        if page == MAX_PAGES {
            return Err(AwsError::retryable(
                "BucketNotEmpty",
                format!(
                    "bucket {name:?} is still being emptied ({deleted} objects deleted so far)"
                ),
            ));
        }
        let out = client
            .list_object_versions()
            .bucket(name)
            .send()
            .await
            .map_err(failed("ListObjectVersions"))?;
        let ids: Vec<(String, Option<String>)> = out
            .versions()
            .iter()
            .filter_map(|v| Some((v.key()?.to_owned(), v.version_id().map(str::to_owned))))
            .chain(
                out.delete_markers()
                    .iter()
                    .filter_map(|m| Some((m.key()?.to_owned(), m.version_id().map(str::to_owned)))),
            )
            .collect();
        if ids.is_empty() {
            break;
        }
        deleted += delete_objects(client, name, ids).await?;
    }
    Ok(deleted)
}

/// One DeleteObjects call (at most 1000 keys, as S3 lists at most that many per page).
async fn delete_objects(
    client: &Client,
    name: &str,
    ids: Vec<(String, Option<String>)>,
) -> Result<usize, AwsError> {
    let count = ids.len();
    let objects = ids
        .into_iter()
        .map(|(key, version)| {
            s3::ObjectIdentifier::builder()
                .key(key)
                .set_version_id(version)
                .build()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let out = client
        .delete_objects()
        .bucket(name)
        .delete(
            s3::Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()?,
        )
        .send()
        .await
        .map_err(failed("DeleteObjects"))?;
    if let Some(e) = out.errors().first() {
        return Err(AwsError::terminal(
            e.code().unwrap_or("DeleteObjectsFailed"),
            format!(
                "emptying bucket {name:?}: cannot delete {:?}: {}",
                e.key().unwrap_or_default(),
                e.message().unwrap_or_default()
            ),
        ));
    }
    Ok(count)
}

fn canned_acl(acl: AccessControl) -> BucketCannedAcl {
    match acl {
        AccessControl::Private
        | AccessControl::BucketOwnerRead
        | AccessControl::BucketOwnerFullControl => BucketCannedAcl::Private,
        AccessControl::PublicRead => BucketCannedAcl::PublicRead,
        AccessControl::PublicReadWrite => BucketCannedAcl::PublicReadWrite,
        AccessControl::AuthenticatedRead => BucketCannedAcl::AuthenticatedRead,
        AccessControl::LogDeliveryWrite => BucketCannedAcl::from("log-delivery-write"),
        AccessControl::AwsExecRead => BucketCannedAcl::from("aws-exec-read"),
    }
}

fn sdk_ownership(o: ObjectOwnership) -> s3::ObjectOwnership {
    match o {
        ObjectOwnership::BucketOwnerEnforced => s3::ObjectOwnership::BucketOwnerEnforced,
        ObjectOwnership::BucketOwnerPreferred => s3::ObjectOwnership::BucketOwnerPreferred,
        ObjectOwnership::ObjectWriter => s3::ObjectOwnership::ObjectWriter,
    }
}

fn storage_class(c: &s3::TransitionStorageClass) -> Option<StorageClass> {
    use s3::TransitionStorageClass as T;
    Some(match c {
        T::StandardIa => StorageClass::StandardIa,
        T::OnezoneIa => StorageClass::OnezoneIa,
        T::IntelligentTiering => StorageClass::IntelligentTiering,
        T::Glacier => StorageClass::Glacier,
        T::GlacierIr => StorageClass::GlacierIr,
        T::DeepArchive => StorageClass::DeepArchive,
        _ => return None,
    })
}

fn sdk_storage_class(c: StorageClass) -> s3::TransitionStorageClass {
    use s3::TransitionStorageClass as T;
    match c {
        StorageClass::StandardIa => T::StandardIa,
        StorageClass::OnezoneIa => T::OnezoneIa,
        StorageClass::IntelligentTiering => T::IntelligentTiering,
        StorageClass::Glacier => T::Glacier,
        StorageClass::GlacierIr => T::GlacierIr,
        StorageClass::DeepArchive => T::DeepArchive,
    }
}

fn sdk_lifecycle_rule(r: &LifecycleRule) -> Result<s3::LifecycleRule, AwsError> {
    let status = match r.status {
        RuleStatus::Enabled => s3::ExpirationStatus::Enabled,
        RuleStatus::Disabled => s3::ExpirationStatus::Disabled,
    };
    let mut rule = s3::LifecycleRule::builder()
        .id(&r.id)
        .status(status)
        .filter(
            s3::LifecycleRuleFilter::builder()
                .prefix(r.prefix.clone().unwrap_or_default())
                .build(),
        );
    if let Some(e) = &r.expiration {
        rule = rule.expiration(s3::LifecycleExpiration::builder().days(e.days).build());
    }
    for t in &r.transitions {
        rule = rule.transitions(
            s3::Transition::builder()
                .days(t.days)
                .storage_class(sdk_storage_class(t.storage_class))
                .build(),
        );
    }
    if let Some(e) = &r.noncurrent_version_expiration {
        rule = rule.noncurrent_version_expiration(
            s3::NoncurrentVersionExpiration::builder()
                .noncurrent_days(e.noncurrent_days)
                .build(),
        );
    }
    if let Some(a) = &r.abort_incomplete_multipart_upload {
        rule = rule.abort_incomplete_multipart_upload(
            s3::AbortIncompleteMultipartUpload::builder()
                .days_after_initiation(a.days_after_initiation)
                .build(),
        );
    }
    Ok(rule.build()?)
}

fn cors_method(m: &str) -> Option<CorsMethod> {
    Some(match m {
        "GET" => CorsMethod::Get,
        "PUT" => CorsMethod::Put,
        "POST" => CorsMethod::Post,
        "DELETE" => CorsMethod::Delete,
        "HEAD" => CorsMethod::Head,
        _ => return None,
    })
}

fn sdk_cors_rule(r: &CorsRule) -> Result<s3::CorsRule, AwsError> {
    let methods = r
        .allowed_methods
        .iter()
        .map(|m| {
            match m {
                CorsMethod::Get => "GET",
                CorsMethod::Put => "PUT",
                CorsMethod::Post => "POST",
                CorsMethod::Delete => "DELETE",
                CorsMethod::Head => "HEAD",
            }
            .to_owned()
        })
        .collect();
    Ok(s3::CorsRule::builder()
        .set_id(r.id.clone())
        .set_allowed_origins(Some(r.allowed_origins.clone()))
        .set_allowed_methods(Some(methods))
        .set_allowed_headers((!r.allowed_headers.is_empty()).then(|| r.allowed_headers.clone()))
        .set_expose_headers((!r.expose_headers.is_empty()).then(|| r.expose_headers.clone()))
        .set_max_age_seconds(r.max_age_seconds)
        .build()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versioning_status_is_read_from_any_root_element() {
        let body = br#"<?xml version="1.0"?><GetBucketVersioningResponse xmlns="x"><Status>Suspended</Status></GetBucketVersioningResponse>"#;
        assert_eq!(versioning_in(body), Some(Versioning::Suspended));
        assert_eq!(versioning_in(b"<GetBucketVersioningResponse/>"), None);
    }

    #[test]
    fn the_endpoint_service_name_is_a_dns_label() {
        assert_eq!(service_name("assets"), "assets");
        assert_eq!(service_name("assets.example.com"), "assets-example-com");
        assert_eq!(service_name("2024-logs"), "s3-2024-logs");
        let long = service_name(&format!("{}-x", "a".repeat(61)));
        assert!(long.len() <= 63 && !long.ends_with('-'), "{long}");
    }

    #[test]
    fn the_endpoint_is_virtual_hosted() {
        assert_eq!(
            virtual_host("assets", "eu-west-1"),
            "assets.s3.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            virtual_host("assets", "cn-north-1"),
            "assets.s3.cn-north-1.amazonaws.com.cn"
        );
    }

    #[test]
    fn arn_follows_the_partition() {
        assert_eq!(bucket_arn("b", "eu-west-1"), "arn:aws:s3:::b");
        assert_eq!(bucket_arn("b", "cn-north-1"), "arn:aws-cn:s3:::b");
    }

    #[test]
    fn website_endpoint_depends_on_the_region() {
        assert_eq!(
            website_url("b", "us-east-1"),
            "http://b.s3-website-us-east-1.amazonaws.com"
        );
        assert_eq!(
            website_url("b", "eu-central-1"),
            "http://b.s3-website.eu-central-1.amazonaws.com"
        );
    }
}
