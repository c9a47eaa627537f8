//! AWS SDK configuration shared by every service client, and the interceptor that counts calls.

use aws_config::{BehaviorVersion, Region};
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

use crate::metrics::Metrics;

/// The shared SDK configuration plus the call-counting interceptor each client must carry.
#[derive(Clone, Debug)]
pub struct AwsClients {
    pub config: SdkConfig,
    pub calls: CallMetrics,
    /// The account the credentials belong to, so ARNs can be known without listing.
    pub account_id: Option<String>,
}

impl AwsClients {
    /// Loads credentials through the SDK's default chain: environment, profile, web identity
    /// (IRSA), EKS Pod Identity, instance metadata.
    pub async fn load(
        region: Option<String>,
        endpoint_url: Option<String>,
        metrics: Metrics,
    ) -> Self {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(region) = region {
            loader = loader.region(Region::new(region));
        }
        if let Some(url) = endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let config = loader.load().await;
        let calls = CallMetrics(metrics);
        let account_id = caller_account(&config, &calls).await;
        Self {
            config,
            calls,
            account_id,
        }
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
