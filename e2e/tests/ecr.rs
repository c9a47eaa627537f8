//! The ECR controller end to end: the operator against the local control plane and moto.
//! Run by `just test`.

use std::time::Duration;

use aws_sdk_ecr::types::{ImageTagMutability, Repository};
use dynamodb_controller::DynamoDB;
use e2e::{
    Env, Operator, Resources, TIMEOUT, condition, config_map, env, event_reasons, install_crds,
    is_ready, kubectl, kubectl_apply, namespace, wait_for, wait_for_event, wait_gone, wait_until,
};
use ecr_controller::ECRRepository;
use kube::{
    Api, ResourceExt,
    api::{DeleteParams, PostParams},
};
use serde_json::json;

struct Setup {
    env: Env,
    ns: String,
    resources: Resources<ECRRepository>,
    ecr: aws_sdk_ecr::Client,
}

async fn setup(test: &str) -> Setup {
    let env = env().await;
    install_crds(&env.kube).await;
    let ns = namespace(&env.kube, test, &[]).await;
    let resources = Resources::new(&env.kube, &ns);
    let ecr = aws_sdk_ecr::Client::new(&env.aws);
    Setup {
        env,
        ns,
        resources,
        ecr,
    }
}

fn lifecycle_policy(days: u32) -> String {
    json!({"rules": [{
        "rulePriority": 1,
        "description": "expire untagged images",
        "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": days},
        "action": {"type": "expire"}
    }]})
    .to_string()
}

fn repository_policy(sid: &str) -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": sid,
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
            "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
        }]
    })
    .to_string()
}

fn same_json(a: &str, b: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(a).unwrap()
        == serde_json::from_str::<serde_json::Value>(b).unwrap()
}

impl std::ops::Deref for Setup {
    type Target = Resources<ECRRepository>;
    fn deref(&self) -> &Resources<ECRRepository> {
        &self.resources
    }
}

impl Setup {
    /// A unique repository name for this test run.
    fn repo(&self, suffix: &str) -> String {
        format!("{}/{suffix}", self.ns)
    }

