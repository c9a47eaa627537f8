//! The figures: a table for people, JSON for the README and for comparing runs.

use std::{collections::BTreeMap, fmt::Write as _, time::Duration};

use serde::Serialize;

#[derive(Serialize, Debug, Default)]
pub struct Percentiles {
    pub p50_seconds: f64,
    pub p99_seconds: f64,
    pub max_seconds: f64,
}

impl Percentiles {
    pub fn of(mut samples: Vec<Duration>) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        samples.sort();
        let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize].as_secs_f64();
        Self {
            p50_seconds: at(0.5),
            p99_seconds: at(0.99),
            max_seconds: at(1.0),
        }
    }
}

/// AWS calls by "operation (read|write)".
pub type Calls = BTreeMap<String, u64>;

/// Parses `aso_aws_calls_total` from the operator's metrics, summed over outcomes.
pub fn aws_calls(metrics: &str) -> Calls {
    let mut calls = Calls::new();
    for line in metrics
        .lines()
        .filter(|l| l.starts_with("aso_aws_calls_total{"))
    {
        let label = |name: &str| {
            let start = line.find(&format!("{name}=\""))? + name.len() + 2;
            Some(line[start..].split('"').next()?.to_owned())
        };
        let (Some(op), Some(access)) = (label("operation"), label("access")) else {
            continue;
        };
        let value: f64 = line
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        *calls.entry(format!("{op} ({access})")).or_default() += value as u64;
    }
    calls
}

