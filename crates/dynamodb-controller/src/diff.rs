//! What a table looks like in AWS, and the pure comparison of that with the spec.

use std::{collections::BTreeMap, fmt};

use operator_core::resource::spelled;
use operator_core::{PlannedChange, ownership};

use crate::spec::{
    Attribute, AttributeType, BillingMode, DynamoDBSpec, GlobalSecondaryIndex, LocalSecondaryIndex,
    Projection, ProjectionType, Sse, Stream, StreamViewType, TableClass, TimeToLive,
};

/// A table as DynamoDB reports it, in the spec's own terms.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObservedTable {
    pub name: String,
    pub arn: Option<String>,
    /// CREATING, ACTIVE, UPDATING, DELETING, …
    pub status: String,
    /// The table's keys; a table always has a partition key, so `None` only in tests.
    pub hash_attribute: Option<Attribute>,
    pub range_attribute: Option<Attribute>,
    pub local_secondary_indexes: Vec<LocalSecondaryIndex>,
    pub billing_mode: Option<BillingMode>,
    pub read_capacity_units: Option<i64>,
    pub write_capacity_units: Option<i64>,
    pub global_secondary_indexes: Vec<ObservedIndex>,
    pub stream_enabled: bool,
    pub stream_view_type: Option<StreamViewType>,
    pub stream_arn: Option<String>,
    pub sse_enabled: bool,
    pub sse_kms_key_arn: Option<String>,
    pub deletion_protection: bool,
    pub table_class: Option<TableClass>,
    pub tags: BTreeMap<String, String>,
    /// Read only when the spec manages time to live.
    pub time_to_live: Option<ObservedTimeToLive>,
    /// Read only when the spec manages point-in-time recovery.
    pub point_in_time_recovery: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObservedIndex {
    pub index_name: String,
    pub hash_attribute: Option<Attribute>,
    pub range_attribute: Option<Attribute>,
    pub projection_type: Option<ProjectionType>,
    pub non_key_attributes: Vec<String>,
    pub read_capacity_units: Option<i64>,
    pub write_capacity_units: Option<i64>,
    /// CREATING, ACTIVE, UPDATING, DELETING.
    pub status: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObservedTimeToLive {
    pub enabled: bool,
    pub attribute_name: Option<String>,
}

/// One difference between spec and AWS, written by one AWS call.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Capacity {
        billing_mode: BillingMode,
        read: Option<i64>,
        write: Option<i64>,
    },
    DeleteIndex(String),
    CreateIndex(GlobalSecondaryIndex),
    IndexCapacity {
        index_name: String,
        read: i64,
        write: i64,
    },
    Stream(Stream),
    Sse(Sse),
    DeletionProtection(bool),
    TableClass(TableClass),
    TimeToLive {
        enabled: bool,
        attribute_name: String,
    },
    PointInTimeRecovery(bool),
    Tags {
        set: BTreeMap<String, String>,
        remove: Vec<String>,
    },
}

impl Change {
    /// Whether the change is made through UpdateTable, which takes one change at a time.
    pub fn is_table_update(&self) -> bool {
        !matches!(
            self,
            Change::TimeToLive { .. } | Change::PointInTimeRecovery(_) | Change::Tags { .. }
        )
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Capacity { .. } => f.write_str("billingMode/capacity"),
            Change::DeleteIndex(name) => write!(f, "globalSecondaryIndexes[{name}] (delete)"),
            Change::CreateIndex(index) => {
                write!(f, "globalSecondaryIndexes[{}] (create)", index.index_name)
            }
            Change::IndexCapacity { index_name, .. } => {
                write!(f, "globalSecondaryIndexes[{index_name}] capacity")
            }
            Change::Stream(_) => f.write_str("stream"),
            Change::Sse(_) => f.write_str("sse"),
            Change::DeletionProtection(_) => f.write_str("deletionProtection"),
            Change::TableClass(_) => f.write_str("tableClass"),
            Change::TimeToLive { .. } => f.write_str("timeToLive"),
            Change::PointInTimeRecovery(_) => f.write_str("pointInTimeRecovery"),
            Change::Tags { .. } => f.write_str("tags"),
        }
    }
}

