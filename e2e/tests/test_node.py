"""The charts' controllers as pods on the local node (e2e/node/): the dynamodb-controller chart
installed with Helm, its image made by e2e/images.sh from the static binary, Ready through its own
probes under the chart's security context, talking to the API server with its ServiceAccount token
(the `kubernetes` Service's address) and to moto; the walkthrough's app next to its table; leader
election between two replicas, a `helm upgrade` to a new tag and `helm uninstall`.

Needs `just up` with the node (the default; ASO_NODE=0 leaves it out, and these tests then fail)
and the images (`just static` and `just images`; e2e/run-tests.sh makes both). The tests of this
module share one release and run in file order.
"""

import json
import os
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import pytest

from conftest import ASO_CACHE, wait_until
from test_charts import CHARTS, REPO, helm

RELEASE = "dynamodb"
CHART = CHARTS / "dynamodb-controller"
DEPLOYMENT = f"{RELEASE}-dynamodb-controller"
IMAGES = ASO_CACHE / "images"
SELECTOR = f"app.kubernetes.io/instance={RELEASE}"
GROUP = "service-operator.aws"


def image_ref(binary):
    path = IMAGES / f"{binary}.ref"
    assert path.is_file(), f"{path} is missing: run `just static` and `just images` (e2e/images.sh)"
    return path.read_text().strip()


def ctr(*args):
    """ctr against the node's containerd, in the kubelet's namespace (the env file names both)."""
    exe, sock = os.environ.get("ASO_NODE_CTR"), os.environ.get("ASO_NODE_CONTAINERD_SOCK")
    assert exe and sock, "ASO_NODE_CTR/ASO_NODE_CONTAINERD_SOCK unset: the control plane was started without its node"
    proc = subprocess.run([exe, "--address", sock, "-n", "k8s.io", *args], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"ctr {' '.join(args)} failed: {proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def node(kube):
    name = os.environ.get("ASO_NODE_NAME")
    assert name, "ASO_NODE_NAME is not set: the control plane was started without its node (ASO_NODE=0)"
    ready = kube.get_json("node", name)
    [cond] = [c for c in ready["status"]["conditions"] if c["type"] == "Ready"]
    assert cond["status"] == "True", f"node {name} is not Ready: {cond}"
    return name


@pytest.fixture(scope="module")
def ns(kube, run_id, node):
    name = f"aso-node-{run_id}"
    kube.kubectl("create", "namespace", name)
    # moto takes any key; the chart mounts this Secret as the SDK's shared credentials file.
    kube.kubectl("-n", name, "create", "secret", "generic", "aws-credentials",
                 "--from-literal=credentials=[default]\naws_access_key_id = testing\naws_secret_access_key = testing\n")
    yield name
    helm("uninstall", RELEASE, "--namespace", name, "--wait", check=False)
    # The operator is gone: release the resources by hand, and drop their tables from moto.
    for obj in kube.get_json("dynamodb", "-n", name)["items"]:
        kube.kubectl("-n", name, "patch", "dynamodb", obj["metadata"]["name"], "--type", "json",
                     "-p", '[{"op":"remove","path":"/metadata/finalizers"}]', check=False)
        try:
            dynamodb().delete_table(TableName=obj["spec"].get("tableName") or obj["metadata"]["name"])
        except dynamodb().exceptions.ResourceNotFoundException:
            pass
    kube.kubectl("delete", "namespace", name, "--wait=false", check=False)


def install_args(ns, image, replicas=1):
    return ["--namespace", ns, "--wait", "--timeout", "120s",
            "--set", f"image.repository={image.rsplit(':', 1)[0]}", "--set", f"image.tag={image.rsplit(':', 1)[1]}",
            "--set", "image.pullPolicy=Never",
            "--set", "installScope=namespace", "--set", f"watchNamespace={ns}",
            "--set", f"aws.region={os.environ['AWS_REGION']}",
            "--set", f"aws.endpointUrl={os.environ['ASO_POD_AWS_ENDPOINT_URL']}",
            "--set", "aws.credentials.secretName=aws-credentials",
            "--set", "resyncPeriod=30s", "--set", f"replicaCount={replicas}"]


def pods(kube, ns):
    return [p for p in kube.get_json("pods", "-n", ns, "-l", SELECTOR)["items"]
            if not p["metadata"].get("deletionTimestamp")]


def is_ready_pod(pod):
    conds = {c["type"]: c["status"] for c in pod["status"].get("conditions", [])}
    return pod["status"].get("phase") == "Running" and conds.get("Ready") == "True"


def metrics(pod):
    """The pod's /metrics as {name{labels}: value}, fetched at its pod IP (the node routes to pods)."""
    ip = pod["status"].get("podIP")
    assert ip, f"pod {pod['metadata']['name']} has no IP"
    with urllib.request.urlopen(f"http://{ip}:8080/metrics", timeout=5) as resp:
        text = resp.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def leader_flag(pod):
    try:
        return metrics(pod).get("aso_leader", 0.0) == 1.0
    except OSError:
        return False


def reconciles(pod):
    return sum(v for k, v in metrics(pod).items() if k.startswith("aso_reconciles_total"))


def lease_holder(kube, ns):
    proc = kube.kubectl("-n", ns, "get", "lease", "-o", "json", check=False)
    if proc.returncode != 0:
        return None
    holders = [l["spec"].get("holderIdentity") for l in json.loads(proc.stdout)["items"]]
    return holders[0] if len(holders) == 1 else None


def table(ns, name):
    return {
        "apiVersion": f"{GROUP}/v1alpha1",
        "kind": "DynamoDB",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"tableName": f"{ns}-{name}", "hashAttribute": {"name": "id", "type": "S"},
                 "billingMode": "PAY_PER_REQUEST"},
    }


