//! The application of the walkthrough: a Deployment next to its DynamoDB table in one manifest. It
//! reads the table's outputs ConfigMap through `envFrom` (`tableName`, `region`), writes one item,
//! reads it back with a consistent read, logs both, then idles until SIGTERM. Until the table
//! exists (the outputs ConfigMap and the table appear when the operator has made it) it retries.
//!
//! Environment: `tableName` and `region` (the outputs), `POD_NAME` (downward API, optional), and the
//! AWS SDK's own (`AWS_ENDPOINT_URL`, credentials).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use aws_config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, KeyType};
use tokio::signal::unix::{SignalKind, signal};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let mut term = signal(SignalKind::terminate())?;
    let table = std::env::var("tableName")
        .context("tableName is not set: envFrom the table's outputs ConfigMap")?;
    let region = std::env::var("region")
        .context("region is not set: envFrom the table's outputs ConfigMap")?;
    let writer = std::env::var("POD_NAME").unwrap_or_else(|_| "seed-app".to_owned());
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region))
        .load()
        .await;
    let client = Client::new(&config);

    let mut attempt = 0u32;
    loop {
        tokio::select! {
            result = write_and_read(&client, &table, &writer) => match result {
                Ok(line) => { println!("{line}"); break; }
                Err(e) => {
                    attempt += 1;
                    eprintln!("seed-app: attempt {attempt} on table {table} failed: {e:#}");
                }
            },
            _ = term.recv() => return Ok(()),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = term.recv() => return Ok(()),
        }
    }
    term.recv().await;
    Ok(())
}

/// Writes `{<hash>: writer, <range>: now, message}` and reads it back by its key.
async fn write_and_read(client: &Client, table: &str, writer: &str) -> Result<String> {
    let described = client
        .describe_table()
        .table_name(table)
        .send()
        .await
        .context("DescribeTable")?;
    let schema = described
        .table()
        .map(|t| t.key_schema())
        .unwrap_or_default();
    let key_name = |kind: KeyType| {
        schema
            .iter()
            .find(|k| *k.key_type() == kind)
            .map(|k| k.attribute_name().to_owned())
    };
    let Some(hash) = key_name(KeyType::Hash) else {
        bail!("table {table} has no hash key")
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)?
        .as_millis()
        .to_string();
    let mut key = vec![(hash.clone(), AttributeValue::S(writer.to_owned()))];
    if let Some(range) = key_name(KeyType::Range) {
        key.push((range, AttributeValue::S(now.clone())));
    }
    let message = format!("hello from {writer} at {now}");

    let mut put = client
        .put_item()
        .table_name(table)
        .item("message", AttributeValue::S(message.clone()));
    for (name, value) in &key {
        put = put.item(name, value.clone());
    }
    put.send().await.context("PutItem")?;

    let mut get = client.get_item().table_name(table).consistent_read(true);
    for (name, value) in &key {
        get = get.key(name, value.clone());
    }
    let item = get
        .send()
        .await
        .context("GetItem")?
        .item
        .context("GetItem found no item")?;
    let read = item
        .get("message")
        .and_then(|v| v.as_s().ok())
        .context("the item read back has no message")?;
    if read != &message {
        bail!("read back {read:?}, wrote {message:?}");
    }
    let key = key
        .iter()
        .map(|(n, v)| format!("{n}={:?}", v.as_s().unwrap_or(&String::new())))
        .collect::<Vec<_>>();
    Ok(format!(
        "seed-app: wrote and read back item {{{}}} message={read:?} in table {table}",
        key.join(", ")
    ))
}
