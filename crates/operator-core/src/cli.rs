//! Flags every controller binary shares; each also reads an environment variable.

use std::{net::SocketAddr, time::Duration};

use crate::{limits::ServiceRate, policy::DeletionPolicy, telemetry::LogFormat};

/// How the SDK retries a failed attempt.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryMode {
    /// Exponential backoff with jitter and a retry quota.
    Standard,
    /// Standard, plus a client-side rate that drops on throttling errors and recovers after.
    Adaptive,
}

#[derive(clap::Args, Debug, Clone)]
pub struct CoreArgs {
    /// AWS region; defaults to the SDK's chain (AWS_REGION, profile, instance metadata).
    #[arg(long, env = "AWS_REGION")]
    pub aws_region: Option<String>,

    /// Custom AWS endpoint, e.g. moto or LocalStack.
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub aws_endpoint_url: Option<String>,

    /// Client-side limit on AWS calls per service, `<service>=<per second>[/<burst>]`
    /// (comma-separated), over the defaults sqs=100/200, sns=30/60, dynamodb=20/40, s3=50/100,
    /// ecr=10/20, sts=10/10. At most rate + burst calls go out in any one second (after a quiet
    /// spell); with burst 1 the rate is a ceiling. Also `--aws-max-tps`.
    #[arg(
        long,
        alias = "aws-max-tps",
        env = "ASO_AWS_RATE_LIMITS",
        value_delimiter = ','
    )]
    pub aws_rate_limit: Vec<ServiceRate>,

    /// How the SDK retries throttled and failed calls.
    #[arg(
        long,
        env = "ASO_AWS_RETRY_MODE",
        value_enum,
        default_value = "adaptive"
    )]
    pub aws_retry_mode: RetryMode,

    /// Attempts per AWS call, the first included.
    #[arg(long, env = "ASO_AWS_MAX_ATTEMPTS", default_value_t = 3)]
    pub aws_max_attempts: u32,

    /// How long connecting to an AWS endpoint may take.
    #[arg(long, env = "ASO_AWS_CONNECT_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub aws_connect_timeout: Duration,

    /// How long one attempt of an AWS call may take.
    #[arg(long, env = "ASO_AWS_ATTEMPT_TIMEOUT", default_value = "20s", value_parser = humantime::parse_duration)]
    pub aws_attempt_timeout: Duration,

    /// How long an AWS call may take with all its attempts and retries.
    #[arg(long, env = "ASO_AWS_OPERATION_TIMEOUT", default_value = "60s", value_parser = humantime::parse_duration)]
    pub aws_operation_timeout: Duration,

    /// Watch only this namespace; all namespaces when unset.
    #[arg(long, env = "ASO_WATCH_NAMESPACE")]
    pub watch_namespace: Option<String>,

    /// Let a resource refer to another namespace's (`namespace/name`); off, such a reference
    /// is refused with a condition saying so.
    #[arg(long, env = "ASO_ALLOW_CROSS_NAMESPACE_REFERENCES")]
    pub allow_cross_namespace_references: bool,

    /// How often every resource is compared with AWS to correct drift (e.g. 30s, 10m).
    #[arg(long, env = "ASO_RESYNC_PERIOD", default_value = "10m", value_parser = humantime::parse_duration)]
    pub resync_period: Duration,

    /// How many resources of one kind are reconciled at once.
    #[arg(long, env = "ASO_CONCURRENCY", default_value_t = 16)]
    pub concurrency: u16,

    /// What happens to AWS resources when their Kubernetes objects are deleted, unless the
    /// object or its namespace says otherwise.
    #[arg(
        long,
        env = "ASO_DELETION_POLICY",
        value_enum,
        default_value = "delete"
    )]
    pub deletion_policy: DeletionPolicy,

    /// Address serving /metrics, /healthz and /readyz.
    #[arg(long, env = "ASO_METRICS_ADDR", default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,

    #[arg(long, env = "ASO_LOG_FORMAT", value_enum, default_value = "json")]
    pub log_format: LogFormat,

    /// How long one Kubernetes API call (a read or write outside the watches) may take, to
    /// connect and then to answer. Watches keep kube's own long read timeout.
    #[arg(long, env = "ASO_KUBE_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub kube_timeout: Duration,

    /// How long one reconcile may take in all (AWS calls, waits on the rate limiter, Kubernetes
    /// writes); one that takes longer is abandoned and retried with backoff.
    #[arg(long, env = "ASO_RECONCILE_TIMEOUT", default_value = "5m", value_parser = humantime::parse_duration)]
    pub reconcile_timeout: Duration,

    /// How many times one change may be written to AWS, each time without AWS keeping it (the
    /// next look still differs), before the resource is written no more until its spec changes
    /// (Terminal condition UpdateLoop). 0 turns the breaker off.
    #[arg(long, env = "ASO_UPDATE_LOOP_WRITES", default_value_t = 3)]
    pub update_loop_writes: u32,

    /// The window those writes are counted in.
    #[arg(long, env = "ASO_UPDATE_LOOP_WINDOW", default_value = "1h", value_parser = humantime::parse_duration)]
    pub update_loop_window: Duration,

    /// How long a watch may fail to reconnect to the API server before /healthz fails and the
    /// process exits (its Deployment restarts it with fresh connections).
    #[arg(long, env = "ASO_WATCH_FAILURE_DEADLINE", default_value = "60s", value_parser = humantime::parse_duration)]
    pub watch_failure_deadline: Duration,

    /// With several replicas, only the holder of a Kubernetes Lease reconciles.
    #[arg(long, env = "ASO_LEADER_ELECTION")]
    pub leader_election: bool,

    /// Namespace of the Lease; defaults to the pod's namespace (POD_NAMESPACE), else "default".
    #[arg(long, env = "ASO_LEADER_ELECTION_NAMESPACE")]
    pub leader_election_namespace: Option<String>,

    /// Name of the Lease; replicas of one deployment share it.
    #[arg(
        long,
        env = "ASO_LEADER_ELECTION_ID",
        default_value = "aws-service-operator"
    )]
    pub leader_election_id: String,

    /// How long a Lease stays valid without renewal: the time a standby waits to take over.
    #[arg(long, env = "ASO_LEADER_ELECTION_LEASE_DURATION", default_value = "15s", value_parser = humantime::parse_duration)]
    pub leader_election_lease_duration: Duration,
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        core: super::CoreArgs,
    }

    #[test]
    fn flags_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn aws_limits_parse() {
        let cli = Cli::parse_from([
            "x",
            "--aws-rate-limit",
            "sns=5/10,sqs=50",
            "--aws-retry-mode",
            "standard",
        ]);
        assert_eq!(cli.core.aws_rate_limit.len(), 2);
        assert_eq!(cli.core.aws_retry_mode, super::RetryMode::Standard);
        assert_eq!(
            cli.core.aws_attempt_timeout,
            std::time::Duration::from_secs(20)
        );
        assert!(Cli::try_parse_from(["x", "--aws-rate-limit", "sns=0"]).is_err());
    }

    #[test]
    fn resync_period_parses_human_durations() {
        let cli = Cli::parse_from(["x", "--resync-period", "30s", "--deletion-policy", "retain"]);
        assert_eq!(cli.core.resync_period, std::time::Duration::from_secs(30));
        assert_eq!(cli.core.deletion_policy, super::DeletionPolicy::Retain);
    }
}