    async fn describe(&self, repo: &str) -> Option<Repository> {
        match self
            .ecr
            .describe_repositories()
            .repository_names(repo)
            .send()
            .await
        {
            Ok(out) => out.repositories().first().cloned(),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_repository_not_found_exception()) =>
            {
                None
            }
            Err(e) => panic!("DescribeRepositories {repo}: {e:?}"),
        }
    }

    async fn tags(&self, arn: &str) -> Vec<(String, String)> {
        let out = self
            .ecr
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .unwrap();
        out.tags()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect()
    }

    async fn lifecycle_policy(&self, repo: &str) -> Option<String> {
        self.ecr
            .get_lifecycle_policy()
            .repository_name(repo)
            .send()
            .await
            .ok()
            .and_then(|o| o.lifecycle_policy_text)
    }

    async fn repository_policy(&self, repo: &str) -> Option<String> {
        self.ecr
            .get_repository_policy()
            .repository_name(repo)
            .send()
            .await
            .ok()
            .and_then(|o| o.policy_text)
    }

    async fn wait_repo_gone(&self, repo: &str) {
        let gone = wait_until(TIMEOUT, || async {
            self.describe(repo).await.is_none().then_some(())
        })
        .await;
        assert!(gone.is_some(), "repository {repo} still exists in AWS");
    }

    async fn delete(&self, name: &str) {
        self.api
            .delete(name, &DeleteParams::default())
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn the_original_manifest_creates_a_repository_and_every_mutable_field_reaches_ecr() {
    let s = setup("ecr-lifecycle").await;
    let _op = Operator::start(&s.ns, &[]);
    // The original operator's manifest: a name only. The resource name doubles as repository name.
    let name = format!("{}-app", s.ns);
    let (ok, err) = kubectl_apply(
        &s.ns,
        &format!(
            "apiVersion: service-operator.aws/v1alpha1\nkind: ECRRepository\nmetadata:\n  name: {name}\nspec: {{}}\n"
        ),
    );
    assert!(ok, "{err}");
    let obj = s.wait_ready(&name).await;

    let repo = s.describe(&name).await.expect("no repository in AWS");
    let arn = repo.repository_arn().unwrap().to_owned();
    let uri = repo.repository_uri().unwrap().to_owned();
    assert!(
        s.tags(&arn)
            .await
            .contains(&("service-operator.aws/uid".into(), obj.uid().unwrap())),
        "ownership tags: {:?}",
        s.tags(&arn).await
    );
    let status = obj.status.clone().unwrap();
    assert_eq!(status.arn.as_deref(), Some(arn.as_str()));
    assert_eq!(status.fields.repository_uri.as_deref(), Some(uri.as_str()));

    let data = config_map(&s.env.kube, &s.ns, &name).await.data.unwrap();
    assert_eq!(data.get("repositoryName"), Some(&name));
    assert_eq!(data.get("repositoryARN"), Some(&arn));
    assert_eq!(data.get("repositoryURL"), Some(&uri));
    assert!(uri.ends_with(&format!("/{name}")), "{uri}");

    let view = kubectl(&["get", "ecr", "-n", &s.ns]);
    let header: Vec<&str> = view.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, vec!["NAME", "READY", "SYNCED", "AGE"], "{view}");
    let wide = kubectl(&["get", "repository", "-n", &s.ns, "-o", "wide"]);
    assert!(wide.contains(&arn), "{wide}");

    // Every mutable field at once.
    let patched = s
        .patch_spec(
            &name,
            json!({
                "imageTagMutability": "IMMUTABLE",
                "scanOnPush": true,
                "lifecyclePolicy": lifecycle_policy(14),
                "repositoryPolicy": repository_policy("Pull"),
                "tags": {"team": "build"},
            }),
        )
        .await;
    s.wait_synced(&name, patched.metadata.generation).await;
    let repo = s.describe(&name).await.unwrap();
    assert_eq!(
        repo.image_tag_mutability(),
        Some(&ImageTagMutability::Immutable)
    );
    assert!(repo.image_scanning_configuration().unwrap().scan_on_push());
    assert!(same_json(
        &s.lifecycle_policy(&name).await.unwrap(),
        &lifecycle_policy(14)
    ));
    assert!(same_json(
        &s.repository_policy(&name).await.unwrap(),
        &repository_policy("Pull")
    ));
    assert!(
        s.tags(&arn)
            .await
            .contains(&("team".into(), "build".into()))
    );

    // Removing the policies and the tag reaches ECR too. (Not scanOnPush: false, which the SDK
    // leaves out of the request as the default, and which moto then ignores.)
    let patched = s
        .patch_spec(
            &name,
            json!({"lifecyclePolicy": "", "repositoryPolicy": "", "tags": null}),
        )
        .await;
    s.wait_synced(&name, patched.metadata.generation).await;
    assert!(s.lifecycle_policy(&name).await.is_none());
    assert!(s.repository_policy(&name).await.is_none());
    assert!(!s.tags(&arn).await.iter().any(|(k, _)| k == "team"));
    let reasons = event_reasons(&s.env.kube, &s.ns, &name).await;
    assert!(
        reasons.iter().any(|r| r == "Created") && reasons.iter().any(|r| r == "Updated"),
        "{reasons:?}"
    );

    s.delete(&name).await;
    wait_gone(&s.api, &name, TIMEOUT).await;
    assert!(
        s.describe(&name).await.is_none(),
        "the repository outlived its resource"
    );
}

#[tokio::test]
async fn drift_is_corrected_at_resync_and_quiet_resyncs_write_nothing() {
    let s = setup("ecr-drift").await;
    let op = Operator::start(&s.ns, &[]);
    let repo = s.repo("drift");
    s.create(
        "drift",
        json!({
            "repositoryName": repo,
            "imageTagMutability": "IMMUTABLE",
            "scanOnPush": true,
            "lifecyclePolicy": lifecycle_policy(7),
            "repositoryPolicy": repository_policy("Pull"),
            "tags": {"team": "a"},
        }),
        json!({"service-operator.aws/resync-period": "2s"}),
    )
    .await;
    let arn = s.wait_ready("drift").await.status.unwrap().arn.unwrap();
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
    // Each resync reads the repository, its tags and both policies.
    assert!(
        reads_after >= reads + 3 * 4,
        "resyncs did not run: reads {reads} -> {reads_after}"
    );

    // Changes made behind the operator's back are corrected at the next resync.
    s.ecr
        .put_image_tag_mutability()
        .repository_name(&repo)
        .image_tag_mutability(ImageTagMutability::Mutable)
        .send()
        .await
        .unwrap();
    s.ecr
        .untag_resource()
        .resource_arn(&arn)
        .tag_keys("team")
        .send()
        .await
        .unwrap();
    s.ecr
        .delete_lifecycle_policy()
        .repository_name(&repo)
        .send()
        .await
        .unwrap();
    let corrected = wait_until(Duration::from_secs(30), || async {
        let r = s.describe(&repo).await?;
        let ok = r.image_tag_mutability() == Some(&ImageTagMutability::Immutable)
            && s.lifecycle_policy(&repo).await.is_some()
            && s.tags(&arn).await.contains(&("team".into(), "a".into()));
        ok.then_some(())
    })
    .await;
    assert!(corrected.is_some(), "drift was not corrected");
    assert!(
        wait_for_event(&s.env.kube, &s.ns, "drift", "DriftCorrected").await,
        "no DriftCorrected event"
    );

    s.delete("drift").await;
    wait_gone(&s.api, "drift", TIMEOUT).await;
    s.wait_repo_gone(&repo).await;
}

