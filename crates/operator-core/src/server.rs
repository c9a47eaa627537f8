//! The HTTP endpoint serving /metrics, /healthz and /readyz.

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{Router, extract::State, http::StatusCode, routing::get};

use crate::metrics::Metrics;

/// Ready once every watch started has listed once; alive while no watch has been failing for
/// longer than the deadline (a watch that cannot reconnect leaves its controller blind).
#[derive(Clone, Default, Debug)]
pub struct Health {
    pending: Arc<AtomicUsize>,
    watches: Arc<Mutex<Vec<Watch>>>,
}

/// A watch: its name, the path it watches, and since when it has been failing, if it is.
#[derive(Debug)]
struct Watch {
    name: String,
    path: String,
    failing_since: Option<Instant>,
}

impl Health {
    /// One more watch, of `path`, must list before the process is ready; returns its index for
    /// [`watch_ok`](Self::watch_ok) and [`watch_failed`](Self::watch_failed).
    pub fn expect(&self, name: &str, path: &str) -> usize {
        self.pending.fetch_add(1, Ordering::SeqCst);
        let mut watches = self.watches.lock().expect("poisoned");
        watches.push(Watch {
            name: name.to_owned(),
            path: path.to_owned(),
            failing_since: None,
        });
        watches.len() - 1
    }
    pub fn mark_synced(&self) {
        self.pending.fetch_sub(1, Ordering::SeqCst);
    }
    pub fn is_ready(&self) -> bool {
        self.pending.load(Ordering::SeqCst) == 0
    }
    pub fn watch_ok(&self, watch: usize) {
        if let Some(w) = self.watches.lock().expect("poisoned").get_mut(watch) {
            w.failing_since = None;
        }
    }
    pub fn watch_failed(&self, watch: usize) {
        if let Some(w) = self.watches.lock().expect("poisoned").get_mut(watch) {
            w.failing_since.get_or_insert_with(Instant::now);
        }
    }
    /// The API server answered a watch request on `path`: its watches are connected again,
    /// even if nothing has changed for them to deliver.
    pub fn watch_answered(&self, path: &str) {
        for w in self.watches.lock().expect("poisoned").iter_mut() {
            if w.path == path {
                w.failing_since = None;
            }
        }
    }
    /// The names of the watches failing now.
    pub fn failing(&self) -> Vec<String> {
        let watches = self.watches.lock().expect("poisoned");
        watches
            .iter()
            .filter(|w| w.failing_since.is_some())
            .map(|w| w.name.clone())
            .collect()
    }
    /// The first watch failing for longer than `deadline`, and for how long.
    pub fn wedged(&self, deadline: Duration) -> Option<(String, Duration)> {
        self.watches.lock().expect("poisoned").iter().find_map(|w| {
            let failing = w.failing_since?.elapsed();
            (failing > deadline).then(|| (w.name.clone(), failing))
        })
    }
}

#[derive(Clone)]
struct AppState {
    metrics: Metrics,
    ready: Health,
    deadline: Duration,
}

pub async fn serve(
    addr: SocketAddr,
    metrics: Metrics,
    ready: Health,
    deadline: Duration,
) -> std::io::Result<()> {
    let app = Router::new()
        .route(
            "/metrics",
            get(|State(s): State<AppState>| async move { s.metrics.encode() }),
        )
        .route(
            "/healthz",
            get(|State(s): State<AppState>| async move {
                match s.ready.wedged(s.deadline) {
                    None => (StatusCode::OK, "ok".to_owned()),
                    Some((watch, failing)) => (
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!("the {watch} watch has failed for {} s", failing.as_secs()),
                    ),
                }
            }),
        )
        .route(
            "/readyz",
            get(|State(s): State<AppState>| async move {
                if s.ready.is_ready() {
                    (StatusCode::OK, "ok")
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, "starting")
                }
            }),
        )
        .with_state(AppState {
            metrics,
            ready,
            deadline,
        });
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, "serving /metrics, /healthz, /readyz");
    axum::serve(listener, app).await
}

/// Resolves once a watch has been failing for longer than `deadline`: the process then exits
/// so that its Deployment restarts it with fresh connections, rather than run blind.
pub async fn wedged(health: Health, deadline: Duration) -> (String, Duration) {
    loop {
        tokio::time::sleep(Duration::from_secs(1).min(deadline)).await;
        if let Some(found) = health.wedged(deadline) {
            return found;
        }
    }
}

/// Counts a watch towards readiness until its first complete list, and towards liveness while
/// it fails to reconnect (until it delivers again, or the API server answers a watch request
/// on `path`: see `kube_client`). (Polling the store's `wait_until_ready` from a second task
/// would steal the controller's wake-up.)
pub fn tracked<K>(
    health: &Health,
    name: &str,
    path: &str,
) -> impl FnMut(&Result<kube::runtime::watcher::Event<K>, kube::runtime::watcher::Error>) + use<K> {
    let watch = health.expect(name, path);
    let health = health.clone();
    let mut pending = true;
    move |event| match event {
        Ok(event) => {
            health.watch_ok(watch);
            if pending && matches!(event, kube::runtime::watcher::Event::InitDone) {
                pending = false;
                health.mark_synced();
            }
        }
        Err(_) => health.watch_failed(watch),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watch_failing_past_the_deadline_is_wedged_until_it_recovers() {
        let health = Health::default();
        let a = health.expect("SQSQueue", "/q");
        let b = health.expect("ConfigMap", "/c");
        assert!(!health.is_ready());
        health.mark_synced();
        health.mark_synced();
        assert!(health.is_ready());
        health.watch_failed(b);
        assert_eq!(
            health.wedged(Duration::from_secs(60)),
            None,
            "failing, not for long"
        );
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(
            health.wedged(Duration::from_millis(10)).map(|w| w.0),
            Some("ConfigMap".into())
        );
        health.watch_failed(b); // still failing: the start stays
        health.watch_ok(a);
        assert!(health.wedged(Duration::from_millis(10)).is_some());
        health.watch_ok(b);
        assert_eq!(health.wedged(Duration::from_millis(10)), None);
    }
}
