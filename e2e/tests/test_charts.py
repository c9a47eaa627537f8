"""The Helm charts (charts/), the static binaries the images ship (`just static`) and the RBAC the
charts grant, proven by running the operator with nothing but its ServiceAccount's token.

Needs the control plane (`just up`), the debug binaries (`cargo build --workspace --bins`) and the
static ones (`just static`); e2e/run-tests.sh builds both before pytest. Missing binaries fail.
"""

import json
import re
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import boto3
import pytest
import yaml

from conftest import ASO_CACHE, wait_until

REPO = Path(__file__).resolve().parents[2]
CHARTS = REPO / "charts"
CRDS = REPO / "crds"
GROUP = "service-operator.aws"

# service -> plurals of its kinds (the brief's mapping, kept independent of charts/generate.py)
SERVICE_KINDS = {
    "dynamodb": ["dynamodbs"],
    "s3": ["s3buckets"],
    "ecr": ["ecrrepositories"],
    "sns": ["snstopics", "snssubscriptions"],
    "sqs": ["sqsqueues"],
}
CHART_SERVICES = {f"{s}-controller": [s] for s in SERVICE_KINDS} | {"aws-service-operator": list(SERVICE_KINDS)}
SCOPES = ["cluster", "namespace"]

STATIC_DIR = Path(os.environ.get("ASO_STATIC_DIR", ASO_CACHE / "static"))
TARGET_DIR = Path(os.environ.get("CARGO_TARGET_DIR", ASO_CACHE / "target"))


def run(*cmd, check=True, timeout=120, **kw):
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def helm(*args, check=True, timeout=120):
    exe = shutil.which("helm")
    assert exe, "helm is not on PATH: source $ASO_CACHE/cluster/env (run `just up` first)"
    return run(exe, *args, check=check, timeout=timeout)


def template(chart, *sets, namespace="ops"):
    """The rendered manifests of `chart` as a list of dicts."""
    args = []
    for s in sets:
        args += ["--set", s]
    out = helm("template", "rel", CHARTS / chart, "--namespace", namespace, *args).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def by_kind(docs, kind):
    return [d for d in docs if d["kind"] == kind]


