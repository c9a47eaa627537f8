//! How a `DynamoDB` resource maps onto the DynamoDB API: observe, create, update, delete.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::{
    Client,
    types::{
        self as ddb, AttributeDefinition, BillingMode as SdkBillingMode,
        GlobalSecondaryIndexUpdate, KeySchemaElement, KeyType, ProvisionedThroughput,
        ScalarAttributeType, Tag,
    },
};
use operator_core::{
    AwsError, AwsResource, NameRule, PlannedChange, Readiness,
    aws::AwsClients,
    errors::{from_sdk, is_not_found},
    ownership,
    references::Resolved,
};
use tracing::{instrument, warn};

use crate::{
    diff::{self, Change, ObservedIndex, ObservedTable, ObservedTimeToLive},
    spec::{
        Attribute, AttributeType, BillingMode, DynamoDB, GlobalSecondaryIndex, LocalSecondaryIndex,
        Projection, ProjectionType, Sse, Stream, StreamViewType, TableClass, TableStatusFields,
    },
};

const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];

impl AwsResource for DynamoDB {
    type Client = Client;
    type Observed = ObservedTable;
    type Change = Change;
    type StatusFields = TableStatusFields;

    const SERVICE: &'static str = "DynamoDB table";
    /// Table names are 3-255 of `[a-zA-Z0-9_.-]`; a Kubernetes name is already within the set.
    const DEFAULTED_NAME: Option<NameRule> = Some(NameRule {
        rule: "has(self.spec.tableName) || size(self.metadata.name) >= 3",
        message: "metadata.name is used as the DynamoDB table name and must be at least 3 characters; set spec.tableName to use another name",
    });

    fn client(aws: &AwsClients) -> Client {
        let config = aws_sdk_dynamodb::config::Builder::from(aws.config_for(crate::SERVICE.name))
            .interceptor(aws.calls.clone())
            .build();
        Client::from_conf(config)
    }

    fn aws_name(&self) -> String {
        self.table_name()
    }

    #[instrument(skip_all, fields(table = %self.table_name()))]
    async fn observe(
        &self,
        client: &Client,
        _refs: &Resolved,
    ) -> Result<Option<ObservedTable>, AwsError> {
        let Some(mut observed) = describe(client, &self.table_name()).await? else {
            return Ok(None);
        };
        if self.spec.time_to_live.is_some() {
            observed.time_to_live = Some(describe_time_to_live(client, &observed.name).await?);
        }
        if self.spec.point_in_time_recovery.is_some() {
            observed.point_in_time_recovery =
                Some(describe_point_in_time_recovery(client, &observed.name).await?);
        }
        Ok(Some(observed))
    }

    #[instrument(skip_all, fields(table = %self.table_name()))]
    async fn create(
        &self,
        client: &Client,
        _refs: &Resolved,
        tags: &BTreeMap<String, String>,
    ) -> Result<Option<ObservedTable>, AwsError> {
        let spec = &self.spec;
        let provisioned =
            spec.billing_mode.unwrap_or(BillingMode::Provisioned) == BillingMode::Provisioned;
        let mut request = client
            .create_table()
            .table_name(self.table_name())
            .set_attribute_definitions(Some(attribute_definitions(spec)?))
            .set_key_schema(Some(key_schema(
                &spec.hash_attribute,
                spec.range_attribute.as_ref(),
            )?))
            .billing_mode(sdk_billing_mode(
                spec.billing_mode.unwrap_or(BillingMode::Provisioned),
            ))
            .set_tags(Some(sdk_tags(tags)?));
        if provisioned {
            request = request.provisioned_throughput(throughput(
                spec.read_capacity_units,
                spec.write_capacity_units,
            )?);
        }
        for index in spec.global_secondary_indexes.iter().flatten() {
            request = request.global_secondary_indexes(global_index(spec, index, provisioned)?);
        }
        for index in spec.local_secondary_indexes.iter().flatten() {
            request = request.local_secondary_indexes(local_index(&spec.hash_attribute, index)?);
        }
        if let Some(stream) = spec.stream.as_ref().filter(|s| s.enabled) {
            request = request.stream_specification(stream_specification(stream)?);
        }
        if let Some(sse) = &spec.sse {
            request = request.sse_specification(sse_specification(sse));
        }
        if let Some(class) = spec.table_class {
            request = request.table_class(sdk_table_class(class));
        }
        if let Some(protect) = spec.deletion_protection {
            request = request.deletion_protection_enabled(protect);
        }
        let answer = request.send().await.map_err(from_sdk)?;
        // Time to live and point-in-time recovery take calls of their own (once the table is
        // active): then the core observes the table.
        if spec.time_to_live.is_some() || spec.point_in_time_recovery.is_some() {
            return Ok(None);
        }
        Ok(answer.table_description.map(|table| ObservedTable {
            tags: tags.clone(),
            ..observed_table(&table)
        }))
    }

