//! How an `SNSSubscription` maps onto the SNS API.
//!
//! Subscriptions carry no tags in AWS, so ownership is by ARN: a subscription is this
//! resource's when its ARN is the one `status.arn` records. Between Subscribe and that status
//! write, the create intent the core records in status first (`createPending`) says that a
//! subscription found on the topic with the same protocol and endpoint is the one our create
//! made (it did not exist when the create began). Any other subscription merely found there is
//! someone else's and is not taken until the resource is annotated to adopt it: Subscribe is
//! idempotent in AWS, so creating instead would silently take over, and deleting would
//! unsubscribe, someone else's subscription.

use std::{collections::BTreeMap, sync::Arc};

use aws_sdk_sns::Client;
use aws_sdk_sqs::types::QueueAttributeName;
use kube::ResourceExt;
use operator_core::{
    AwsError, AwsResource, PlannedChange, Readiness,
    aws::AwsClients,
    errors::{from_sdk, is_not_found},
    references::{RefKind, Reference, Resolved},
};
use tracing::instrument;

use sqs_controller::grants::{self, Delivery};

use super::{
    diff::{self, Change, ObservedSubscription, QueueAccess},
    spec::{Protocol, SNSSubscription, SubscriptionStatusFields},
};
use crate::{NOT_FOUND, SNS_TOPIC, SQS_QUEUE};

/// SNS for the subscription, SQS for the policy of the queue it delivers to.
#[derive(Clone)]
pub struct Clients {
    sns: Client,
    sqs: aws_sdk_sqs::Client,
    /// Queue policy edits are read-modify-write: one at a time, so that two subscriptions to
    /// one queue do not drop each other's statement.
    policy_edits: Arc<tokio::sync::Mutex<()>>,
}

impl AwsResource for SNSSubscription {
    type Client = Clients;
    type Observed = ObservedSubscription;
    type Change = Change;
    type StatusFields = SubscriptionStatusFields;

    const SERVICE: &'static str = "SNS subscription";
    const REFERENCED_KINDS: &'static [RefKind] = &[SNS_TOPIC, SQS_QUEUE];

    fn client(aws: &AwsClients) -> Clients {
        Clients {
            sns: crate::client(aws),
            sqs: <sqs_controller::SQSQueue as AwsResource>::client(aws),
            policy_edits: Arc::default(),
        }
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
        clients: &Clients,
        refs: &Resolved,
    ) -> Result<Option<ObservedSubscription>, AwsError> {
        let client = &clients.sns;
        let observed = match self.recorded_arn() {
            // NotFound means gone (unsubscribed, or its topic deleted).
            Some(arn) => get(client, &arn).await?,
            // Nothing recorded: look for a subscription already on the topic. It is ours only
            // if our own interrupted create made it, which the core decides.
            None => {
                // During deletion `refs` is empty and a referenced topic or queue cannot be
                // found: then nothing of ours exists either.
                let (Some(topic), Some(endpoint)) = (self.topic_arn(refs), self.endpoint(refs))
                else {
                    return Ok(None);
                };
                match find(client, &topic, self.spec.protocol.as_str(), &endpoint).await? {
                    Some(arn) => get(client, &arn).await?,
                    None => None,
                }
            }
        };
        let Some(observed) = observed else {
            return Ok(None);
        };
        let queue = match self.queue_reference() {
            Some(_) => queue_access(&clients.sqs, &observed.endpoint).await?,
            None => None,
        };
        Ok(Some(ObservedSubscription { queue, ..observed }))
    }

