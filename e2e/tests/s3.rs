//! The S3 controller end to end: the operator against the local control plane and moto.
//! Run by `just test`.

use std::time::Duration;

use aws_sdk_s3::{
    primitives::ByteStream,
    types::{BucketVersioningStatus, PublicAccessBlockConfiguration, VersioningConfiguration},
};
use dynamodb_controller::DynamoDB;
use e2e::{
    Env, Operator, Resources, TIMEOUT, condition, config_map, env, event_reasons, install_crds,
    is_ready, kubectl, kubectl_apply, namespace, wait_for, wait_for_event, wait_gone, wait_until,
};
use kube::{
    Api, ResourceExt,
    api::{DeleteParams, PostParams},
};
use s3_controller::S3Bucket;
use serde_json::json;

struct Setup {
    env: Env,
    ns: String,
    resources: Resources<S3Bucket>,
    s3: aws_sdk_s3::Client,
}

async fn setup(test: &str) -> Setup {
    let env = env().await;
    install_crds(&env.kube).await;
    let ns = namespace(&env.kube, test, &[]).await;
    let resources = Resources::new(&env.kube, &ns);
    // moto on 127.0.0.1 cannot serve virtual-hosted bucket names.
    let config = aws_sdk_s3::config::Builder::from(&env.aws)
        .force_path_style(true)
        .build();
    let s3 = aws_sdk_s3::Client::from_conf(config);
    Setup {
        env,
        ns,
        resources,
        s3,
    }
}

impl std::ops::Deref for Setup {
    type Target = Resources<S3Bucket>;
    fn deref(&self) -> &Resources<S3Bucket> {
        &self.resources
    }
}

impl Setup {
    /// A unique, valid bucket name for this test run.
    fn bucket(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.ns)
    }

    async fn exists(&self, bucket: &str) -> bool {
        match self.s3.head_bucket().bucket(bucket).send().await {
            Ok(_) => true,
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => false,
            Err(e) => panic!("HeadBucket {bucket}: {e:?}"),
        }
    }

    async fn tags(&self, bucket: &str) -> Vec<(String, String)> {
        match self.s3.get_bucket_tagging().bucket(bucket).send().await {
            Ok(out) => out
                .tag_set()
                .iter()
                .map(|t| (t.key().to_owned(), t.value().to_owned()))
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// `None` when never enabled. moto answers with a root element the SDK refuses, so the
    /// status is then read from the body.
    async fn versioning(&self, bucket: &str) -> Option<BucketVersioningStatus> {
        match self.s3.get_bucket_versioning().bucket(bucket).send().await {
            Ok(out) => out.status().cloned(),
            Err(e) if e.raw_response().is_some_and(|r| r.status().is_success()) => {
                let body = e.raw_response()?.body().bytes()?;
                let body = String::from_utf8_lossy(body);
                ["Enabled", "Suspended"]
                    .into_iter()
                    .find(|s| body.contains(&format!("<Status>{s}</Status>")))
                    .map(BucketVersioningStatus::from)
            }
            Err(e) => panic!("GetBucketVersioning {bucket}: {e:?}"),
        }
    }

    async fn policy(&self, bucket: &str) -> Option<String> {
        self.s3
            .get_bucket_policy()
            .bucket(bucket)
            .send()
            .await
            .ok()
            .and_then(|o| o.policy)
    }

    async fn public_access_block(&self, bucket: &str) -> Option<PublicAccessBlockConfiguration> {
        self.s3
            .get_public_access_block()
            .bucket(bucket)
            .send()
            .await
            .ok()
            .and_then(|o| o.public_access_block_configuration)
    }

    async fn put_object(&self, bucket: &str, key: &str) {
        self.s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(ByteStream::from_static(b"hello"))
            .send()
            .await
            .unwrap();
    }

    async fn wait_bucket_gone(&self, bucket: &str) {
        let gone = wait_until(TIMEOUT, || async {
            (!self.exists(bucket).await).then_some(())
        })
        .await;
        assert!(gone.is_some(), "bucket {bucket} still exists in AWS");
    }

    async fn delete(&self, name: &str) {
        self.api
            .delete(name, &DeleteParams::default())
            .await
            .unwrap();
    }
}

fn all_blocked(c: &PublicAccessBlockConfiguration) -> bool {
    c.block_public_acls() == Some(true)
        && c.ignore_public_acls() == Some(true)
        && c.block_public_policy() == Some(true)
        && c.restrict_public_buckets() == Some(true)
}

/// A policy that refuses reading object tags to everyone and lets S3 write access logs into it.
fn deny_policy(bucket: &str, sid: &str) -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": sid,
            "Effect": "Deny",
            // Not "*": moto's logging permission check crashes on a string principal.
            "Principal": {"AWS": "*"},
            "Action": "s3:GetObjectTagging",
            "Resource": format!("arn:aws:s3:::{bucket}/*")
        }, {
            "Sid": "Logs",
            "Effect": "Allow",
            "Principal": {"Service": "logging.s3.amazonaws.com"},
            "Action": "s3:PutObject",
            "Resource": format!("arn:aws:s3:::{bucket}/*")
        }]
    })
    .to_string()
}

