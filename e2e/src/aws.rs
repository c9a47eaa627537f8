//! The AWS side of the tests: one SDK client per service against moto, and the look-ups the
//! tests share (what exists under a name, and the tags it carries).

use std::collections::BTreeMap;

/// SDK clients for every service the operator manages, built from `just up`'s environment.
pub struct Aws {
    pub ddb: aws_sdk_dynamodb::Client,
    pub ecr: aws_sdk_ecr::Client,
    pub s3: aws_sdk_s3::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub sns: aws_sdk_sns::Client,
}

impl Aws {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            ddb: aws_sdk_dynamodb::Client::new(config),
            ecr: aws_sdk_ecr::Client::new(config),
            // moto on 127.0.0.1 cannot serve virtual-hosted bucket names.
            s3: aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(config)
                    .force_path_style(true)
                    .build(),
            ),
            sqs: aws_sdk_sqs::Client::new(config),
            sns: aws_sdk_sns::Client::new(config),
        }
    }

    /// Clients in `region`, with `role`'s credentials when given (moto keeps each role's
    /// account apart by the credentials AssumeRole hands out).
    pub async fn placed(config: &aws_config::SdkConfig, region: &str, role: Option<&str>) -> Self {
        let region = aws_config::Region::new(region.to_owned());
        let mut placed = config.to_builder().region(region.clone());
        if let Some(role) = role {
            let provider = aws_config::sts::AssumeRoleProvider::builder(role)
                .session_name("e2e")
                .region(region)
                .configure(config)
                .build()
                .await;
            placed = placed.credentials_provider(
                aws_types::sdk_config::SharedCredentialsProvider::new(provider),
            );
        }
        Self::new(&placed.build())
    }

    /// URLs of the queues whose name starts with `prefix`.
    pub async fn queue_urls(&self, prefix: &str) -> Vec<String> {
        let mut urls = self
            .sqs
            .list_queues()
            .queue_name_prefix(prefix)
            .send()
            .await
            .expect("ListQueues")
            .queue_urls
            .unwrap_or_default();
        urls.sort();
        urls
    }

    /// URLs of the queues named exactly `name` (a prefix listing also returns longer names).
    pub async fn queues_named(&self, name: &str) -> Vec<String> {
        let suffix = format!("/{name}");
        let mut urls = self.queue_urls(name).await;
        urls.retain(|u| u.ends_with(&suffix));
        urls
    }

    pub async fn queue_tags(&self, url: &str) -> BTreeMap<String, String> {
        self.sqs
            .list_queue_tags()
            .queue_url(url)
            .send()
            .await
            .expect("ListQueueTags")
            .tags
            .unwrap_or_default()
            .into_iter()
            .collect()
    }

    /// ARNs of the topics whose name starts with `prefix`.
    pub async fn topic_arns(&self, prefix: &str) -> Vec<String> {
        let mut arns = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .sns
                .list_topics()
                .set_next_token(token)
                .send()
                .await
                .expect("ListTopics");
            arns.extend(
                out.topics()
                    .iter()
                    .filter_map(|t| t.topic_arn())
                    .filter(|a| a.rsplit(':').next().is_some_and(|n| n.starts_with(prefix)))
                    .map(str::to_owned),
            );
            token = out.next_token;
            if token.is_none() {
                break;
            }
        }
        arns.sort();
        arns
    }

    /// ARNs of the topics named exactly `name`.
    pub async fn topics_named(&self, name: &str) -> Vec<String> {
        let suffix = format!(":{name}");
        let mut arns = self.topic_arns(name).await;
        arns.retain(|a| a.ends_with(&suffix));
        arns
    }

    pub async fn topic_tags(&self, arn: &str) -> BTreeMap<String, String> {
        self.sns
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .expect("ListTagsForResource")
            .tags
            .unwrap_or_default()
            .into_iter()
            .map(|t| (t.key, t.value))
            .collect()
    }

    /// (subscription ARN, endpoint) of every subscription on the topic.
    pub async fn subscriptions(&self, topic_arn: &str) -> Vec<(String, String)> {
        self.sns
            .list_subscriptions_by_topic()
            .topic_arn(topic_arn)
            .send()
            .await
            .expect("ListSubscriptionsByTopic")
            .subscriptions
            .unwrap_or_default()
            .into_iter()
            .map(|s| {
                (
                    s.subscription_arn.unwrap_or_default(),
                    s.endpoint.unwrap_or_default(),
                )
            })
            .collect()
    }

    /// Names of the buckets that start with `prefix`.
    pub async fn buckets(&self, prefix: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .s3
            .list_buckets()
            .send()
            .await
            .expect("ListBuckets")
            .buckets
            .unwrap_or_default()
            .into_iter()
            .filter_map(|b| b.name)
            .filter(|n| n.starts_with(prefix))
            .collect();
        names.sort();
        names
    }

    /// The bucket's tags; `None` when it has none (S3 answers NoSuchTagSet).
    pub async fn bucket_tags(&self, bucket: &str) -> Option<BTreeMap<String, String>> {
        let out = self
            .s3
            .get_bucket_tagging()
            .bucket(bucket)
            .send()
            .await
            .ok()?;
        Some(out.tag_set.into_iter().map(|t| (t.key, t.value)).collect())
    }
}
