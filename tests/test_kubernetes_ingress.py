"""A Kubernetes cluster with an ingress controller, through the public API: with the cluster's advanced settings
naming an ingress class and a cert-manager issuer, a public service gets an Ingress for its host (TLS from the
issuer) instead of a route on Slipway's edge, and its link is the ingress's URL. (The embedded cluster runs no
ingress controller: the test checks what Slipway asks of the cluster, registered a second time with the setting.)"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from slipway_stack.kube.register import register_cluster
from slipway_stack.kube.testing import KubeCluster
from slipway_stack.testing import RunningStack
from tests.e2e_world import until
from tests.test_kubernetes_deploy import KubeWorld, started

pytestmark = pytest.mark.stack
SETTINGS = {"slipway.ingress.class_name": "nginx", "slipway.ingress.cert_manager_cluster_issuer": "letsencrypt"}


class IngressWorld(KubeWorld):
    def setup(self) -> None:
        self.on_kubernetes("ingress")  # finds the organization; the environment goes on the second registration
        cluster = register_cluster(
            self.stack.api_url, self.stack.token, self.cluster.kubeconfig.read_text(), name="ingress-kubernetes"
        )
        self.ok(self.api.put(f"/organization/{self.org}/cluster/{cluster}/advancedSettings", json=SETTINGS), 201)
        project = self.env["project"]["id"]
        body = {"name": f"behind-ingress-{time.time_ns()}", "cluster": cluster}
        self.env = self.ok(self.api.post(f"/project/{project}/environment", json=body), 201)
        registry = self.registry_image("k8s-web:1", '["httpd", "-f", "-p", "8080", "-h", "/www"]')
        box = {
            "name": "web",
            "registry_id": registry["id"],
            "image_name": "k8s-web",
            "tag": "1",
            "cpu": 100,
            "memory": 64,
            "ports": [{"internal_port": 8080, "publicly_accessible": True, "protocol": "HTTP"}],
            "healthchecks": {
                "readiness_probe": {"type": {"tcp": {"port": 8080}}, "initial_delay_seconds": 0, "period_seconds": 1}
            },
        }
        self.app = self.ok(self.api.post(f"/environment/{self.env['id']}/container", json=box), 201)


@pytest.fixture(scope="module")
def behind(
    stack: RunningStack, kubernetes: KubeCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[IngressWorld]:
    yield from started(IngressWorld, stack, kubernetes, tmp_path_factory)


def test_a_public_service_gets_an_ingress_with_tls_from_the_issuer(behind: IngressWorld) -> None:
    box = behind.app["id"]
    queued = behind.ok(behind.api.post(f"/container/{box}/deploy", json={"image_tag": "1"}), 202)
    status = behind.wait_terminal(queued["execution_id"], timeout=300)
    assert status == "DEPLOYED", behind.deployment_log(queued["execution_id"])[-2000:]
    links = behind.ok(behind.api.get(f"/container/{box}/link"))["results"]
    host = str(links[0]["url"]).split("://", 1)[1].split(":")[0].split("/")[0]
    assert links[0]["url"] == f"https://{host}"  # the ingress controller's standard port, TLS from the issuer
    found = behind.kube(f"/apis/networking.k8s.io/v1/namespaces/{behind.namespace}/ingresses") or {"items": []}
    assert len(found["items"]) == 1
    ingress = found["items"][0]
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "letsencrypt"
    rule = ingress["spec"]["rules"][0]
    assert rule["host"] == host
    backend = rule["http"]["paths"][0]["backend"]["service"]
    assert backend["port"]["number"] == 8080
    assert behind.kube(f"/api/v1/namespaces/{behind.namespace}/services/{backend['name']}") is not None
    assert ingress["spec"]["tls"] == [{"hosts": [host], "secretName": f"{backend['name']}-tls"}]
    assert "https://" + host in behind.deployment_log(queued["execution_id"])
    # the ingress controller serves the host: Slipway's edge has no route for it
    config = httpx.get(f"http://127.0.0.1:{behind.stack.ports['caddy_admin']}/config/", timeout=10).text
    assert box not in config and host not in config
    removed = behind.ok(behind.api.post(f"/container/{box}/uninstall", json={}), 202)
    assert behind.wait_terminal(removed["execution_id"]) == "DELETED"
    until(lambda: behind.kube(f"/api/v1/namespaces/{behind.namespace}") is None, 120, "the namespace to go")