#[tokio::test]
async fn a_minimal_bucket_is_secure_and_every_mutable_field_reaches_s3() {
    let s = setup("s3-lifecycle").await;
    let _op = Operator::start(&s.ns, &[]);
    let bucket = s.bucket("main");
    let (ok, err) = kubectl_apply(
        &s.ns,
        &format!(
            "apiVersion: service-operator.aws/v1alpha1\nkind: S3Bucket\nmetadata:\n  name: {bucket}\nspec: {{}}\n"
        ),
    );
    assert!(ok, "{err}");
    let obj = s.wait_ready(&bucket).await;

    // The bucket exists, carries the ownership tags, and blocks all public access.
    assert!(s.exists(&bucket).await);
    assert!(
        s.tags(&bucket)
            .await
            .contains(&("service-operator.aws/uid".into(), obj.uid().unwrap())),
        "ownership tags: {:?}",
        s.tags(&bucket).await
    );
    let block = s
        .public_access_block(&bucket)
        .await
        .expect("no public access block");
    assert!(all_blocked(&block), "{block:?}");
    assert_eq!(s.versioning(&bucket).await, None);

    let arn = format!("arn:aws:s3:::{bucket}");
    let status = obj.status.clone().unwrap();
    assert_eq!(status.arn.as_deref(), Some(arn.as_str()));
    assert_eq!(status.fields.bucket_name.as_deref(), Some(bucket.as_str()));
    assert_eq!(status.region.as_deref(), Some("us-east-1"));

    let cm = config_map(&s.env.kube, &s.ns, &bucket).await;
    let data = cm.data.clone().unwrap();
    assert_eq!(data.get("bucketName"), Some(&bucket));
    assert_eq!(data.get("bucketARN"), Some(&arn));
    assert_eq!(data.get("region").map(String::as_str), Some("us-east-1"));
    assert_eq!(
        data.get("bucketURL"),
        Some(&format!("https://{bucket}.s3.us-east-1.amazonaws.com"))
    );
    // The original wrote every key, empty when there is no website.
    assert_eq!(
        data.get("websiteURL").map(String::as_str),
        Some(""),
        "{data:?}"
    );
    assert_eq!(data.get("serviceName"), Some(&bucket), "{data:?}");

    let view = kubectl(&["get", "s3", "-n", &s.ns]);
    let header: Vec<&str> = view.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, vec!["NAME", "READY", "SYNCED", "AGE"], "{view}");
    let wide = kubectl(&["get", "bucket", "-n", &s.ns, "-o", "wide"]);
    assert!(wide.contains(&arn), "{wide}");

    // Every mutable field at once.
    let policy = deny_policy(&bucket, "NoDelete");
    let patched = s
        .patch_spec(
            &bucket,
            json!({
                "versioning": true,
                "publicAccessBlock": {"blockPublicAcls": false, "ignorePublicAcls": false, "blockPublicPolicy": true, "restrictPublicBuckets": true},
                "ownershipControls": {"objectOwnership": "ObjectWriter"},
                "accessControl": "PublicRead",
                "logging": {"enabled": true, "prefix": "logs/"},
                "website": {"enabled": true},
                "encryption": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": "my-key"},
                "lifecycleRules": [{"id": "expire-tmp", "prefix": "tmp/", "expiration": {"days": 7}, "abortIncompleteMultipartUpload": {"daysAfterInitiation": 2}}],
                "cors": [{"allowedOrigins": ["https://example.com"], "allowedMethods": ["GET", "HEAD"], "maxAgeSeconds": 300}],
                "policy": policy,
                "tags": {"team": "storage"},
            }),
        )
        .await;
    let obj = s.wait_synced(&bucket, patched.metadata.generation).await;

    assert_eq!(
        s.versioning(&bucket).await,
        Some(BucketVersioningStatus::Enabled)
    );
    let block = s.public_access_block(&bucket).await.unwrap();
    assert_eq!(
        (block.block_public_acls(), block.block_public_policy()),
        (Some(false), Some(true))
    );
    let ownership =
        s.s3.get_bucket_ownership_controls()
            .bucket(&bucket)
            .send()
            .await
            .unwrap();
    assert_eq!(
        ownership.ownership_controls().unwrap().rules()[0]
            .object_ownership()
            .as_str(),
        "ObjectWriter"
    );
    let acl = s.s3.get_bucket_acl().bucket(&bucket).send().await.unwrap();
    assert!(
        acl.grants().iter().any(|g| g
            .grantee()
            .and_then(|g| g.uri())
            .is_some_and(|u| u.ends_with("/AllUsers"))),
        "{acl:?}"
    );
    let logging =
        s.s3.get_bucket_logging()
            .bucket(&bucket)
            .send()
            .await
            .unwrap();
    let logging = logging.logging_enabled().expect("logging is off");
    assert_eq!(
        (logging.target_bucket(), logging.target_prefix()),
        (bucket.as_str(), "logs/")
    );
    let website =
        s.s3.get_bucket_website()
            .bucket(&bucket)
            .send()
            .await
            .unwrap();
    assert_eq!(website.index_document().unwrap().suffix(), "index.html");
    assert_eq!(website.error_document().unwrap().key(), "500.html");
    let encryption =
        s.s3.get_bucket_encryption()
            .bucket(&bucket)
            .send()
            .await
            .unwrap();
    let rule = &encryption
        .server_side_encryption_configuration()
        .unwrap()
        .rules()[0];
    let default = rule.apply_server_side_encryption_by_default().unwrap();
    assert_eq!(default.sse_algorithm().as_str(), "aws:kms");
    assert_eq!(default.kms_master_key_id(), Some("my-key"));
    let lifecycle =
        s.s3.get_bucket_lifecycle_configuration()
            .bucket(&bucket)
            .send()
            .await
            .unwrap();
    assert_eq!(lifecycle.rules()[0].id(), Some("expire-tmp"));
    assert_eq!(lifecycle.rules()[0].expiration().unwrap().days(), Some(7));
    let cors = s.s3.get_bucket_cors().bucket(&bucket).send().await.unwrap();
    assert_eq!(cors.cors_rules()[0].allowed_methods(), ["GET", "HEAD"]);
    assert_eq!(cors.cors_rules()[0].max_age_seconds(), Some(300));
    let stored: serde_json::Value =
        serde_json::from_str(&s.policy(&bucket).await.unwrap()).unwrap();
    assert_eq!(
        stored,
        serde_json::from_str::<serde_json::Value>(&policy).unwrap()
    );
    assert!(
        s.tags(&bucket)
            .await
            .contains(&("team".into(), "storage".into()))
    );
    let data = config_map(&s.env.kube, &s.ns, &bucket).await.data.unwrap();
    assert_eq!(
        data.get("websiteURL"),
        Some(&format!(
            "http://{bucket}.s3-website-us-east-1.amazonaws.com"
        ))
    );
    assert!(is_ready(&obj));

    // Turning things off and removing them reaches S3 too.
    let patched = s
        .patch_spec(
            &bucket,
            json!({
                "versioning": false,
                "accessControl": "Private",
                "logging": {"enabled": false},
                "website": {"enabled": false},
                "lifecycleRules": [],
                "cors": [],
                "policy": "",
                "tags": null,
            }),
        )
        .await;
    s.wait_synced(&bucket, patched.metadata.generation).await;
    assert_eq!(
        s.versioning(&bucket).await,
        Some(BucketVersioningStatus::Suspended)
    );
    let website = s.s3.get_bucket_website().bucket(&bucket).send().await;
    assert!(website.is_err(), "website still on: {website:?}");
    let logging =
        s.s3.get_bucket_logging()
            .bucket(&bucket)
            .send()
            .await
            .unwrap();
    assert!(logging.logging_enabled().is_none());
    assert!(s.policy(&bucket).await.is_none());
    assert!(
        s.s3.get_bucket_cors().bucket(&bucket).send().await.is_err(),
        "CORS rules left"
    );
    assert!(
        !s.tags(&bucket).await.iter().any(|(k, _)| k == "team"),
        "user tag left"
    );
    let reasons = event_reasons(&s.env.kube, &s.ns, &bucket).await;
    assert!(
        reasons.iter().any(|r| r == "Created") && reasons.iter().any(|r| r == "Updated"),
        "{reasons:?}"
    );

    // Delete removes the bucket, then the resource and its ConfigMap. The bucket logged its own
    // accesses into itself, so it takes force deletion.
    s.annotate(&bucket, "service-operator.aws/force-delete", "true")
        .await;
    s.delete(&bucket).await;
    wait_gone(&s.api, &bucket, TIMEOUT).await;
    assert!(!s.exists(&bucket).await, "the bucket outlived its resource");
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(s.env.kube.clone(), &s.ns);
    wait_gone(&cms, &bucket, TIMEOUT).await;
}