    fn tags(observed: &ObservedTable) -> Option<&BTreeMap<String, String>> {
        Some(&observed.tags)
    }

    #[instrument(skip_all, fields(table = %self.table_name()))]
    async fn tag(
        &self,
        client: &Client,
        observed: &ObservedTable,
        tags: &BTreeMap<String, String>,
    ) -> Result<(), AwsError> {
        let arn = observed.arn.clone().unwrap_or_default();
        client
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(sdk_tags(tags)?))
            .send()
            .await
            .map_err(from_sdk)?;
        Ok(())
    }

    fn diff(
        &self,
        observed: &ObservedTable,
        _refs: &Resolved,
        tags: &BTreeMap<String, String>,
    ) -> Vec<Change> {
        diff::diff(&self.spec, observed, tags)
    }

    /// UpdateTable takes one change at a time, so only the first table change is sent; the
    /// reconciler comes back for the rest once the table is ACTIVE again.
    #[instrument(skip_all, fields(table = %self.table_name()))]
    async fn update(
        &self,
        client: &Client,
        _refs: &Resolved,
        observed: &ObservedTable,
        changes: Vec<Change>,
    ) -> Result<(), AwsError> {
        let mut table_update_sent = false;
        for change in changes {
            if change.is_table_update() {
                if table_update_sent {
                    continue;
                }
                table_update_sent = true;
            }
            self.apply(client, observed, change).await?;
        }
        Ok(())
    }

    #[instrument(skip_all, fields(table = %self.table_name()))]
    async fn delete(&self, client: &Client, observed: &ObservedTable) -> Result<(), AwsError> {
        // Protection lifted in the spec during deletion: lift it in AWS first, or the delete fails.
        if observed.deletion_protection && self.spec.deletion_protection == Some(false) {
            self.apply(client, observed, Change::DeletionProtection(false))
                .await?;
        }
        match client
            .delete_table()
            .table_name(&observed.name)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e, NOT_FOUND) => Ok(()),
            Err(e) => Err(from_sdk(e)),
        }
    }

    fn readiness(observed: &ObservedTable) -> Readiness {
        let busy_index = observed
            .global_secondary_indexes
            .iter()
            .find_map(|i| i.status.as_deref().filter(|s| *s != "ACTIVE"));
        match (observed.status.as_str(), busy_index) {
            ("DELETING", _) => Readiness::Deleting,
            ("ACTIVE", None) => Readiness::Ready,
            ("ACTIVE", Some(_)) => Readiness::Pending("UPDATING".into()),
            (other, _) => Readiness::Pending(other.to_owned()),
        }
    }

    fn arn(observed: &ObservedTable) -> Option<String> {
        observed.arn.clone()
    }

    fn status_fields(observed: &ObservedTable) -> TableStatusFields {
        TableStatusFields {
            table_name: Some(observed.name.clone()),
            table_status: Some(observed.status.clone()),
        }
    }

    fn outputs(observed: &ObservedTable) -> BTreeMap<String, String> {
        let arn = observed.arn.clone().unwrap_or_default();
        // arn:<partition>:dynamodb:<region>:<account>:table/<name>
        let region = arn.split(':').nth(3).unwrap_or_default().to_owned();
        let mut out = BTreeMap::from([
            ("tableName".to_owned(), observed.name.clone()),
            ("tableARN".to_owned(), arn),
            ("region".to_owned(), region),
        ]);
        if let Some(stream) = &observed.stream_arn {
            out.insert("streamARN".to_owned(), stream.clone());
        }
        out
    }

    fn user_tags(&self) -> BTreeMap<String, String> {
        self.spec.tags.clone()
    }

    fn planned(change: &Change, observed: &ObservedTable) -> PlannedChange {
        diff::planned(change, observed)
    }

    async fn export(client: &Client, prefix: &str) -> Option<Result<Vec<Self>, AwsError>> {
        Some(exported(client, prefix).await)
    }
}

