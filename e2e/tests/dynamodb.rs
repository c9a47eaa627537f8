//! The DynamoDB controller end to end: the all-in-one operator against the local control plane
//! and moto. Run by `just test`.

use std::time::Duration;

use aws_sdk_dynamodb::types::{KeyType, ProvisionedThroughput, TimeToLiveStatus};
use dynamodb_controller::DynamoDB;
use e2e::{
    Env, Operator, Resources, TIMEOUT, condition, config_map, env, event_reasons, install_crds,
    is_ready, kubectl, kubectl_apply, namespace, wait_for, wait_for_event, wait_gone, wait_until,
};
use kube::{
    Api, ResourceExt,
    api::{DeleteParams, Patch, PatchParams},
};
use serde_json::json;

/// The original AWS Service Operator's example, unchanged.
const ORIGINAL_MANIFEST: &str = r#"
apiVersion: service-operator.aws/v1alpha1
kind: DynamoDB
metadata:
  name: dynamo-table
spec:
  hashAttribute:
    name: name
    type: S
  rangeAttribute:
    name: created_at
    type: S
  readCapacityUnits: 5
  writeCapacityUnits: 5
"#;

struct Setup {
    env: Env,
    ns: String,
    resources: Resources<DynamoDB>,
    ddb: aws_sdk_dynamodb::Client,
}

async fn setup(test: &str, ns_annotations: &[(&str, &str)]) -> Setup {
    let env = env().await;
    install_crds(&env.kube).await;
    let ns = namespace(&env.kube, test, ns_annotations).await;
    let resources = Resources::new(&env.kube, &ns);
    let ddb = aws_sdk_dynamodb::Client::new(&env.aws);
    Setup {
        env,
        ns,
        resources,
        ddb,
    }
}

impl std::ops::Deref for Setup {
    type Target = Resources<DynamoDB>;
    fn deref(&self) -> &Resources<DynamoDB> {
        &self.resources
    }
}

impl Setup {
    /// A unique table name for this test run.
    fn table(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.ns)
    }

    async fn describe(&self, table: &str) -> Option<aws_sdk_dynamodb::types::TableDescription> {
        match self.ddb.describe_table().table_name(table).send().await {
            Ok(out) => out.table,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                None
            }
            Err(e) => panic!("DescribeTable {table}: {e:?}"),
        }
    }

    async fn tags(&self, arn: &str) -> Vec<(String, String)> {
        let out = self
            .ddb
            .list_tags_of_resource()
            .resource_arn(arn)
            .send()
            .await
            .unwrap();
        out.tags()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect()
    }

    async fn wait_table_gone(&self, table: &str) {
        let gone = wait_until(TIMEOUT, || async {
            self.describe(table).await.is_none().then_some(())
        })
        .await;
        assert!(gone.is_some(), "table {table} still exists in AWS");
    }
}

fn spec(read: i64) -> serde_json::Value {
    json!({
        "hashAttribute": {"name": "id", "type": "S"},
        "readCapacityUnits": read,
        "writeCapacityUnits": read,
    })
}