#[tokio::test]
async fn retain_policy_keeps_the_repository() {
    let s = setup("ecr-retain").await;
    let _op = Operator::start(&s.ns, &[]);
    let repo = s.repo("kept");
    s.create(
        "kept",
        json!({"repositoryName": repo}),
        json!({"service-operator.aws/deletion-policy": "retain"}),
    )
    .await;
    s.wait_ready("kept").await;
    s.delete("kept").await;
    wait_gone(&s.api, "kept", TIMEOUT).await;
    assert!(
        s.describe(&repo).await.is_some(),
        "retain deleted the repository"
    );
    s.ecr
        .delete_repository()
        .repository_name(&repo)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_repository_with_images_is_deleted_only_when_forced() {
    let s = setup("ecr-nonempty").await;
    let _op = Operator::start(&s.ns, &[]);
    let repo = s.repo("full");
    s.create("full", json!({"repositoryName": repo}), json!({}))
        .await;
    s.wait_ready("full").await;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7023, "digest": "sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7"},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 32654, "digest": "sha256:e692418e4cbaf90ca69d05a66403747baa33ee08806650b51fab815ad7fc331f"}]
    });
    s.ecr
        .put_image()
        .repository_name(&repo)
        .image_manifest(manifest.to_string())
        .image_tag("v1")
        .send()
        .await
        .unwrap();

    s.delete("full").await;
    let blocked = wait_for(&s.api, "full", TIMEOUT, "blocked from deletion", |o| {
        condition(o, "Synced").is_some_and(|c| {
            c.reason == "DeleteFailed"
                && c.message.contains("still holds images")
                && c.message.contains("service-operator.aws/force-delete")
        })
    })
    .await;
    assert!(
        condition(&blocked, "Terminal").is_some_and(|c| c.status == "True"),
        "{blocked:?}"
    );
    assert!(s.describe(&repo).await.is_some());
    let reasons = event_reasons(&s.env.kube, &s.ns, "full").await;
    assert!(reasons.iter().any(|r| r == "DeleteFailed"), "{reasons:?}");

    s.annotate("full", "service-operator.aws/force-delete", "true")
        .await;
    wait_gone(&s.api, "full", TIMEOUT).await;
    s.wait_repo_gone(&repo).await;
}