    /// Subscribe answers the ARN: one read of it, and for a queue of this cluster the grant
    /// in its policy (one read, one write), so the subscription is complete when this returns.
    #[instrument(skip_all, fields(subscription = %self.name_any()))]
    async fn create(
        &self,
        clients: &Clients,
        refs: &Resolved,
        _tags: &BTreeMap<String, String>,
    ) -> Result<Option<ObservedSubscription>, AwsError> {
        let client = &clients.sns;
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
            .topic_arn(&topic)
            .protocol(self.spec.protocol.as_str())
            .endpoint(&endpoint)
            .set_attributes(Some(attributes))
            // The real ARN even while confirmation is pending, so ownership can be recorded.
            .return_subscription_arn(true)
            .send()
            .await
            .map_err(from_sdk)?;
        // Until status records the ARN, the subscription is found on the topic and recognised by
        // the create intent recorded in status (`createPending`).
        let Some(observed) = get(client, out.subscription_arn().unwrap_or_default()).await? else {
            return Ok(None);
        };
        let queue = match self.queue_reference() {
            Some(_) => ensure_grant(clients, &endpoint, &topic).await?,
            None => None,
        };
        Ok(Some(ObservedSubscription { queue, ..observed }))
    }

    /// Subscriptions carry no tags: ownership is the ARN in status.
    fn tags(_observed: &ObservedSubscription) -> Option<&BTreeMap<String, String>> {
        None
    }

    fn diff(
        &self,
        observed: &ObservedSubscription,
        _refs: &Resolved,
        _tags: &BTreeMap<String, String>,
    ) -> Vec<Change> {
        diff::diff(&self.spec, observed)
    }

    fn planned(change: &Change, observed: &ObservedSubscription) -> PlannedChange {
        diff::planned(change, observed)
    }

    #[instrument(skip_all, fields(subscription = %self.name_any()))]
    async fn update(
        &self,
        clients: &Clients,
        _refs: &Resolved,
        observed: &ObservedSubscription,
        changes: Vec<Change>,
    ) -> Result<(), AwsError> {
        for change in changes {
            match change {
                Change::Attribute {
                    attribute, value, ..
                } => {
                    clients
                        .sns
                        .set_subscription_attributes()
                        .subscription_arn(&observed.arn)
                        .attribute_name(attribute)
                        .attribute_value(value)
                        .send()
                        .await
                        .map_err(from_sdk)?;
                }
                Change::GrantQueueAccess => {
                    if let Some(queue) = &observed.queue {
                        ensure_grant(clients, &queue.arn, &observed.topic_arn).await?;
                    }
                }
            }
        }
        Ok(())
    }