#[tokio::test]
async fn drift_is_corrected_at_resync_and_quiet_resyncs_write_nothing() {
    let s = setup("s3-drift").await;
    let op = Operator::start(&s.ns, &[]);
    let bucket = s.bucket("drift");
    let policy = deny_policy(&bucket, "Keep");
    s.create(
        "drift",
        json!({
            "bucketName": bucket,
            "versioning": true,
            "policy": policy,
            "encryption": {"sseAlgorithm": "AES256"},
            "lifecycleRules": [{"id": "old", "noncurrentVersionExpiration": {"noncurrentDays": 30}}],
            "cors": [{"allowedOrigins": ["*"], "allowedMethods": ["GET"]}],
            "website": {"enabled": true, "indexPage": "home.html"},
            "tags": {"team": "a"},
        }),
        json!({"service-operator.aws/resync-period": "2s"}),
    )
    .await;
    s.wait_ready("drift").await;
    // Let the reconciles that follow creation settle before counting.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let (writes, reads) = (op.aws_calls("write"), op.aws_calls("read"));
    tokio::time::sleep(Duration::from_secs(9)).await;
    let (writes_after, reads_after) = (op.aws_calls("write"), op.aws_calls("read"));
    assert_eq!(
        writes_after,
        writes,
        "steady state made AWS write calls:\n{}",
        op.metrics()
    );
    // Each resync reads the bucket and its settings: at least three resyncs happened.
    assert!(
        reads_after >= reads + 3 * 10,
        "resyncs did not run: reads {reads} -> {reads_after}"
    );

    // Changes made behind the operator's back are corrected at the next resync.
    s.s3.put_bucket_versioning()
        .bucket(&bucket)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Suspended)
                .build(),
        )
        .send()
        .await
        .unwrap();
    s.s3.delete_bucket_policy()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    s.s3.delete_public_access_block()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let corrected = wait_until(Duration::from_secs(30), || async {
        let versioned = s.versioning(&bucket).await == Some(BucketVersioningStatus::Enabled);
        let policy = s.policy(&bucket).await.is_some();
        let blocked = s
            .public_access_block(&bucket)
            .await
            .is_some_and(|b| all_blocked(&b));
        (versioned && policy && blocked).then_some(())
    })
    .await;
    assert!(corrected.is_some(), "drift was not corrected");
    assert!(
        wait_for_event(&s.env.kube, &s.ns, "drift", "DriftCorrected").await,
        "no DriftCorrected event"
    );

    s.delete("drift").await;
    wait_gone(&s.api, "drift", TIMEOUT).await;
    s.wait_bucket_gone(&bucket).await;
}

