//! How an `SQSQueue` maps onto the SQS API: observe, create, update, delete; and the
//! dead-letter queue the operator owns for `usedeadletterQueue`.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_sqs::{Client, types::QueueAttributeName};
use kube::ResourceExt;
use operator_core::{
    AwsError, AwsResource, NameRule, PlannedChange, Readiness,
    aws::AwsClients,
    errors::{from_sdk, is_not_found},
    ownership::TAG_UID,
    references::{RefKind, Reference, Resolved},
};
use tracing::{debug, instrument};

use crate::{
    diff::{self, Change, ObservedDeadLetterQueue, ObservedQueue, Redrive},
    spec::{QueueStatusFields, SQSQueue},
};

/// This kind, as other kinds (and its own redrive policy) refer to it.
pub const SQS_QUEUE: RefKind = RefKind {
    kind: "SQSQueue",
    plural: "sqsqueues",
};

/// SQS's codes for a queue that does not exist.
pub const NOT_FOUND: &[&str] = &[
    "QueueDoesNotExist",
    "AWS.SimpleQueueService.NonExistentQueue",
];

impl AwsResource for SQSQueue {
    type Client = Client;
    type Observed = ObservedQueue;
    type Change = Change;
    type StatusFields = QueueStatusFields;

    const SERVICE: &'static str = "SQS queue";
    /// SQS's queue naming rule, for a name taken from metadata.name (`.fifo` is added for FIFO).
    const DEFAULTED_NAME: Option<NameRule> = Some(NameRule {
        rule: r"has(self.spec.queueName) || self.metadata.name.matches(self.spec.fifoQueue ? '^[a-zA-Z0-9_-]{1,75}(\\.fifo)?$' : '^[a-zA-Z0-9_-]{1,80}$')",
        message: "metadata.name is used as the SQS queue name and SQS refuses it: up to 80 letters, digits, hyphens or underscores, no dots (a FIFO queue: up to 75, then .fifo); set spec.queueName to use another name",
    });
    const REFERENCED_KINDS: &'static [RefKind] = &[SQS_QUEUE];

    fn client(aws: &AwsClients) -> Client {
        let config = aws_sdk_sqs::config::Builder::from(aws.config_for(crate::SERVICE.name))
            .interceptor(aws.calls.clone())
            .build();
        Client::from_conf(config)
    }

    fn references(&self) -> Vec<Reference> {
        self.dead_letter_reference()
            .map(|name| Reference::new(&SQS_QUEUE, name))
            .into_iter()
            .collect()
    }

    fn aws_name(&self) -> String {
        self.queue_name()
    }

    #[instrument(skip_all, fields(queue = %self.queue_name()))]
    async fn observe(
        &self,
        client: &Client,
        _refs: &Resolved,
    ) -> Result<Option<ObservedQueue>, AwsError> {
        let recorded_url = self.recorded_url();
        let Some(found) = lookup(client, &self.queue_name(), recorded_url).await? else {
            return Ok(None);
        };
        let mut observed = observed_queue(found);
        let dlq_name = self.dead_letter_queue_name();
        let points_at_dlq = observed.redrive_policy.as_ref().is_some_and(|r| {
            r.dead_letter_target_arn == diff::sibling_arn(&observed.arn, &dlq_name)
        });
        if self.spec.usedeadletter_queue || points_at_dlq {
            observed.dead_letter_queue = lookup(
                client,
                &dlq_name,
                Some(&diff::sibling_url(&observed.url, &dlq_name)),
            )
            .await?
            .map(ObservedDeadLetterQueue::from);
        }
        Ok(Some(observed))
    }

    /// One read after CreateQueue: the attributes AWS settled (the ARN among them) by the URL
    /// it answered; the tags are those sent with the create.
    #[instrument(skip_all, fields(queue = %self.queue_name()))]
    async fn create(
        &self,
        client: &Client,
        refs: &Resolved,
        tags: &BTreeMap<String, String>,
    ) -> Result<Option<ObservedQueue>, AwsError> {
        let spec = &self.spec;
        let dead_letter_queue = if spec.usedeadletter_queue {
            Some(self.ensure_dead_letter_queue(client, tags).await?)
        } else {
            None
        };
        let redrive = match &dead_letter_queue {
            Some(dlq) => Some(Redrive {
                dead_letter_target_arn: dlq.arn.clone(),
                max_receive_count: spec
                    .redrive_policy
                    .as_ref()
                    .map_or(5, |r| r.max_receive_count),
            }),
            None => diff::desired_redrive(spec, "", self.referenced_arn(refs), None).flatten(),
        };
        let settings = diff::create_attributes(spec, redrive.as_ref());
        let name = self.queue_name();
        let url = client
            .create_queue()
            .queue_name(&name)
            .set_attributes(Some(sdk_attributes(settings)))
            .set_tags(Some(sdk_tags(tags)))
            .send()
            .await
            .map_err(from_sdk)?
            .queue_url
            .unwrap_or_default();
        // None: deleted again at once; the core looks it up.
        let Some(attributes) = attributes(client, &url).await? else {
            return Ok(None);
        };
        let mut observed = observed_queue(Found {
            name,
            url,
            attributes,
            tags: tags.clone(),
        });
        observed.dead_letter_queue = dead_letter_queue;
        Ok(Some(observed))
    }

