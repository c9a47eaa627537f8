//! The `DynamoDB` kind: a DynamoDB table, as the original AWS Service Operator described it, plus
//! the table settings the DynamoDB API offers.

use std::collections::BTreeMap;

use kube::CustomResource;
use operator_core::ResourceStatus;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "service-operator.aws",
    version = "v1alpha1",
    kind = "DynamoDB",
    doc = "An Amazon DynamoDB table, created, kept in sync and deleted by the AWS Service Operator.",
    plural = "dynamodbs",
    shortname = "ddb",
    shortname = "dynamo",
    shortname = "dynamotable",
    category = "aws",
    namespaced,
    status = "DynamoDBStatus",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Synced","type":"string","jsonPath":".status.conditions[?(@.type==\"Synced\")].status"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.tableStatus"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    printcolumn = r#"{"name":"ARN","type":"string","jsonPath":".status.arn","priority":1}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "has(self.tableName) == has(oldSelf.tableName) && (!has(self.tableName) || self.tableName == oldSelf.tableName)", "message": "tableName is immutable"},
    {"rule": "self.hashAttribute == oldSelf.hashAttribute", "message": "hashAttribute is immutable"},
    {"rule": "has(self.rangeAttribute) == has(oldSelf.rangeAttribute) && (!has(self.rangeAttribute) || self.rangeAttribute == oldSelf.rangeAttribute)", "message": "rangeAttribute is immutable"},
    {"rule": "has(self.localSecondaryIndexes) == has(oldSelf.localSecondaryIndexes) && (!has(self.localSecondaryIndexes) || self.localSecondaryIndexes == oldSelf.localSecondaryIndexes)", "message": "localSecondaryIndexes is immutable"},
    {"rule": "!has(self.billingMode) || self.billingMode != 'PAY_PER_REQUEST' || (!has(self.readCapacityUnits) && !has(self.writeCapacityUnits))", "message": "readCapacityUnits and writeCapacityUnits must not be set when billingMode is PAY_PER_REQUEST"},
    {"rule": "(has(self.billingMode) && self.billingMode == 'PAY_PER_REQUEST') || (has(self.readCapacityUnits) && has(self.writeCapacityUnits))", "message": "readCapacityUnits and writeCapacityUnits are required unless billingMode is PAY_PER_REQUEST"}
]))]
/// The table's desired keys, capacity, indexes and settings.
pub struct DynamoDBSpec {
    /// Name of the table in AWS; defaults to metadata.name. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 3, max = 255), regex(pattern = r"^[a-zA-Z0-9_.-]+$"))]
    pub table_name: Option<String>,

    /// Partition key. Immutable.
    pub hash_attribute: Attribute,

    /// Sort key (DynamoDB RANGE key); none when absent. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range_attribute: Option<Attribute>,

    /// How reads and writes are paid for (DynamoDB BillingMode); default PROVISIONED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_mode: Option<BillingMode>,

    /// Provisioned read capacity; required unless billingMode is PAY_PER_REQUEST.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub read_capacity_units: Option<i64>,

    /// Provisioned write capacity; required unless billingMode is PAY_PER_REQUEST.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub write_capacity_units: Option<i64>,

    /// When set, exactly these global secondary indexes exist (missing ones are created, others
    /// deleted). When absent, the table's indexes are left as they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 20))]
    pub global_secondary_indexes: Option<Vec<GlobalSecondaryIndex>>,

    /// Local secondary indexes; only settable at creation. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 5))]
    pub local_secondary_indexes: Option<Vec<LocalSecondaryIndex>>,

    /// Expiry of items by a timestamp attribute (DynamoDB TTL); left as it is in AWS when absent (off when created).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_to_live: Option<TimeToLive>,

    /// Continuous backups with point-in-time recovery; left as it is in AWS when absent (off when created).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub point_in_time_recovery: Option<bool>,