#[tokio::test]
async fn retain_policy_keeps_the_bucket() {
    let s = setup("s3-retain").await;
    let _op = Operator::start(&s.ns, &[]);
    let bucket = s.bucket("kept");
    s.create(
        "kept",
        json!({"bucketName": bucket}),
        json!({"service-operator.aws/deletion-policy": "retain"}),
    )
    .await;
    s.wait_ready("kept").await;
    s.delete("kept").await;
    wait_gone(&s.api, "kept", TIMEOUT).await;
    assert!(s.exists(&bucket).await, "retain deleted the bucket");
    s.s3.delete_bucket().bucket(&bucket).send().await.unwrap();
}

#[tokio::test]
async fn a_bucket_with_objects_is_deleted_only_when_forced() {
    let s = setup("s3-nonempty").await;
    let _op = Operator::start(&s.ns, &[]);
    let bucket = s.bucket("full");
    s.create(
        "full",
        json!({"bucketName": bucket, "versioning": true}),
        json!({}),
    )
    .await;
    s.wait_ready("full").await;
    // Two versions of one object and a second object.
    s.put_object(&bucket, "a.txt").await;
    s.put_object(&bucket, "a.txt").await;
    s.put_object(&bucket, "dir/b.txt").await;

    s.delete("full").await;
    let blocked = wait_for(&s.api, "full", TIMEOUT, "blocked from deletion", |o| {
        condition(o, "Synced").is_some_and(|c| {
            c.reason == "DeleteFailed"
                && c.message.contains("BucketNotEmpty")
                && c.message.contains("service-operator.aws/force-delete")
        })
    })
    .await;
    assert!(
        condition(&blocked, "Terminal").is_some_and(|c| c.status == "True"),
        "{blocked:?}"
    );
    assert!(s.exists(&bucket).await);
    let reasons = event_reasons(&s.env.kube, &s.ns, "full").await;
    assert!(reasons.iter().any(|r| r == "DeleteFailed"), "{reasons:?}");

    // Forcing empties every version, then deletes the bucket.
    s.annotate("full", "service-operator.aws/force-delete", "true")
        .await;
    wait_gone(&s.api, "full", TIMEOUT).await;
    s.wait_bucket_gone(&bucket).await;
}

