//! The status every kind shares, with the kind's own observed fields flattened in.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{conditions::Condition, resource::PlannedChange};

/// When drift was last corrected, and in which fields.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DriftCorrection {
    /// RFC 3339.
    pub time: String,
    /// The spec fields put back.
    pub fields: Vec<String>,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ResourceStatus<F> {
    /// Ready, Synced and (when progress needs a spec change) Terminal.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` that the conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The ARN of the AWS resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// The values also written to the outputs ConfigMap, under the original operator's names
    /// (its `output` block: `tableARN`, `queueURL`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub output: BTreeMap<String, String>,
    /// Set (RFC 3339) just before the operator creates the AWS resource, cleared once the result
    /// is recorded: after a crash in between, a resource found without ownership tags is the
    /// one this create made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_pending: Option<String>,
    /// The AWS region the resource lives in, recorded when it is first placed; it cannot change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The AWS account the resource lives in (the namespace's role's, or the operator's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// Read-only: the changes the operator would make if it managed the resource.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plan: Vec<PlannedChange>,
    /// The last time the operator put back what was changed in AWS outside the spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_drift_correction: Option<DriftCorrection>,
    #[serde(flatten)]
    pub fields: F,
}
