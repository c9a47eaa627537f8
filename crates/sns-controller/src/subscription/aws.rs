//! How an `SNSSubscription` maps onto the SNS API.
//!
//! Subscriptions carry no tags in AWS, so ownership is by ARN: a subscription is this
//! resource's when its ARN is the one this resource recorded — in `status.arn`, or, between
//! Subscribe and the first status write, in this process's memory. A subscription merely found
//! on the topic with the same protocol and endpoint (someone else's, or ours after a crash
//! between Subscribe and the status write) is not taken: it is reported NotOwned until the
//! resource is annotated to adopt it. Subscribe is idempotent in AWS, so creating instead would
//! silently take over, and deleting would unsubscribe, someone else's subscription.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{LazyLock, Mutex},
};

use aws_sdk_sns::Client;
use kube::ResourceExt;
use operator_core::{
    AwsError, AwsResource, Readiness,
    aws::AwsClients,
    errors::{from_sdk, is_not_found},
    ownership,
    references::{RefKind, Reference, Resolved},
};
use tracing::instrument;

use super::{
    diff::{self, Change, ObservedSubscription},
    spec::{Protocol, SNSSubscription, SubscriptionStatusFields},
};
use crate::{NOT_FOUND, SNS_TOPIC, SQS_QUEUE};

/// Subscription ARNs this process created or adopted, by object uid, until status holds them.
static RECORDED: LazyLock<Mutex<HashMap<String, String>>> = LazyLock::new(Mutex::default);

fn record(uid: String, arn: String) {
    RECORDED.lock().expect("poisoned").insert(uid, arn);
}

impl AwsResource for SNSSubscription {
    type Client = Client;
    type Observed = ObservedSubscription;
    type Change = Change;
    type StatusFields = SubscriptionStatusFields;

    const SERVICE: &'static str = "SNS subscription";
    const REFERENCED_KINDS: &'static [RefKind] = &[SNS_TOPIC, SQS_QUEUE];

    fn client(aws: &AwsClients) -> Client {
        crate::client(aws)
    }

    fn references(&self) -> Vec<Reference> {
        let mut refs = Vec::new();
        if let Some(topic) = &self.spec.topic_name {
            refs.push(Reference::new(&SNS_TOPIC, topic));
        }
        if let Some(queue) = self.queue_reference() {
            refs.push(Reference::new(&SQS_QUEUE, queue));
        }
        refs
    }

    fn aws_name(&self) -> String {
        let spec = &self.spec;
        let topic = spec.topic_name.as_ref().or(spec.topic_arn.as_ref());
        let endpoint = spec.endpoint.as_ref().or(spec.endpoint_arn.as_ref());
        format!(
            "{} {} to {}",
            spec.protocol.as_str(),
            endpoint.map_or("?", String::as_str),
            topic.map_or("?", String::as_str)
        )
    }

    #[instrument(skip_all, fields(subscription = %self.name_any()))]
    async fn observe(
        &self,
        client: &Client,
        refs: &Resolved,
    ) -> Result<Option<ObservedSubscription>, AwsError> {
        if let Some(arn) = self.recorded_arn() {
            // Ours by construction; NotFound means gone (unsubscribed, or its topic deleted).
            return Ok(get(client, &arn)
                .await?
                .map(|observed| ObservedSubscription {
                    tags: ownership::owner_tags(self),
                    ..observed
                }));
        }
        // Nothing recorded: look for a subscription already on the topic, to report (not take) it.
        // During deletion `refs` is empty and a referenced topic or queue cannot be found: then
        // nothing of ours exists either.
        let (Some(topic), Some(endpoint)) = (self.topic_arn(refs), self.endpoint(refs)) else {
            return Ok(None);
        };
        match find(client, &topic, self.spec.protocol.as_str(), &endpoint).await? {
            Some(arn) => get(client, &arn).await,
            None => Ok(None),
        }
    }

    #[instrument(skip_all, fields(subscription = %self.name_any()))]
    async fn create(
        &self,
        client: &Client,
        refs: &Resolved,
        _tags: &BTreeMap<String, String>,
    ) -> Result<(), AwsError> {
        let (Some(topic), Some(endpoint)) = (self.topic_arn(refs), self.endpoint(refs)) else {
            return Err(AwsError::retryable(
                "ReferenceNotResolved",
                "the topic or endpoint is not resolved yet",
            ));
        };
        let attributes = diff::create_attributes(&self.spec)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        let out = client
            .subscribe()
            .topic_arn(topic)
            .protocol(self.spec.protocol.as_str())
            .endpoint(endpoint)
            .set_attributes(Some(attributes))
            // The real ARN even while confirmation is pending, so ownership can be recorded.
            .return_subscription_arn(true)
            .send()
            .await
            .map_err(from_sdk)?;
        if let Some(arn) = out.subscription_arn {
            record(self.uid().unwrap_or_default(), arn);
        }
        Ok(())
    }

    fn tags(observed: &ObservedSubscription) -> &BTreeMap<String, String> {
        &observed.tags
    }

    /// Adoption: nothing to write in AWS; the ARN is recorded as ours.
    async fn tag(
        &self,
        _client: &Client,
        observed: &ObservedSubscription,
        _tags: &BTreeMap<String, String>,
    ) -> Result<(), AwsError> {
        record(self.uid().unwrap_or_default(), observed.arn.clone());
        Ok(())
    }

    fn diff(
        &self,
        observed: &ObservedSubscription,
        _refs: &Resolved,
        _tags: &BTreeMap<String, String>,
    ) -> Vec<Change> {
        diff::diff(&self.spec, observed)
    }

