"""End-to-end checks of the local control plane started by `just up`.

Covers what the operator relies on: the apiserver is ready, CRDs and custom
objects (create/list/watch/delete), ServiceAccount tokens with RBAC, garbage
collection through ownerReferences (kube-controller-manager), and the moto AWS
endpoint via boto3.
"""

import json
import os
import shutil
import subprocess

import boto3

from conftest import wait_until

K8S_VERSION = "v1.37.2"


def test_readyz_and_version(kube):
    assert kube.kubectl("get", "--raw", "/readyz").stdout.strip() == "ok"
    version = json.loads(kube.kubectl("version", "-o", "json").stdout)
    assert version["serverVersion"]["gitVersion"] == K8S_VERSION
    assert version["clientVersion"]["gitVersion"] == K8S_VERSION


def test_namespace_is_active(kube, namespace):
    ns = kube.get_json("namespace", namespace)
    assert ns["status"]["phase"] == "Active"
    # The controller-manager's serviceaccount controller populates new namespaces.
    wait_until("the default ServiceAccount in the new namespace", lambda: kube.kubectl(
        "get", "serviceaccount", "default", "-n", namespace, check=False).returncode == 0, timeout=60)


def test_custom_object_create_list_watch_delete(kube, namespace, widget_crd):
    group, version, plural, kind = widget_crd
    base = f"/apis/{group}/{version}/namespaces/{namespace}/{plural}"
    status, listing = kube.request("GET", base)
    assert status == 200, listing
    start_rv = listing["metadata"]["resourceVersion"]

    kube.apply({
        "apiVersion": f"{group}/{version}", "kind": kind,
        "metadata": {"name": "w1", "namespace": namespace}, "spec": {"size": 3},
    })
    obj = kube.get_json(f"{plural}.{group}", "w1", "-n", namespace)
    assert obj["spec"]["size"] == 3
    names = [i["metadata"]["name"] for i in kube.get_json(f"{plural}.{group}", "-n", namespace)["items"]]
    assert names == ["w1"]

    # Status subresource.
    status, patched = kube.request("PUT", f"{base}/w1/status", body={**obj, "status": {"phase": "Ready"}})
    assert status == 200, patched
    assert patched["status"]["phase"] == "Ready"

    kube.kubectl("delete", f"{plural}.{group}", "w1", "-n", namespace, "--wait=true", "--timeout=60s")

    # Watch from before the create: the server replays ADDED, MODIFIED, DELETED.
    conn = kube.connect(timeout=30)
    conn.request("GET", f"{base}?watch=1&resourceVersion={start_rv}&timeoutSeconds=20")
    resp = conn.getresponse()
    assert resp.status == 200
    events = []
    while True:
        line = resp.readline()
        if not line:
            break
        event = json.loads(line)
        events.append((event["type"], event["object"]["metadata"]["name"]))
        if event["type"] == "DELETED":
            break
    conn.close()
    assert events[0] == ("ADDED", "w1"), events
    assert ("MODIFIED", "w1") in events, events
    assert events[-1] == ("DELETED", "w1"), events


