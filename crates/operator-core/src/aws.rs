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
        Self {
            config: loader.load().await,
            calls: CallMetrics(metrics),
        }
    }

    pub fn region(&self) -> String {
        self.config
            .region()
            .map(ToString::to_string)
            .unwrap_or_default()
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
        }
        Ok(())
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
