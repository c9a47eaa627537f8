//! AWS SDK configuration shared by every service client, and the interceptor that counts calls.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
};

use aws_config::sts::AssumeRoleProvider;

use aws_config::{BehaviorVersion, Region, retry::RetryConfig, timeout::TimeoutConfig};
use aws_smithy_runtime_api::{
    box_error::BoxError,
    client::{
        interceptors::{Intercept, context::FinalizerInterceptorContextRef},
        orchestrator::Metadata,
        runtime_components::RuntimeComponents,
    },
};
use aws_smithy_types::config_bag::ConfigBag;
use aws_types::{
    SdkConfig,
    sdk_config::{SharedCredentialsProvider, SharedHttpClient},
};

use crate::{
    cli::{CoreArgs, RetryMode},
    limits::{self, Bucket, Limited, Rate, Scope},
    metrics::Metrics,
    placement::Placement,
};

/// One placement's SDK configuration (region, credentials), each service behind its own rate
/// limiter, and the call-counting interceptor each client must carry.
#[derive(Clone, Debug)]
pub struct AwsClients {
    config: SdkConfig,
    /// The configuration per service: its own rate limiter in front of the shared HTTP client.
    services: BTreeMap<String, SdkConfig>,
    pub calls: CallMetrics,
    /// The account the credentials belong to, so ARNs can be known without listing.
    pub account_id: Option<String>,
}

impl AwsClients {
    /// The SDK configuration for one service (`sqs`, `sns`, ...): its call limit applied. A
    /// service without a limit gets the shared configuration.
    pub fn config_for(&self, service: &str) -> &SdkConfig {
        self.services.get(service).unwrap_or(&self.config)
    }

    /// The ARN of a resource of `service` in this region and account, e.g.
    /// `arn:aws:sns:us-east-1:123456789012:orders`; `None` when the account is unknown.
    pub fn arn(&self, service: &str, resource: &str) -> Option<String> {
        let region = self.region();
        let partition = match region.as_str() {
            r if r.starts_with("cn-") => "aws-cn",
            r if r.starts_with("us-gov-") => "aws-us-gov",
            _ => "aws",
        };
        Some(format!(
            "arn:{partition}:{service}:{region}:{}:{resource}",
            self.account_id.as_ref()?
        ))
    }

    pub fn region(&self) -> String {
        self.config
            .region()
            .map(ToString::to_string)
            .unwrap_or_default()
    }

    /// `config` with a token bucket per service: AWS's quotas apply per account and region.
    fn limited(config: SdkConfig, account_id: Option<String>, shared: &Limits) -> Self {
        let region = config.region().map(ToString::to_string).unwrap_or_default();
        let mut buckets = BTreeMap::new();
        let services = shared
            .rates
            .iter()
            .map(|(service, rate)| {
                let scope = Scope {
                    service: service.clone(),
                    region: region.clone(),
                    account: account_id.clone().unwrap_or_default(),
                };
                let bucket = Bucket::new(scope, *rate, shared.metrics.clone());
                buckets.insert(service.clone(), bucket.clone());
                let limited = Limited::new(shared.http.clone(), bucket);
                let config = config.to_builder().http_client(limited).build();
                (service.clone(), config)
            })
            .collect();
        Self {
            config,
            services,
            calls: CallMetrics {
                metrics: shared.metrics.clone(),
                buckets: Arc::new(buckets),
            },
            account_id,
        }
    }
}

/// What every placement's clients share: the HTTP client and the configured rates.
#[derive(Debug)]
struct Limits {
    http: SharedHttpClient,
    rates: BTreeMap<String, Rate>,
    metrics: Metrics,
}

/// The clients of every placement resources ask for: the operator's own (its region and
/// identity) from the start, any other made on first use and kept.
#[derive(Clone, Debug)]
pub struct AwsPlacements(Arc<Placements>);

#[derive(Debug)]
struct Placements {
    own: AwsClients,
    default: Placement,
    limits: Limits,
    made: tokio::sync::Mutex<HashMap<Placement, AwsClients>>,
}

impl AwsPlacements {
    /// Loads credentials through the SDK's default chain: environment, profile, web identity
    /// (IRSA), EKS Pod Identity, instance metadata; with the flags' retries, timeouts and
    /// call limits.
    pub async fn load(args: &CoreArgs, metrics: Metrics) -> Self {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(
                match args.aws_retry_mode {
                    RetryMode::Standard => RetryConfig::standard(),
                    RetryMode::Adaptive => RetryConfig::adaptive(),
                }
                .with_max_attempts(args.aws_max_attempts.max(1)),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(args.aws_connect_timeout)
                    .operation_attempt_timeout(args.aws_attempt_timeout)
                    .operation_timeout(args.aws_operation_timeout)
                    .build(),
            );
        if let Some(region) = &args.aws_region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(url) = &args.aws_endpoint_url {
            loader = loader.endpoint_url(url.clone());
        }
        let config = loader.load().await;
        // The SDK's default client (rustls with aws-lc, as kube's), made here to be wrapped.
        let http = config.http_client().unwrap_or_else(|| {
            use aws_smithy_http_client::tls;
            aws_smithy_http_client::Builder::new()
                .tls_provider(tls::Provider::Rustls(
                    tls::rustls_provider::CryptoMode::AwsLc,
                ))
                .build_https()
        });
        let limits = Limits {
            http,
            rates: limits::rates(&args.aws_rate_limit),
            metrics: metrics.clone(),
        };
        // One call before the buckets exist, which are per account.
        let account_id = caller_account(&config, &CallMetrics::counting(metrics)).await;
        let own = AwsClients::limited(config, account_id, &limits);
        let default = Placement {
            region: own.region(),
            role_arn: None,
        };
        Self(Arc::new(Placements {
            own,
            default,
            limits,
            made: tokio::sync::Mutex::default(),
        }))
    }