/// Every table whose name starts with `prefix` (ListTables cannot filter), as a `DynamoDB`
/// describing it: with every setting read, time to live and point-in-time recovery too.
#[instrument(skip_all, fields(prefix = %prefix))]
async fn exported(client: &Client, prefix: &str) -> Result<Vec<DynamoDB>, AwsError> {
    let names: Vec<String> = client
        .list_tables()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(from_sdk)?;
    let mut tables = Vec::new();
    for name in names.into_iter().filter(|n| n.starts_with(prefix)) {
        // Gone since the list: nothing to export.
        let Some(mut observed) = describe(client, &name).await? else {
            continue;
        };
        observed.time_to_live = Some(describe_time_to_live(client, &name).await?);
        observed.point_in_time_recovery =
            Some(describe_point_in_time_recovery(client, &name).await?);
        match diff::exported_spec(&observed) {
            Some(spec) => tables.push(DynamoDB::new(&ownership::object_name(&name), spec)),
            None => warn!(table = %name, "not exported: DynamoDB reports no partition key"),
        }
    }
    Ok(tables)
}

/// The table and its tags; `None` when there is no such table.
#[instrument(skip(client))]
async fn describe(client: &Client, name: &str) -> Result<Option<ObservedTable>, AwsError> {
    let table = match client.describe_table().table_name(name).send().await {
        Ok(out) => match out.table {
            Some(table) => table,
            None => return Ok(None),
        },
        Err(e) if is_not_found(&e, NOT_FOUND) => return Ok(None),
        Err(e) => return Err(from_sdk(e)),
    };
    let mut observed = observed_table(&table);
    if let Some(arn) = &observed.arn {
        observed.tags = list_tags(client, arn).await?;
    }
    Ok(Some(observed))
}