def env_of(docs):
    [deploy] = by_kind(docs, "Deployment")
    [container] = deploy["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def all_rules(docs):
    return [r for d in docs if d["kind"] in ("Role", "ClusterRole") for r in d["rules"]]


# --- generated charts and CRDs ----------------------------------------------------------------

def test_charts_are_generated_from_src():
    proc = run(sys.executable, CHARTS / "generate.py", "--check", check=False)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("chart", CHART_SERVICES)
def test_chart_crds_are_the_generated_ones(chart):
    want = {f"{p}.{GROUP}.yaml" for s in CHART_SERVICES[chart] for p in SERVICE_KINDS[s]}
    top = {p.name for p in CRDS.glob("*.yaml")}
    have = {p.name for p in (CHARTS / chart / "crds").glob("*.yaml")}
    assert top <= {f"{p}.{GROUP}.yaml" for ps in SERVICE_KINDS.values() for p in ps}, \
        f"crds/ has kinds no service maps: {sorted(top)}"
    assert not (have - want), f"charts/{chart}/crds has CRDs of other services: {sorted(have - want)}"
    for name in sorted(want & top):
        assert name in have, f"charts/{chart}/crds/{name} is missing: run `just charts`"
        assert (CHARTS / chart / "crds" / name).read_bytes() == (CRDS / name).read_bytes(), \
            f"charts/{chart}/crds/{name} differs from crds/{name}: run `just charts`"
    assert not (have - top), f"charts/{chart}/crds has CRDs that crds/ no longer has: {sorted(have - top)}"


# --- lint, template, schema -------------------------------------------------------------------

@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("chart", CHART_SERVICES)
def test_lint(chart, scope):
    helm("lint", "--strict", CHARTS / chart, "--set", f"installScope={scope}")


@pytest.mark.parametrize("chart", CHART_SERVICES)
def test_template_cluster_scope(chart):
    docs = template(chart)
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == ["ClusterRole", "ClusterRoleBinding", "Deployment", "Role", "RoleBinding",
                     "Service", "ServiceAccount"], kinds
    [lease_role] = by_kind(docs, "Role")  # the leader-election Role, in the release namespace
    assert lease_role["metadata"]["namespace"] == "ops"
    assert {g for r in lease_role["rules"] for g in r["apiGroups"]} == {"coordination.k8s.io"}
    [cluster_role] = by_kind(docs, "ClusterRole")
    own = [p for s in CHART_SERVICES[chart] for p in SERVICE_KINDS[s]]
    rules = {frozenset(r["resources"]): r["verbs"] for r in cluster_role["rules"]}
    assert rules[frozenset(own)] == ["get", "list", "watch", "patch", "update"]
    assert rules[frozenset(f"{p}/status" for p in own)] == ["patch"]
    assert rules[frozenset(f"{p}/finalizers" for p in own)] == ["update"]
    assert rules[frozenset(["configmaps"])] == ["get", "list", "watch", "create", "patch"]
    assert rules[frozenset(["events"])] == ["create", "patch"]
    assert rules[frozenset(["namespaces"])] == ["get", "list", "watch"]
    if chart == "sns-controller":  # subscriptions refer to queues by name: read only
        assert rules[frozenset(["sqsqueues"])] == ["get", "list", "watch"]
    has_s3 = "s3" in CHART_SERVICES[chart]
    if has_s3:  # an S3 bucket's ExternalName Service: never list, watch or delete (GC deletes it)
        assert rules[frozenset(["services"])] == ["get", "create", "patch"]
    assert len(rules) == 6 + (chart == "sns-controller") + has_s3, rules
    env = env_of(docs)
    assert "ASO_WATCH_NAMESPACE" not in env
    assert env["POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["POD_NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert env["ASO_LEADER_ELECTION"] == "true" and env["ASO_LEADER_ELECTION_NAMESPACE"] == "ops"


@pytest.mark.parametrize("chart", CHART_SERVICES)
def test_template_namespace_scope(chart):
    docs = template(chart, "installScope=namespace", "watchNamespace=apps")
    assert env_of(docs)["ASO_WATCH_NAMESPACE"] == "apps"
    roles = {d["metadata"]["name"]: d for d in by_kind(docs, "Role")}
    assert roles[f"rel-{chart}"]["metadata"]["namespace"] == "apps"
    assert roles[f"rel-{chart}-leader-election"]["metadata"]["namespace"] == "ops"
    [binding] = [b for b in by_kind(docs, "RoleBinding") if b["metadata"]["namespace"] == "apps"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": f"rel-{chart}", "namespace": "ops"}]
    # The only cluster-wide grant: reading (and watching) the one watched Namespace object.
    [cluster_role] = by_kind(docs, "ClusterRole")
    assert cluster_role["rules"] == [
        {"apiGroups": [""], "resources": ["namespaces"], "resourceNames": ["apps"],
         "verbs": ["get", "list", "watch"]}]
    # Without watchNamespace: the release namespace.
    assert env_of(template(chart, "installScope=namespace"))["ASO_WATCH_NAMESPACE"] == "ops"


@pytest.mark.parametrize("chart", CHART_SERVICES)
def test_template_pod_security_probes_resources(chart):
    docs = template(chart)
    [deploy] = by_kind(docs, "Deployment")
    pod = deploy["spec"]["template"]["spec"]
    [c] = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]} and sc["runAsNonRoot"] is True
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert c["ports"] == [{"name": "metrics", "containerPort": 8080, "protocol": "TCP"}]
    assert c["resources"]["requests"]["memory"] and c["resources"]["limits"]["memory"]
    assert c["command"] == [f"/usr/local/bin/{chart}"]
    assert c["image"] == f"{chart}:0.1.0"
    assert pod["serviceAccountName"] == f"rel-{chart}"
    # Nothing in any chart touches Secrets.
    assert not [r for r in all_rules(docs) if "secrets" in r["resources"]]


def test_template_values_become_env_and_mounts():
    docs = template("dynamodb-controller", "aws.region=eu-west-1", "aws.endpointUrl=http://moto:5000",
                    "aws.credentials.secretName=aws-creds", "aws.credentials.profile=ops",
                    "deletionPolicy=retain", "resyncPeriod=30s", "concurrency=4", "log.level=debug",
                    "log.format=text", "metrics.service.port=9090", "replicaCount=2",
                    "serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn=arn:aws:iam::123456789012:role/x",
                    "image.pullSecrets={regcred}", "podAnnotations.a=b", "nodeSelector.kubernetes\\.io/os=linux")
    env = env_of(docs)
    assert env["AWS_REGION"] == "eu-west-1" and env["AWS_ENDPOINT_URL"] == "http://moto:5000"
    assert env["AWS_SHARED_CREDENTIALS_FILE"] == "/var/run/secrets/aws/credentials"
    assert env["AWS_PROFILE"] == "ops"
    assert env["ASO_DELETION_POLICY"] == "retain" and env["ASO_RESYNC_PERIOD"] == "30s"
    assert env["ASO_CONCURRENCY"] == "4" and env["ASO_LOG_FORMAT"] == "text"
    assert env["RUST_LOG"] == "debug,kube=warn,aws=warn"
    assert env["ASO_METRICS_ADDR"] == "0.0.0.0:9090"
    [deploy] = by_kind(docs, "Deployment")
    pod = deploy["spec"]["template"]["spec"]
    assert deploy["spec"]["replicas"] == 2
    assert pod["volumes"] == [{"name": "aws-credentials", "secret": {
        "secretName": "aws-creds", "items": [{"key": "credentials", "path": "credentials"}]}}]
    assert pod["containers"][0]["volumeMounts"][0]["readOnly"] is True
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert deploy["spec"]["template"]["metadata"]["annotations"] == {"a": "b"}
    [sa] = by_kind(docs, "ServiceAccount")
    assert sa["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/x"}
    [svc] = by_kind(docs, "Service")
    assert svc["spec"]["ports"][0]["port"] == 9090
    # Static credentials are mounted by the kubelet: still no RBAC on Secrets.
    assert not [r for r in all_rules(docs) if "secrets" in r["resources"]]
    # Leader election off: no Lease Role, no env.
    docs = template("dynamodb-controller", "leaderElection.enabled=false", "metrics.service.create=false")
    assert "ASO_LEADER_ELECTION" not in env_of(docs)
    assert not by_kind(docs, "Role") and not by_kind(docs, "Service")


def test_all_in_one_controllers_limit_rbac():
    docs = template("aws-service-operator", "controllers={dynamodb,sns}")
    assert env_of(docs)["ASO_CONTROLLERS"] == "dynamodb,sns"
    [cluster_role] = by_kind(docs, "ClusterRole")
    resources = {p for r in cluster_role["rules"] for p in r["resources"]}
    assert {"dynamodbs", "snstopics", "snssubscriptions", "sqsqueues"} <= resources
    assert not resources & {"s3buckets", "ecrrepositories", "sqsqueues/status"}, resources
    every = all_rules(template("aws-service-operator"))
    assert "ASO_CONTROLLERS" not in env_of(template("aws-service-operator"))
    assert {"s3buckets", "ecrrepositories", "sqsqueues", "sqsqueues/status"} <= {
        p for r in every for p in r["resources"]}


@pytest.mark.parametrize(("chart", "args", "message"), [
    ("dynamodb-controller", ["--set", "replicaCount=two"], "replicaCount"),
    ("dynamodb-controller", ["--set", "concurrency=0"], "concurrency"),
    ("dynamodb-controller", ["--set", "leaderElection.enabled=maybe"], "enabled"),
    ("dynamodb-controller", ["--set", "installScope=everywhere"], "installScope"),
    ("dynamodb-controller", ["--set", "deletionPolicy=orphan"], "deletionPolicy"),
    ("dynamodb-controller", ["--set", "resyncPeriod=soon"], "resyncPeriod"),
    ("dynamodb-controller", ["--set", "replicas=2"], "replicas"),
    ("dynamodb-controller", ["--set", "image.registry=x"], "registry"),
    ("dynamodb-controller", ["--set", "controllers={s3}"], "controllers"),
    ("aws-service-operator", ["--set", "controllers={dynamo}"], "controllers"),
    ("aws-service-operator", ["--set", "metrics.service.port=http"], "port"),
    ("sqs-controller", ["--set", "watchNamespace=apps"], "watchNamespace needs installScope: namespace"),
])
def test_bad_values_are_refused_with_a_message(chart, args, message):
    proc = helm("template", "rel", CHARTS / chart, *args, check=False)
    assert proc.returncode != 0, f"{args} was accepted"
    assert message in proc.stderr, proc.stderr
    if "watchNamespace needs" not in message:
        assert "values don't meet the specifications of the schema" in proc.stderr, proc.stderr


# --- install into the real API server ---------------------------------------------------------

@pytest.fixture
def fresh_namespace(kube, run_id, request):
    names = []

    def make(prefix):
        name = f"{prefix}-{run_id}-{uuid.uuid4().hex[:6]}"[:63]
        kube.kubectl("create", "namespace", name)
        names.append(name)
        return name
    yield make
    for name in names:
        kube.kubectl("delete", "namespace", name, "--wait=false", check=False)


def install(kube, chart, release, namespace, *sets):
    """helm install, skipping the chart's CRDs when every one exists already (never deleted)."""
    crds = [p.stem for p in (CHARTS / chart / "crds").glob("*.yaml")]
    existing = kube.kubectl("get", "crd", "-o", "name", *[f"crd/{c}" for c in crds], check=False).stdout
    skip = ["--skip-crds"] if all(f"customresourcedefinition.apiextensions.k8s.io/{c}" in existing
                                  for c in crds) else []
    args = [a for s in sets for a in ("--set", s)]
    return helm("install", release, CHARTS / chart, "--namespace", namespace, *skip, *args, timeout=180)


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("chart", CHART_SERVICES)
def test_helm_install_and_uninstall(kube, run_id, fresh_namespace, chart, scope):
    ns = fresh_namespace("aso-chart")
    release = f"t{run_id}-{scope[:2]}"
    out = install(kube, chart, release, ns, f"installScope={scope}").stdout
    assert "STATUS: deployed" in out, out
    assert f"Watches:  {'namespace ' + ns if scope == 'namespace' else 'every namespace'}" in out, out
    manifest = helm("get", "manifest", release, "--namespace", ns).stdout
    docs = [d for d in yaml.safe_load_all(manifest) if d]
    assert len(docs) >= 7
    for d in docs:  # every object exists in the API server
        where = ["-n", d["metadata"]["namespace"]] if d["metadata"].get("namespace") else []
        kube.kubectl("get", f"{d['kind']}.{d['apiVersion'].split('/')[0] if '/' in d['apiVersion'] else ''}"
                     .rstrip("."), d["metadata"]["name"], *where)
    helm("uninstall", release, "--namespace", ns, "--wait", timeout=180)
    cluster_role = docs_named(docs, "ClusterRole")
    assert kube.kubectl("get", "clusterrole", cluster_role, "--ignore-not-found", "-o", "name").stdout == ""
    for c in (CHARTS / chart / "crds").glob("*.yaml"):  # Helm never deletes CRDs
        kube.kubectl("get", "crd", c.stem)


def docs_named(docs, kind):
    return next(d["metadata"]["name"] for d in docs if d["kind"] == kind)


# --- RBAC proof: the operator runs with nothing but its ServiceAccount's token -----------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def token_kubeconfig(kube, path, token):
    cfg = json.loads(kube.kubectl("config", "view", "--raw", "--minify", "-o", "json").stdout)
    ca = cfg["clusters"][0]["cluster"]["certificate-authority-data"]
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": kube.server, "certificate-authority-data": ca}}],
        "users": [{"name": "sa", "user": {"token": token}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "sa"}}],
        "current-context": "c",
    }))
    path.chmod(0o600)


