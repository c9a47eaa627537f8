//! How an `SNSTopic` maps onto the SNS API: observe, create, update, delete.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_sns::{
    Client,
    types::{Tag, Topic},
};
use operator_core::{
    AwsError, AwsResource, NameRule, PlannedChange, Readiness,
    aws::AwsClients,
    errors::{from_sdk, is_not_found},
    ownership::object_name,
    references::Resolved,
};
use tracing::instrument;

use super::{
    diff::{self, Change, ObservedTopic},
    spec::{SNSTopic, TopicStatusFields},
};
use crate::NOT_FOUND;

impl AwsResource for SNSTopic {
    type Client = TopicClient;
    type Observed = ObservedTopic;
    type Change = Change;
    type StatusFields = TopicStatusFields;

    const SERVICE: &'static str = "SNS topic";
    /// SNS's topic naming rule, for a name taken from metadata.name (`.fifo` is added for FIFO).
    const DEFAULTED_NAME: Option<NameRule> = Some(NameRule {
        rule: r"has(self.spec.topicName) || self.metadata.name.matches(self.spec.fifoTopic ? '^[a-zA-Z0-9_-]{1,251}(\\.fifo)?$' : '^[a-zA-Z0-9_-]{1,256}$')",
        message: "metadata.name is used as the SNS topic name and SNS refuses it: up to 256 letters, digits, hyphens or underscores, no dots (a FIFO topic: up to 251, then .fifo); set spec.topicName to use another name",
    });

    fn client(aws: &AwsClients) -> TopicClient {
        TopicClient {
            sns: crate::client(aws),
            arn_prefix: aws.arn("sns", ""),
        }
    }

    fn aws_name(&self) -> String {
        self.topic_name()
    }

    /// SNS finds topics by ARN only: the ARN recorded in status, else a search by name.
    #[instrument(skip_all, fields(topic = %self.topic_name()))]
    async fn observe(
        &self,
        client: &TopicClient,
        _refs: &Resolved,
    ) -> Result<Option<ObservedTopic>, AwsError> {
        let name = self.topic_name();
        let recorded = self
            .status
            .as_ref()
            .and_then(|s| s.arn.clone())
            .filter(|arn| arn.rsplit(':').next() == Some(name.as_str()));
        // A topic's ARN follows from its name: one read instead of listing every topic.
        let known = recorded.or_else(|| {
            client
                .arn_prefix
                .as_ref()
                .map(|prefix| format!("{prefix}{name}"))
        });
        let arn = match known {
            Some(arn) => arn,
            None => match find_topic(client, &name).await? {
                Some(arn) => arn,
                None => return Ok(None),
            },
        };
        let Some(attributes) = topic_attributes(client, &arn).await? else {
            return Ok(None);
        };
        let Some(tags) = topic_tags(client, &arn).await? else {
            return Ok(None);
        };
        Ok(Some(observed_topic(name, arn, attributes, tags)))
    }

    /// One read after CreateTopic: the attributes AWS settled, by the ARN it answered; the tags
    /// are those sent with the create.
    #[instrument(skip_all, fields(topic = %self.topic_name()))]
    async fn create(
        &self,
        client: &TopicClient,
        _refs: &Resolved,
        tags: &BTreeMap<String, String>,
    ) -> Result<Option<ObservedTopic>, AwsError> {
        let attributes = diff::create_attributes(&self.spec)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        let name = self.topic_name();
        let arn = client
            .create_topic()
            .name(&name)
            .set_attributes(Some(attributes))
            .set_tags(Some(sdk_tags(tags)?))
            .send()
            .await
            .map_err(from_sdk)?
            .topic_arn
            .unwrap_or_default();
        Ok(topic_attributes(client, &arn)
            .await?
            .map(|attributes| observed_topic(name, arn, attributes, tags.clone())))
    }

    fn tags(observed: &ObservedTopic) -> Option<&BTreeMap<String, String>> {
        Some(&observed.tags)
    }

    #[instrument(skip_all, fields(topic = %self.topic_name()))]
    async fn tag(
        &self,
        client: &TopicClient,
        observed: &ObservedTopic,
        tags: &BTreeMap<String, String>,
    ) -> Result<(), AwsError> {
        client
            .tag_resource()
            .resource_arn(&observed.arn)
            .set_tags(Some(sdk_tags(tags)?))
            .send()
            .await
            .map_err(from_sdk)?;
        Ok(())
    }

    fn diff(
        &self,
        observed: &ObservedTopic,
        _refs: &Resolved,
        tags: &BTreeMap<String, String>,
    ) -> Vec<Change> {
        diff::diff(&self.spec, observed, tags)
    }

