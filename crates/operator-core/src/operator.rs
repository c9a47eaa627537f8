//! Process wiring shared by every binary: clients, metrics endpoint, and the controllers to run.

use futures::future::{BoxFuture, join_all};
use kube_lease_manager::{LeaseManager, LeaseManagerBuilder};

/// The background task holding the Lease; it releases it when the watch channel closes.
type LeaseTask = tokio::task::JoinHandle<kube_lease_manager::Result<LeaseManager>>;

use crate::{
    aws::AwsPlacements,
    cli::CoreArgs,
    kube_client::KubeClients,
    metrics::Metrics,
    namespaces::Namespaces,
    reconciler::{self, Settings},
    resource::AwsResource,
    server::{self, Health},
    telemetry,
    write_loop::LoopLimit,
};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot reach Kubernetes: {0}")]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    KubeClient(#[from] crate::kube_client::ClientError),
    #[error("leader election: {0}")]
    LeaderElection(#[from] kube_lease_manager::LeaseManagerError),
    #[error("lost the leader election lease; stopping so that only the new leader reconciles")]
    LostLeadership,
    #[error("the {0} watch has failed for {1:?}; exiting so that a restart reconnects")]
    Wedged(String, std::time::Duration),
    #[error("metrics endpoint: {0}")]
    Server(#[from] std::io::Error),
}

/// One Kubernetes client, one AWS configuration and one metrics registry for every controller.
pub struct Operator {
    /// For watches: kube's long read timeout suits their long polls.
    kube: kube::Client,
    /// For every other call, each bounded by `--kube-timeout`.
    kube_calls: kube::Client,
    aws: AwsPlacements,
    namespaces: Namespaces,
    settings: Settings,
    metrics: Metrics,
    ready: Health,
    args: CoreArgs,
}

impl Operator {
    pub async fn start(args: CoreArgs) -> Result<Self, StartError> {
        telemetry::init(args.log_format);
        let ready = Health::default();
        let KubeClients {
            watches: kube,
            calls: kube_calls,
        } = KubeClients::infer(args.kube_timeout, &ready).await?;
        let metrics = Metrics::default();
        let aws = AwsPlacements::load(&args, metrics.clone()).await;
        let namespaces = Namespaces::watch(kube.clone(), args.watch_namespace.as_deref(), &ready);
        let settings = Settings {
            resync_period: args.resync_period,
            deletion_policy: args.deletion_policy,
            concurrency: args.concurrency,
            watch_namespace: args.watch_namespace.clone(),
            allow_cross_namespace_references: args.allow_cross_namespace_references,
            reconcile_timeout: args.reconcile_timeout,
            update_loop: LoopLimit {
                writes: args.update_loop_writes,
                window: args.update_loop_window,
            },
        };
        tracing::info!(region = %aws.default_placement().region, account = ?aws.own().account_id, endpoint = ?args.aws_endpoint_url, namespace = ?settings.watch_namespace, "operator starting");
        Ok(Self {
            kube,
            kube_calls,
            aws,
            namespaces,
            settings,
            metrics,
            ready,
            args,
        })
    }

    /// The controller of kind `K`, to be passed to [`Operator::run`].
    pub fn controller<K: AwsResource>(&self) -> BoxFuture<'static, ()> {
        let kube = reconciler::Clients {
            watches: self.kube.clone(),
            calls: self.kube_calls.clone(),
        };
        let (aws, namespaces, settings, metrics, ready) = (
            self.aws.clone(),
            self.namespaces.clone(),
            self.settings.clone(),
            self.metrics.clone(),
            self.ready.clone(),
        );
        Box::pin(async move {
            reconciler::run::<K>(kube, &aws, namespaces, settings, metrics, ready).await
        })
    }

    /// Serves /metrics, /healthz and /readyz while the controllers run; returns on SIGTERM/SIGINT.
    /// With leader election, the controllers start only once this process holds the Lease, and
    /// the process stops at once if it loses it (its replacement comes back as a standby).
    pub async fn run(self, controllers: Vec<BoxFuture<'static, ()>>) -> Result<(), StartError> {
        let server = server::serve(
            self.args.metrics_addr,
            self.metrics.clone(),
            self.ready.clone(),
            self.args.watch_failure_deadline,
        );
        let wedged = server::wedged(self.ready.clone(), self.args.watch_failure_deadline);
        if !self.args.leader_election {
            self.metrics.set_leader(true);
            return tokio::select! {
                result = server => Ok(result?),
                _ = join_all(controllers) => Ok(()),
                (watch, failing) = wedged => Err(StartError::Wedged(watch, failing)),
            };
        }
        let (mut leader, lease) = self.elect().await?;
        tokio::pin!(server);
        tokio::select! {
            result = &mut server => return Ok(result?),
            _ = shutdown_signal() => return Ok(()),
            _ = leader.wait_for(|is_leader| *is_leader) => {}
        }
        tracing::info!(lease = %self.args.leader_election_id, "acquired the lease; starting controllers");
        self.metrics.set_leader(true);
        let result = tokio::select! {
            result = server => Ok(result?),
            _ = join_all(controllers) => Ok(()),
            _ = leader.wait_for(|is_leader| !*is_leader) => Err(StartError::LostLeadership),
            (watch, failing) = wedged => Err(StartError::Wedged(watch, failing)),
        };
        // Closing the channel makes the lease task release the Lease, so a standby takes over
        // at once instead of after the lease duration.
        drop(leader);
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), lease).await;
        result
    }

    async fn elect(&self) -> Result<(tokio::sync::watch::Receiver<bool>, LeaseTask), StartError> {
        let namespace = self
            .args
            .leader_election_namespace
            .clone()
            .or_else(|| std::env::var("POD_NAMESPACE").ok())
            .unwrap_or_else(|| "default".into());
        let identity = std::env::var("POD_NAME").unwrap_or_else(|_| {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
            format!("{}-{}", host.trim(), std::process::id())
        });
        let duration = self.args.leader_election_lease_duration.as_secs().max(2);
        let manager =
            LeaseManagerBuilder::new(self.kube_calls.clone(), &self.args.leader_election_id)
                .with_namespace(&namespace)
                .with_identity(&identity)
                .with_duration(duration)
                .with_grace((duration / 3).max(1))
                .build()
                .await?;
        tracing::info!(%identity, %namespace, lease = %self.args.leader_election_id, "waiting to acquire the lease");
        Ok(manager.watch().await)
    }
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