def can_i(kube, token, *args):
    proc = kube.kubectl("auth", "can-i", *args, token=token, check=False)
    return proc.stdout.strip() == "yes"


def test_rbac_namespace_scope_runs_the_operator_and_nothing_more(kube, run_id, fresh_namespace, tmp_path):
    binary = TARGET_DIR / "debug" / "dynamodb-controller"
    assert binary.is_file(), f"{binary} is missing: cargo build --workspace --bins --locked"
    ops, apps, other = fresh_namespace("aso-rbac-ops"), fresh_namespace("aso-rbac-apps"), fresh_namespace("aso-rbac-x")
    release = f"r{run_id}"
    fullname = f"{release}-dynamodb-controller"
    install(kube, "dynamodb-controller", release, ops, "installScope=namespace", f"watchNamespace={apps}")
    kube.kubectl("apply", "--server-side", "-f", str(CRDS / f"dynamodbs.{GROUP}.yaml"))
    token = kube.kubectl("create", "token", fullname, "-n", ops, "--duration=1h").stdout.strip()
    kubeconfig = tmp_path / "kubeconfig"
    token_kubeconfig(kube, kubeconfig, token)

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_")}
    env.update(KUBECONFIG=str(kubeconfig), POD_NAME="rbac-test", RUST_LOG="info")
    log = tmp_path / "operator.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [binary, "--watch-namespace", apps, "--metrics-addr", f"127.0.0.1:{port}", "--log-format", "text",
             "--leader-election", "--leader-election-namespace", ops, "--leader-election-id", fullname,
             "--resync-period", "1m"],
            stdout=out, stderr=subprocess.STDOUT, env=env)
    table = f"aso-rbac-{run_id}"
    dynamodb = boto3.client("dynamodb", endpoint_url=os.environ["AWS_ENDPOINT_URL"],
                            region_name=os.environ.get("AWS_REGION", "us-east-1"))
    try:
        kube.apply({
            "apiVersion": f"{GROUP}/v1alpha1", "kind": "DynamoDB",
            "metadata": {"name": "orders", "namespace": apps},
            "spec": {"tableName": table, "billingMode": "PAY_PER_REQUEST",
                     "hashAttribute": {"name": "id", "type": "S"}},
        })
        if kube.kubectl("wait", "--for=condition=Ready", "dynamodb/orders", "-n", apps, "--timeout=90s",
                        check=False).returncode != 0:
            raise AssertionError(f"not Ready; operator log:\n{log.read_text()[-4000:]}")
        cm = kube.get_json("configmap", "orders", "-n", apps)
        assert cm["data"]["tableName"] == table
        assert dynamodb.describe_table(TableName=table)["Table"]["TableStatus"] == "ACTIVE"
        wait_until("an Event about the resource", lambda: [
            e for e in kube.get_json("events.events.k8s.io", "-n", apps)["items"]
            if e["regarding"]["name"] == "orders"], timeout=30)
        lease = kube.get_json("lease", fullname, "-n", ops)
        assert lease["spec"]["holderIdentity"] == "rbac-test"

        # What the token may do: exactly the operator's needs in its namespace ...
        assert can_i(kube, token, "patch", "dynamodbs", "-n", apps)
        assert can_i(kube, token, "patch", "dynamodbs", "--subresource=status", "-n", apps)
        assert can_i(kube, token, "update", "dynamodbs", "--subresource=finalizers", "-n", apps)
        assert can_i(kube, token, "create", "configmaps", "-n", apps)
        assert can_i(kube, token, "create", "events.events.k8s.io", "-n", apps)
        assert can_i(kube, token, "get", f"namespace/{apps}")
        assert can_i(kube, token, "update", f"leases.coordination.k8s.io/{fullname}", "-n", ops)
        # ... and nothing more: no Secrets anywhere, no other namespace, no deletes.
        for args in (["get", "secrets", "-n", apps], ["list", "secrets", "-n", ops], ["get", "secrets", "-A"],
                     ["get", "dynamodbs", "-n", other], ["patch", "dynamodbs", "-n", other],
                     ["list", "dynamodbs", "-A"], ["delete", "dynamodbs", "-n", apps],
                     ["delete", "configmaps", "-n", apps], ["get", f"namespace/{other}"],
                     ["list", "namespaces"], ["create", "pods", "-n", apps],
                     ["update", "leases.coordination.k8s.io/other-lease", "-n", ops],
                     ["get", "configmaps", "-n", other]):
            assert not can_i(kube, token, *args), f"the operator's token may {' '.join(args)}"
        for path in (f"/api/v1/namespaces/{apps}/secrets", f"/api/v1/namespaces/{ops}/secrets/anything",
                     f"/apis/{GROUP}/v1alpha1/namespaces/{other}/dynamodbs",
                     f"/apis/{GROUP}/v1alpha1/dynamodbs"):
            status, body = kube.request("GET", path, token=token)
            assert status == 403, (path, status, body)
        status, body = kube.request("POST", f"/apis/{GROUP}/v1alpha1/namespaces/{other}/dynamodbs", token=token,
                                    body={"apiVersion": f"{GROUP}/v1alpha1", "kind": "DynamoDB",
                                          "metadata": {"name": "x"},
                                          "spec": {"hashAttribute": {"name": "id", "type": "S"}}})
        assert status == 403, body

        kube.kubectl("delete", "dynamodb", "orders", "-n", apps, "--timeout=90s")
        with pytest.raises(dynamodb.exceptions.ResourceNotFoundException):
            dynamodb.describe_table(TableName=table)
        assert proc.poll() is None, f"the operator exited:\n{log.read_text()[-4000:]}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        kube.kubectl("delete", "dynamodb", "--all", "-n", apps, "--wait=false", check=False)
        helm("uninstall", release, "--namespace", ops, check=False)
    text = log.read_text()
    assert "forbidden" not in text.lower(), f"the operator hit a permission error:\n{text[-4000:]}"
    assert "acquired the lease" in text, text[-4000:]