def test_kubectl_watch(kube, namespace, widget_crd):
    group, version, plural, kind = widget_crd
    watcher = subprocess.Popen(
        [kube.kubectl_bin, "get", f"{plural}.{group}", "-n", namespace, "--watch", "--output-watch-events",
         "-o", "jsonpath={.type} {.object.metadata.name}{\"\\n\"}", "--request-timeout=20s"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # kubectl lists first (nothing yet), then watches; create until the watcher reports it.
        kube.apply({"apiVersion": f"{group}/{version}", "kind": kind,
                    "metadata": {"name": "watched", "namespace": namespace}})
        line = watcher.stdout.readline()
        assert line.split() == ["ADDED", "watched"], (line, watcher.stderr.read() if watcher.poll() else "")
    finally:
        watcher.kill()
        watcher.wait()
        kube.kubectl("delete", f"{plural}.{group}", "watched", "-n", namespace, check=False)


def test_serviceaccount_token_and_rbac(kube, namespace):
    sa = "e2e-reader"
    kube.kubectl("create", "serviceaccount", sa, "-n", namespace)
    token = kube.kubectl("create", "token", sa, "-n", namespace, "--duration=10m").stdout.strip()
    assert token.count(".") == 2  # a JWT

    expected = f"system:serviceaccount:{namespace}:{sa}"
    status, review = kube.request("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", token=token,
                                  body={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
    assert status == 201, review
    assert review["status"]["userInfo"]["username"] == expected
    whoami = kube.kubectl("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}", token=token).stdout
    assert whoami == expected

    configmaps = f"/api/v1/namespaces/{namespace}/configmaps"
    status, body = kube.request("GET", configmaps, token=token)
    assert status == 403, body
    denied = kube.kubectl("get", "configmaps", "-n", namespace, token=token, check=False)
    assert denied.returncode != 0 and "forbidden" in denied.stderr.lower(), denied.stderr

    kube.kubectl("create", "role", "cm-reader", "-n", namespace, "--verb=get,list,watch", "--resource=configmaps")
    kube.kubectl("create", "rolebinding", "cm-reader", "-n", namespace, "--role=cm-reader",
                 f"--serviceaccount={namespace}:{sa}")
    wait_until("the RoleBinding to take effect",
               lambda: kube.request("GET", configmaps, token=token)[0] == 200, timeout=30, interval=0.5)
    kube.kubectl("get", "configmaps", "-n", namespace, token=token)
    # Still nothing beyond the Role.
    status, body = kube.request("GET", f"/api/v1/namespaces/{namespace}/secrets", token=token)
    assert status == 403, body


def test_garbage_collection_of_owned_configmap(kube, namespace, widget_crd):
    group, version, plural, kind = widget_crd
    kube.apply({"apiVersion": f"{group}/{version}", "kind": kind,
                "metadata": {"name": "owner", "namespace": namespace}})
    uid = kube.get_json(f"{plural}.{group}", "owner", "-n", namespace)["metadata"]["uid"]
    kube.apply({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "owned", "namespace": namespace, "ownerReferences": [
            {"apiVersion": f"{group}/{version}", "kind": kind, "name": "owner", "uid": uid}]},
        "data": {"k": "v"},
    })
    kube.kubectl("delete", f"{plural}.{group}", "owner", "-n", namespace, "--wait=true", "--timeout=60s")
    wait_until("the garbage collector to delete the owned ConfigMap", lambda: kube.kubectl(
        "get", "configmap", "owned", "-n", namespace, "--ignore-not-found", "-o", "name").stdout.strip() == "",
        timeout=120)


def test_moto_sqs_and_s3(run_id):
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    assert endpoint, "AWS_ENDPOINT_URL is not set (source $ASO_CACHE/cluster/env)"
    session = boto3.session.Session(region_name=os.environ.get("AWS_REGION", "us-east-1"))

    sqs = session.client("sqs", endpoint_url=endpoint)
    url = sqs.create_queue(QueueName=f"e2e-{run_id}")["QueueUrl"]
    try:
        assert url in sqs.list_queues(QueueNamePrefix=f"e2e-{run_id}").get("QueueUrls", [])
        sqs.send_message(QueueUrl=url, MessageBody="hello")
        messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"]
        assert messages[0]["Body"] == "hello"
    finally:
        sqs.delete_queue(QueueUrl=url)

    s3 = session.client("s3", endpoint_url=endpoint)
    bucket = f"e2e-{run_id}"
    s3.create_bucket(Bucket=bucket)
    try:
        assert bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]
        s3.put_object(Bucket=bucket, Key="k", Body=b"v")
        assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"
    finally:
        s3.delete_object(Bucket=bucket, Key="k")
        s3.delete_bucket(Bucket=bucket)


def test_helm_talks_to_the_cluster(kube):
    helm = shutil.which("helm")
    assert helm, "helm is not on PATH (source $ASO_CACHE/cluster/env)"
    out = subprocess.run([helm, "version", "--short"], capture_output=True, text=True, check=True).stdout
    assert out.startswith("v3."), out
    listing = subprocess.run([helm, "list", "--all-namespaces", "-o", "json"], capture_output=True, text=True)
    assert listing.returncode == 0, listing.stderr
    # A list of releases (`just demo-helm` leaves one running; a fresh cluster has none).
    releases = json.loads(listing.stdout)
    assert isinstance(releases, list) and all({"name", "namespace", "status"} <= set(r) for r in releases), releases