#[tokio::test]
async fn original_manifest_becomes_a_table_follows_updates_and_is_deleted() {
    let s = setup("ddb-original", &[]).await;
    // The manifest's fixed table name is shared with earlier runs: start from a clean moto.
    if s.describe("dynamo-table").await.is_some() {
        let _ = s
            .ddb
            .update_table()
            .table_name("dynamo-table")
            .deletion_protection_enabled(false)
            .send()
            .await;
        s.ddb
            .delete_table()
            .table_name("dynamo-table")
            .send()
            .await
            .unwrap();
    }
    let _op = Operator::start(&s.ns, &[]);

    let (ok, err) = kubectl_apply(&s.ns, ORIGINAL_MANIFEST);
    assert!(ok, "kubectl apply of the original manifest failed: {err}");
    let obj = s.wait_ready("dynamo-table").await;

    let table = s
        .describe("dynamo-table")
        .await
        .expect("the table exists in AWS");
    let keys: Vec<_> = table
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name().to_owned(), k.key_type().clone()))
        .collect();
    assert_eq!(
        keys,
        vec![
            ("name".to_owned(), KeyType::Hash),
            ("created_at".to_owned(), KeyType::Range)
        ]
    );
    let throughput = table.provisioned_throughput().unwrap();
    assert_eq!(
        (
            throughput.read_capacity_units(),
            throughput.write_capacity_units()
        ),
        (Some(5), Some(5))
    );
    let arn = table.table_arn().unwrap().to_owned();
    let tags = s.tags(&arn).await;
    assert!(
        tags.contains(&("service-operator.aws/uid".into(), obj.uid().unwrap())),
        "ownership tags: {tags:?}"
    );

    let status = obj.status.clone().unwrap();
    assert_eq!(status.arn.as_deref(), Some(arn.as_str()));
    assert_eq!(status.fields.table_name.as_deref(), Some("dynamo-table"));
    assert_eq!(status.fields.table_status.as_deref(), Some("ACTIVE"));
    assert_eq!(status.observed_generation, obj.metadata.generation);
    assert!(condition(&obj, "Synced").is_some_and(|c| c.status == "True"));

    let cm = config_map(&s.env.kube, &s.ns, "dynamo-table").await;
    let data = cm.data.clone().unwrap();
    assert_eq!(
        data.get("tableName").map(String::as_str),
        Some("dynamo-table")
    );
    assert_eq!(data.get("tableARN"), Some(&arn));
    let owner = &cm.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), Some(owner.uid.clone())),
        ("DynamoDB", obj.uid())
    );

    let table_view = kubectl(&["get", "ddb", "-n", &s.ns]);
    let header: Vec<&str> = table_view
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        vec!["NAME", "READY", "SYNCED", "STATUS", "AGE"],
        "{table_view}"
    );
    assert!(
        table_view.contains("True") && table_view.contains("ACTIVE"),
        "{table_view}"
    );
    let wide = kubectl(&["get", "dynamo", "-n", &s.ns, "-o", "wide"]);
    assert!(
        wide.lines().next().unwrap().contains("ARN") && wide.contains(&arn),
        "{wide}"
    );

    // A capacity change reaches the table, and observedGeneration follows.
    let patched = s
        .patch_spec("dynamo-table", json!({"readCapacityUnits": 10}))
        .await;
    wait_for(
        &s.api,
        "dynamo-table",
        TIMEOUT,
        "synced at the new generation",
        |o| {
            o.status.as_ref().and_then(|st| st.observed_generation) == patched.metadata.generation
                && is_ready(o)
        },
    )
    .await;
    let read = s
        .describe("dynamo-table")
        .await
        .unwrap()
        .provisioned_throughput()
        .unwrap()
        .read_capacity_units();
    assert_eq!(read, Some(10));

    // Adding a global secondary index and enabling time to live reach AWS.
    s.patch_spec(
        "dynamo-table",
        json!({
            "globalSecondaryIndexes": [{"indexName": "byOwner", "hashAttribute": {"name": "owner", "type": "S"}}],
            "timeToLive": {"enabled": true, "attributeName": "expires_at"},
        }),
    )
    .await;
    let reached = wait_until(TIMEOUT, || async {
        let table = s.describe("dynamo-table").await?;
        let has_index = table
            .global_secondary_indexes()
            .iter()
            .any(|i| i.index_name() == Some("byOwner"));
        let ttl = s
            .ddb
            .describe_time_to_live()
            .table_name("dynamo-table")
            .send()
            .await
            .ok()?;
        let ttl = ttl.time_to_live_description()?;
        let ttl_on = ttl.time_to_live_status() == Some(&TimeToLiveStatus::Enabled)
            && ttl.attribute_name() == Some("expires_at");
        (has_index && ttl_on).then_some(())
    })
    .await;
    assert!(reached.is_some(), "the GSI and TTL never reached AWS");
    let reasons = event_reasons(&s.env.kube, &s.ns, "dynamo-table").await;
    assert!(
        reasons.iter().any(|r| r == "Created") && reasons.iter().any(|r| r == "Updated"),
        "{reasons:?}"
    );

    // Delete removes the table, then the resource (and its ConfigMap through garbage collection).
    s.api
        .delete("dynamo-table", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&s.api, "dynamo-table", TIMEOUT).await;
    assert!(
        s.describe("dynamo-table").await.is_none(),
        "the table outlived its resource"
    );
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(s.env.kube.clone(), &s.ns);
    wait_gone(&cms, "dynamo-table", TIMEOUT).await;
}

