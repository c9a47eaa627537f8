//! The one trait a service crate implements per kind: a description of its AWS resource.

use std::{collections::BTreeMap, fmt, future::Future};

use kube::{
    CustomResourceExt, Resource,
    core::{NamespaceResourceScope, object::HasStatus},
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::{
    aws::AwsClients,
    errors::AwsError,
    references::{RefKind, Reference, Resolved},
    status::ResourceStatus,
};

/// Whether an observed AWS resource can be used and updated now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// A transitional state reported by AWS (CREATING, UPDATING, …): check again soon.
    Pending(String),
    /// AWS is deleting it.
    Deleting,
    /// It exists but cannot work until something outside it changes (the message says what);
    /// looked at again now and then, not in a tight loop.
    Unusable {
        reason: String,
        message: String,
    },
}

/// One change the operator would make (or made), as plans, status and loop reports show it:
/// the field by its spec name, and the values AWS has and the spec asks for, where the kind can
/// say them in a few words (never a secret: kinds leave those out).
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PlannedChange {
    /// The spec field, by its name in the spec.
    pub field: String,
    /// The value AWS has now, where short and not secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws: Option<String>,
    /// The value the spec asks for, where short and not secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<String>,
}

impl PlannedChange {
    pub fn field(field: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            aws: None,
            spec: None,
        }
    }

    pub fn values(
        field: impl Into<String>,
        aws: Option<impl fmt::Display>,
        spec: Option<impl fmt::Display>,
    ) -> Self {
        Self {
            field: field.into(),
            aws: aws.map(|v| v.to_string()),
            spec: spec.map(|v| v.to_string()),
        }
    }
}

/// An enum value as the spec spells it (`PAY_PER_REQUEST`, `IMMUTABLE`, `Enabled`), for plans.
pub fn spelled(value: impl Serialize) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

impl fmt::Display for PlannedChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.field)?;
        match (&self.aws, &self.spec) {
            (None, None) => Ok(()),
            (aws, spec) => write!(
                f,
                " (AWS {}, spec {})",
                aws.as_deref().unwrap_or("unset"),
                spec.as_deref().unwrap_or("unset")
            ),
        }
    }
}

/// A CEL rule over the whole object that checks `metadata.name` where the AWS name defaults
/// from it, so a name AWS cannot take is refused at admission rather than by AWS.
#[derive(Debug, Clone, Copy)]
pub struct NameRule {
    pub rule: &'static str,
    pub message: &'static str,
}

/// An ExternalName Service, named `name`, that points at the AWS resource's endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointService {
    pub name: String,
    pub host: String,
    pub port: i32,
}

