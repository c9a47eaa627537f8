//! Helpers for end-to-end tests against the local control plane (`just up`) and moto.
//!
//! Every test gets its own namespace and its own operator process watching only that namespace,
//! so tests run in parallel and each one's AWS call metrics are its own. A test that cannot reach
//! the control plane fails; it never skips.

use std::{
    fmt::Debug,
    io::{BufRead, BufReader},
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use k8s_openapi::{
    api::core::v1::{ConfigMap, Namespace},
    apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
};
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{DeleteParams, ListParams, Patch, PatchParams, PostParams},
};
use serde::de::DeserializeOwned;

pub mod aws;
pub mod fault;

pub use aws::Aws;
pub use operator_core::conditions::Condition;

/// The control plane and moto, as `just up` printed them.
pub struct Env {
    pub kube: Client,
    pub aws: aws_config::SdkConfig,
}

pub async fn env() -> Env {
    for var in ["KUBECONFIG", "AWS_ENDPOINT_URL"] {
        assert!(
            std::env::var(var).is_ok(),
            "{var} is not set: run the tests through `just test`, or `eval \"$(just up)\"` first"
        );
    }
    let kube = Client::try_default()
        .await
        .expect("cannot build a Kubernetes client from KUBECONFIG");
    kube.apiserver_version()
        .await
        .expect("the Kubernetes API server does not answer; is `just up` running?");
    let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    Env { kube, aws }
}

/// Installs (server-side applies) every generated CRD and waits until each is established.
pub async fn install_crds(kube: &Client) {
    let api: Api<CustomResourceDefinition> = Api::all(kube.clone());
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../crds");
    for entry in std::fs::read_dir(dir).expect("crds/ is missing") {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(&path).unwrap();
            let crd: CustomResourceDefinition = serde_saphyr::from_str(&text).unwrap();
            let name = crd.name_any();
            api.patch(
                &name,
                &PatchParams::apply("e2e").force(),
                &Patch::Apply(&crd),
            )
            .await
            .unwrap();
            wait_until(Duration::from_secs(30), || async {
                let crd = api.get(&name).await.ok()?;
                let conditions = crd.status?.conditions?;
                conditions
                    .iter()
                    .any(|c| c.type_ == "Established" && c.status == "True")
                    .then_some(())
            })
            .await
            .unwrap_or_else(|| panic!("CRD {name} never became established"));
        }
    }
}

/// A namespace of one's own, named after the test.
pub async fn namespace(kube: &Client, test: &str, annotations: &[(&str, &str)]) -> String {
    let name = format!(
        "{}-{}",
        test.replace('_', "-"),
        std::process::id() % 100_000
    );
    let ns: Namespace = serde_json::from_value(serde_json::json!({
        "metadata": {
            "name": name,
            "annotations": annotations.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<std::collections::BTreeMap<_, _>>()
        }
    }))
    .unwrap();
    let api: Api<Namespace> = Api::all(kube.clone());
    let _ = api.delete(&name, &DeleteParams::default()).await;
    wait_until(Duration::from_secs(60), || async {
        api.get_opt(&name).await.ok()?.is_none().then_some(())
    })
    .await
    .expect("leftover namespace was not deleted");
    api.create(&PostParams::default(), &ns)
        .await
        .expect("cannot create namespace");
    name
}

/// Polls `check` until it returns `Some`, or `None` after `timeout`.
pub async fn wait_until<T, F, Fut>(timeout: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Waits until the object satisfies `pred`; panics with the object's last state otherwise.
pub async fn wait_for<K, P>(api: &Api<K>, name: &str, timeout: Duration, what: &str, pred: P) -> K
where
    K: Resource + Clone + DeserializeOwned + Debug,
    P: Fn(&K) -> bool,
{
    let last = std::sync::Mutex::new(None);
    let found = wait_until(timeout, || async {
        let obj = api.get_opt(name).await.ok()??;
        let ok = pred(&obj);
        *last.lock().unwrap() = Some(obj.clone());
        ok.then_some(obj)
    })
    .await;
    let last = last.into_inner().unwrap();
    found.unwrap_or_else(|| {
        panic!("timed out after {timeout:?} waiting for {name} to be {what}; last seen: {last:#?}")
    })
}

/// One kind's objects in a test namespace, and the steps every test takes with them.
pub struct Resources<K> {
    pub api: Api<K>,
}

/// How long a test waits for the operator to bring a resource to a state.
pub const TIMEOUT: Duration = Duration::from_secs(60);

impl<K> Resources<K>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + serde::Serialize
        + Debug,
{
    pub fn new(kube: &Client, namespace: &str) -> Self {
        Self {
            api: Api::namespaced(kube.clone(), namespace),
        }
    }

    pub async fn create(
        &self,
        name: &str,
        spec: serde_json::Value,
        annotations: serde_json::Value,
    ) -> K {
        let obj: K = serde_json::from_value(serde_json::json!({
            "apiVersion": K::api_version(&()),
            "kind": K::kind(&()),
            "metadata": {"name": name, "annotations": annotations},
            "spec": spec,
        }))
        .unwrap();
        self.api.create(&PostParams::default(), &obj).await.unwrap()
    }

    pub async fn wait_ready(&self, name: &str) -> K {
        wait_for(&self.api, name, TIMEOUT, "Ready", is_ready).await
    }

    /// Waits until the resource is Ready and Synced at `generation`.
    pub async fn wait_synced(&self, name: &str, generation: Option<i64>) -> K {
        wait_for(&self.api, name, TIMEOUT, "synced", |o| {
            let value = serde_json::to_value(o).unwrap_or_default();
            let observed = value
                .pointer("/status/observedGeneration")
                .and_then(|g| g.as_i64());
            observed == generation
                && is_ready(o)
                && condition(o, "Synced").is_some_and(|c| c.status == "True")
        })
        .await
    }

    pub async fn patch_spec(&self, name: &str, spec: serde_json::Value) -> K {
        let patch = Patch::Merge(serde_json::json!({ "spec": spec }));
        self.api
            .patch(name, &PatchParams::default(), &patch)
            .await
            .unwrap()
    }

    pub async fn annotate(&self, name: &str, key: &str, value: &str) {
        let patch = Patch::Merge(serde_json::json!({"metadata": {"annotations": {key: value}}}));
        self.api
            .patch(name, &PatchParams::default(), &patch)
            .await
            .unwrap();
    }
}

/// Waits until the object no longer exists.
pub async fn wait_gone<K>(api: &Api<K>, name: &str, timeout: Duration)
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let gone = wait_until(timeout, || async {
        api.get_opt(name).await.ok()?.is_none().then_some(())
    })
    .await;
    assert!(
        gone.is_some(),
        "{name} still exists after {timeout:?}: {:#?}",
        api.get_opt(name).await
    );
}

