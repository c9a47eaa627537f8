//! The limit: the AWS calls that creating the workload needs, made directly through the SDK with
//! the same concurrency, against the same endpoint. No Kubernetes, no reconcile loop.

use std::{collections::BTreeMap, time::Instant};

use anyhow::Context as _;
use aws_sdk_sns::types::Tag as TopicTag;
use futures::{StreamExt, stream};

use crate::workload::{Item, Kind};

pub struct DirectRun {
    pub seconds: f64,
    pub calls: BTreeMap<String, u64>,
}

/// Creates every topic and queue, then every subscription, reading each back once as the operator
/// does when it reports status; then deletes everything.
pub async fn run(
    aws: &aws_config::SdkConfig,
    items: &[Item],
    concurrency: usize,
) -> anyhow::Result<DirectRun> {
    let sns = aws_sdk_sns::Client::new(aws);
    let sqs = aws_sdk_sqs::Client::new(aws);
    let start = Instant::now();
    let mut calls = BTreeMap::new();

    let firsts: Vec<&Item> = items
        .iter()
        .filter(|i| i.kind != Kind::Subscription)
        .collect();
    let results: Vec<anyhow::Result<(String, String, Vec<&str>)>> = stream::iter(firsts)
        .map(|item| {
            let (sns, sqs) = (sns.clone(), sqs.clone());
            retried(move || {
                let (sns, sqs) = (sns.clone(), sqs.clone());
                async move {
                    match item.kind {
                        Kind::Topic => {
                            let tag = TopicTag::builder().key("bench").value("direct").build()?;
                            let arn = sns
                                .create_topic()
                                .name(&item.name)
                                .tags(tag)
                                .send()
                                .await?
                                .topic_arn
                                .context("no ARN")?;
                            sns.get_topic_attributes().topic_arn(&arn).send().await?;
                            sns.list_tags_for_resource()
                                .resource_arn(&arn)
                                .send()
                                .await?;
                            Ok((
                                item.name.clone(),
                                arn,
                                vec!["CreateTopic", "GetTopicAttributes", "ListTagsForResource"],
                            ))
                        }
                        _ => {
                            let url = sqs
                                .create_queue()
                                .queue_name(&item.name)
                                .tags("bench", "direct")
                                .send()
                                .await?
                                .queue_url
                                .context("no URL")?;
                            let attrs = sqs
                                .get_queue_attributes()
                                .queue_url(&url)
                                .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
                                .send()
                                .await?;
                            sqs.list_queue_tags().queue_url(&url).send().await?;
                            let arn = attrs
                                .attributes()
                                .and_then(|a| {
                                    a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                                })
                                .cloned()
                                .unwrap_or_default();
                            Ok((
                                item.name.clone(),
                                format!("{arn} {url}"),
                                vec!["CreateQueue", "GetQueueAttributes", "ListQueueTags"],
                            ))
                        }
                    }
                }
            })
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let mut arns = BTreeMap::new();
    for r in results {
        let (name, arn, ops) = r?;
        count(&mut calls, &ops);
        arns.insert(name, arn);
    }

    let subs: Vec<(String, String)> = items
        .iter()
        .filter(|i| i.kind == Kind::Subscription)
        .map(|i| {
            let spec = &i.object.data["spec"];
            let topic = arns[spec["topicName"].as_str().unwrap()].clone();
            let queue = arns[spec["endpoint"].as_str().unwrap()]
                .split(' ')
                .next()
                .unwrap()
                .to_owned();
            (topic, queue)
        })
        .collect();
    let results: Vec<anyhow::Result<()>> = stream::iter(subs)
        .map(|(topic, queue)| {
            let sns = sns.clone();
            retried(move || {
                let (sns, topic, queue) = (sns.clone(), topic.clone(), queue.clone());
                async move {
                    let arn = sns
                        .subscribe()
                        .topic_arn(topic)
                        .protocol("sqs")
                        .endpoint(queue)
                        .return_subscription_arn(true)
                        .send()
                        .await?
                        .subscription_arn
                        .context("no ARN")?;
                    sns.get_subscription_attributes()
                        .subscription_arn(arn)
                        .send()
                        .await?;
                    Ok(())
                }
            })
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    for r in results {
        r?;
        count(&mut calls, &["Subscribe", "GetSubscriptionAttributes"]);
    }
    let seconds = start.elapsed().as_secs_f64();

    // Clean up what the direct run made (not timed).
    stream::iter(arns)
        .for_each_concurrent(concurrency, |(_, arn)| {
            let (sns, sqs) = (sns.clone(), sqs.clone());
            async move {
                if arn.starts_with("arn:aws:sns") {
                    let _ = sns.delete_topic().topic_arn(arn).send().await;
                } else if let Some((_, url)) = arn.split_once(' ') {
                    let _ = sqs.delete_queue().queue_url(url).send().await;
                }
            }
        })
        .await;
    Ok(DirectRun { seconds, calls })
}

/// Runs `attempt` up to three times: every call here is idempotent, and moto under load sometimes
/// answers with an empty body, which the SDK does not retry.
async fn retried<T, F, Fut>(attempt: F) -> anyhow::Result<T>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let mut tries = 0;
    loop {
        match attempt().await {
            Err(e) if tries < 2 => {
                tries += 1;
                eprintln!("bench: direct call failed ({e:#}); retrying");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            result => return result,
        }
    }
}

fn count(calls: &mut BTreeMap<String, u64>, ops: &[&str]) {
    for op in ops {
        *calls.entry((*op).to_owned()).or_default() += 1;
    }
}