/// `change` as plans show it: the values of the table's short settings; only the field for an
/// index created or deleted (its whole shape) and for tags.
pub fn planned(change: &Change, observed: &ObservedTable) -> PlannedChange {
    let field = change.to_string();
    match change {
        Change::Capacity {
            billing_mode,
            read,
            write,
        } => PlannedChange::values(
            field,
            Some(capacity(
                observed.billing_mode.unwrap_or(BillingMode::Provisioned),
                observed.read_capacity_units,
                observed.write_capacity_units,
            )),
            Some(capacity(*billing_mode, *read, *write)),
        ),
        Change::IndexCapacity {
            index_name,
            read,
            write,
        } => PlannedChange::values(
            field,
            observed
                .global_secondary_indexes
                .iter()
                .find(|i| i.index_name == *index_name)
                .map(|i| units(i.read_capacity_units, i.write_capacity_units)),
            Some(units(Some(*read), Some(*write))),
        ),
        Change::Stream(stream) => PlannedChange::values(
            field,
            Some(match (observed.stream_enabled, observed.stream_view_type) {
                (false, _) => "disabled".to_owned(),
                (true, None) => "enabled".to_owned(),
                (true, Some(view)) => spelled(view),
            }),
            Some(if stream.enabled {
                spelled(stream.view_type.unwrap_or(StreamViewType::NewAndOldImages))
            } else {
                "disabled".to_owned()
            }),
        ),
        Change::Sse(sse) => PlannedChange::values(
            field,
            Some(encryption(
                observed.sse_enabled,
                observed.sse_kms_key_arn.as_deref(),
            )),
            Some(encryption(sse.enabled, sse.kms_master_key_id.as_deref())),
        ),
        Change::DeletionProtection(protect) => {
            PlannedChange::values(field, Some(observed.deletion_protection), Some(protect))
        }
        Change::TableClass(class) => PlannedChange::values(
            field,
            Some(spelled(
                observed.table_class.unwrap_or(TableClass::Standard),
            )),
            Some(spelled(class)),
        ),
        Change::TimeToLive {
            enabled,
            attribute_name,
        } => PlannedChange::values(
            field,
            observed
                .time_to_live
                .as_ref()
                .map(|t| time_to_live(t.enabled, t.attribute_name.as_deref())),
            Some(time_to_live(*enabled, Some(attribute_name))),
        ),
        Change::PointInTimeRecovery(enabled) => {
            PlannedChange::values(field, observed.point_in_time_recovery, Some(enabled))
        }
        Change::DeleteIndex(_) | Change::CreateIndex(_) | Change::Tags { .. } => {
            PlannedChange::field(field)
        }
    }
}

fn units(read: Option<i64>, write: Option<i64>) -> String {
    let number = |n: Option<i64>| n.map_or_else(|| "unset".to_owned(), |n| n.to_string());
    format!("read {} write {}", number(read), number(write))
}

/// On-demand tables report a throughput of zero, which means nothing: only the mode is shown.
fn capacity(mode: BillingMode, read: Option<i64>, write: Option<i64>) -> String {
    match mode {
        BillingMode::PayPerRequest => spelled(mode),
        BillingMode::Provisioned => format!("{} {}", spelled(mode), units(read, write)),
    }
}

fn encryption(enabled: bool, key: Option<&str>) -> String {
    match (enabled, key) {
        (false, _) => "disabled".to_owned(),
        (true, None) => "KMS".to_owned(),
        (true, Some(key)) => format!("KMS {key}"),
    }
}

fn time_to_live(enabled: bool, attribute: Option<&str>) -> String {
    match (enabled, attribute) {
        (false, _) => "disabled".to_owned(),
        (true, None) => "enabled".to_owned(),
        (true, Some(attribute)) => attribute.to_owned(),
    }
}