#[tokio::test]
async fn a_repository_that_is_not_ours_is_left_alone_until_adopted() {
    let s = setup("ecr-adopt").await;
    let _op = Operator::start(&s.ns, &[]);
    let repo = s.repo("foreign");
    let created = s
        .ecr
        .create_repository()
        .repository_name(&repo)
        .send()
        .await
        .unwrap();
    let arn = created
        .repository()
        .unwrap()
        .repository_arn()
        .unwrap()
        .to_owned();

    s.create(
        "foreign",
        json!({"repositoryName": repo, "imageTagMutability": "IMMUTABLE"}),
        json!({}),
    )
    .await;
    let obj = wait_for(&s.api, "foreign", TIMEOUT, "NotOwned", |o| {
        condition(o, "Terminal").is_some_and(|c| c.status == "True" && c.reason == "NotOwned")
    })
    .await;
    assert!(!is_ready(&obj));
    assert!(condition(&obj, "Ready").unwrap().message.contains("adopt"));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let untouched = s.describe(&repo).await.unwrap();
    assert_eq!(
        untouched.image_tag_mutability(),
        Some(&ImageTagMutability::Mutable)
    );
    assert!(s.tags(&arn).await.is_empty());

    s.annotate("foreign", "service-operator.aws/adopt", "true")
        .await;
    let adopted = s.wait_ready("foreign").await;
    assert!(
        s.tags(&arn)
            .await
            .contains(&("service-operator.aws/uid".into(), adopted.uid().unwrap()))
    );
    let managed = wait_until(TIMEOUT, || async {
        let r = s.describe(&repo).await?;
        (r.image_tag_mutability() == Some(&ImageTagMutability::Immutable)).then_some(())
    })
    .await;
    assert!(
        managed.is_some(),
        "the adopted repository was not brought to the spec"
    );
    let reasons = event_reasons(&s.env.kube, &s.ns, "foreign").await;
    assert!(reasons.iter().any(|r| r == "Adopted"), "{reasons:?}");

    s.delete("foreign").await;
    wait_gone(&s.api, "foreign", TIMEOUT).await;
    s.wait_repo_gone(&repo).await;
}

#[tokio::test]
async fn bad_input_and_immutable_changes_are_refused_at_admission() {
    let s = setup("ecr-admission").await;
    let manifest = |name: &str, spec: &str| {
        format!(
            "apiVersion: service-operator.aws/v1alpha1\nkind: ECRRepository\nmetadata:\n  name: {name}\nspec:\n{spec}"
        )
    };
    let refused = [
        (
            "upper",
            "  repositoryName: Not/Valid\n",
            "spec.repositoryName",
        ),
        (
            "bad-mutability",
            "  imageTagMutability: SOMETIMES\n",
            "Unsupported value: \"SOMETIMES\"",
        ),
        (
            "kms-key-without-kms",
            "  encryption: {encryptionType: AES256, kmsKey: k}\n",
            "encryption.kmsKey needs encryptionType KMS",
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

    let valid = format!(
        "  repositoryName: {}\n  encryption: {{encryptionType: AES256}}\n",
        s.repo("fixed")
    );
    let (ok, err) = kubectl_apply(&s.ns, &manifest("immutable", &valid));
    assert!(ok, "{err}");
    let changes = [
        (
            valid.replace("/fixed", "/other"),
            "repositoryName is immutable",
        ),
        (valid.replace("AES256", "KMS"), "encryption is immutable"),
    ];
    for (spec, message) in changes {
        let (ok, err) = kubectl_apply(&s.ns, &manifest("immutable", &spec));
        assert!(
            !ok && err.contains(message),
            "expected {message:?}, got ok={ok}: {err}"
        );
    }
    let (ok, err) = kubectl_apply(
        &s.ns,
        &manifest("immutable", &format!("{valid}  scanOnPush: true\n")),
    );
    assert!(ok, "{err}");
    s.delete("immutable").await;
}

#[tokio::test]
async fn the_ecr_binary_alone_manages_repositories_and_nothing_else() {
    let s = setup("ecr-binary").await;
    let _op = Operator::start_binary("ecr-controller", &s.ns, &[]);
    let repo = s.repo("alone");
    s.create("alone", json!({"repositoryName": repo}), json!({}))
        .await;
    s.wait_ready("alone").await;
    assert!(s.describe(&repo).await.is_some());

    let ddb: Api<DynamoDB> = Api::namespaced(s.env.kube.clone(), &s.ns);
    let table: DynamoDB = serde_json::from_value(json!({
        "apiVersion": "service-operator.aws/v1alpha1",
        "kind": "DynamoDB",
        "metadata": {"name": "not-mine"},
        "spec": {"tableName": format!("{}-not-mine", s.ns), "hashAttribute": {"name": "id", "type": "S"}, "billingMode": "PAY_PER_REQUEST"},
    }))
    .unwrap();
    ddb.create(&PostParams::default(), &table).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let table = ddb.get("not-mine").await.unwrap();
    assert!(
        table.status.is_none() && table.finalizers().is_empty(),
        "the ECR binary touched a DynamoDB resource: {table:?}"
    );
    ddb.delete("not-mine", &DeleteParams::default())
        .await
        .unwrap();

    s.delete("alone").await;
    wait_gone(&s.api, "alone", TIMEOUT).await;
    s.wait_repo_gone(&repo).await;
}
