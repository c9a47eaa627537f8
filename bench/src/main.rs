//! `just bench [N]`: applies N SNS topics, SQS queues and subscriptions (1 : 2 : 2) to the local
//! control plane, with a release build of the all-in-one operator pointed at moto, and measures
//! convergence, latency, memory, CPU and AWS calls; then the same AWS calls made directly.

mod direct;
mod process;
mod report;
mod workload;

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use clap::Parser;
use futures::{StreamExt, TryStreamExt, stream};
use kube::{
    Api, Client, ResourceExt,
    api::{DeleteParams, DynamicObject, ListParams, PostParams},
    runtime::{WatchStreamExt, watcher},
};
use workload::{Item, Kind};

#[derive(Parser, Debug)]
#[command(about)]
struct Args {
    /// How many resources to apply (1 topic : 2 queues : 2 subscriptions).
    #[arg(default_value_t = 1000)]
    count: usize,
    /// The operator's --concurrency, and the direct run's.
    #[arg(long, env = "BENCH_CONCURRENCY", default_value_t = 16)]
    concurrency: u16,
    /// The restarted operator's --resync-period for the quiet phase. Convergence runs with the
    /// operator's default, as a user would.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    resync_period: Duration,
    /// Full resyncs to watch with nothing changed, after the restart's own full pass.
    #[arg(long, default_value_t = 2)]
    quiet_resyncs: u32,
    /// How long the operator idles after convergence before its RSS at rest is read.
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    settle: Duration,
    /// How many creates are in flight against the API server at once.
    #[arg(long, default_value_t = 32)]
    apply_concurrency: usize,
    /// The operator binary (a release build).
    #[arg(long)]
    operator_bin: PathBuf,
    /// Runs the operator in a memory cgroup with this limit (MiB), as a container would: if it
    /// needs more, the kernel kills it and the benchmark fails. Needs a writable cgroup fs.
    #[arg(long)]
    memory_limit_mib: Option<u64>,
    /// Where the JSON figures go.
    #[arg(long, default_value = "bench/results")]
    out: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let env = e2e::env().await;
    e2e::install_crds(&env.kube).await;
    let ns = e2e::namespace(&env.kube, "bench", &[]).await;
    let prefix = format!("b{}", std::process::id() % 100_000);
    let items = workload::items(&prefix, args.count);
    let total = items.len();
    eprintln!(
        "bench: {total} resources in namespace {ns}, concurrency {}",
        args.concurrency
    );

    let resync = humantime::format_duration(args.resync_period).to_string();
    let concurrency = args.concurrency.to_string();
    let operator =
        e2e::Operator::start_path(&args.operator_bin, &ns, &["--concurrency", &concurrency]);
    let pid = operator.pid();
    let limit = match args.memory_limit_mib {
        Some(mib) => {
            let limit = process::MemoryLimit::new(mib * 1024 * 1024)?;
            limit.add(pid)?;
            Some(limit)
        }
        None => None,
    };
    let start_sample = process::sample(pid).context("cannot read the operator's /proc entry")?;

    let ready_at: Arc<Mutex<HashMap<(Kind, String), Instant>>> = Arc::default();
    for kind in Kind::ALL {
        tokio::spawn(record_ready(
            env.kube.clone(),
            ns.clone(),
            kind,
            ready_at.clone(),
        ));
    }

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
    let peak = tokio::spawn(process::peak_rss(pid, stop_rx));
    let calls_before = report::aws_calls(&operator.metrics());