    fn tags(observed: &ObservedQueue) -> Option<&BTreeMap<String, String>> {
        Some(&observed.tags)
    }

    #[instrument(skip_all, fields(queue = %self.queue_name()))]
    async fn tag(
        &self,
        client: &Client,
        observed: &ObservedQueue,
        tags: &BTreeMap<String, String>,
    ) -> Result<(), AwsError> {
        client
            .tag_queue()
            .queue_url(&observed.url)
            .set_tags(Some(sdk_tags(tags)))
            .send()
            .await
            .map_err(from_sdk)?;
        Ok(())
    }

    fn diff(
        &self,
        observed: &ObservedQueue,
        refs: &Resolved,
        tags: &BTreeMap<String, String>,
    ) -> Vec<Change> {
        diff::diff(
            &self.spec,
            observed,
            &self.dead_letter_queue_name(),
            self.referenced_arn(refs),
            tags,
        )
    }

    #[instrument(skip_all, fields(queue = %self.queue_name()))]
    async fn update(
        &self,
        client: &Client,
        _refs: &Resolved,
        observed: &ObservedQueue,
        changes: Vec<Change>,
    ) -> Result<(), AwsError> {
        let mut attributes = BTreeMap::new();
        let mut later = Vec::new();
        for change in changes {
            match change {
                Change::CreateDeadLetterQueue => {
                    let tags = operator_core::ownership::desired_tags(
                        &self.spec.tags,
                        &operator_core::ownership::owner_tags(self),
                    );
                    self.ensure_dead_letter_queue(client, &tags).await?;
                }
                Change::DeadLetterQueueNotOwned(name) => {
                    return Err(not_owned_dead_letter_queue(&name));
                }
                Change::Attribute {
                    attribute, value, ..
                } => {
                    attributes.insert(attribute, value);
                }
                other => later.push(other),
            }
        }
        if !attributes.is_empty() {
            client
                .set_queue_attributes()
                .queue_url(&observed.url)
                .set_attributes(Some(sdk_attributes(attributes)))
                .send()
                .await
                .map_err(from_sdk)?;
        }
        for change in later {
            match change {
                Change::Tags { set, remove } => {
                    if !remove.is_empty() {
                        client
                            .untag_queue()
                            .queue_url(&observed.url)
                            .set_tag_keys(Some(remove))
                            .send()
                            .await
                            .map_err(from_sdk)?;
                    }
                    if !set.is_empty() {
                        client
                            .tag_queue()
                            .queue_url(&observed.url)
                            .set_tags(Some(sdk_tags(&set)))
                            .send()
                            .await
                            .map_err(from_sdk)?;
                    }
                }
                Change::DeleteDeadLetterQueue => {
                    if let Some(dlq) = &observed.dead_letter_queue {
                        delete_queue(client, &dlq.url).await?;
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The operator's dead-letter queue goes first: once the queue is gone, nothing would find it.
    #[instrument(skip_all, fields(queue = %self.queue_name()))]
    async fn delete(&self, client: &Client, observed: &ObservedQueue) -> Result<(), AwsError> {
        let uid = self.uid().unwrap_or_default();
        if let Some(dlq) = &observed.dead_letter_queue
            && dlq.tags.get(TAG_UID) == Some(&uid)
        {
            delete_queue(client, &dlq.url).await?;
        }
        delete_queue(client, &observed.url).await
    }

    fn readiness(_observed: &ObservedQueue) -> Readiness {
        // A queue is usable as soon as CreateQueue returns.
        Readiness::Ready
    }

    fn arn(observed: &ObservedQueue) -> Option<String> {
        Some(observed.arn.clone())
    }

    fn status_fields(observed: &ObservedQueue) -> QueueStatusFields {
        QueueStatusFields {
            queue_name: Some(observed.name.clone()),
            queue_url: Some(observed.url.clone()),
            dead_letter_queue_arn: observed.dead_letter_queue.as_ref().map(|d| d.arn.clone()),
        }
    }

    fn outputs(observed: &ObservedQueue) -> BTreeMap<String, String> {
        let mut out = BTreeMap::from([
            ("queueURL".to_owned(), observed.url.clone()),
            ("queueARN".to_owned(), observed.arn.clone()),
            ("queueName".to_owned(), observed.name.clone()),
        ]);
        // The original wrote the dead-letter keys empty when there is none: apps read all six.
        let (url, arn, name) = observed
            .dead_letter_queue
            .as_ref()
            .map(|d| (d.url.clone(), d.arn.clone(), d.name.clone()))
            .unwrap_or_default();
        out.insert("deadLetterQueueURL".to_owned(), url);
        out.insert("deadLetterQueueARN".to_owned(), arn);
        out.insert("deadLetterQueueName".to_owned(), name);
        out
    }

    fn user_tags(&self) -> BTreeMap<String, String> {
        self.spec.tags.clone()
    }

    fn planned(change: &Change, observed: &ObservedQueue) -> PlannedChange {
        match change {
            Change::Attribute {
                field: "policy", ..
            } => PlannedChange::field("policy"),
            Change::Attribute { field, value, .. } => PlannedChange::values(
                *field,
                diff::observed_value(observed, field),
                Some(value).filter(|v| !v.is_empty()),
            ),
            other => PlannedChange::field(other.to_string()),
        }
    }

    #[instrument(skip_all, fields(prefix))]
    async fn export(client: &Client, prefix: &str) -> Option<Result<Vec<Self>, AwsError>> {
        Some(exported(client, prefix).await)
    }
}

/// Every queue whose name starts with `prefix`, as an `SQSQueue` describing it.
async fn exported(client: &Client, prefix: &str) -> Result<Vec<SQSQueue>, AwsError> {
    let mut urls = Vec::new();
    let mut pages = client
        .list_queues()
        .set_queue_name_prefix(Some(prefix.to_owned()).filter(|p| !p.is_empty()))
        .max_results(1000)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        urls.extend(page.map_err(from_sdk)?.queue_urls.unwrap_or_default());
    }
    let mut queues = Vec::new();
    for url in urls {
        let name = url.rsplit('/').next().unwrap_or_default().to_owned();
        // Gone since the list: nothing to export.
        let Some(attributes) = attributes(client, &url).await? else {
            continue;
        };
        let Some(found) = found(client, &name, url, attributes).await? else {
            continue;
        };
        let observed = observed_queue(found);
        queues.push(SQSQueue::new(
            &operator_core::ownership::object_name(&name),
            diff::exported_spec(&observed),
        ));
    }
    Ok(queues)
}

impl SQSQueue {
    /// The SQSQueue named as dead-letter queue, when the spec refers to one.
    fn dead_letter_reference(&self) -> Option<&str> {
        if self.spec.usedeadletter_queue {
            return None;
        }
        self.spec
            .redrive_policy
            .as_ref()?
            .dead_letter_queue
            .as_deref()
    }

    fn referenced_arn<'a>(&self, refs: &'a Resolved) -> Option<&'a str> {
        refs.arn(&SQS_QUEUE, self.dead_letter_reference()?)
    }

    /// Creates the operator's dead-letter queue unless it exists; returns it. A queue of
    /// that name that is not ours is never used (its messages would mix with ours).
    async fn ensure_dead_letter_queue(
        &self,
        client: &Client,
        tags: &BTreeMap<String, String>,
    ) -> Result<ObservedDeadLetterQueue, AwsError> {
        let name = self.dead_letter_queue_name();
        if let Some(existing) = lookup(client, &name, None).await? {
            if existing.tags.get(TAG_UID) != tags.get(TAG_UID) {
                return Err(not_owned_dead_letter_queue(&name));
            }
            return Ok(existing.into());
        }
        let mut attributes = BTreeMap::new();
        if self.spec.fifo_queue {
            attributes.insert("FifoQueue", "true".to_owned());
        }
        let url = client
            .create_queue()
            .queue_name(&name)
            .set_attributes(Some(sdk_attributes(attributes)))
            .set_tags(Some(sdk_tags(tags)))
            .send()
            .await
            .map_err(from_sdk)?
            .queue_url
            .unwrap_or_default();
        let out = client
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(from_sdk)?;
        Ok(ObservedDeadLetterQueue {
            arn: out
                .attributes
                .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
                .unwrap_or_default(),
            name,
            url,
            tags: tags.clone(),
        })
    }
}

fn not_owned_dead_letter_queue(name: &str) -> AwsError {
    AwsError::terminal(
        "DeadLetterQueueNotOwned",
        format!(
            "queue {name:?} exists and is not this resource's dead-letter queue; rename or delete it, or set usedeadletterQueue to false"
        ),
    )
}

/// A queue as found by name: its URL, every attribute, its tags.
struct Found {
    name: String,
    url: String,
    attributes: HashMap<QueueAttributeName, String>,
    tags: BTreeMap<String, String>,
}

impl From<Found> for ObservedDeadLetterQueue {
    fn from(dlq: Found) -> Self {
        Self {
            arn: dlq.attribute("QueueArn").unwrap_or_default(),
            name: dlq.name,
            url: dlq.url,
            tags: dlq.tags,
        }
    }
}

impl Found {
    fn attribute(&self, name: &str) -> Option<String> {
        self.attributes
            .get(&QueueAttributeName::from(name))
            .cloned()
    }
}

/// Finds a queue by name. `known_url`, the URL recorded in status, saves the GetQueueUrl call at
/// every resync; when the queue is not found there, the name decides.
#[instrument(skip(client))]
async fn lookup(
    client: &Client,
    name: &str,
    known_url: Option<&str>,
) -> Result<Option<Found>, AwsError> {
    if let Some(url) = known_url.filter(|u| u.rsplit('/').next() == Some(name)) {
        match attributes(client, url).await? {
            Some(attributes) => return found(client, name, url.to_owned(), attributes).await,
            None => debug!(url, "recorded queue URL not found; looking the name up"),
        }
    }
    let url = match client.get_queue_url().queue_name(name).send().await {
        Ok(out) => out.queue_url.unwrap_or_default(),
        Err(e) if is_not_found(&e, NOT_FOUND) => return Ok(None),
        Err(e) => return Err(from_sdk(e)),
    };
    // None: deleted between the two calls.
    match attributes(client, &url).await? {
        Some(attributes) => found(client, name, url, attributes).await,
        None => Ok(None),
    }
}

/// Every attribute of the queue at `url`; None when there is no such queue.
async fn attributes(
    client: &Client,
    url: &str,
) -> Result<Option<HashMap<QueueAttributeName, String>>, AwsError> {
    match client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
    {
        Ok(out) => Ok(Some(out.attributes.unwrap_or_default())),
        Err(e) if is_not_found(&e, NOT_FOUND) => Ok(None),
        Err(e) => Err(from_sdk(e)),
    }
}

/// Completes a found queue with its tags.
async fn found(
    client: &Client,
    name: &str,
    url: String,
    attributes: HashMap<QueueAttributeName, String>,
) -> Result<Option<Found>, AwsError> {
    let tags = match client.list_queue_tags().queue_url(&url).send().await {
        Ok(out) => out.tags.unwrap_or_default().into_iter().collect(),
        Err(e) if is_not_found(&e, NOT_FOUND) => return Ok(None),
        Err(e) => return Err(from_sdk(e)),
    };
    Ok(Some(Found {
        name: name.to_owned(),
        url,
        attributes,
        tags,
    }))
}

#[instrument(skip(client))]
async fn delete_queue(client: &Client, url: &str) -> Result<(), AwsError> {
    match client.delete_queue().queue_url(url).send().await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e, NOT_FOUND) => Ok(()),
        Err(e) => Err(from_sdk(e)),
    }
}