def test_rbac_cluster_scope(kube, run_id, fresh_namespace):
    ops = fresh_namespace("aso-rbac-cl")
    release = f"c{run_id}"
    install(kube, "sns-controller", release, ops)
    token = kube.kubectl("create", "token", f"{release}-sns-controller", "-n", ops, "--duration=10m").stdout.strip()
    try:
        for args in (["list", "snstopics", "-A"], ["watch", "snssubscriptions", "-A"],
                     ["patch", "snstopics", "--subresource=status", "-n", "default"],
                     ["list", "sqsqueues", "-A"], ["watch", "configmaps", "-A"],
                     ["patch", "configmaps", "-n", "kube-system"], ["get", "namespaces"],
                     ["list", "namespaces"], ["watch", "namespaces"],
                     ["create", "events.events.k8s.io", "-n", "default"]):
            assert can_i(kube, token, *args), f"the operator's token may not {' '.join(args)}"
        for args in (["get", "secrets", "-A"], ["patch", "sqsqueues", "-n", "default"],
                     ["list", "dynamodbs", "-A"], ["delete", "snstopics", "-n", "default"],
                     ["patch", "namespaces"], ["create", "pods", "-n", "default"],
                     ["create", "events", "-n", "default"],  # core/v1 Events: not used
                     ["create", "leases.coordination.k8s.io", "-n", "default"]):
            assert not can_i(kube, token, *args), f"the operator's token may {' '.join(args)}"
    finally:
        helm("uninstall", release, "--namespace", ops, check=False)