    /// The operator's own region and identity.
    pub fn own(&self) -> &AwsClients {
        &self.0.own
    }

    pub fn default_placement(&self) -> &Placement {
        &self.0.default
    }

    /// The account a placement's calls land in; `None` when STS could not tell at start.
    pub fn account_of(&self, placement: &Placement) -> Option<String> {
        match placement.role_account() {
            Some(account) => Some(account.to_owned()),
            None => self.0.own.account_id.clone(),
        }
    }

    /// The clients for `placement`: a role's credentials come from STS AssumeRole with the
    /// operator's own (web identity on EKS, ...), are cached, and refreshed before they expire.
    pub async fn clients(&self, placement: &Placement) -> AwsClients {
        if placement == &self.0.default {
            return self.0.own.clone();
        }
        let mut made = self.0.made.lock().await;
        if let Some(clients) = made.get(placement) {
            return clients.clone();
        }
        let region = Region::new(placement.region.clone());
        let mut config = self.0.own.config.to_builder().region(region.clone());
        if let Some(role) = &placement.role_arn {
            let provider = AssumeRoleProvider::builder(role.clone())
                .session_name(crate::MANAGER)
                .region(region)
                .configure(self.0.own.config_for("sts"))
                .build()
                .await;
            config = config.credentials_provider(SharedCredentialsProvider::new(provider));
        }
        tracing::info!(region = %placement.region, role = ?placement.role_arn, "AWS clients for a new placement");
        let clients =
            AwsClients::limited(config.build(), self.account_of(placement), &self.0.limits);
        made.insert(placement.clone(), clients.clone());
        clients
    }
}

/// Asks STS who the credentials belong to; a failure only costs the ARN shortcut.
async fn caller_account(config: &SdkConfig, calls: &CallMetrics) -> Option<String> {
    let sts = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::config::Builder::from(config)
            .interceptor(calls.clone())
            .build(),
    );
    let call = sts.get_caller_identity().send();
    match tokio::time::timeout(std::time::Duration::from_secs(10), call).await {
        Ok(Ok(identity)) => identity.account,
        Ok(Err(e)) => {
            tracing::warn!(error = %crate::errors::from_sdk(e), "cannot tell the AWS account (sts:GetCallerIdentity)");
            None
        }
        Err(_) => {
            tracing::warn!("sts:GetCallerIdentity timed out");
            None
        }
    }
}

/// Counts every AWS call by service, operation, access (read or write) and outcome, and tells
/// the placement's bucket of each throttled attempt.
#[derive(Clone, Debug)]
pub struct CallMetrics {
    metrics: Metrics,
    buckets: Arc<BTreeMap<String, Arc<Bucket>>>,
}

impl CallMetrics {
    /// Counts calls, with no bucket to tell.
    fn counting(metrics: Metrics) -> Self {
        Self {
            metrics,
            buckets: Arc::default(),
        }
    }
}

impl Intercept for CallMetrics {
    fn name(&self) -> &'static str {
        "CallMetrics"
    }

    /// Every attempt AWS answered with a throttling error, retried by the SDK or not. The code
    /// is in a header (JSON protocols) or the body (XML protocols), which is in memory by now.
    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(response) = context.response() else {
            return Ok(());
        };
        let status = response.status().as_u16();
        if status < 400 {
            return Ok(());
        }
        let header = |name: &str| response.headers().get(name).unwrap_or_default();
        let body = response.body().bytes().unwrap_or_default();
        let body = String::from_utf8_lossy(&body[..body.len().min(4096)]);
        let throttled = status == 429
            || [header("x-amzn-errortype"), header("x-amzn-query-error")]
                .iter()
                .any(|code| {
                    crate::errors::is_throttling(code.split([':', ';']).next().unwrap_or(""))
                })
            || [
                "Throttl",
                "<Code>SlowDown</Code>",
                "TooManyRequests",
                "RequestLimitExceeded",
            ]
            .iter()
            .any(|needle| body.contains(needle));
        if throttled && let Some(meta) = cfg.load::<Metadata>() {
            self.metrics.aws_throttled(meta.service(), meta.name());
            if let Some(bucket) = self.buckets.get(&meta.service().to_ascii_lowercase()) {
                bucket.throttled();
            }
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(meta) = cfg.load::<Metadata>() {
            let ok = matches!(context.output_or_error(), Some(Ok(_)));
            self.metrics.aws_call(meta.service(), meta.name(), ok);
            if ok {
                crash_point(meta.name());
            }
        }
        Ok(())
    }
}

/// The test-only fault point: with `ASO_TEST_ABORT_AFTER=<Operation>` the process aborts as soon
/// as that AWS call succeeds (before anything records its result), as a kill -9 there would.
fn crash_point(operation: &str) {
    static AFTER: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let after = AFTER.get_or_init(|| std::env::var("ASO_TEST_ABORT_AFTER").ok());
    if after.as_deref() == Some(operation) {
        eprintln!("ASO_TEST_ABORT_AFTER={operation}: aborting after the call returned");
        std::process::abort();
    }
}

/// Whether an AWS operation only reads. Everything else counts as a write.
pub fn is_read_operation(operation: &str) -> bool {
    ["Describe", "List", "Get", "Head"]
        .iter()
        .any(|p| operation.starts_with(p))
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_and_writes_are_told_apart() {
        assert!(super::is_read_operation("DescribeTable"));
        assert!(super::is_read_operation("ListTagsOfResource"));
        assert!(super::is_read_operation("GetQueueAttributes"));
        assert!(!super::is_read_operation("UpdateTable"));
        assert!(!super::is_read_operation("TagResource"));
        assert!(!super::is_read_operation("CreateTable"));
    }
}