    #[instrument(skip_all, fields(subscription = %self.name_any()))]
    async fn update(
        &self,
        client: &Client,
        _refs: &Resolved,
        observed: &ObservedSubscription,
        changes: Vec<Change>,
    ) -> Result<(), AwsError> {
        for change in changes {
            client
                .set_subscription_attributes()
                .subscription_arn(&observed.arn)
                .attribute_name(change.attribute)
                .attribute_value(change.value)
                .send()
                .await
                .map_err(from_sdk)?;
        }
        Ok(())
    }

    #[instrument(skip_all, fields(subscription = %self.name_any()))]
    async fn delete(
        &self,
        client: &Client,
        observed: &ObservedSubscription,
    ) -> Result<(), AwsError> {
        match client
            .unsubscribe()
            .subscription_arn(&observed.arn)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if is_not_found(&e, NOT_FOUND) => {}
            Err(e) => return Err(from_sdk(e)),
        }
        RECORDED
            .lock()
            .expect("poisoned")
            .remove(&self.uid().unwrap_or_default());
        Ok(())
    }

    fn readiness(observed: &ObservedSubscription) -> Readiness {
        if observed.pending_confirmation {
            Readiness::Pending("PendingConfirmation".into())
        } else {
            Readiness::Ready
        }
    }

    fn arn(observed: &ObservedSubscription) -> Option<String> {
        Some(observed.arn.clone())
    }

    fn status_fields(observed: &ObservedSubscription) -> SubscriptionStatusFields {
        SubscriptionStatusFields {
            topic_arn: Some(observed.topic_arn.clone()),
            endpoint: Some(observed.endpoint.clone()),
            pending_confirmation: Some(observed.pending_confirmation),
        }
    }

    fn outputs(observed: &ObservedSubscription) -> BTreeMap<String, String> {
        BTreeMap::from([("subscriptionARN".to_owned(), observed.arn.clone())])
    }

    fn user_tags(&self) -> BTreeMap<String, String> {
        BTreeMap::new()
    }
}

impl SNSSubscription {
    /// The SQSQueue named as endpoint, for protocol `sqs`.
    fn queue_reference(&self) -> Option<&str> {
        (self.spec.protocol == Protocol::Sqs)
            .then_some(self.spec.endpoint.as_deref())
            .flatten()
    }

    fn topic_arn(&self, refs: &Resolved) -> Option<String> {
        match (&self.spec.topic_arn, &self.spec.topic_name) {
            (Some(arn), _) => Some(arn.clone()),
            (None, Some(name)) => refs.arn(&SNS_TOPIC, name).map(str::to_owned),
            (None, None) => None,
        }
    }

    fn endpoint(&self, refs: &Resolved) -> Option<String> {
        if let Some(arn) = &self.spec.endpoint_arn {
            return Some(arn.clone());
        }
        match self.queue_reference() {
            Some(queue) => refs.arn(&SQS_QUEUE, queue).map(str::to_owned),
            None => self.spec.endpoint.clone(),
        }
    }

    /// The ARN this resource created or adopted: in memory right after, in status from then on.
    fn recorded_arn(&self) -> Option<String> {
        let in_memory = RECORDED
            .lock()
            .expect("poisoned")
            .get(&self.uid().unwrap_or_default())
            .cloned();
        in_memory.or_else(|| {
            self.status
                .as_ref()
                .and_then(|s| s.arn.clone())
                .filter(|arn| arn.starts_with("arn:"))
        })
    }
}

/// The subscription with this ARN; `None` when it (or its topic) no longer exists.
#[instrument(skip(client))]
async fn get(client: &Client, arn: &str) -> Result<Option<ObservedSubscription>, AwsError> {
    let attributes = match client
        .get_subscription_attributes()
        .subscription_arn(arn)
        .send()
        .await
    {
        Ok(out) => out.attributes.unwrap_or_default(),
        Err(e) if is_not_found(&e, NOT_FOUND) => return Ok(None),
        Err(e) => return Err(from_sdk(e)),
    };
    let text = |key: &str| attributes.get(key).filter(|v| !v.is_empty()).cloned();
    let flag = |key: &str| {
        attributes
            .get(key)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    };
    Ok(Some(ObservedSubscription {
        arn: arn.to_owned(),
        topic_arn: text("TopicArn").unwrap_or_default(),
        protocol: text("Protocol").unwrap_or_default(),
        endpoint: text("Endpoint").unwrap_or_default(),
        pending_confirmation: flag("PendingConfirmation"),
        raw_message_delivery: flag("RawMessageDelivery"),
        filter_policy: text("FilterPolicy"),
        filter_policy_scope: text("FilterPolicyScope"),
        redrive_policy: text("RedrivePolicy"),
        tags: BTreeMap::new(),
    }))
}

/// The ARN of the topic's subscription with this protocol and endpoint, if any.
#[instrument(skip(client))]
async fn find(
    client: &Client,
    topic: &str,
    protocol: &str,
    endpoint: &str,
) -> Result<Option<String>, AwsError> {
    let mut token = None;
    loop {
        let out = match client
            .list_subscriptions_by_topic()
            .topic_arn(topic)
            .set_next_token(token)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if is_not_found(&e, NOT_FOUND) => return Ok(None),
            Err(e) => return Err(from_sdk(e)),
        };
        let found = out
            .subscriptions()
            .iter()
            .find(|s| s.protocol() == Some(protocol) && s.endpoint() == Some(endpoint))
            .and_then(|s| s.subscription_arn())
            // A pending subscription listed without its ARN cannot be observed or adopted.
            .filter(|arn| arn.starts_with("arn:"));
        if let Some(arn) = found {
            return Ok(Some(arn.to_owned()));
        }
        token = out.next_token;
        if token.is_none() {
            return Ok(None);
        }
    }
}
