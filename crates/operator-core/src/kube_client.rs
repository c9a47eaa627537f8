//! The operator's two Kubernetes clients: one for watches, which poll long and tell [`Health`]
//! each time a watch request is answered (a watch that reconnects emits no event until
//! something changes, so its stream alone cannot say it is back), and one for every other call,
//! each bounded by `--kube-timeout`.

use std::{
    fmt::Debug,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use futures::{Stream, StreamExt};
use http::{Request, Response};
use kube::{
    Api,
    client::{Body, ClientBuilder},
    runtime::{WatchStreamExt, watcher},
};
use serde::de::DeserializeOwned;
use tower::{Layer, Service};

use crate::server::{Health, tracked};

/// How long connecting to the API server may take for a watch; its answer may take as long as
/// kube's read timeout (the server ends a watch within five minutes).
const WATCH_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub struct KubeClients {
    pub watches: kube::Client,
    pub calls: kube::Client,
}

impl KubeClients {
    pub async fn infer(timeout: Duration, health: &Health) -> Result<Self, ClientError> {
        let config = kube::Config::infer().await?;
        let mut watch_config = config.clone();
        watch_config.connect_timeout = Some(WATCH_CONNECT_TIMEOUT);
        let watches = ClientBuilder::try_from(watch_config)?
            .with_layer(&Answered(health.clone()))
            .build();
        let mut call_config = config;
        call_config.connect_timeout = Some(timeout);
        call_config.read_timeout = Some(timeout);
        call_config.write_timeout = Some(timeout);
        let calls = kube::Client::try_from(call_config)?;
        Ok(Self { watches, calls })
    }
}

/// How a failed watch retries: from half a second, doubling, jittered, to at most
/// [`WATCH_RETRY_MAX`]: kube's default (client-go's) waits up to 30 s, so that a watch back
/// from a 40 s API server outage could stay down for half a minute more, and the liveness
/// deadline would take that for a wedged process.
pub struct WatchBackoff {
    next: Duration,
}

const WATCH_RETRY_FIRST: Duration = Duration::from_millis(500);
pub const WATCH_RETRY_MAX: Duration = Duration::from_secs(8);

impl Default for WatchBackoff {
    fn default() -> Self {
        Self {
            next: WATCH_RETRY_FIRST,
        }
    }
}

impl Iterator for WatchBackoff {
    type Item = Duration;
    fn next(&mut self) -> Option<Duration> {
        let delay = self.next.mul_f64(rand::random_range(0.5..=1.0));
        self.next = (self.next * 2).min(WATCH_RETRY_MAX);
        Some(delay)
    }
}

impl kube::runtime::utils::Backoff for WatchBackoff {
    fn reset(&mut self) {
        self.next = WATCH_RETRY_FIRST;
    }
}

/// A watch as every one of the operator's is run: counted by `health` under `name` (towards
/// readiness until it lists, towards liveness while it fails), and retried with
/// [`WatchBackoff`].
pub fn watched<K>(
    api: Api<K>,
    config: watcher::Config,
    health: &Health,
    name: &str,
) -> impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + use<K>
where
    K: kube::Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let track = tracked(health, name, api.resource_url());
    watcher(api, config)
        .inspect(track)
        .backoff(WatchBackoff::default())
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no Kubernetes configuration: {0}")]
    Config(#[from] kube::config::InferConfigError),
    #[error("cannot build a Kubernetes client: {0}")]
    Client(#[from] kube::Error),
}

/// Marks the watches of a path as healthy when a watch request on it is answered with success.
#[derive(Clone)]
struct Answered(Health);

impl<S> Layer<S> for Answered {
    type Service = AnsweredService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        AnsweredService {
            inner,
            health: self.0.clone(),
        }
    }
}

#[derive(Clone)]
pub struct AnsweredService<S> {
    inner: S,
    health: Health,
}

impl<S, B> Service<Request<Body>> for AnsweredService<S>
where
    S: Service<Request<Body>, Response = Response<B>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let uri = request.uri();
        let watch = uri
            .query()
            .is_some_and(|q| q.split('&').any(|p| p == "watch=true"))
            .then(|| uri.path().to_owned());
        let health = self.health.clone();
        let answer = self.inner.call(request);
        Box::pin(async move {
            let response = answer.await?;
            if let Some(path) = watch
                && response.status().is_success()
            {
                tracing::trace!(%path, "watch request answered");
                health.watch_answered(&path);
            }
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watch_retries_at_least_every_few_seconds() {
        let mut backoff = WatchBackoff::default();
        let delays: Vec<Duration> = backoff.by_ref().take(12).collect();
        assert!(delays[0] <= WATCH_RETRY_FIRST);
        assert!(delays.iter().all(|d| *d <= WATCH_RETRY_MAX), "{delays:?}");
        assert!(delays[11] >= WATCH_RETRY_MAX / 2, "{delays:?}");
        kube::runtime::utils::Backoff::reset(&mut backoff);
        assert!(backoff.next().unwrap() <= WATCH_RETRY_FIRST);
    }

    #[tokio::test]
    async fn a_successful_watch_request_marks_its_path_healthy() {
        let health = Health::default();
        let queues = health.expect("SQSQueue", "/apis/g/v1/namespaces/a/sqsqueues");
        let topics = health.expect("SNSTopic", "/apis/g/v1/namespaces/a/snstopics");
        health.watch_failed(queues);
        health.watch_failed(topics);
        let status = std::sync::Arc::new(std::sync::Mutex::new(http::StatusCode::OK));
        let mut service = Answered(health.clone()).layer(tower::service_fn({
            let status = status.clone();
            move |_: Request<Body>| {
                let status = *status.lock().unwrap();
                async move {
                    Ok::<_, std::convert::Infallible>(
                        Response::builder().status(status).body(()).unwrap(),
                    )
                }
            }
        }));
        let get = |uri: &str| Request::get(uri).body(Body::empty()).unwrap();
        // A list, a failed watch: nothing changes.
        service
            .call(get("/apis/g/v1/namespaces/a/sqsqueues?limit=500"))
            .await
            .unwrap();
        *status.lock().unwrap() = http::StatusCode::SERVICE_UNAVAILABLE;
        service
            .call(get("/apis/g/v1/namespaces/a/sqsqueues?watch=true"))
            .await
            .unwrap();
        assert_eq!(health.failing(), vec!["SQSQueue", "SNSTopic"]);
        *status.lock().unwrap() = http::StatusCode::OK;
        service
            .call(get(
                "/apis/g/v1/namespaces/a/sqsqueues?allowWatchBookmarks=true&watch=true",
            ))
            .await
            .unwrap();
        assert_eq!(health.failing(), vec!["SNSTopic"]);
    }
}