    /// The table's change stream (DynamoDB Streams); left as it is in AWS when absent (off when created).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<Stream>,

    /// Server-side encryption with a KMS key; AWS-owned key when absent or disabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sse: Option<Sse>,

    /// While true, AWS refuses to delete the table (and so does this resource's deletion); left as it is when absent (off when created).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_protection: Option<bool>,

    /// Storage class (DynamoDB TableClass); left as it is in AWS when absent (STANDARD when created).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_class: Option<TableClass>,

    /// Tags on the table, besides the operator's ownership tags.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(length(max = 40))]
    pub tags: BTreeMap<String, String>,
}

/// A key attribute: its name and scalar type.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct Attribute {
    /// The attribute's name.
    #[schemars(length(min = 1, max = 255))]
    pub name: String,
    /// The attribute's scalar type (DynamoDB AttributeType): S (string), N (number) or B (binary).
    #[serde(rename = "type")]
    pub type_: AttributeType,
}

/// S (string), N (number) or B (binary).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum AttributeType {
    S,
    N,
    B,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BillingMode {
    Provisioned,
    PayPerRequest,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GlobalSecondaryIndex {
    /// Name of the index (DynamoDB IndexName), unique within the table.
    #[schemars(length(min = 3, max = 255))]
    pub index_name: String,
    /// The index's partition key.
    pub hash_attribute: Attribute,
    /// The index's sort key; none when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range_attribute: Option<Attribute>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projection: Option<Projection>,
    /// The index's provisioned read capacity, with a PROVISIONED table; default the table's readCapacityUnits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub read_capacity_units: Option<i64>,
    /// The index's provisioned write capacity, with a PROVISIONED table; default the table's writeCapacityUnits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub write_capacity_units: Option<i64>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalSecondaryIndex {
    /// Name of the index (DynamoDB IndexName), unique within the table.
    #[schemars(length(min = 3, max = 255))]
    pub index_name: String,
    /// The alternative sort key.
    pub range_attribute: Attribute,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projection: Option<Projection>,
}

/// Which attributes an index copies; ALL when absent.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Projection {
    /// ALL attributes, KEYS_ONLY, or INCLUDE the keys and nonKeyAttributes (DynamoDB ProjectionType).
    #[serde(rename = "type")]
    pub type_: ProjectionType,
    /// With type INCLUDE: the non-key attributes to copy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub non_key_attributes: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ProjectionType {
    All,
    KeysOnly,
    Include,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TimeToLive {
    /// Whether DynamoDB deletes items once the time in attributeName has passed.
    pub enabled: bool,
    /// The attribute holding each item's expiry time (epoch seconds).
    #[schemars(length(min = 1, max = 255))]
    pub attribute_name: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Stream {
    /// Whether DynamoDB records every item change in the table's stream.
    pub enabled: bool,
    /// What each stream record holds; NEW_AND_OLD_IMAGES when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view_type: Option<StreamViewType>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StreamViewType {
    NewImage,
    OldImage,
    NewAndOldImages,
    KeysOnly,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Sse {
    /// Encrypt with a KMS key (SSE type KMS); when false, with the AWS-owned key.
    pub enabled: bool,
    /// A KMS key id, ARN or alias; the AWS-managed key when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_master_key_id: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TableClass {
    Standard,
    StandardInfrequentAccess,
}

/// The table as last observed in AWS, and how its reconciliation went.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TableStatusFields {
    /// The table's name in AWS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_name: Option<String>,
    /// The table's status in AWS (DynamoDB TableStatus): CREATING, ACTIVE, UPDATING, DELETING, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_status: Option<String>,
}

pub type DynamoDBStatus = ResourceStatus<TableStatusFields>;

impl DynamoDB {
    /// The table's name in AWS.
    pub fn table_name(&self) -> String {
        self.spec
            .table_name
            .clone()
            .unwrap_or_else(|| self.metadata.name.clone().unwrap_or_default())
    }
}