    #[instrument(skip_all, fields(subscription = %self.name_any()))]
    async fn delete(
        &self,
        clients: &Clients,
        observed: &ObservedSubscription,
    ) -> Result<(), AwsError> {
        // The grant goes first: once unsubscribed, nothing would remember it.
        if let Some(queue) = &observed.queue {
            revoke(clients, &queue.arn, &observed.topic_arn).await?;
        }
        match clients
            .sns
            .unsubscribe()
            .subscription_arn(&observed.arn)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if is_not_found(&e, NOT_FOUND) => {}
            Err(e) => return Err(from_sdk(e)),
        }
        Ok(())
    }

    fn readiness(observed: &ObservedSubscription) -> Readiness {
        if let Some(queue) = &observed.queue
            && let Delivery::Denied(statement) = queue.delivery(&observed.topic_arn)
        {
            return Readiness::Unusable {
                reason: "QueuePolicyDenies".into(),
                message: format!(
                    "the policy of queue {} denies sqs:SendMessage from topic {} ({statement}), so SNS cannot deliver; change the SQSQueue's spec.policy",
                    queue.arn, observed.topic_arn
                ),
            };
        }
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

    /// The subscription went with its topic: its grant in the queue's policy must go too.
    async fn delete_leftovers(&self, clients: &Clients) -> Result<(), AwsError> {
        let Some(fields) = self.status.as_ref().map(|s| &s.fields) else {
            return Ok(());
        };
        if let (Some(_), Some(topic), Some(queue)) = (
            self.queue_reference(),
            fields.topic_arn.as_deref(),
            fields.endpoint.as_deref(),
        ) {
            revoke(clients, queue, topic).await?;
        }
        Ok(())
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

    /// The ARN this resource created or adopted, as its status records it.
    fn recorded_arn(&self) -> Option<String> {
        self.status
            .as_ref()
            .and_then(|s| s.arn.clone())
            .filter(|arn| arn.starts_with("arn:"))
    }
}

/// `https://sqs.<region>.<domain>/<account>/<name>` from `arn:<partition>:sqs:<region>:<account>:<name>`.
fn queue_url(arn: &str) -> Option<String> {
    let parts: Vec<&str> = arn.split(':').collect();
    let [_, partition, "sqs", region, account, name] = parts[..] else {
        return None;
    };
    let domain = if partition == "aws-cn" {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    Some(format!("https://sqs.{region}.{domain}/{account}/{name}"))
}

/// The queue at `arn` and its policy; `None` when there is no such queue.
#[instrument(skip(sqs))]
async fn queue_access(
    sqs: &aws_sdk_sqs::Client,
    arn: &str,
) -> Result<Option<QueueAccess>, AwsError> {
    let Some(url) = queue_url(arn) else {
        return Ok(None);
    };
    Ok(queue_policy(sqs, &url).await?.map(|policy| QueueAccess {
        arn: arn.to_owned(),
        url,
        policy,
    }))
}

/// `Some(policy)` of the queue at `url` (`Some(None)`: it has none); `None`: no such queue.
async fn queue_policy(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
) -> Result<Option<Option<String>>, AwsError> {
    match sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::Policy)
        .send()
        .await
    {
        Ok(out) => Ok(Some(
            out.attributes
                .and_then(|mut a| a.remove(&QueueAttributeName::Policy))
                .filter(|p| !p.is_empty()),
        )),
        Err(e) if is_not_found(&e, sqs_controller::NOT_FOUND) => Ok(None),
        Err(e) => Err(from_sdk(e)),
    }
}

async fn set_queue_policy(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    policy: String,
) -> Result<(), AwsError> {
    match sqs
        .set_queue_attributes()
        .queue_url(url)
        .attributes(QueueAttributeName::Policy, policy)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e, sqs_controller::NOT_FOUND) => Ok(()),
        Err(e) => Err(from_sdk(e)),
    }
}

fn unusable_policy(queue: &str, e: grants::GrantError) -> AwsError {
    AwsError::terminal(
        "InvalidQueuePolicy",
        format!("the policy of queue {queue} cannot be edited: {e}"),
    )
}

/// The queue at `queue_arn` with the operator's statement for `topic` in its policy: added
/// when SNS could not deliver without it, the policy read afresh under the lock. `None`: no
/// such queue.
#[instrument(skip(clients))]
async fn ensure_grant(
    clients: &Clients,
    queue_arn: &str,
    topic: &str,
) -> Result<Option<QueueAccess>, AwsError> {
    let Some(url) = queue_url(queue_arn) else {
        return Ok(None);
    };
    let _edit = clients.policy_edits.lock().await;
    let Some(policy) = queue_policy(&clients.sqs, &url).await? else {
        return Ok(None);
    };
    let mut queue = QueueAccess {
        arn: queue_arn.to_owned(),
        url,
        policy,
    };
    if queue.delivery(topic) == Delivery::Missing {
        let granted = grants::with_grant(queue.policy.as_deref(), queue_arn, topic)
            .map_err(|e| unusable_policy(queue_arn, e))?;
        set_queue_policy(&clients.sqs, &queue.url, granted.clone()).await?;
        queue.policy = Some(granted);
    }
    Ok(Some(queue))
}

/// Removes the operator's statement for `topic` from the queue's policy, if it is there.
#[instrument(skip(clients))]
async fn revoke(clients: &Clients, queue_arn: &str, topic: &str) -> Result<(), AwsError> {
    let Some(url) = queue_url(queue_arn) else {
        return Ok(());
    };
    let _edit = clients.policy_edits.lock().await;
    let Some(policy) = queue_policy(&clients.sqs, &url).await? else {
        return Ok(());
    };
    match grants::without_grant(policy.as_deref(), topic) {
        Ok(Some(rest)) => set_queue_policy(&clients.sqs, &url, rest).await,
        Ok(None) => Ok(()),
        Err(e) => Err(unusable_policy(queue_arn, e)),
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
        queue: None,
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