impl DynamoDB {
    async fn apply(
        &self,
        client: &Client,
        observed: &ObservedTable,
        change: Change,
    ) -> Result<(), AwsError> {
        let spec = &self.spec;
        let name = &observed.name;
        let update = || client.update_table().table_name(name);
        match change {
            Change::Capacity {
                billing_mode,
                read,
                write,
            } => {
                let mut request = update().billing_mode(sdk_billing_mode(billing_mode));
                if billing_mode == BillingMode::Provisioned {
                    request = request.provisioned_throughput(throughput(read, write)?);
                }
                request.send().await.map_err(from_sdk)?;
            }
            Change::DeleteIndex(index_name) => {
                let delete = ddb::DeleteGlobalSecondaryIndexAction::builder()
                    .index_name(index_name)
                    .build()?;
                update()
                    .global_secondary_index_updates(
                        GlobalSecondaryIndexUpdate::builder().delete(delete).build(),
                    )
                    .send()
                    .await
                    .map_err(from_sdk)?;
            }
            Change::CreateIndex(index) => {
                let provisioned = spec.billing_mode.unwrap_or(BillingMode::Provisioned)
                    == BillingMode::Provisioned;
                let gsi = global_index(spec, &index, provisioned)?;
                let mut create = ddb::CreateGlobalSecondaryIndexAction::builder()
                    .index_name(gsi.index_name)
                    .set_key_schema(Some(gsi.key_schema))
                    .set_projection(gsi.projection);
                if let Some(t) = gsi.provisioned_throughput {
                    create = create.provisioned_throughput(t);
                }
                update()
                    .set_attribute_definitions(Some(attribute_definitions(spec)?))
                    .global_secondary_index_updates(
                        GlobalSecondaryIndexUpdate::builder()
                            .create(create.build()?)
                            .build(),
                    )
                    .send()
                    .await
                    .map_err(from_sdk)?;
            }
            Change::IndexCapacity {
                index_name,
                read,
                write,
            } => {
                let action = ddb::UpdateGlobalSecondaryIndexAction::builder()
                    .index_name(index_name)
                    .provisioned_throughput(throughput(Some(read), Some(write))?)
                    .build()?;
                update()
                    .global_secondary_index_updates(
                        GlobalSecondaryIndexUpdate::builder().update(action).build(),
                    )
                    .send()
                    .await
                    .map_err(from_sdk)?;
            }
            Change::Stream(stream) => {
                update()
                    .stream_specification(stream_specification(&stream)?)
                    .send()
                    .await
                    .map_err(from_sdk)?;
            }
            Change::Sse(sse) => {
                update()
                    .sse_specification(sse_specification(&sse))
                    .send()
                    .await
                    .map_err(from_sdk)?;
            }
            Change::DeletionProtection(protect) => {
                update()
                    .deletion_protection_enabled(protect)
                    .send()
                    .await
                    .map_err(from_sdk)?;
            }
            Change::TableClass(class) => {
                update()
                    .table_class(sdk_table_class(class))
                    .send()
                    .await
                    .map_err(from_sdk)?;
            }
            Change::TimeToLive {
                enabled,
                attribute_name,
            } => {
                let ttl = ddb::TimeToLiveSpecification::builder()
                    .enabled(enabled)
                    .attribute_name(attribute_name)
                    .build()?;
                client
                    .update_time_to_live()
                    .table_name(name)
                    .time_to_live_specification(ttl)
                    .send()
                    .await
                    .map_err(from_sdk)?;
            }
            Change::PointInTimeRecovery(enabled) => {
                let pitr = ddb::PointInTimeRecoverySpecification::builder()
                    .point_in_time_recovery_enabled(enabled)
                    .build()?;
                client
                    .update_continuous_backups()
                    .table_name(name)
                    .point_in_time_recovery_specification(pitr)
                    .send()
                    .await
                    .map_err(from_sdk)?;
            }
            Change::Tags { set, remove } => {
                let arn = observed.arn.clone().unwrap_or_default();
                if !remove.is_empty() {
                    client
                        .untag_resource()
                        .resource_arn(&arn)
                        .set_tag_keys(Some(remove))
                        .send()
                        .await
                        .map_err(from_sdk)?;
                }
                if !set.is_empty() {
                    client
                        .tag_resource()
                        .resource_arn(&arn)
                        .set_tags(Some(sdk_tags(&set)?))
                        .send()
                        .await
                        .map_err(from_sdk)?;
                }
            }
        }
        Ok(())
    }
}

async fn list_tags(client: &Client, arn: &str) -> Result<BTreeMap<String, String>, AwsError> {
    let mut tags = BTreeMap::new();
    let mut token = None;
    loop {
        let out = client
            .list_tags_of_resource()
            .resource_arn(arn)
            .set_next_token(token)
            .send()
            .await
            .map_err(from_sdk)?;
        tags.extend(
            out.tags()
                .iter()
                .map(|t| (t.key().to_owned(), t.value().to_owned())),
        );
        token = out.next_token;
        if token.is_none() {
            return Ok(tags);
        }
    }
}

async fn describe_time_to_live(
    client: &Client,
    table: &str,
) -> Result<ObservedTimeToLive, AwsError> {
    let out = client
        .describe_time_to_live()
        .table_name(table)
        .send()
        .await
        .map_err(from_sdk)?;
    let description = out.time_to_live_description();
    let enabled = description
        .and_then(|d| d.time_to_live_status())
        .is_some_and(|s| {
            matches!(
                s,
                ddb::TimeToLiveStatus::Enabled | ddb::TimeToLiveStatus::Enabling
            )
        });
    Ok(ObservedTimeToLive {
        enabled,
        attribute_name: description
            .and_then(|d| d.attribute_name())
            .map(str::to_owned),
    })
}

async fn describe_point_in_time_recovery(client: &Client, table: &str) -> Result<bool, AwsError> {
    let out = client
        .describe_continuous_backups()
        .table_name(table)
        .send()
        .await
        .map_err(from_sdk)?;
    Ok(out
        .continuous_backups_description()
        .and_then(|d| d.point_in_time_recovery_description())
        .and_then(|p| p.point_in_time_recovery_status())
        .is_some_and(|s| *s == ddb::PointInTimeRecoveryStatus::Enabled))
}