    let t0 = Instant::now();
    let created_at = apply(&env.kube, &ns, &items, args.apply_concurrency).await?;
    let applied_in = t0.elapsed();
    eprintln!(
        "bench: applied {total} in {:.1}s; waiting for Ready",
        applied_in.as_secs_f64()
    );
    let deadline = Duration::from_secs(600 + total as u64 / 10);
    let mut last_report = Instant::now();
    loop {
        let ready = ready_at.lock().unwrap().len();
        if ready >= total {
            break;
        }
        if t0.elapsed() > deadline {
            bail!(
                "only {ready} of {total} Ready after {deadline:?}; operator log:\n{}",
                operator.log_tail()
            );
        }
        // A killed operator (e.g. by the memory limit) fails the run now, not at the deadline.
        if process::sample(pid).is_none() {
            bail!(
                "the operator exited with {ready} of {total} Ready{}; operator log:\n{}",
                limit
                    .as_ref()
                    .map(|l| format!(" ({} OOM kills)", l.oom_kills()))
                    .unwrap_or_default(),
                operator.log_tail()
            );
        }
        if last_report.elapsed() >= Duration::from_secs(10) {
            eprintln!(
                "bench: {ready}/{total} Ready after {:.0}s",
                t0.elapsed().as_secs_f64()
            );
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let ready_at = ready_at.lock().unwrap().clone();
    let converged = ready_at
        .values()
        .max()
        .map(|t| t.duration_since(t0))
        .unwrap_or_default();
    let latencies: Vec<Duration> = created_at
        .iter()
        .map(|(key, created)| ready_at[key].saturating_duration_since(*created))
        .collect();
    let _ = stop_tx.send(());
    let peak_rss = peak.await?;
    let end_sample = process::sample(pid).context("operator exited")?;
    let convergence_calls = report::delta(&calls_before, &report::aws_calls(&operator.metrics()));
    eprintln!(
        "bench: converged in {:.1}s; watching {} quiet resyncs",
        converged.as_secs_f64(),
        args.quiet_resyncs
    );

    tokio::time::sleep(args.settle).await;
    let rest = process::sample(pid).context("operator exited")?;

    // Quiet phase: a restarted operator (a full pass over everything, as after an upgrade) with a
    // short resync period, watched until it has compared every resource with AWS
    // 1 + quiet_resyncs times. Nothing changed, so it must write nothing.
    drop(operator);
    let operator = e2e::Operator::start_path(
        &args.operator_bin,
        &ns,
        &["--concurrency", &concurrency, "--resync-period", &resync],
    );
    let t_restart = Instant::now();
    if let Some(limit) = &limit {
        limit.add(operator.pid())?;
    }
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
    let restart_peak = tokio::spawn(process::peak_rss(operator.pid(), stop_rx));
    let passes = u64::from(args.quiet_resyncs) + 1;
    let quiet_deadline = args.resync_period.mul_f64(passes as f64 * 1.2)
        + Duration::from_secs(300 + total as u64 / 20) * passes as u32;
    let mut restart_pass = None;
    loop {
        let reconciles = report::reconciles(&operator.metrics());
        if restart_pass.is_none() && reconciles >= total as u64 {
            restart_pass = Some(t_restart.elapsed());
        }
        if reconciles >= passes * total as u64 {
            break;
        }
        if t_restart.elapsed() > quiet_deadline {
            bail!("only {reconciles} reconciles after the restart in {quiet_deadline:?}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let quiet_seconds = t_restart.elapsed().as_secs_f64();
    let _ = stop_tx.send(());
    let restart_peak = restart_peak.await?;
    let quiet_metrics = operator.metrics();
    let quiet_calls = report::delta(&report::Calls::new(), &report::aws_calls(&quiet_metrics));
    let quiet_reconciles = report::reconciles(&quiet_metrics);
    eprintln!(
        "bench: after a restart, {quiet_reconciles} reconciles in {quiet_seconds:.0}s \
         (first full pass {:.1}s)",
        restart_pass.unwrap_or_default().as_secs_f64()
    );

    eprintln!("bench: deleting everything");
    let t1 = Instant::now();
    delete(&env.kube, &ns, &items, args.apply_concurrency).await?;
    wait_all_gone(&env.kube, &ns, &env.aws, &prefix, total).await?;
    let deleted_in = t1.elapsed();
    drop(operator);

    eprintln!("bench: the same AWS calls directly through the SDK");
    let direct_items = workload::items(&format!("{prefix}d"), args.count);
    // A failure here (moto answering garbage under load, say) must not lose the operator's figures.
    let direct = direct::run(&env.aws, &direct_items, usize::from(args.concurrency)).await;
    let _ = Api::<k8s_openapi::api::core::v1::Namespace>::all(env.kube.clone())
        .delete(&ns, &DeleteParams::default())
        .await;

    let figures = report::Figures {
        resources: total,
        concurrency: args.concurrency,
        apply_seconds: applied_in.as_secs_f64(),
        converge_seconds: converged.as_secs_f64(),
        latency: report::Percentiles::of(latencies),
        peak_rss_mib: peak_rss.0 as f64 / 1048576.0,
        peak_anon_rss_mib: peak_rss.1 as f64 / 1048576.0,
        rest_rss_mib: rest.rss_bytes as f64 / 1048576.0,
        rest_anon_rss_mib: rest.anon_bytes as f64 / 1048576.0,
        restart_peak_rss_mib: restart_peak.0 as f64 / 1048576.0,
        memory_limit: limit.as_ref().map(|l| report::MemoryLimit {
            limit_mib: l.bytes as f64 / 1048576.0,
            peak_charged_mib: l.peak_bytes() as f64 / 1048576.0,
            oom_kills: l.oom_kills(),
        }),
        cpu_seconds: end_sample.cpu_seconds - start_sample.cpu_seconds,
        convergence_calls,
        quiet_resyncs: args.quiet_resyncs,
        resync_seconds: args.resync_period.as_secs_f64(),
        restart_pass_seconds: restart_pass.unwrap_or_default().as_secs_f64(),
        quiet_seconds,
        quiet_reconciles,
        quiet_calls,
        delete_seconds: deleted_in.as_secs_f64(),
        direct_seconds: direct.as_ref().map_or(0.0, |d| d.seconds),
        direct_calls: direct.as_ref().map(|d| d.calls.clone()).unwrap_or_default(),
        direct_error: direct.as_ref().err().map(|e| format!("{e:#}")),
    };
    print!("{}", figures.table());
    std::fs::create_dir_all(&args.out)?;
    let path = args.out.join(format!("bench-{total}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(&figures)?)?;
    eprintln!("bench: figures written to {}", path.display());
    direct.map(|_| ()).context("the direct SDK run failed")
}

/// Records when each resource of `kind` is first seen Ready.
async fn record_ready(
    kube: Client,
    ns: String,
    kind: Kind,
    ready_at: Arc<Mutex<HashMap<(Kind, String), Instant>>>,
) {
    let api: Api<DynamicObject> = Api::namespaced_with(kube, &ns, &kind.api_resource());
    let stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .applied_objects();
    futures::pin_mut!(stream);
    while let Ok(Some(obj)) = stream.try_next().await {
        if e2e::is_ready(&obj) {
            ready_at
                .lock()
                .unwrap()
                .entry((kind, obj.name_any()))
                .or_insert_with(Instant::now);
        }
    }
}

async fn apply(
    kube: &Client,
    ns: &str,
    items: &[Item],
    concurrency: usize,
) -> anyhow::Result<Vec<((Kind, String), Instant)>> {
    stream::iter(items)
        .map(|item| async move {
            let api: Api<DynamicObject> =
                Api::namespaced_with(kube.clone(), ns, &item.kind.api_resource());
            api.create(&PostParams::default(), &item.object)
                .await
                .with_context(|| format!("create {}", item.name))?;
            Ok(((item.kind, item.name.clone()), Instant::now()))
        })
        .buffer_unordered(concurrency)
        .try_collect()
        .await
}

async fn delete(kube: &Client, ns: &str, items: &[Item], concurrency: usize) -> anyhow::Result<()> {
    stream::iter(items)
        .map(|item| async move {
            let api: Api<DynamicObject> =
                Api::namespaced_with(kube.clone(), ns, &item.kind.api_resource());
            api.delete(&item.name, &DeleteParams::default())
                .await
                .with_context(|| format!("delete {}", item.name))?;
            anyhow::Ok(())
        })
        .buffer_unordered(concurrency)
        .try_collect::<Vec<_>>()
        .await?;
    Ok(())
}

/// Waits until no resource is left in the namespace, then until no topic or queue with the
/// prefix is left in AWS. Polls with cheap calls: a one-item list for the count, and AWS only
/// once Kubernetes is empty, so that the waiting does not slow down what it waits for.
async fn wait_all_gone(
    kube: &Client,
    ns: &str,
    aws: &aws_config::SdkConfig,
    prefix: &str,
    total: usize,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(1800 + total as u64 / 10);
    loop {
        let mut left = 0;
        for kind in Kind::ALL {
            let api: Api<DynamicObject> =
                Api::namespaced_with(kube.clone(), ns, &kind.api_resource());
            let page = api.list_metadata(&ListParams::default().limit(1)).await?;
            left += page.items.len() as i64 + page.metadata.remaining_item_count.unwrap_or(0);
        }
        if left == 0 {
            break;
        }
        if Instant::now() > deadline {
            bail!("{left} resources still exist in Kubernetes after deletion");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let sns = aws_sdk_sns::Client::new(aws);
    let sqs = aws_sdk_sqs::Client::new(aws);
    loop {
        let topics: Vec<_> = sns
            .list_topics()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await?;
        let topics = topics
            .into_iter()
            .filter_map(|t| t.topic_arn)
            .filter(|arn| {
                arn.rsplit(':')
                    .next()
                    .is_some_and(|n| n.starts_with(&format!("{prefix}-")))
            })
            .count();
        let queues = sqs
            .list_queues()
            .queue_name_prefix(format!("{prefix}-"))
            .max_results(1000)
            .send()
            .await?
            .queue_urls()
            .len();
        if topics + queues == 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{topics} topics and {queues} queues still exist in AWS after deletion");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
