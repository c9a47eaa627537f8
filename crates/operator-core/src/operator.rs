//! Process wiring shared by every binary: clients, metrics endpoint, and the controllers to run.

use futures::future::{BoxFuture, join_all};

use crate::{
    aws::AwsClients,
    cli::CoreArgs,
    metrics::Metrics,
    reconciler::{self, Settings},
    resource::AwsResource,
    server::{self, Readiness},
    telemetry,
};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot reach Kubernetes: {0}")]
    Kube(#[from] kube::Error),
}

/// One Kubernetes client, one AWS configuration and one metrics registry for every controller.
pub struct Operator {
    kube: kube::Client,
    aws: AwsClients,
    settings: Settings,
    metrics: Metrics,
    ready: Readiness,
    args: CoreArgs,
}

impl Operator {
    pub async fn start(args: CoreArgs) -> Result<Self, StartError> {
        telemetry::init(args.log_format);
        let kube = kube::Client::try_default().await?;
        let metrics = Metrics::default();
        let aws = AwsClients::load(
            args.aws_region.clone(),
            args.aws_endpoint_url.clone(),
            metrics.clone(),
        )
        .await;
        let settings = Settings {
            resync_period: args.resync_period,
            deletion_policy: args.deletion_policy,
            concurrency: args.concurrency,
            watch_namespace: args.watch_namespace.clone(),
        };
        tracing::info!(region = %aws.region(), endpoint = ?args.aws_endpoint_url, namespace = ?settings.watch_namespace, "operator starting");
        Ok(Self {
            kube,
            aws,
            settings,
            metrics,
            ready: Readiness::default(),
            args,
        })
    }

    /// The controller of kind `K`, to be passed to [`Operator::run`].
    pub fn controller<K: AwsResource>(&self) -> BoxFuture<'static, ()> {
        let (kube, aws, settings, metrics, ready) = (
            self.kube.clone(),
            self.aws.clone(),
            self.settings.clone(),
            self.metrics.clone(),
            self.ready.clone(),
        );
        Box::pin(async move { reconciler::run::<K>(kube, &aws, settings, metrics, ready).await })
    }

    /// Serves /metrics, /healthz and /readyz while the controllers run; returns on SIGTERM/SIGINT.
    pub async fn run(self, controllers: Vec<BoxFuture<'static, ()>>) -> std::io::Result<()> {
        let server = server::serve(
            self.args.metrics_addr,
            self.metrics.clone(),
            self.ready.clone(),
        );
        tokio::select! {
            result = server => result,
            _ = join_all(controllers) => {
                tracing::info!("controllers stopped");
                Ok(())
            }
        }
    }
}