/// Translates DynamoDB's description into the spec's terms.
fn observed_table(table: &ddb::TableDescription) -> ObservedTable {
    let types: BTreeMap<&str, AttributeType> = table
        .attribute_definitions()
        .iter()
        .filter_map(|d| Some((d.attribute_name(), attribute_type(d.attribute_type())?)))
        .collect();
    let key = |schema: &[KeySchemaElement], kind: KeyType| {
        schema
            .iter()
            .find(|k| *k.key_type() == kind)
            .map(|k| Attribute {
                name: k.attribute_name().to_owned(),
                type_: types
                    .get(k.attribute_name())
                    .copied()
                    .unwrap_or(AttributeType::S),
            })
    };
    let global_secondary_indexes = table
        .global_secondary_indexes()
        .iter()
        .map(|i| ObservedIndex {
            index_name: i.index_name().unwrap_or_default().to_owned(),
            hash_attribute: key(i.key_schema(), KeyType::Hash),
            range_attribute: key(i.key_schema(), KeyType::Range),
            projection_type: i
                .projection()
                .and_then(|p| p.projection_type())
                .and_then(projection_type),
            non_key_attributes: i
                .projection()
                .map(|p| p.non_key_attributes().to_vec())
                .unwrap_or_default(),
            read_capacity_units: i
                .provisioned_throughput()
                .and_then(|t| t.read_capacity_units()),
            write_capacity_units: i
                .provisioned_throughput()
                .and_then(|t| t.write_capacity_units()),
            status: i.index_status().map(|s| s.as_str().to_owned()),
        })
        .collect();
    let projection = |p: Option<&ddb::Projection>| {
        let p = p?;
        Some(Projection {
            type_: projection_type(p.projection_type()?)?,
            non_key_attributes: p.non_key_attributes().to_vec(),
        })
    };
    let local_secondary_indexes = table
        .local_secondary_indexes()
        .iter()
        .filter_map(|i| {
            Some(LocalSecondaryIndex {
                index_name: i.index_name()?.to_owned(),
                range_attribute: key(i.key_schema(), KeyType::Range)?,
                projection: projection(i.projection()),
            })
        })
        .collect();
    let stream = table.stream_specification();
    let sse = table.sse_description();
    ObservedTable {
        name: table.table_name().unwrap_or_default().to_owned(),
        arn: table.table_arn().map(str::to_owned),
        status: table
            .table_status()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        hash_attribute: key(table.key_schema(), KeyType::Hash),
        range_attribute: key(table.key_schema(), KeyType::Range),
        local_secondary_indexes,
        billing_mode: table
            .billing_mode_summary()
            .and_then(|b| b.billing_mode())
            .map(|m| match m {
                SdkBillingMode::PayPerRequest => BillingMode::PayPerRequest,
                _ => BillingMode::Provisioned,
            }),
        read_capacity_units: table
            .provisioned_throughput()
            .and_then(|t| t.read_capacity_units()),
        write_capacity_units: table
            .provisioned_throughput()
            .and_then(|t| t.write_capacity_units()),
        global_secondary_indexes,
        stream_enabled: stream.is_some_and(|s| s.stream_enabled()),
        stream_view_type: stream
            .and_then(|s| s.stream_view_type())
            .and_then(stream_view_type),
        stream_arn: table
            .latest_stream_arn()
            .filter(|_| stream.is_some_and(|s| s.stream_enabled()))
            .map(str::to_owned),
        sse_enabled: sse
            .and_then(|s| s.status())
            .is_some_and(|s| matches!(s, ddb::SseStatus::Enabled | ddb::SseStatus::Enabling)),
        sse_kms_key_arn: sse.and_then(|s| s.kms_master_key_arn()).map(str::to_owned),
        deletion_protection: table.deletion_protection_enabled().unwrap_or(false),
        table_class: table
            .table_class_summary()
            .and_then(|c| c.table_class())
            .map(|c| match c {
                ddb::TableClass::StandardInfrequentAccess => TableClass::StandardInfrequentAccess,
                _ => TableClass::Standard,
            }),
        tags: BTreeMap::new(),
        time_to_live: None,
        point_in_time_recovery: None,
    }
}