/// A spec that describes `observed` as DynamoDB has it, for export: the diff against it finds
/// nothing but the ownership tags. Settings are written out; features that are off (indexes,
/// stream, time to live, KMS encryption) are left out, as a table created from the spec starts
/// without them. `None` for a table without a partition key (DynamoDB always reports one).
pub fn exported_spec(observed: &ObservedTable) -> Option<DynamoDBSpec> {
    let mode = observed.billing_mode.unwrap_or(BillingMode::Provisioned);
    // An index that cannot be described leaves all of them unmanaged: a list without it would
    // delete it.
    let indexes: Option<Vec<_>> = observed
        .global_secondary_indexes
        .iter()
        .map(|i| exported_index(i, mode))
        .collect();
    Some(DynamoDBSpec {
        table_name: Some(observed.name.clone()),
        hash_attribute: observed.hash_attribute.clone()?,
        range_attribute: observed.range_attribute.clone(),
        billing_mode: Some(mode),
        read_capacity_units: provisioned(mode, observed.read_capacity_units),
        write_capacity_units: provisioned(mode, observed.write_capacity_units),
        global_secondary_indexes: indexes.filter(|i| !i.is_empty()),
        local_secondary_indexes: Some(observed.local_secondary_indexes.clone())
            .filter(|i| !i.is_empty()),
        time_to_live: observed
            .time_to_live
            .as_ref()
            .filter(|t| t.enabled)
            .and_then(|t| {
                Some(TimeToLive {
                    enabled: true,
                    attribute_name: t.attribute_name.clone()?,
                })
            }),
        point_in_time_recovery: observed.point_in_time_recovery,
        stream: observed.stream_enabled.then_some(Stream {
            enabled: true,
            view_type: observed.stream_view_type,
        }),
        sse: observed.sse_enabled.then(|| Sse {
            enabled: true,
            kms_master_key_id: observed.sse_kms_key_arn.clone(),
        }),
        deletion_protection: Some(observed.deletion_protection),
        table_class: Some(observed.table_class.unwrap_or(TableClass::Standard)),
        tags: ownership::exported_tags(&observed.tags),
    })
}

fn exported_index(index: &ObservedIndex, mode: BillingMode) -> Option<GlobalSecondaryIndex> {
    Some(GlobalSecondaryIndex {
        index_name: index.index_name.clone(),
        hash_attribute: index.hash_attribute.clone()?,
        range_attribute: index.range_attribute.clone(),
        projection: index.projection_type.map(|type_| Projection {
            type_,
            non_key_attributes: index.non_key_attributes.clone(),
        }),
        read_capacity_units: provisioned(mode, index.read_capacity_units),
        write_capacity_units: provisioned(mode, index.write_capacity_units),
    })
}

/// Capacity units as the spec holds them: on-demand tables and their indexes report zero, which
/// the spec refuses.
fn provisioned(mode: BillingMode, units: Option<i64>) -> Option<i64> {
    units.filter(|_| mode == BillingMode::Provisioned)
}

fn desired_billing_mode(spec: &DynamoDBSpec) -> BillingMode {
    spec.billing_mode.unwrap_or(BillingMode::Provisioned)
}