def plain(text):
    """Log text without ANSI colours."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


# --- the chart's settings, as the binary reads them ---------------------------------------------

@pytest.mark.parametrize(("chart", "sets", "kinds"), [
    ("dynamodb-controller", [], ["DynamoDB"]),
    ("aws-service-operator", ["controllers={dynamodb,sqs}"], ["DynamoDB", "SQSQueue"]),
])
def test_static_binary_accepts_the_charts_env(kube, namespace, tmp_path, chart, sets, kinds):
    """The Deployment's env, rendered by the chart, starts the static binary: names and formats match."""
    path = STATIC_DIR / chart
    assert path.is_file(), f"{path} is missing: run `just static` (e2e/static.sh)"
    env = env_of(template(chart, "installScope=namespace", "log.format=text", "resyncPeriod=90s",
                          "deletionPolicy=retain", "concurrency=3", *sets, namespace=namespace))
    env["POD_NAME"], env["POD_NAMESPACE"] = "env-check", namespace  # the downward API
    port = free_port()
    env["ASO_METRICS_ADDR"] = f"127.0.0.1:{port}"  # the chart's 0.0.0.0:8080, on a free port here
    lease = env["ASO_LEADER_ELECTION_ID"]
    assert all(isinstance(v, str) for v in env.values()), env
    base = {k: v for k, v in os.environ.items() if k in (
        "PATH", "HOME", "KUBECONFIG", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION")}
    log = tmp_path / "operator.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([path], env={**base, **env}, stdout=out, stderr=subprocess.STDOUT)
    try:
        def ready():
            assert proc.poll() is None, f"exited {proc.returncode}:\n{log.read_text()}"
            text = plain(log.read_text())
            return all(f"starting controller kind={k} concurrency=3" in text for k in kinds) and \
                "acquired the lease" in text
        wait_until("the binary to start every controller with the chart's settings", ready, timeout=30, interval=0.3)
        text = plain(log.read_text())
        assert f'namespace=Some("{namespace}")' in text, text
        assert "identity=env-check" in text, text
        assert kube.get_json("lease", lease, "-n", namespace)["spec"]["holderIdentity"] == "env-check"
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        kube.kubectl("delete", "lease", lease, "-n", namespace, "--ignore-not-found", check=False)


# --- static binaries and the image ------------------------------------------------------------

BINARIES = list(CHART_SERVICES)  # one binary (and image) per chart


@pytest.mark.parametrize("binary", BINARIES)
def test_static_binary_runs(binary):
    path = STATIC_DIR / binary
    assert path.is_file(), f"{path} is missing: run `just static` (e2e/static.sh)"
    ldd = run("ldd", path, check=False)
    assert ("not a dynamic executable" in ldd.stdout + ldd.stderr or "statically linked" in ldd.stdout), ldd
    assert "(NEEDED)" not in run("readelf", "-d", path).stdout
    assert "statically linked" in run("file", path).stdout or "static-pie" in run("file", path).stdout
    help_ = run(path, "--help")
    assert "--watch-namespace" in help_.stdout, help_.stdout
    assert run(path, "--version").stdout.strip() == f"{binary} 0.1.0"


def test_static_binary_runs_in_an_empty_root(kube, namespace, tmp_path):
    """As in distroless/static: no libc, no NSS modules; just the binary, /etc files, CA bundle, /dev."""
    path = STATIC_DIR / "dynamodb-controller"
    assert path.is_file(), f"{path} is missing: run `just static` (e2e/static.sh)"
    root = tmp_path / "root"
    for d in ("bin", "etc/ssl/certs", "dev", "tmp"):
        (root / d).mkdir(parents=True)
    shutil.copy(path, root / "bin" / "operator")
    (root / "etc" / "hosts").write_text("127.0.0.1 localhost\n")
    (root / "etc" / "nsswitch.conf").write_text("hosts: files dns\n")
    shutil.copy("/etc/ssl/certs/ca-certificates.crt", root / "etc/ssl/certs/ca-certificates.crt")
    for dev in ("null", "urandom", "random"):
        (root / "dev" / dev).touch()
    # Resolve the apiserver by name (localhost is in its certificate), through static glibc's NSS.
    admin = Path(os.environ["KUBECONFIG"]).read_text().replace("https://127.0.0.1:", "https://localhost:")
    (root / "kubeconfig").write_text(admin)
    port = free_port()
    script = ("for d in null urandom random; do mount --bind /dev/$d dev/$d; done; "
              f"exec chroot . /bin/operator --watch-namespace {namespace} --metrics-addr 127.0.0.1:{port} "
              "--log-format text")
    unshare = ["unshare", "-m"] if os.geteuid() == 0 else ["unshare", "-rm"]
    env = dict(os.environ, KUBECONFIG="/kubeconfig", AWS_ENDPOINT_URL=os.environ["AWS_ENDPOINT_URL"].replace(
        "127.0.0.1", "localhost"))
    proc = subprocess.Popen([*unshare, "sh", "-c", script], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        def ready():
            assert proc.poll() is None, f"exited {proc.returncode}:\n{proc.stdout.read()}"
            try:
                return subprocess.run(["curl", "-sf", f"http://127.0.0.1:{port}/readyz"],
                                      capture_output=True, text=True).stdout == "ok"
            except OSError:
                return False
        wait_until("the static binary in an empty root to be ready (watching through the apiserver)", ready,
                   timeout=30, interval=0.3)
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_dockerfile_builds_with_static_sh_into_distroless_nonroot():
    text = (REPO / "Dockerfile").read_text()
    assert "e2e/static.sh" in text
    assert "FROM gcr.io/distroless/static-debian12:nonroot" in text
    assert "USER 65532:65532" in text
    ignored = (REPO / ".dockerignore").read_text().split()
    assert "e2e/static.sh" not in ignored and "crates" not in ignored