fn attribute_type(t: &ScalarAttributeType) -> Option<AttributeType> {
    match t {
        ScalarAttributeType::S => Some(AttributeType::S),
        ScalarAttributeType::N => Some(AttributeType::N),
        ScalarAttributeType::B => Some(AttributeType::B),
        _ => None,
    }
}

fn projection_type(t: &ddb::ProjectionType) -> Option<ProjectionType> {
    match t {
        ddb::ProjectionType::All => Some(ProjectionType::All),
        ddb::ProjectionType::KeysOnly => Some(ProjectionType::KeysOnly),
        ddb::ProjectionType::Include => Some(ProjectionType::Include),
        _ => None,
    }
}

fn stream_view_type(t: &ddb::StreamViewType) -> Option<StreamViewType> {
    match t {
        ddb::StreamViewType::NewImage => Some(StreamViewType::NewImage),
        ddb::StreamViewType::OldImage => Some(StreamViewType::OldImage),
        ddb::StreamViewType::NewAndOldImages => Some(StreamViewType::NewAndOldImages),
        ddb::StreamViewType::KeysOnly => Some(StreamViewType::KeysOnly),
        _ => None,
    }
}

fn attribute_definitions(
    spec: &crate::spec::DynamoDBSpec,
) -> Result<Vec<AttributeDefinition>, AwsError> {
    diff::attribute_definitions(spec)
        .into_iter()
        .map(|(name, t)| {
            let t = match t {
                AttributeType::S => ScalarAttributeType::S,
                AttributeType::N => ScalarAttributeType::N,
                AttributeType::B => ScalarAttributeType::B,
            };
            Ok(AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(t)
                .build()?)
        })
        .collect()
}

fn key_schema(
    hash: &Attribute,
    range: Option<&Attribute>,
) -> Result<Vec<KeySchemaElement>, AwsError> {
    let mut keys = vec![
        KeySchemaElement::builder()
            .attribute_name(&hash.name)
            .key_type(KeyType::Hash)
            .build()?,
    ];
    if let Some(range) = range {
        keys.push(
            KeySchemaElement::builder()
                .attribute_name(&range.name)
                .key_type(KeyType::Range)
                .build()?,
        );
    }
    Ok(keys)
}

fn throughput(read: Option<i64>, write: Option<i64>) -> Result<ProvisionedThroughput, AwsError> {
    Ok(ProvisionedThroughput::builder()
        .set_read_capacity_units(read)
        .set_write_capacity_units(write)
        .build()?)
}

fn projection(p: Option<&Projection>) -> ddb::Projection {
    let (kind, non_key) = p.map_or((ProjectionType::All, Vec::new()), |p| {
        (p.type_, p.non_key_attributes.clone())
    });
    let kind = match kind {
        ProjectionType::All => ddb::ProjectionType::All,
        ProjectionType::KeysOnly => ddb::ProjectionType::KeysOnly,
        ProjectionType::Include => ddb::ProjectionType::Include,
    };
    ddb::Projection::builder()
        .projection_type(kind)
        .set_non_key_attributes((!non_key.is_empty()).then_some(non_key))
        .build()
}

fn global_index(
    spec: &crate::spec::DynamoDBSpec,
    index: &GlobalSecondaryIndex,
    provisioned: bool,
) -> Result<ddb::GlobalSecondaryIndex, AwsError> {
    let mut gsi = ddb::GlobalSecondaryIndex::builder()
        .index_name(&index.index_name)
        .set_key_schema(Some(key_schema(
            &index.hash_attribute,
            index.range_attribute.as_ref(),
        )?))
        .projection(projection(index.projection.as_ref()));
    if provisioned {
        // An index without its own capacity gets the table's.
        gsi = gsi.provisioned_throughput(throughput(
            index.read_capacity_units.or(spec.read_capacity_units),
            index.write_capacity_units.or(spec.write_capacity_units),
        )?);
    }
    Ok(gsi.build()?)
}