/// The differences between `spec` and `observed`, in the order they should be applied.
/// Fields the spec leaves out are not managed, so they never show up as differences.
pub fn diff(
    spec: &DynamoDBSpec,
    observed: &ObservedTable,
    tags: &BTreeMap<String, String>,
) -> Vec<Change> {
    let mut changes = Vec::new();
    let mode = desired_billing_mode(spec);
    let observed_mode = observed.billing_mode.unwrap_or(BillingMode::Provisioned);
    let capacity_differs = mode == BillingMode::Provisioned
        && (observed.read_capacity_units != spec.read_capacity_units
            || observed.write_capacity_units != spec.write_capacity_units);
    if mode != observed_mode || capacity_differs {
        changes.push(Change::Capacity {
            billing_mode: mode,
            read: spec.read_capacity_units,
            write: spec.write_capacity_units,
        });
    }

    if let Some(indexes) = &spec.global_secondary_indexes {
        for existing in &observed.global_secondary_indexes {
            match indexes.iter().find(|i| i.index_name == existing.index_name) {
                // Keys and projection cannot change in place: drop the index; the next pass re-creates it.
                Some(wanted) if !same_shape(wanted, existing) => {
                    changes.push(Change::DeleteIndex(existing.index_name.clone()))
                }
                Some(_) => {}
                None => changes.push(Change::DeleteIndex(existing.index_name.clone())),
            }
        }
        for wanted in indexes {
            match observed
                .global_secondary_indexes
                .iter()
                .find(|i| i.index_name == wanted.index_name)
            {
                None => changes.push(Change::CreateIndex(wanted.clone())),
                Some(existing)
                    if mode == BillingMode::Provisioned && same_shape(wanted, existing) =>
                {
                    let read = wanted.read_capacity_units.or(spec.read_capacity_units);
                    let write = wanted.write_capacity_units.or(spec.write_capacity_units);
                    if let (Some(read), Some(write)) = (read, write)
                        && (existing.read_capacity_units != Some(read)
                            || existing.write_capacity_units != Some(write))
                    {
                        changes.push(Change::IndexCapacity {
                            index_name: wanted.index_name.clone(),
                            read,
                            write,
                        });
                    }
                }
                Some(_) => {}
            }
        }
    }

    if let Some(stream) = &spec.stream {
        let view = stream.view_type.unwrap_or(StreamViewType::NewAndOldImages);
        let differs = stream.enabled != observed.stream_enabled
            || (stream.enabled && observed.stream_view_type.is_some_and(|v| v != view));
        if differs {
            changes.push(Change::Stream(stream.clone()));
        }
    }

    if let Some(sse) = &spec.sse {
        let key_differs = match (&sse.kms_master_key_id, &observed.sse_kms_key_arn) {
            // An alias cannot be compared with the key ARN AWS reports.
            (Some(wanted), _) if wanted.starts_with("alias/") => false,
            (Some(wanted), Some(arn)) => !(arn == wanted || arn.ends_with(&format!("/{wanted}"))),
            (Some(_), None) => true,
            (None, _) => false,
        };
        if sse.enabled != observed.sse_enabled || (sse.enabled && key_differs) {
            changes.push(Change::Sse(sse.clone()));
        }
    }

    if let Some(protect) = spec.deletion_protection
        && protect != observed.deletion_protection
    {
        changes.push(Change::DeletionProtection(protect));
    }

    if let Some(class) = spec.table_class
        && class != observed.table_class.unwrap_or(TableClass::Standard)
    {
        changes.push(Change::TableClass(class));
    }

    if let Some(ttl) = &spec.time_to_live {
        let current = observed.time_to_live.clone().unwrap_or_default();
        let differs = ttl.enabled != current.enabled
            || (ttl.enabled
                && current.attribute_name.as_deref() != Some(ttl.attribute_name.as_str()));
        if differs {
            // Disabling names the attribute AWS has enabled.
            let attribute_name = if ttl.enabled {
                ttl.attribute_name.clone()
            } else {
                current
                    .attribute_name
                    .unwrap_or_else(|| ttl.attribute_name.clone())
            };
            changes.push(Change::TimeToLive {
                enabled: ttl.enabled,
                attribute_name,
            });
        }
    }

    if let Some(pitr) = spec.point_in_time_recovery
        && Some(pitr) != observed.point_in_time_recovery
    {
        changes.push(Change::PointInTimeRecovery(pitr));
    }

    let (set, remove) = ownership::tag_changes(tags, &observed.tags);
    if !set.is_empty() || !remove.is_empty() {
        changes.push(Change::Tags { set, remove });
    }
    changes
}

fn same_shape(wanted: &GlobalSecondaryIndex, existing: &ObservedIndex) -> bool {
    let projection = wanted.projection.as_ref();
    let wanted_type = projection.map_or(ProjectionType::All, |p| p.type_);
    let mut wanted_non_key = projection
        .map(|p| p.non_key_attributes.clone())
        .unwrap_or_default();
    let mut existing_non_key = existing.non_key_attributes.clone();
    wanted_non_key.sort();
    existing_non_key.sort();
    existing.hash_attribute.as_ref() == Some(&wanted.hash_attribute)
        && existing.range_attribute == wanted.range_attribute
        && existing.projection_type.unwrap_or(ProjectionType::All) == wanted_type
        && existing_non_key == wanted_non_key
}

