"""The embedded one-node Kubernetes of the stack: registered, Ready, pulling from the loopback registry,
serving through ClusterIP Services, resolving Services by cluster DNS, and answering pod logs."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest

from slipway_stack.kube.testing import KubeCluster

pytestmark = pytest.mark.stack


def _wait(predicate, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout:.0f}s")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def image(kube_busybox: str) -> str:
    return kube_busybox


@pytest.fixture
def namespace(kubernetes: KubeCluster):  # type: ignore[no-untyped-def]
    name = f"t-{uuid.uuid4().hex[:8]}"
    with kubernetes.client() as api:
        r = api.post("/api/v1/namespaces", json={"metadata": {"name": name}})
        assert r.status_code == 201, r.text
        # pods are admitted once the namespace's default service account exists
        _wait(
            lambda: api.get(f"/api/v1/namespaces/{name}/serviceaccounts/default").status_code == 200,
            60,
            "no default service account",
        )
        yield name
        api.delete(f"/api/v1/namespaces/{name}")


def test_the_stack_registers_the_embedded_cluster_beside_the_default_one(stack, kubernetes: KubeCluster) -> None:
    headers = {"Authorization": f"Token {stack.token}"}
    with httpx.Client(base_url=stack.api_url, headers=headers, timeout=30) as api:
        org = api.get("/organization").json()["results"][0]["id"]
        clusters = api.get(f"/organization/{org}/cluster").json()["results"]
        by_name = {c["name"]: c for c in clusters}
        assert "local-kubernetes" in by_name, [c["name"] for c in clusters]
        local = by_name["local-kubernetes"]
        assert local["is_default"] is False
        assert local["kubernetes"] == "SELF_MANAGED" and local["slipway_engine"] == "kubernetes"
        defaults = [c for c in clusters if c["is_default"]]
        assert len(defaults) == 1 and defaults[0]["slipway_engine"] in ("podman", "docker")
        r = api.get(f"/organization/{org}/cluster/{local['id']}/kubeconfig")
        assert r.status_code == 200
        assert json.loads(r.text)["clusters"][0]["cluster"]["server"] == kubernetes.server
    if kubernetes.owned:
        status = stack.cli("status").stdout
        line = next(row for row in status.splitlines() if row.startswith("kubernetes"))
        assert "node Ready" in line and "NOT" not in line, status


def test_kubectl_sees_one_ready_node(kubernetes: KubeCluster) -> None:
    nodes = json.loads(kubernetes.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    assert len(nodes) == 1
    conditions = {c["type"]: c["status"] for c in nodes[0]["status"]["conditions"]}
    assert conditions["Ready"] == "True"
    assert nodes[0]["status"]["nodeInfo"]["kubeletVersion"] == "v1.20.2"


def _deployment(name: str, image: str, command: str, replicas: int = 1) -> dict:  # type: ignore[type-arg]
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "containers": [{"name": name, "image": image, "command": ["/bin/sh", "-c", command]}],
                },
            },
        },
    }


def test_a_deployment_serves_through_its_service_cluster_dns_and_logs(
    kubernetes: KubeCluster, image: str, namespace: str
) -> None:
    serve = "mkdir -p /www && echo hello-from-$(hostname) > /www/index.html && echo serving && httpd -f -p 8080 -h /www"
    with kubernetes.client() as api:
        base = f"/apis/apps/v1/namespaces/{namespace}/deployments"
        assert api.post(base, json=_deployment("web", image, serve)).status_code == 201
        service = {
            "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
        }
        r = api.post(f"/api/v1/namespaces/{namespace}/services", json=service)
        assert r.status_code == 201, r.text
        cluster_ip = r.json()["spec"]["clusterIP"]

        def available() -> bool:
            status = api.get(f"{base}/web").json().get("status", {})
            return status.get("availableReplicas") == 1

        _wait(available, 120, "the deployment did not become available")
        pod = api.get(f"/api/v1/namespaces/{namespace}/pods", params={"labelSelector": "app=web"}).json()["items"][0]
        pod_ip, pod_name = pod["status"]["podIP"], pod["metadata"]["name"]

        # the pod's address and the Service's ClusterIP both answer from this machine
        assert httpx.get(f"http://{pod_ip}:8080/", timeout=5).text.strip() == f"hello-from-{pod_name}"
        assert _wait(lambda: _get(f"http://{cluster_ip}/"), 30, "the ClusterIP did not answer") == (
            f"hello-from-{pod_name}"
        )
        # pods/log goes through the kubelet (the apiserver authenticates with its client certificate)
        logs = api.get(f"/api/v1/namespaces/{namespace}/pods/{pod_name}/log")
        assert logs.status_code == 200 and "serving" in logs.text

        # another pod reaches it by the Service's cluster DNS name
        fqdn = f"web.{namespace}.svc.cluster.local"
        probe = (
            f"nslookup {fqdn} && printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc {fqdn} 80; "
            "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc web 80; echo probe-done; sleep 3600"
        )
        assert api.post(base, json=_deployment("probe", image, probe)).status_code == 201

        def probe_output() -> str | None:
            pods = api.get(f"/api/v1/namespaces/{namespace}/pods", params={"labelSelector": "app=probe"}).json()
            for item in pods["items"]:
                text = api.get(f"/api/v1/namespaces/{namespace}/pods/{item['metadata']['name']}/log").text
                if "probe-done" in text:
                    return text
            return None

        output = _wait(probe_output, 120, "the probe pod did not finish")
        assert cluster_ip in output, output
        assert output.count(f"hello-from-{pod_name}") == 2, output  # by full name and by search domain


def _get(url: str) -> str | None:
    try:
        return httpx.get(url, timeout=3).text.strip()
    except httpx.HTTPError:
        return None