def table_ready(kube, ns, name):
    obj = kube.get_json("dynamodb", name, "-n", ns)
    return any(c["type"] == "Ready" and c["status"] == "True" for c in obj.get("status", {}).get("conditions", []))


def dynamodb():
    return boto3.client("dynamodb")


def test_the_charts_pod_runs_ready_under_its_security_context_and_makes_a_table_ready(kube, ns):
    image = image_ref("dynamodb-controller")
    helm("install", RELEASE, CHART, *install_args(ns, image), timeout=180)
    [pod] = pods(kube, ns)
    assert is_ready_pod(pod), pod["status"]
    spec = pod["spec"]
    [container] = spec["containers"]
    assert container["image"] == image and container["imagePullPolicy"] == "Never"
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["capabilities"]["drop"] == ["ALL"]
    assert sc["allowPrivilegeEscalation"] is False and spec["securityContext"]["runAsNonRoot"] is True
    assert not spec.get("hostNetwork"), "the operator must run on the pod network"
    assert {p["type"] for p in pod["status"]["conditions"] if p["status"] == "True"} >= {"Ready", "ContainersReady"}
    # Its probes are what made it Ready: the kubelet calls them on the pod's port 8080.
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    # Really non-root, with nothing writable at / and no capabilities (kubectl exec has no shell
    # in this image: read the process's status through the node's /proc instead).
    [ctr_line] = [l for l in ctr("tasks", "ls").splitlines()
                  if l.split()[0] == container_id(pod)]
    host_pid = ctr_line.split()[1]
    status = Path(f"/proc/{host_pid}/status").read_text()
    uid_line = next(l for l in status.splitlines() if l.startswith("Uid:"))
    assert uid_line.split()[1:] == ["65532"] * 4, uid_line
    cap_eff = next(l for l in status.splitlines() if l.startswith("CapEff:"))
    assert int(cap_eff.split()[1], 16) == 0, cap_eff
    mounts = Path(f"/proc/{host_pid}/mounts").read_text().splitlines()
    root = next(m for m in mounts if m.split()[1] == "/")
    assert "ro" in root.split()[3].split(","), root

    kube.apply(table(ns, "orders"))
    wait_until("the in-cluster controller to make the table Ready", lambda: table_ready(kube, ns, "orders"), timeout=60)
    arn = dynamodb().describe_table(TableName=f"{ns}-orders")["Table"]["TableArn"]
    assert kube.get_json("dynamodb", "orders", "-n", ns)["status"]["arn"] == arn
    logs = kube.kubectl("-n", ns, "logs", pod["metadata"]["name"]).stdout
    assert "acquired the lease" in logs, logs[-2000:]
    assert reconciles(pod) >= 1