#[tokio::test]
async fn drift_is_corrected_at_resync_and_quiet_resyncs_write_nothing() {
    let s = setup("ddb-drift", &[]).await;
    let op = Operator::start(&s.ns, &[]);
    let table = s.table("drift");
    s.create("drift", json!({"tableName": table, "hashAttribute": {"name": "id", "type": "S"}, "readCapacityUnits": 5, "writeCapacityUnits": 5}), json!({"service-operator.aws/resync-period": "2s"})).await;
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
    // Each resync reads the table and its tags: at least three resyncs happened.
    assert!(
        reads_after >= reads + 6,
        "resyncs did not run: reads {reads} -> {reads_after}"
    );

    // A change made behind the operator's back is corrected at the next resync.
    let throughput = ProvisionedThroughput::builder()
        .read_capacity_units(1)
        .write_capacity_units(1)
        .build()
        .unwrap();
    s.ddb
        .update_table()
        .table_name(&table)
        .provisioned_throughput(throughput)
        .send()
        .await
        .unwrap();
    let corrected = wait_until(Duration::from_secs(30), || async {
        let t = s.describe(&table).await?;
        (t.provisioned_throughput()?.read_capacity_units() == Some(5)).then_some(())
    })
    .await;
    assert!(corrected.is_some(), "drift was not corrected");
    assert!(
        wait_for_event(&s.env.kube, &s.ns, "drift", "DriftCorrected").await,
        "no DriftCorrected event"
    );

    // A deleted outputs ConfigMap comes back.
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(s.env.kube.clone(), &s.ns);
    let before = config_map(&s.env.kube, &s.ns, "drift").await;
    cms.delete("drift", &DeleteParams::default()).await.unwrap();
    let back = wait_until(Duration::from_secs(20), || async {
        let cm = cms.get_opt("drift").await.ok()??;
        (cm.metadata.uid != before.metadata.uid && cm.data == before.data).then_some(())
    })
    .await;
    assert!(back.is_some(), "the deleted ConfigMap was not re-created");

    s.api
        .delete("drift", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&s.api, "drift", TIMEOUT).await;
    s.wait_table_gone(&table).await;
}

#[tokio::test]
async fn retain_policy_on_the_namespace_keeps_the_table() {
    let s = setup(
        "ddb-retain",
        &[("service-operator.aws/deletion-policy", "retain")],
    )
    .await;
    let _op = Operator::start(&s.ns, &[]);
    let table = s.table("kept");
    s.create("kept", json!({"tableName": table, "hashAttribute": {"name": "id", "type": "S"}, "readCapacityUnits": 1, "writeCapacityUnits": 1}), json!({})).await;
    s.wait_ready("kept").await;
    s.api
        .delete("kept", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&s.api, "kept", TIMEOUT).await;
    assert!(
        s.describe(&table).await.is_some(),
        "retain deleted the table"
    );
    s.ddb
        .delete_table()
        .table_name(&table)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn deletion_protection_keeps_the_resource_with_a_visible_reason() {
    let s = setup("ddb-protected", &[]).await;
    let _op = Operator::start(&s.ns, &[]);
    let table = s.table("protected");
    let mut spec = spec(1);
    spec["tableName"] = json!(table);
    spec["deletionProtection"] = json!(true);
    s.create("protected", spec, json!({})).await;
    s.wait_ready("protected").await;

    s.api
        .delete("protected", &DeleteParams::default())
        .await
        .unwrap();
    let blocked = wait_for(&s.api, "protected", TIMEOUT, "blocked from deletion", |o| {
        condition(o, "Synced")
            .is_some_and(|c| c.reason == "DeleteFailed" && c.message.contains("DeletionProtection"))
    })
    .await;
    assert!(condition(&blocked, "Terminal").is_some_and(|c| c.status == "True"));
    assert!(s.describe(&table).await.is_some());
    let reasons = event_reasons(&s.env.kube, &s.ns, "protected").await;
    assert!(reasons.iter().any(|r| r == "DeleteFailed"), "{reasons:?}");

    // Lifting the protection lets the deletion finish.
    s.patch_spec("protected", json!({"deletionProtection": false}))
        .await;
    wait_gone(&s.api, "protected", TIMEOUT).await;
    s.wait_table_gone(&table).await;
}

#[tokio::test]
async fn a_table_that_is_not_ours_is_left_alone_until_adopted() {
    let s = setup("ddb-adopt", &[]).await;
    let _op = Operator::start(&s.ns, &[]);
    let table = s.table("foreign");
    let _ = s.ddb.delete_table().table_name(&table).send().await;
    s.ddb
        .create_table()
        .table_name(&table)
        .attribute_definitions(
            aws_sdk_dynamodb::types::AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(aws_sdk_dynamodb::types::ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            aws_sdk_dynamodb::types::KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .provisioned_throughput(
            ProvisionedThroughput::builder()
                .read_capacity_units(1)
                .write_capacity_units(1)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let arn = s
        .describe(&table)
        .await
        .unwrap()
        .table_arn()
        .unwrap()
        .to_owned();

    let mut spec = spec(5);
    spec["tableName"] = json!(table);
    s.create("foreign", spec, json!({})).await;
    let obj = wait_for(&s.api, "foreign", TIMEOUT, "NotOwned", |o| {
        condition(o, "Terminal").is_some_and(|c| c.status == "True" && c.reason == "NotOwned")
    })
    .await;
    assert!(!is_ready(&obj));
    assert!(condition(&obj, "Ready").unwrap().message.contains("adopt"));
    // Untouched: capacity as it was, no tags added.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        s.describe(&table)
            .await
            .unwrap()
            .provisioned_throughput()
            .unwrap()
            .read_capacity_units(),
        Some(1)
    );
    assert!(s.tags(&arn).await.is_empty());

    // Adoption: tagged as ours, then managed.
    s.api
        .patch(
            "foreign",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"annotations": {"service-operator.aws/adopt": "true"}}}),
            ),
        )
        .await
        .unwrap();
    let adopted = s.wait_ready("foreign").await;
    assert!(
        s.tags(&arn)
            .await
            .contains(&("service-operator.aws/uid".into(), adopted.uid().unwrap()))
    );
    let capacity = wait_until(TIMEOUT, || async {
        let read = s
            .describe(&table)
            .await?
            .provisioned_throughput()?
            .read_capacity_units();
        (read == Some(5)).then_some(())
    })
    .await;
    assert!(
        capacity.is_some(),
        "the adopted table was not brought to the spec"
    );
    let reasons = event_reasons(&s.env.kube, &s.ns, "foreign").await;
    assert!(reasons.iter().any(|r| r == "Adopted"), "{reasons:?}");

    s.api
        .delete("foreign", &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&s.api, "foreign", TIMEOUT).await;
    s.wait_table_gone(&table).await;
}

