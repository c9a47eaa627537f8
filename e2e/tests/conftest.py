"""Fixtures for the local control plane tests (e2e/up.sh must have run first).

The tests never skip: if the control plane is unreachable they fail. When a run
fails, the tails of the control plane's logs are printed after the summary.
"""

import base64
import http.client
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

ASO_CACHE = Path(os.environ.get("ASO_CACHE", Path.home() / ".cache" / "aws-service-operator"))
RUN_DIR = ASO_CACHE / "cluster"
LOGS = ["etcd", "kube-apiserver", "kube-controller-manager", "moto"]
NODE_LOGS = ["containerd", "kube-scheduler", "kubelet"]


def _load_env_file():
    """Apply $ASO_CACHE/cluster/env when the caller did not source it."""
    env_file = RUN_DIR / "env"
    if "KUBECONFIG" in os.environ or not env_file.is_file():
        return
    for line in env_file.read_text().splitlines():
        if not line.startswith("export "):
            continue
        key, _, value = line[len("export "):].partition("=")
        value = value.strip('"').replace("$PATH", os.environ.get("PATH", ""))
        os.environ[key] = value


_load_env_file()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if exitstatus == 0:
        return
    terminalreporter.section("control plane logs (tails)")
    logs = [RUN_DIR / "logs" / f"{name}.log" for name in LOGS]
    logs += [ASO_CACHE / "node" / "logs" / f"{name}.log" for name in NODE_LOGS]
    for path in logs:
        terminalreporter.write_line(f"----- {path} -----")
        if path.is_file():
            for line in path.read_text(errors="replace").splitlines()[-40:]:
                terminalreporter.write_line(line)
        else:
            terminalreporter.write_line("(missing)")


class Kube:
    """kubectl plus raw HTTPS access to the apiserver (admin client cert or a bearer token)."""

    def __init__(self, tmpdir: Path):
        self.kubectl_bin = shutil.which("kubectl")
        if not self.kubectl_bin:
            pytest.fail("kubectl is not on PATH: source $ASO_CACHE/cluster/env (run `just up` first)")
        if not os.environ.get("KUBECONFIG"):
            pytest.fail("KUBECONFIG is not set and $ASO_CACHE/cluster/env is missing: run `just up` first")
        cfg = json.loads(self.kubectl("config", "view", "--raw", "--minify", "-o", "json").stdout)
        cluster = cfg["clusters"][0]["cluster"]
        user = cfg["users"][0]["user"]
        self.server = cluster["server"]
        self.host_port = self.server.removeprefix("https://")
        self.ca_file = tmpdir / "ca.crt"
        self.ca_file.write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
        cert, key = tmpdir / "admin.crt", tmpdir / "admin.key"
        cert.write_bytes(base64.b64decode(user["client-certificate-data"]))
        key.write_bytes(base64.b64decode(user["client-key-data"]))
        key.chmod(0o600)
        self.admin_ctx = ssl.create_default_context(cafile=str(self.ca_file))
        self.admin_ctx.load_cert_chain(str(cert), str(key))
        self.token_ctx = ssl.create_default_context(cafile=str(self.ca_file))

    def kubectl(self, *args, input=None, check=True, timeout=60, token=None):
        cmd = [self.kubectl_bin]
        if token is not None:
            # Only the token: no admin client certificate from the kubeconfig.
            cmd += ["--kubeconfig", os.devnull, "--server", self.server,
                    "--certificate-authority", str(self.ca_file), "--token", token]
        cmd += list(args)
        proc = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    def apply(self, obj):
        return self.kubectl("apply", "-f", "-", input=json.dumps(obj))

    def get_json(self, *args):
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def connect(self, token=None, timeout=30):
        ctx = self.token_ctx if token else self.admin_ctx
        return http.client.HTTPSConnection(self.host_port, context=ctx, timeout=timeout)

    def request(self, method, path, body=None, token=None):
        """Returns (status, parsed JSON body or text)."""
        conn = self.connect(token)
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        raw = resp.read().decode()
        conn.close()
        try:
            return resp.status, json.loads(raw)
        except ValueError:
            return resp.status, raw


def wait_until(what, predicate, timeout=60, interval=1.0):
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@pytest.fixture(scope="session")
def kube():
    with tempfile.TemporaryDirectory(prefix="aso-e2e-") as tmp:
        k = Kube(Path(tmp))
        proc = k.kubectl("get", "--raw", "/readyz", check=False, timeout=20)
        if proc.returncode != 0 or proc.stdout.strip() != "ok":
            pytest.fail(f"control plane is not reachable (run `just up`): {proc.stdout}{proc.stderr}")
        yield k


@pytest.fixture(scope="session")
def run_id():
    return uuid.uuid4().hex[:8]


@pytest.fixture(scope="session")
def namespace(kube, run_id):
    name = f"aso-e2e-{run_id}"
    kube.kubectl("create", "namespace", name)
    yield name
    kube.kubectl("delete", "namespace", name, "--wait=false", check=False)


GROUP_SUFFIX = "e2e.aso.example.com"


@pytest.fixture(scope="session")
def widget_crd(kube, run_id):
    """A namespaced CRD unique to this run: (group, version, plural, kind)."""
    group, plural, kind = f"t{run_id}.{GROUP_SUFFIX}", "widgets", "Widget"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": "widget", "kind": kind, "listKind": "WidgetList"},
            "versions": [{
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
                        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                    },
                }},
            }],
        },
    }
    kube.apply(crd)
    kube.kubectl("wait", "--for=condition=Established", f"crd/{plural}.{group}", "--timeout=60s")
    # Discovery in kubectl may lag the Established condition by a moment.
    wait_until("the CRD to be served", lambda: kube.kubectl(
        "get", f"{plural}.{group}", "-A", check=False).returncode == 0, timeout=30)
    yield group, "v1", plural, kind
    kube.kubectl("delete", "crd", f"{plural}.{group}", "--wait=false", check=False)