fn local_index(
    hash: &Attribute,
    index: &LocalSecondaryIndex,
) -> Result<ddb::LocalSecondaryIndex, AwsError> {
    Ok(ddb::LocalSecondaryIndex::builder()
        .index_name(&index.index_name)
        .set_key_schema(Some(key_schema(hash, Some(&index.range_attribute))?))
        .projection(projection(index.projection.as_ref()))
        .build()?)
}

fn stream_specification(stream: &Stream) -> Result<ddb::StreamSpecification, AwsError> {
    let view = match stream.view_type.unwrap_or(StreamViewType::NewAndOldImages) {
        StreamViewType::NewImage => ddb::StreamViewType::NewImage,
        StreamViewType::OldImage => ddb::StreamViewType::OldImage,
        StreamViewType::NewAndOldImages => ddb::StreamViewType::NewAndOldImages,
        StreamViewType::KeysOnly => ddb::StreamViewType::KeysOnly,
    };
    let builder = ddb::StreamSpecification::builder().stream_enabled(stream.enabled);
    Ok(if stream.enabled {
        builder.stream_view_type(view)
    } else {
        builder
    }
    .build()?)
}

fn sse_specification(sse: &Sse) -> ddb::SseSpecification {
    let builder = ddb::SseSpecification::builder().enabled(sse.enabled);
    if sse.enabled {
        builder
            .sse_type(ddb::SseType::Kms)
            .set_kms_master_key_id(sse.kms_master_key_id.clone())
            .build()
    } else {
        builder.build()
    }
}

fn sdk_billing_mode(mode: BillingMode) -> SdkBillingMode {
    match mode {
        BillingMode::Provisioned => SdkBillingMode::Provisioned,
        BillingMode::PayPerRequest => SdkBillingMode::PayPerRequest,
    }
}

fn sdk_table_class(class: TableClass) -> ddb::TableClass {
    match class {
        TableClass::Standard => ddb::TableClass::Standard,
        TableClass::StandardInfrequentAccess => ddb::TableClass::StandardInfrequentAccess,
    }
}

fn sdk_tags(tags: &BTreeMap<String, String>) -> Result<Vec<Tag>, AwsError> {
    tags.iter()
        .map(|(k, v)| Ok(Tag::builder().key(k).value(v).build()?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str, kind: KeyType) -> KeySchemaElement {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .unwrap()
    }

    fn definition(name: &str, t: ScalarAttributeType) -> AttributeDefinition {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(t)
            .build()
            .unwrap()
    }

    /// DescribeTable's answer, through the translation `observe` and export share.
    #[test]
    fn a_described_table_exports_with_its_keys_and_local_indexes() {
        let table = ddb::TableDescription::builder()
            .table_name("orders")
            .table_status(ddb::TableStatus::Active)
            .attribute_definitions(definition("id", ScalarAttributeType::S))
            .attribute_definitions(definition("at", ScalarAttributeType::N))
            .key_schema(key("id", KeyType::Hash))
            .key_schema(key("at", KeyType::Range))
            .local_secondary_indexes(
                ddb::LocalSecondaryIndexDescription::builder()
                    .index_name("byAt")
                    .key_schema(key("id", KeyType::Hash))
                    .key_schema(key("at", KeyType::Range))
                    .projection(
                        ddb::Projection::builder()
                            .projection_type(ddb::ProjectionType::All)
                            .build(),
                    )
                    .build(),
            )
            .provisioned_throughput(
                ddb::ProvisionedThroughputDescription::builder()
                    .read_capacity_units(4)
                    .write_capacity_units(2)
                    .build(),
            )
            .build();
        let observed = observed_table(&table);
        let spec = diff::exported_spec(&observed).unwrap();
        assert_eq!(spec.hash_attribute.name, "id");
        assert_eq!(
            spec.range_attribute.as_ref().map(|a| a.type_),
            Some(AttributeType::N)
        );
        let local = &spec.local_secondary_indexes.as_ref().unwrap()[0];
        assert_eq!(
            (
                local.index_name.as_str(),
                local.range_attribute.name.as_str()
            ),
            ("byAt", "at")
        );
        assert_eq!(
            (spec.read_capacity_units, spec.write_capacity_units),
            (Some(4), Some(2))
        );
        assert_eq!(diff::diff(&spec, &observed, &BTreeMap::new()), vec![]);
    }
}