/// Every key attribute of the table and its indexes, once each, for CreateTable and UpdateTable.
pub fn attribute_definitions(spec: &DynamoDBSpec) -> Vec<(String, AttributeType)> {
    let mut attributes: Vec<&Attribute> = vec![&spec.hash_attribute];
    attributes.extend(&spec.range_attribute);
    for index in spec.global_secondary_indexes.iter().flatten() {
        attributes.push(&index.hash_attribute);
        attributes.extend(&index.range_attribute);
    }
    for index in spec.local_secondary_indexes.iter().flatten() {
        attributes.push(&index.range_attribute);
    }
    let mut seen = BTreeMap::new();
    for a in attributes {
        seen.entry(a.name.clone()).or_insert(a.type_);
    }
    seen.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(name: &str) -> Attribute {
        Attribute {
            name: name.into(),
            type_: AttributeType::S,
        }
    }

    /// The original operator's manifest.
    fn spec() -> DynamoDBSpec {
        serde_json::from_value(serde_json::json!({
            "hashAttribute": {"name": "name", "type": "S"},
            "rangeAttribute": {"name": "created_at", "type": "S"},
            "readCapacityUnits": 5,
            "writeCapacityUnits": 5
        }))
        .unwrap()
    }

    fn matching(spec: &DynamoDBSpec) -> ObservedTable {
        ObservedTable {
            name: "t".into(),
            status: "ACTIVE".into(),
            billing_mode: Some(BillingMode::Provisioned),
            read_capacity_units: spec.read_capacity_units,
            write_capacity_units: spec.write_capacity_units,
            ..Default::default()
        }
    }

    #[test]
    fn matching_table_has_no_changes() {
        let s = spec();
        assert_eq!(diff(&s, &matching(&s), &BTreeMap::new()), vec![]);
    }

    #[test]
    fn capacity_change_is_one_change() {
        let s = spec();
        let mut observed = matching(&s);
        observed.read_capacity_units = Some(1);
        assert_eq!(
            diff(&s, &observed, &BTreeMap::new()),
            vec![Change::Capacity {
                billing_mode: BillingMode::Provisioned,
                read: Some(5),
                write: Some(5)
            }]
        );
    }

    #[test]
    fn on_demand_ignores_reported_throughput() {
        let mut s = spec();
        s.billing_mode = Some(BillingMode::PayPerRequest);
        s.read_capacity_units = None;
        s.write_capacity_units = None;
        let mut observed = matching(&s);
        observed.billing_mode = Some(BillingMode::PayPerRequest);
        observed.read_capacity_units = Some(0);
        observed.write_capacity_units = Some(0);
        assert_eq!(diff(&s, &observed, &BTreeMap::new()), vec![]);
    }

    #[test]
    fn unmanaged_fields_are_not_differences() {
        let s = spec();
        let mut observed = matching(&s);
        observed.stream_enabled = true;
        observed.deletion_protection = true;
        observed.global_secondary_indexes = vec![ObservedIndex {
            index_name: "byOwner".into(),
            ..Default::default()
        }];
        observed.time_to_live = Some(ObservedTimeToLive {
            enabled: true,
            attribute_name: Some("exp".into()),
        });
        assert_eq!(diff(&s, &observed, &BTreeMap::new()), vec![]);
    }

    #[test]
    fn new_index_is_created_and_removed_one_deleted() {
        let mut s = spec();
        let wanted = GlobalSecondaryIndex {
            index_name: "byOwner".into(),
            hash_attribute: attr("owner"),
            range_attribute: None,
            projection: None,
            read_capacity_units: None,
            write_capacity_units: None,
        };
        s.global_secondary_indexes = Some(vec![wanted.clone()]);
        let mut observed = matching(&s);
        observed.global_secondary_indexes = vec![ObservedIndex {
            index_name: "old".into(),
            ..Default::default()
        }];
        assert_eq!(
            diff(&s, &observed, &BTreeMap::new()),
            vec![
                Change::DeleteIndex("old".into()),
                Change::CreateIndex(wanted)
            ]
        );
    }

    #[test]
    fn index_with_same_shape_only_updates_capacity() {
        let mut s = spec();
        s.global_secondary_indexes = Some(vec![GlobalSecondaryIndex {
            index_name: "byOwner".into(),
            hash_attribute: attr("owner"),
            range_attribute: None,
            projection: Some(Projection {
                type_: ProjectionType::Include,
                non_key_attributes: vec!["b".into(), "a".into()],
            }),
            read_capacity_units: Some(3),
            write_capacity_units: Some(3),
        }]);
        let mut observed = matching(&s);
        observed.global_secondary_indexes = vec![ObservedIndex {
            index_name: "byOwner".into(),
            hash_attribute: Some(attr("owner")),
            projection_type: Some(ProjectionType::Include),
            non_key_attributes: vec!["a".into(), "b".into()],
            read_capacity_units: Some(1),
            write_capacity_units: Some(3),
            ..Default::default()
        }];
        assert_eq!(
            diff(&s, &observed, &BTreeMap::new()),
            vec![Change::IndexCapacity {
                index_name: "byOwner".into(),
                read: 3,
                write: 3
            }]
        );
    }

    #[test]
    fn enabling_and_disabling_ttl() {
        let mut s = spec();
        s.time_to_live = Some(TimeToLive {
            enabled: true,
            attribute_name: "exp".into(),
        });
        let mut observed = matching(&s);
        assert_eq!(
            diff(&s, &observed, &BTreeMap::new()),
            vec![Change::TimeToLive {
                enabled: true,
                attribute_name: "exp".into()
            }]
        );
        observed.time_to_live = Some(ObservedTimeToLive {
            enabled: true,
            attribute_name: Some("expires".into()),
        });
        s.time_to_live = Some(TimeToLive {
            enabled: false,
            attribute_name: "exp".into(),
        });
        assert_eq!(
            diff(&s, &observed, &BTreeMap::new()),
            vec![Change::TimeToLive {
                enabled: false,
                attribute_name: "expires".into()
            }]
        );
    }

    #[test]
    fn kms_key_id_matches_its_arn() {
        let mut s = spec();
        s.sse = Some(Sse {
            enabled: true,
            kms_master_key_id: Some("1234".into()),
        });
        let mut observed = matching(&s);
        observed.sse_enabled = true;
        observed.sse_kms_key_arn = Some("arn:aws:kms:us-east-1:123456789012:key/1234".into());
        assert_eq!(diff(&s, &observed, &BTreeMap::new()), vec![]);
    }

    #[test]
    fn tag_differences_are_one_change() {
        let s = spec();
        let mut observed = matching(&s);
        observed.tags = BTreeMap::from([("stale".to_string(), "x".to_string())]);
        let tags = BTreeMap::from([("team".to_string(), "a".to_string())]);
        assert_eq!(
            diff(&s, &observed, &tags),
            vec![Change::Tags {
                set: tags.clone(),
                remove: vec!["stale".into()]
            }]
        );
    }

    #[test]
    fn a_capacity_change_is_planned_with_both_values() {
        let s = spec();
        let mut observed = matching(&s);
        observed.read_capacity_units = Some(1);
        let changes = diff(&s, &observed, &BTreeMap::new());
        assert_eq!(
            planned(&changes[0], &observed),
            PlannedChange::values(
                "billingMode/capacity",
                Some("PROVISIONED read 1 write 5"),
                Some("PROVISIONED read 5 write 5")
            )
        );
        let ttl = Change::TimeToLive {
            enabled: true,
            attribute_name: "exp".into(),
        };
        observed.time_to_live = Some(ObservedTimeToLive::default());
        assert_eq!(
            planned(&ttl, &observed),
            PlannedChange::values("timeToLive", Some("disabled"), Some("exp"))
        );
        let tags = Change::Tags {
            set: BTreeMap::new(),
            remove: vec!["x".into()],
        };
        assert_eq!(planned(&tags, &observed), PlannedChange::field("tags"));
    }

    /// A table with most settings on, as `observe` and export see it.
    fn busy_table() -> ObservedTable {
        ObservedTable {
            name: "Orders_2024".into(),
            arn: Some("arn:aws:dynamodb:us-east-1:123456789012:table/Orders_2024".into()),
            status: "ACTIVE".into(),
            hash_attribute: Some(attr("id")),
            range_attribute: Some(Attribute {
                name: "at".into(),
                type_: AttributeType::N,
            }),
            local_secondary_indexes: vec![LocalSecondaryIndex {
                index_name: "byStatus".into(),
                range_attribute: attr("status"),
                projection: Some(Projection {
                    type_: ProjectionType::KeysOnly,
                    non_key_attributes: vec![],
                }),
            }],
            billing_mode: Some(BillingMode::Provisioned),
            read_capacity_units: Some(5),
            write_capacity_units: Some(2),
            global_secondary_indexes: vec![ObservedIndex {
                index_name: "byOwner".into(),
                hash_attribute: Some(attr("owner")),
                projection_type: Some(ProjectionType::Include),
                non_key_attributes: vec!["total".into()],
                read_capacity_units: Some(3),
                write_capacity_units: Some(1),
                status: Some("ACTIVE".into()),
                ..Default::default()
            }],
            stream_enabled: true,
            stream_view_type: Some(StreamViewType::KeysOnly),
            sse_enabled: true,
            sse_kms_key_arn: Some("arn:aws:kms:us-east-1:123456789012:key/1234".into()),
            deletion_protection: true,
            table_class: Some(TableClass::StandardInfrequentAccess),
            tags: BTreeMap::from([
                ("team".into(), "a".into()),
                (ownership::TAG_UID.into(), "u".into()),
                ("aws:cloudformation:stack-name".into(), "s".into()),
            ]),
            time_to_live: Some(ObservedTimeToLive {
                enabled: true,
                attribute_name: Some("expires".into()),
            }),
            point_in_time_recovery: Some(true),
            ..Default::default()
        }
    }

    /// The tags the core compares an exported object with: its own and the ownership tags.
    fn with_owner(spec: &DynamoDBSpec) -> BTreeMap<String, String> {
        let mut tags = spec.tags.clone();
        tags.insert(ownership::TAG_UID.into(), "u".into());
        tags
    }

    #[test]
    fn an_exported_spec_matches_the_table_it_came_from() {
        let observed = busy_table();
        let exported = exported_spec(&observed).unwrap();
        assert_eq!(exported.table_name.as_deref(), Some("Orders_2024"));
        assert_eq!(exported.tags.keys().collect::<Vec<_>>(), ["team"]);
        assert_eq!(exported.local_secondary_indexes.as_ref().unwrap().len(), 1);
        assert_eq!(diff(&exported, &observed, &with_owner(&exported)), vec![]);
    }

    #[test]
    fn an_exported_on_demand_table_has_no_capacity() {
        let mut observed = busy_table();
        observed.billing_mode = Some(BillingMode::PayPerRequest);
        observed.read_capacity_units = Some(0);
        observed.write_capacity_units = Some(0);
        observed.global_secondary_indexes[0].read_capacity_units = Some(0);
        observed.global_secondary_indexes[0].write_capacity_units = Some(0);
        observed.stream_enabled = false;
        observed.sse_enabled = false;
        observed.time_to_live = Some(ObservedTimeToLive::default());
        let exported = exported_spec(&observed).unwrap();
        assert_eq!(
            (exported.read_capacity_units, exported.write_capacity_units),
            (None, None)
        );
        assert!(exported.stream.is_none() && exported.sse.is_none());
        assert!(exported.time_to_live.is_none());
        // What the API server checks: no capacity with PAY_PER_REQUEST, capacity at least 1.
        let index = &exported.global_secondary_indexes.as_ref().unwrap()[0];
        assert_eq!(index.read_capacity_units, None);
        assert_eq!(diff(&exported, &observed, &with_owner(&exported)), vec![]);
    }

    #[test]
    fn attribute_definitions_are_unique() {
        let mut s = spec();
        s.global_secondary_indexes = Some(vec![GlobalSecondaryIndex {
            index_name: "i".into(),
            hash_attribute: attr("created_at"),
            range_attribute: Some(attr("owner")),
            projection: None,
            read_capacity_units: None,
            write_capacity_units: None,
        }]);
        let names: Vec<_> = attribute_definitions(&s)
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, vec!["created_at", "name", "owner"]);
    }
}