/// A Kubernetes kind backed by one AWS resource.
///
/// `observe` returns `None` when the resource does not exist. `refs` holds the resolved
/// [`references`](AwsResource::references); during deletion it holds only those that still
/// resolve (often none), so deletion must not depend on them. `diff` is pure: it lists the
/// fields where AWS differs from the spec, and `update` writes exactly those. The core calls
/// `update` only when `diff` is non-empty, so a steady state makes no AWS write calls.
pub trait AwsResource:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + HasStatus<Status = ResourceStatus<Self::StatusFields>>
    + CustomResourceExt
    + Clone
    + fmt::Debug
    + Serialize
    + DeserializeOwned
    + Send
    + Sync
    + 'static
{
    /// The service's SDK client.
    type Client: Clone + Send + Sync + 'static;
    /// What AWS reports about the resource.
    type Observed: fmt::Debug + Send + Sync;
    /// One difference between spec and AWS; its `Display` names the field for Events.
    type Change: fmt::Display + fmt::Debug + Send + Sync;
    /// The kind's own status fields, next to the shared conditions.
    type StatusFields: Serialize
        + DeserializeOwned
        + JsonSchema
        + Clone
        + fmt::Debug
        + Default
        + PartialEq
        + Send
        + Sync;

    /// The AWS service, as named in metrics and logs (e.g. "dynamodb").
    const SERVICE: &'static str;

    /// Kinds this kind can refer to by name; their changes wake the resources that refer to them.
    const REFERENCED_KINDS: &'static [RefKind] = &[];

    /// Checks `metadata.name` at admission where the AWS name defaults from it.
    const DEFAULTED_NAME: Option<NameRule> = None;

    fn client(aws: &AwsClients) -> Self::Client;

    /// The resources this one needs Ready before it can be created or updated.
    fn references(&self) -> Vec<Reference> {
        Vec::new()
    }

    /// The name of the resource in AWS.
    fn aws_name(&self) -> String;

    fn observe(
        &self,
        client: &Self::Client,
        refs: &Resolved,
    ) -> impl Future<Output = Result<Option<Self::Observed>, AwsError>> + Send;

    /// Creates the resource carrying `tags` (the user's plus the ownership tags) and returns it
    /// as AWS answered: built from the create's answer and what was sent, with at most a read by
    /// the identifier AWS returned (never a second look-up by name). `None` when the answer
    /// cannot describe it (settings AWS takes in calls of their own): the core observes it,
    /// then writes what `diff` finds missing.
    fn create(
        &self,
        client: &Self::Client,
        refs: &Resolved,
        tags: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<Option<Self::Observed>, AwsError>> + Send;

    /// The tags the resource carries in AWS, where ownership is recorded. `None` for a kind
    /// whose AWS resource cannot carry tags: it is this object's when its ARN is the one
    /// `status.arn` records (or, before that, when this object's interrupted create made it).
    fn tags(observed: &Self::Observed) -> Option<&BTreeMap<String, String>>;

    /// Adds the ownership `tags` to an existing resource (adoption, or taking over what an
    /// interrupted create made). Called only for kinds whose [`tags`](AwsResource::tags) are
    /// `Some`; a kind that cannot carry tags records ownership in status alone.
    fn tag(
        &self,
        _client: &Self::Client,
        _observed: &Self::Observed,
        _tags: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<(), AwsError>> + Send {
        async {
            Err(AwsError::terminal(
                "NotTaggable",
                format!("{} cannot carry tags", Self::SERVICE),
            ))
        }
    }

    /// The differences between spec and AWS. `tags` is the full desired tag set.
    fn diff(
        &self,
        observed: &Self::Observed,
        refs: &Resolved,
        tags: &BTreeMap<String, String>,
    ) -> Vec<Self::Change>;

    /// `change` as plans and reports show it; by default only its field, named by `Display`.
    /// Kinds name the values where they are short and not secret.
    fn planned(change: &Self::Change, _observed: &Self::Observed) -> PlannedChange {
        PlannedChange::field(change.to_string())
    }

    /// Writes `changes` to AWS.
    fn update(
        &self,
        client: &Self::Client,
        refs: &Resolved,
        observed: &Self::Observed,
        changes: Vec<Self::Change>,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    fn delete(
        &self,
        client: &Self::Client,
        observed: &Self::Observed,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    fn readiness(observed: &Self::Observed) -> Readiness;

    fn arn(observed: &Self::Observed) -> Option<String>;

    fn status_fields(observed: &Self::Observed) -> Self::StatusFields;

    /// The keys and values written to the outputs ConfigMap for the app to read.
    fn outputs(observed: &Self::Observed) -> BTreeMap<String, String>;

    /// User tags from the spec.
    fn user_tags(&self) -> BTreeMap<String, String>;

    /// A Service the app can reach the resource by; created and owned by the resource.
    fn service(_observed: &Self::Observed) -> Option<EndpointService> {
        None
    }

    /// Every resource of this kind in the client's account and region whose AWS name starts with
    /// `prefix`, each as an object whose spec describes it as AWS has it (so that `diff` finds
    /// nothing but the ownership tags), named after it, for `export`. `None` for a kind that
    /// cannot be exported (one that needs references to describe).
    fn export(
        _client: &Self::Client,
        _prefix: &str,
    ) -> impl Future<Output = Option<Result<Vec<Self>, AwsError>>> + Send {
        async { None }
    }

    /// Removes what this resource added to other AWS resources when its own AWS resource is
    /// already gone (deleted out of band, or with its parent); `delete` covers the usual case.
    fn delete_leftovers(
        &self,
        _client: &Self::Client,
    ) -> impl Future<Output = Result<(), AwsError>> + Send {
        async { Ok(()) }
    }
}
