//! AWS SDK configuration shared by every service client, and the interceptor that counts calls.

use std::collections::BTreeMap;

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
use aws_types::SdkConfig;

use crate::{
    cli::{CoreArgs, RetryMode},
    limits::{self, Limited},
    metrics::Metrics,
};

/// The shared SDK configuration plus the call-counting interceptor each client must carry.
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
        let services = limits::rates(&args.aws_rate_limit)
            .into_iter()
            .map(|(service, rate)| {
                let name: &'static str = Box::leak(service.clone().into_boxed_str());
                let limited = Limited::new(http.clone(), name, rate, metrics.clone());
                let config = config.to_builder().http_client(limited).build();
                (service, config)
            })
            .collect();
        let calls = CallMetrics(metrics);
        let mut clients = Self {
            config,
            services,
            calls,
            account_id: None,
        };
        let account_id = caller_account(clients.config_for("sts"), &clients.calls).await;
        clients.account_id = account_id;
        clients
    }

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

/// Counts every AWS call by service, operation, access (read or write) and outcome.
#[derive(Clone, Debug)]
pub struct CallMetrics(Metrics);

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
            self.0.aws_throttled(meta.service(), meta.name());
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
            self.0.aws_call(meta.service(), meta.name(), ok);
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