/// A condition of the object's status, read through its JSON form.
pub fn condition<K: serde::Serialize>(obj: &K, type_: &str) -> Option<Condition> {
    let value = serde_json::to_value(obj).ok()?;
    let conditions = value.pointer("/status/conditions")?.clone();
    let conditions: Vec<Condition> = serde_json::from_value(conditions).ok()?;
    conditions.into_iter().find(|c| c.type_ == type_)
}

pub fn is_ready<K: serde::Serialize>(obj: &K) -> bool {
    condition(obj, "Ready").is_some_and(|c| c.status == "True")
}

pub async fn config_map(kube: &Client, namespace: &str, name: &str) -> ConfigMap {
    let api: Api<ConfigMap> = Api::namespaced(kube.clone(), namespace);
    wait_for(&api, name, Duration::from_secs(30), "present", |_| true).await
}

/// Reasons of the Events recorded for an object.
pub async fn event_reasons(kube: &Client, namespace: &str, name: &str) -> Vec<String> {
    let api: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(kube.clone(), namespace);
    let events = api.list(&ListParams::default()).await.unwrap();
    events
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .filter_map(|e| e.reason)
        .collect()
}

/// Waits up to 10 s for an Event with `reason` about the object; whether one came.
pub async fn wait_for_event(kube: &Client, namespace: &str, name: &str, reason: &str) -> bool {
    wait_until(Duration::from_secs(10), || async {
        event_reasons(kube, namespace, name)
            .await
            .iter()
            .any(|r| r == reason)
            .then_some(())
    })
    .await
    .is_some()
}

/// An operator process (the all-in-one binary) watching one namespace. Killed on drop; its log
/// is printed when the test fails.
pub struct Operator {
    child: Child,
    metrics_port: u16,
    log: PathBuf,
}

impl Operator {
    /// The all-in-one operator.
    pub fn start(namespace: &str, extra_args: &[&str]) -> Self {
        Self::start_binary("aws-service-operator", namespace, extra_args)
    }

    /// One of the workspace's controller binaries, e.g. `dynamodb-controller`.
    pub fn start_binary(name: &str, namespace: &str, extra_args: &[&str]) -> Self {
        Self::start_path(&binary(name), namespace, extra_args)
    }

    /// A controller binary at `bin` (e.g. a release build), watching `namespace`.
    pub fn start_path(bin: &std::path::Path, namespace: &str, extra_args: &[&str]) -> Self {
        Self::start_with_env(bin, namespace, extra_args, &[])
    }

    /// The all-in-one operator with extra environment variables (e.g. the test-only fault point
    /// `ASO_TEST_ABORT_AFTER`).
    pub fn start_env(namespace: &str, env: &[(&str, &str)]) -> Self {
        Self::start_with_env(&binary("aws-service-operator"), namespace, &[], env)
    }