    #[instrument(skip_all, fields(topic = %self.topic_name()))]
    async fn update(
        &self,
        client: &TopicClient,
        _refs: &Resolved,
        observed: &ObservedTopic,
        changes: Vec<Change>,
    ) -> Result<(), AwsError> {
        for change in changes {
            match change {
                Change::Attribute {
                    attribute, value, ..
                } => {
                    client
                        .set_topic_attributes()
                        .topic_arn(&observed.arn)
                        .attribute_name(attribute)
                        .attribute_value(value)
                        .send()
                        .await
                        .map_err(from_sdk)?;
                }
                Change::Tags { set, remove } => {
                    if !remove.is_empty() {
                        client
                            .untag_resource()
                            .resource_arn(&observed.arn)
                            .set_tag_keys(Some(remove))
                            .send()
                            .await
                            .map_err(from_sdk)?;
                    }
                    if !set.is_empty() {
                        client
                            .tag_resource()
                            .resource_arn(&observed.arn)
                            .set_tags(Some(sdk_tags(&set)?))
                            .send()
                            .await
                            .map_err(from_sdk)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Deleting a topic also deletes its subscriptions in AWS.
    #[instrument(skip_all, fields(topic = %self.topic_name()))]
    async fn delete(&self, client: &TopicClient, observed: &ObservedTopic) -> Result<(), AwsError> {
        match client.delete_topic().topic_arn(&observed.arn).send().await {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e, NOT_FOUND) => Ok(()),
            Err(e) => Err(from_sdk(e)),
        }
    }

    fn readiness(_observed: &ObservedTopic) -> Readiness {
        Readiness::Ready
    }

    fn arn(observed: &ObservedTopic) -> Option<String> {
        Some(observed.arn.clone())
    }

    fn status_fields(observed: &ObservedTopic) -> TopicStatusFields {
        TopicStatusFields {
            topic_name: Some(observed.name.clone()),
        }
    }

    fn outputs(observed: &ObservedTopic) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("topicARN".to_owned(), observed.arn.clone()),
            ("topicName".to_owned(), observed.name.clone()),
        ])
    }

    fn user_tags(&self) -> BTreeMap<String, String> {
        self.spec.tags.clone()
    }

    fn planned(change: &Change, observed: &ObservedTopic) -> PlannedChange {
        diff::planned(change, observed)
    }

    async fn export(client: &TopicClient, prefix: &str) -> Option<Result<Vec<Self>, AwsError>> {
        Some(exported(client, prefix).await)
    }
}

/// Every topic whose name starts with `prefix` (ListTopics cannot filter), as an `SNSTopic`
/// describing it.
#[instrument(skip_all, fields(prefix = %prefix))]
async fn exported(client: &TopicClient, prefix: &str) -> Result<Vec<SNSTopic>, AwsError> {
    let listed: Vec<Topic> = client
        .list_topics()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(from_sdk)?;
    let mut topics = Vec::new();
    for arn in listed.into_iter().filter_map(|t| t.topic_arn) {
        let name = arn.rsplit(':').next().unwrap_or_default().to_owned();
        if !name.starts_with(prefix) {
            continue;
        }
        // Gone since the list: nothing to export.
        let Some(attributes) = topic_attributes(client, &arn).await? else {
            continue;
        };
        let Some(tags) = topic_tags(client, &arn).await? else {
            continue;
        };
        let object = object_name(&name);
        let observed = observed_topic(name, arn, attributes, tags);
        topics.push(SNSTopic::new(&object, diff::exported_spec(&observed)));
    }
    Ok(topics)
}

/// The ARN of the topic named `name`, searched page by page.
#[instrument(skip(client))]
async fn find_topic(client: &TopicClient, name: &str) -> Result<Option<String>, AwsError> {
    let mut token = None;
    loop {
        let out = client
            .list_topics()
            .set_next_token(token)
            .send()
            .await
            .map_err(from_sdk)?;
        let found = out
            .topics()
            .iter()
            .filter_map(|t| t.topic_arn())
            .find(|arn| arn.rsplit(':').next() == Some(name));
        if let Some(arn) = found {
            return Ok(Some(arn.to_owned()));
        }
        token = out.next_token;
        if token.is_none() {
            return Ok(None);
        }
    }
}

/// The SNS client, and the ARN prefix of topics in this region and account when known.
#[derive(Clone, Debug)]
pub struct TopicClient {
    sns: Client,
    arn_prefix: Option<String>,
}

impl std::ops::Deref for TopicClient {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.sns
    }
}

/// The topic's attributes; `None` when there is no such topic.
async fn topic_attributes(
    client: &TopicClient,
    arn: &str,
) -> Result<Option<HashMap<String, String>>, AwsError> {
    match client.get_topic_attributes().topic_arn(arn).send().await {
        Ok(out) => Ok(Some(out.attributes.unwrap_or_default())),
        Err(e) if is_not_found(&e, NOT_FOUND) => Ok(None),
        Err(e) => Err(from_sdk(e)),
    }
}

/// The topic's tags; `None` when there is no such topic.
async fn topic_tags(
    client: &TopicClient,
    arn: &str,
) -> Result<Option<BTreeMap<String, String>>, AwsError> {
    match client
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
    {
        Ok(out) => Ok(Some(
            out.tags
                .unwrap_or_default()
                .into_iter()
                .map(|t| (t.key, t.value))
                .collect(),
        )),
        Err(e) if is_not_found(&e, NOT_FOUND) => Ok(None),
        Err(e) => Err(from_sdk(e)),
    }
}

/// Translates SNS's attributes into the spec's terms.
fn observed_topic(
    name: String,
    arn: String,
    attributes: HashMap<String, String>,
    tags: BTreeMap<String, String>,
) -> ObservedTopic {
    let text = |key: &str| attributes.get(key).filter(|v| !v.is_empty()).cloned();
    let flag = |key: &str| {
        attributes
            .get(key)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    };
    ObservedTopic {
        name,
        arn,
        display_name: text("DisplayName"),
        fifo_topic: flag("FifoTopic"),
        content_based_deduplication: flag("ContentBasedDeduplication"),
        policy: text("Policy"),
        delivery_policy: text("DeliveryPolicy"),
        kms_master_key_id: text("KmsMasterKeyId"),
        tags,
    }
}

fn sdk_tags(tags: &BTreeMap<String, String>) -> Result<Vec<Tag>, AwsError> {
    tags.iter()
        .map(|(k, v)| Ok(Tag::builder().key(k).value(v).build()?))
        .collect()
}