/// Translates SQS's attributes into the spec's terms.
fn observed_queue(found: Found) -> ObservedQueue {
    let number = |name: &str| found.attribute(name).and_then(|v| v.parse().ok());
    let flag = |name: &str| {
        found
            .attribute(name)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    };
    ObservedQueue {
        arn: found.attribute("QueueArn").unwrap_or_default(),
        delay_seconds: number("DelaySeconds"),
        maximum_message_size: number("MaximumMessageSize"),
        message_retention_period: number("MessageRetentionPeriod"),
        receive_message_wait_time_seconds: number("ReceiveMessageWaitTimeSeconds"),
        visibility_timeout: number("VisibilityTimeout"),
        fifo_queue: flag("FifoQueue"),
        content_based_deduplication: flag("ContentBasedDeduplication"),
        policy: found.attribute("Policy").filter(|p| !p.is_empty()),
        kms_master_key_id: found.attribute("KmsMasterKeyId").filter(|k| !k.is_empty()),
        redrive_policy: found
            .attribute("RedrivePolicy")
            .and_then(|r| Redrive::parse(&r)),
        dead_letter_queue: None,
        name: found.name,
        url: found.url,
        tags: found.tags,
    }
}

fn sdk_attributes(
    attributes: BTreeMap<&'static str, String>,
) -> HashMap<QueueAttributeName, String> {
    attributes
        .into_iter()
        .map(|(k, v)| (QueueAttributeName::from(k), v))
        .collect()
}

fn sdk_tags(tags: &BTreeMap<String, String>) -> HashMap<String, String> {
    tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}