#[tokio::test]
async fn bad_input_and_immutable_changes_are_refused_at_admission() {
    let s = setup("ddb-admission", &[]).await;
    let manifest = |name: &str, spec: &str| {
        format!(
            "apiVersion: service-operator.aws/v1alpha1\nkind: DynamoDB\nmetadata:\n  name: {name}\nspec:\n{spec}"
        )
    };
    let refused = [
        (
            "bad-type",
            "  hashAttribute: {name: id, type: X}\n  readCapacityUnits: 1\n  writeCapacityUnits: 1\n",
            "Unsupported value: \"X\"",
        ),
        (
            "zero-capacity",
            "  hashAttribute: {name: id, type: S}\n  readCapacityUnits: 0\n  writeCapacityUnits: 1\n",
            "should be greater than or equal to 1",
        ),
        (
            "on-demand-capacity",
            "  hashAttribute: {name: id, type: S}\n  billingMode: PAY_PER_REQUEST\n  readCapacityUnits: 1\n",
            "must not be set when billingMode is PAY_PER_REQUEST",
        ),
        (
            "no-capacity",
            "  hashAttribute: {name: id, type: S}\n",
            "required unless billingMode is PAY_PER_REQUEST",
        ),
        (
            "no-hash",
            "  readCapacityUnits: 1\n  writeCapacityUnits: 1\n",
            "spec.hashAttribute: Required value",
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

    let valid = "  tableName: fixed\n  hashAttribute: {name: id, type: S}\n  rangeAttribute: {name: at, type: \"N\"}\n  billingMode: PAY_PER_REQUEST\n";
    let (ok, err) = kubectl_apply(&s.ns, &manifest("immutable", valid));
    assert!(ok, "{err}");
    let changes = [
        (
            valid.replace("tableName: fixed", "tableName: other"),
            "tableName is immutable",
        ),
        (
            valid.replace("{name: id, type: S}", "{name: key, type: S}"),
            "hashAttribute is immutable",
        ),
        (
            valid.replace("  rangeAttribute: {name: at, type: \"N\"}\n", ""),
            "rangeAttribute is immutable",
        ),
    ];
    for (spec, message) in changes {
        let (ok, err) = kubectl_apply(&s.ns, &manifest("immutable", &spec));
        assert!(
            !ok && err.contains(message),
            "expected {message:?}, got ok={ok}: {err}"
        );
    }
    // A mutable field still changes.
    let (ok, err) = kubectl_apply(
        &s.ns,
        &manifest(
            "immutable",
            &valid.replace(
                "PAY_PER_REQUEST",
                "PAY_PER_REQUEST\n  deletionProtection: false",
            ),
        ),
    );
    assert!(ok, "{err}");
    s.api
        .delete("immutable", &DeleteParams::default())
        .await
        .unwrap();
}