#[tokio::test]
async fn a_bucket_that_is_not_ours_is_left_alone_until_adopted() {
    let s = setup("s3-adopt").await;
    let _op = Operator::start(&s.ns, &[]);
    let bucket = s.bucket("foreign");
    s.s3.create_bucket().bucket(&bucket).send().await.unwrap();
    s.s3.put_bucket_tagging()
        .bucket(&bucket)
        .tagging(
            aws_sdk_s3::types::Tagging::builder()
                .tag_set(
                    aws_sdk_s3::types::Tag::builder()
                        .key("owner")
                        .value("someone")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    s.create(
        "foreign",
        json!({"bucketName": bucket, "versioning": true, "tags": {"owner": "someone"}}),
        json!({}),
    )
    .await;
    let obj = wait_for(&s.api, "foreign", TIMEOUT, "NotOwned", |o| {
        condition(o, "Terminal").is_some_and(|c| c.status == "True" && c.reason == "NotOwned")
    })
    .await;
    assert!(!is_ready(&obj));
    assert!(condition(&obj, "Ready").unwrap().message.contains("adopt"));
    // Untouched: no versioning, no public access block, its own tags only.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(s.versioning(&bucket).await, None);
    assert!(s.public_access_block(&bucket).await.is_none());
    assert_eq!(
        s.tags(&bucket).await,
        vec![("owner".to_owned(), "someone".to_owned())]
    );

    s.annotate("foreign", "service-operator.aws/adopt", "true")
        .await;
    let adopted = s.wait_ready("foreign").await;
    let tags = s.tags(&bucket).await;
    assert!(
        tags.contains(&("service-operator.aws/uid".into(), adopted.uid().unwrap()))
            && tags.contains(&("owner".into(), "someone".into())),
        "{tags:?}"
    );
    let managed = wait_until(TIMEOUT, || async {
        let versioned = s.versioning(&bucket).await == Some(BucketVersioningStatus::Enabled);
        let blocked = s
            .public_access_block(&bucket)
            .await
            .is_some_and(|b| all_blocked(&b));
        (versioned && blocked).then_some(())
    })
    .await;
    assert!(
        managed.is_some(),
        "the adopted bucket was not brought to the spec"
    );
    let reasons = event_reasons(&s.env.kube, &s.ns, "foreign").await;
    assert!(reasons.iter().any(|r| r == "Adopted"), "{reasons:?}");

    s.delete("foreign").await;
    wait_gone(&s.api, "foreign", TIMEOUT).await;
    s.wait_bucket_gone(&bucket).await;
}

#[tokio::test]
async fn bad_input_and_immutable_changes_are_refused_at_admission() {
    let s = setup("s3-admission").await;
    let manifest = |name: &str, spec: &str| {
        format!(
            "apiVersion: service-operator.aws/v1alpha1\nkind: S3Bucket\nmetadata:\n  name: {name}\nspec:\n{spec}"
        )
    };
    let refused = [
        ("upper", "  bucketName: Not-Valid\n", "spec.bucketName"),
        ("short", "  bucketName: ab\n", "spec.bucketName"),
        (
            "bad-acl",
            "  accessControl: Everyone\n",
            "Unsupported value: \"Everyone\"",
        ),
        (
            "kms-key-without-kms",
            "  encryption: {sseAlgorithm: AES256, kmsMasterKeyId: k}\n",
            "encryption.kmsMasterKeyId needs sseAlgorithm aws:kms",
        ),
        (
            "bad-cors",
            "  cors: [{allowedOrigins: ['*'], allowedMethods: [PATCH]}]\n",
            "Unsupported value: \"PATCH\"",
        ),
        (
            "bad-expiration",
            "  lifecycleRules: [{id: x, expiration: {days: 0}}]\n",
            "should be greater than or equal to 1",
        ),
    ];
    for (name, spec, message) in refused {
        let (ok, err) = kubectl_apply(&s.ns, &manifest(name, spec));
        assert!(!ok, "{name} was accepted");
        assert!(
            err.contains(message),
            "{name}: expected {message:?} in: {err}"
        );
    }

    let valid = format!("  bucketName: {}\n", s.bucket("fixed"));
    let (ok, err) = kubectl_apply(&s.ns, &manifest("immutable", &valid));
    assert!(ok, "{err}");
    let (ok, err) = kubectl_apply(
        &s.ns,
        &manifest(
            "immutable",
            &format!("  bucketName: {}\n", s.bucket("other")),
        ),
    );
    assert!(
        !ok && err.contains("bucketName is immutable"),
        "expected an immutability error, got ok={ok}: {err}"
    );
    // A mutable field still changes.
    let (ok, err) = kubectl_apply(
        &s.ns,
        &manifest("immutable", &format!("{valid}  versioning: true\n")),
    );
    assert!(ok, "{err}");
    s.delete("immutable").await;
}

#[tokio::test]
async fn the_s3_binary_alone_manages_buckets_in_its_region_and_nothing_else() {
    let s = setup("s3-binary").await;
    let _op = Operator::start_binary("s3-controller", &s.ns, &["--aws-region", "eu-west-1"]);
    let bucket = s.bucket("alone");
    s.create("alone", json!({"bucketName": bucket}), json!({}))
        .await;
    let obj = s.wait_ready("alone").await;
    assert_eq!(obj.status.unwrap().region.as_deref(), Some("eu-west-1"));
    // CreateBucket named the operator's region as the location constraint.
    let location =
        s.s3.get_bucket_location()
            .bucket(&bucket)
            .send()
            .await
            .unwrap();
    assert_eq!(
        location.location_constraint().map(|l| l.as_str()),
        Some("eu-west-1")
    );
    let data = config_map(&s.env.kube, &s.ns, "alone").await.data.unwrap();
    assert_eq!(data.get("region").map(String::as_str), Some("eu-west-1"));

    // A DynamoDB resource in the same namespace is not this binary's business.
    let ddb: Api<DynamoDB> = Api::namespaced(s.env.kube.clone(), &s.ns);
    let table: DynamoDB = serde_json::from_value(json!({
        "apiVersion": "service-operator.aws/v1alpha1",
        "kind": "DynamoDB",
        "metadata": {"name": "not-mine"},
        "spec": {"tableName": s.bucket("not-mine"), "hashAttribute": {"name": "id", "type": "S"}, "billingMode": "PAY_PER_REQUEST"},
    }))
    .unwrap();
    ddb.create(&PostParams::default(), &table).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let table = ddb.get("not-mine").await.unwrap();
    assert!(
        table.status.is_none() && table.finalizers().is_empty(),
        "the S3 binary touched a DynamoDB resource: {table:?}"
    );
    ddb.delete("not-mine", &DeleteParams::default())
        .await
        .unwrap();

    s.delete("alone").await;
    wait_gone(&s.api, "alone", TIMEOUT).await;
    s.wait_bucket_gone(&bucket).await;
}