def container_id(pod):
    [status] = pod["status"]["containerStatuses"]
    return status["containerID"].removeprefix("containerd://")


def kubelet_status(port, token=None):
    """The HTTP status of GET /pods on the kubelet's own port (its serving certificate is self-signed)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    req = urllib.request.Request(f"https://127.0.0.1:{port}/pods")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


def test_the_kubelet_serves_only_clients_it_authenticates_and_authorizes(kube, ns, node):
    port = kube.get_json("node", node)["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"]
    assert kubelet_status(port) == 401, "the kubelet answered an anonymous request"
    # A valid ServiceAccount token passes TokenReview, and its SubjectAccessReview (nodes/proxy) is denied.
    token = kube.kubectl("-n", ns, "create", "token", "default", "--duration", "10m").stdout.strip()
    assert kubelet_status(port, token) == 403
    # The apiserver's own client certificate is allowed: `kubectl logs` goes through it to the kubelet.
    [pod] = pods(kube, ns)
    logs = kube.kubectl("-n", ns, "logs", pod["metadata"]["name"], "--tail", "5").stdout
    assert logs.strip(), "no log lines came back through the kubelet"


def test_the_walkthrough_app_reads_its_outputs_and_writes_and_reads_an_item(kube, ns):
    manifest = (REPO / "e2e/examples/walkthrough.yaml").read_text()
    manifest = manifest.replace("@SEED_APP_IMAGE@", image_ref("seed-app")).replace(
        "@AWS_ENDPOINT_URL@", os.environ["ASO_POD_AWS_ENDPOINT_URL"])
    # A table name of this run's own (`just demo-helm` may have made dynamo-table in this moto).
    table_name = f"{ns}-dynamo-table"
    manifest = manifest.replace("spec:\n  hashAttribute:", f"spec:\n  tableName: {table_name}\n  hashAttribute:", 1)
    assert table_name in manifest
    kube.kubectl("apply", "-n", ns, "-f", "-", input=manifest)
    wait_until("dynamo-table Ready", lambda: table_ready(kube, ns, "dynamo-table"), timeout=60)
    outputs = kube.get_json("configmap", "dynamo-table", "-n", ns)["data"]
    assert outputs["tableName"] == table_name, outputs

    def logged():
        proc = kube.kubectl("-n", ns, "logs", "deploy/seed-app", check=False)
        return [l for l in proc.stdout.splitlines() if "wrote and read back" in l]
    [line] = wait_until("the app to log the item it wrote and read back", logged, timeout=90)
    [pod] = kube.get_json("pods", "-n", ns, "-l", "app=seed-app")["items"]
    assert f"name=\"{pod['metadata']['name']}\"" in line and f"in table {table_name}" in line, line
    items = dynamodb().scan(TableName=table_name, ConsistentRead=True)["Items"]
    mine = [i for i in items if i["name"]["S"] == pod["metadata"]["name"]]
    assert len(mine) == 1, items
    assert f"message=\"{mine[0]['message']['S']}\"" in line, (line, mine)
    assert f"created_at=\"{mine[0]['created_at']['S']}\"" in line, (line, mine)
    kube.kubectl("-n", ns, "delete", "deployment", "seed-app", "--wait=true", "--timeout=60s")


def test_two_replicas_one_reconciles_and_deleting_the_leader_hands_over(kube, ns):
    helm("upgrade", RELEASE, CHART, *install_args(ns, image_ref("dynamodb-controller"), replicas=2), timeout=180)
    wait_until("two Ready replicas", lambda: len([p for p in pods(kube, ns) if is_ready_pod(p)]) == 2, timeout=90)
    holder = wait_until("one Lease holder", lambda: lease_holder(kube, ns), timeout=30)
    two = pods(kube, ns)
    by_name = {p["metadata"]["name"]: p for p in two}
    assert holder in by_name, (holder, list(by_name))
    [standby] = [p for n, p in by_name.items() if n != holder]
    wait_until("the leader to report aso_leader 1", lambda: leader_flag(by_name[holder]), timeout=30)
    kube.apply(table(ns, "items"))
    wait_until("the table Ready", lambda: table_ready(kube, ns, "items"), timeout=60)
    # The same metric that counts the leader's reconciles stays 0 on the standby.
    assert reconciles(by_name[holder]) >= 1
    assert not leader_flag(standby)
    assert reconciles(standby) == 0, "the standby reconciled"

    kube.kubectl("-n", ns, "delete", "pod", holder, "--wait=false")
    new_holder = wait_until("another pod to take the Lease",
                            lambda: (h := lease_holder(kube, ns)) not in (None, "", holder) and h, timeout=60)
    # Usually the standby that was waiting; the Deployment's replacement pod may win the race.
    leader = wait_until("the new holder to run", lambda: {p["metadata"]["name"]: p for p in pods(kube, ns)}.get(new_holder),
                        timeout=30)
    wait_until("the new leader to report aso_leader 1", lambda: leader_flag(leader), timeout=30)
    kube.apply(table(ns, "after-handover"))
    wait_until("a table made by the new leader Ready", lambda: table_ready(kube, ns, "after-handover"), timeout=60)
    assert reconciles(leader) >= 1
    others = [p for p in pods(kube, ns) if p["metadata"]["name"] != new_holder and p["status"].get("podIP")]
    assert all(not leader_flag(p) for p in others), [p["metadata"]["name"] for p in others]


def test_helm_upgrade_to_a_new_tag_rolls_without_two_reconcilers(kube, ns):
    old = image_ref("dynamodb-controller")
    new = f"{old}-next"
    ctr("images", "tag", "--force", old, new)
    helm("upgrade", RELEASE, CHART, *install_args(ns, old, replicas=1), timeout=180)
    wait_until("one replica", lambda: len(pods(kube, ns)) == 1 and is_ready_pod(pods(kube, ns)[0]), timeout=90)
    [before] = pods(kube, ns)

    proc = subprocess.Popen(["helm", "upgrade", RELEASE, str(CHART), *install_args(ns, new, replicas=1)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    samples, most = 0, 0
    images_seen = set()
    while proc.poll() is None or samples == 0:
        current = pods(kube, ns)
        images_seen |= {p["spec"]["containers"][0]["image"] for p in current}
        leaders = [p["metadata"]["name"] for p in current if p["status"].get("podIP") and leader_flag(p)]
        most = max(most, len(leaders))
        assert len(leaders) <= 1, f"two reconcilers during the rollout: {leaders}"
        samples += 1
        time.sleep(0.2)
    out = proc.stdout.read()
    assert proc.returncode == 0, out
    assert images_seen >= {old, new}, images_seen
    [after] = wait_until("the rollout to finish", lambda: (p := pods(kube, ns)) and len(p) == 1
                         and p[0]["metadata"]["name"] != before["metadata"]["name"] and is_ready_pod(p[0]) and p,
                         timeout=60)
    assert after["spec"]["containers"][0]["image"] == new
    wait_until("the new pod to take the Lease", lambda: lease_holder(kube, ns) == after["metadata"]["name"], timeout=60)
    assert samples > 3, samples
    kube.apply(table(ns, "after-upgrade"))
    wait_until("a table made after the upgrade Ready", lambda: table_ready(kube, ns, "after-upgrade"), timeout=60)


def test_helm_uninstall_leaves_the_crds_and_the_resources(kube, ns):
    helm("uninstall", RELEASE, "--namespace", ns, "--wait")
    wait_until("the operator's pods to go", lambda: not pods(kube, ns), timeout=60)
    # CRDs stay (Helm never deletes crds/), and so do the resources, their finalizer and their tables.
    kube.get_json("crd", f"dynamodbs.{GROUP}")
    names = {o["metadata"]["name"]: o for o in kube.get_json("dynamodb", "-n", ns)["items"]}
    assert {"orders", "items", "after-handover", "after-upgrade", "dynamo-table"} <= set(names), list(names)
    for name in ("orders", "items", "after-handover", "after-upgrade"):
        assert f"{GROUP}/finalizer" in names[name]["metadata"].get("finalizers", []), names[name]["metadata"]
        dynamodb().describe_table(TableName=f"{ns}-{name}")