    /// `bin` watching `namespace` with extra arguments and environment variables.
    pub fn start_with_env(
        bin: &std::path::Path,
        namespace: &str,
        extra_args: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let metrics_port = free_port();
        // One log per process: replicas in one namespace must not truncate each other's.
        let log = std::env::temp_dir().join(format!("aso-e2e-{namespace}-{metrics_port}.log"));
        let log_file = std::fs::File::create(&log).unwrap();
        // An empty namespace: every namespace.
        let watch = (!namespace.is_empty())
            .then_some(["--watch-namespace", namespace])
            .into_iter()
            .flatten();
        let child = Command::new(bin)
            .args(watch)
            .args(["--log-format", "text"])
            .arg("--metrics-addr")
            .arg(format!("127.0.0.1:{metrics_port}"))
            .args(extra_args)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info,operator_core=debug".into()),
            )
            .envs(env.iter().copied())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let op = Self {
            child,
            metrics_port,
            log,
        };
        op.wait_ready();
        op
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if http_get(self.metrics_port, "/readyz").is_some_and(|(status, _)| status == 200) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "operator did not become ready in 30 s; log:\n{}",
            self.log_tail()
        );
    }

    /// Waits until the process exits by itself; its status, or `None` after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn metrics(&self) -> String {
        http_get(self.metrics_port, "/metrics")
            .expect("metrics endpoint does not answer")
            .1
    }

    /// AWS calls made so far: for `access` "read" or "write", summed over operations; otherwise
    /// of that one operation.
    pub fn aws_calls(&self, access: &str) -> u64 {
        sum_aws_calls(&self.metrics(), access)
    }

    pub fn metrics_port(&self) -> u16 {
        self.metrics_port
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether this process reconciles (holds the leader lease, or runs without election).
    pub fn is_leader(&self) -> bool {
        self.metrics().lines().any(|l| l.trim() == "aso_leader 1")
    }

    /// The whole log of the process so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- operator log (last 60 lines) ---\n{}", self.log_tail());
        }
    }
}

/// How many `kind` objects `namespace` holds, once every one of them is Ready; `None` while
/// any is not (or the list cannot be read).
pub fn all_ready(namespace: &str, kind: &str) -> Option<usize> {
    let text = kubectl(&["-n", namespace, "get", kind, "-o", "json"]);
    let list: serde_json::Value = serde_json::from_str(&text).ok()?;
    let items = list["items"].as_array()?;
    items
        .iter()
        .all(|i| condition(i, "Ready").is_some_and(|c| c.status == "True"))
        .then_some(items.len())
}

/// One document of a multi-document manifest: `kind` named `name`, `spec` given as YAML lines.
pub fn doc(kind: &str, name: &str, spec: &str) -> String {
    format!(
        "apiVersion: service-operator.aws/v1alpha1\nkind: {kind}\nmetadata:\n  name: {name}\n{spec}---\n"
    )
}

/// The HTTP status of `path` on the operator's metrics port; `None` when it does not answer.
pub fn http_status(port: u16, path: &str) -> Option<u16> {
    http_get(port, path).map(|(status, _)| status)
}

/// Sums `aso_aws_calls_total` samples with the given access label ("read", "write") or
/// operation (e.g. "GetQueueUrl").
pub fn sum_aws_calls(metrics: &str, access: &str) -> u64 {
    let needle = match access {
        "read" | "write" => format!("access=\"{access}\""),
        operation => format!("operation=\"{operation}\""),
    };
    metrics
        .lines()
        .filter(|l| l.starts_with("aso_aws_calls_total{") && l.contains(&needle))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// A binary of this workspace, next to the test executable's directory.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|d| d.parent()).unwrap();
    let bin = dir.join(name);
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --bins` first (just test does)",
        bin.display()
    );
    bin
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A minimal HTTP/1.0 GET on loopback: status and body.
fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).ok()?;
    let status = status_line.split_whitespace().nth(1)?.parse().ok()?;
    let mut rest = String::new();
    reader.read_to_string(&mut rest).ok()?;
    let body = rest
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((status, body))
}

/// Runs kubectl (from PATH, as `just up` exports it) and returns stdout; panics on failure.
pub fn kubectl(args: &[&str]) -> String {
    let out = Command::new("kubectl")
        .args(args)
        .output()
        .expect("kubectl is not on PATH; source the env `just up` prints");
    assert!(
        out.status.success(),
        "kubectl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `kubectl apply` with a manifest on stdin; returns (success, stderr).
pub fn kubectl_apply(namespace: &str, manifest: &str) -> (bool, String) {
    kubectl_apply_with(namespace, &[], manifest)
}

/// `kubectl apply` with extra flags (e.g. `--dry-run=server`); returns (success, stderr).
pub fn kubectl_apply_with(namespace: &str, flags: &[&str], manifest: &str) -> (bool, String) {
    use std::io::Write;
    let mut child = Command::new("kubectl")
        .args(["apply", "-n", namespace, "-f", "-"])
        .args(flags)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl is not on PATH");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(manifest.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn sums_calls_by_access() {
        let m = "aso_aws_calls_total{service=\"DynamoDB\",operation=\"DescribeTable\",access=\"read\",outcome=\"success\"} 3\n\
                 aso_aws_calls_total{service=\"DynamoDB\",operation=\"UpdateTable\",access=\"write\",outcome=\"success\"} 2\n\
                 aso_aws_calls_total{service=\"DynamoDB\",operation=\"ListTagsOfResource\",access=\"read\",outcome=\"success\"} 3\n";
        assert_eq!(super::sum_aws_calls(m, "read"), 6);
        assert_eq!(super::sum_aws_calls(m, "write"), 2);
    }
}