/// Reconciles that compared a resource with AWS: `aso_reconciles_total` over kinds, less those
/// that only waited (error "Pending", e.g. for a cache's first list after a restart).
pub fn reconciles(metrics: &str) -> u64 {
    let sum = |prefix: &str, label: &str| {
        metrics
            .lines()
            .filter(|l| l.starts_with(prefix) && l.contains(label))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    let all = sum("aso_reconciles_total{", "");
    let waited = sum("aso_reconcile_errors_total{", "error=\"Pending\"");
    (all - waited).max(0.0) as u64
}

pub fn delta(before: &Calls, after: &Calls) -> Calls {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect()
}

fn sum(calls: &Calls, access: &str) -> u64 {
    calls
        .iter()
        .filter(|(k, _)| k.ends_with(&format!("({access})")))
        .map(|(_, v)| v)
        .sum()
}

#[derive(Serialize, Debug)]
pub struct Figures {
    pub resources: usize,
    pub concurrency: u16,
    pub apply_seconds: f64,
    pub converge_seconds: f64,
    pub latency: Percentiles,
    pub peak_rss_mib: f64,
    /// Without the binary's file-backed pages, which the kernel can drop under a memory limit.
    pub peak_anon_rss_mib: f64,
    pub rest_rss_mib: f64,
    pub rest_anon_rss_mib: f64,
    /// The restarted operator's peak, over its full pass and the quiet resyncs.
    pub restart_peak_rss_mib: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_limit: Option<MemoryLimit>,
    pub cpu_seconds: f64,
    pub convergence_calls: Calls,
    pub quiet_resyncs: u32,
    pub resync_seconds: f64,
    /// After a restart: time until every resource had been compared with AWS once.
    pub restart_pass_seconds: f64,
    pub quiet_seconds: f64,
    pub quiet_reconciles: u64,
    pub quiet_calls: Calls,
    pub delete_seconds: f64,
    pub direct_seconds: f64,
    pub direct_calls: BTreeMap<String, u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direct_error: Option<String>,
}

#[derive(Serialize, Debug)]
pub struct MemoryLimit {
    pub limit_mib: f64,
    /// The most the cgroup was charged over the whole run.
    pub peak_charged_mib: f64,
    pub oom_kills: u64,
}

impl Figures {
    pub fn table(&self) -> String {
        let n = self.resources as f64;
        let reads_per_resync =
            sum(&self.quiet_calls, "read") as f64 / self.quiet_reconciles.max(1) as f64;
        let mut t = String::new();
        let mut row = |k: &str, v: String| writeln!(t, "| {k:<46} | {v:>24} |").unwrap();
        row(
            "resources (topics : queues : subscriptions)",
            format!("{} (1:2:2)", self.resources),
        );
        row("operator --concurrency", self.concurrency.to_string());
        row(
            "apply (all created in the API server)",
            format!("{:.1} s", self.apply_seconds),
        );
        row(
            "first apply -> all Ready",
            format!("{:.1} s", self.converge_seconds),
        );
        row(
            "apply -> Ready per resource p50 / p99 / max",
            format!(
                "{:.2} / {:.2} / {:.2} s",
                self.latency.p50_seconds, self.latency.p99_seconds, self.latency.max_seconds
            ),
        );
        row(
            "operator peak RSS (anonymous) in convergence",
            format!(
                "{:.1} ({:.1}) MiB",
                self.peak_rss_mib, self.peak_anon_rss_mib
            ),
        );
        row(
            "operator CPU during convergence",
            format!("{:.1} s", self.cpu_seconds),
        );
        row(
            "operator RSS (anonymous) at rest",
            format!(
                "{:.1} ({:.1}) MiB",
                self.rest_rss_mib, self.rest_anon_rss_mib
            ),
        );
        row(
            "AWS calls during convergence (read / write)",
            format!(
                "{} / {}",
                sum(&self.convergence_calls, "read"),
                sum(&self.convergence_calls, "write")
            ),
        );
        row(
            "restart: first full pass over every resource",
            format!("{:.1} s", self.restart_pass_seconds),
        );
        row(
            "restarted operator peak RSS (relist + resyncs)",
            format!("{:.1} MiB", self.restart_peak_rss_mib),
        );
        if let Some(limit) = &self.memory_limit {
            row(
                &format!(
                    "under a {:.0} MiB cgroup limit: peak charged",
                    limit.limit_mib
                ),
                format!(
                    "{:.1} MiB, {} OOM kills",
                    limit.peak_charged_mib, limit.oom_kills
                ),
            );
        }
        row(
            &format!(
                "quiet: restart + {} resyncs of {:.0} s, AWS writes",
                self.quiet_resyncs, self.resync_seconds
            ),
            format!(
                "{} ({:.1} passes)",
                sum(&self.quiet_calls, "write"),
                self.quiet_reconciles as f64 / n
            ),
        );
        row(
            "quiet: AWS reads per resource per resync",
            format!("{reads_per_resync:.2}"),
        );
        row(
            "delete all -> gone from Kubernetes and AWS",
            format!("{:.1} s", self.delete_seconds),
        );
        match &self.direct_error {
            Some(error) => row(
                "direct SDK, same concurrency (the limit)",
                format!("failed: {}", error.chars().take(60).collect::<String>()),
            ),
            None => {
                row(
                    "direct SDK, same concurrency (the limit)",
                    format!(
                        "{:.1} s ({} calls)",
                        self.direct_seconds,
                        self.direct_calls.values().sum::<u64>()
                    ),
                );
                row(
                    "ratio operator / direct",
                    format!(
                        "{:.2}",
                        self.converge_seconds / self.direct_seconds.max(1e-9)
                    ),
                );
            }
        }
        let mut out = format!(
            "| {:<46} | {:>24} |\n|{}|{}|\n",
            "figure",
            "value",
            "-".repeat(48),
            "-".repeat(26)
        );
        out.push_str(&t);
        out.push_str("\nAWS calls during convergence, by operation:\n");
        for (op, count) in &self.convergence_calls {
            writeln!(out, "  {op:<40} {count}").unwrap();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_summed_over_outcomes() {
        let m = "aso_aws_calls_total{service=\"SNS\",operation=\"CreateTopic\",access=\"write\",outcome=\"success\"} 3\n\
                 aso_aws_calls_total{service=\"SNS\",operation=\"CreateTopic\",access=\"write\",outcome=\"error\"} 1\n";
        assert_eq!(aws_calls(m).get("CreateTopic (write)"), Some(&4));
    }

    #[test]
    fn reconciles_are_summed_over_kinds_less_the_waiting_ones() {
        let m = "# TYPE aso_reconciles counter\n\
                 aso_reconciles_total{kind=\"SQSQueue\"} 4\n\
                 aso_reconciles_total{kind=\"SNSTopic\"} 2\n\
                 aso_reconcile_errors_total{kind=\"SQSQueue\",error=\"Pending\"} 1\n\
                 aso_reconcile_errors_total{kind=\"SQSQueue\",error=\"Throttling\"} 1\n";
        assert_eq!(reconciles(m), 5);
    }

    #[test]
    fn percentiles_of_a_sorted_sample() {
        let p = Percentiles::of((1..=100).map(Duration::from_millis).collect());
        assert_eq!(p.max_seconds, 0.1);
        assert!((p.p50_seconds - 0.05).abs() < 0.002);
    }
}
