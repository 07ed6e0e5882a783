"""Tenants on the data plane, on the real stack: two organizations with identical names each reach their own
application, and deleting an organization uninstalls everything it ran (containers, networks, edge routes)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from slipway_stack.testing import RunningStack

from .test_deploy_e2e import TERMINAL, build_image, until

pytestmark = pytest.mark.stack


class Tenant:
    """One organization with project `shop`, environment `dev` and a public container `web`."""

    def __init__(self, stack: RunningStack, page: str, org_name: str) -> None:
        self.org_name = org_name
        self.api = httpx.Client(base_url=stack.api_url, headers={"Authorization": f"Token {stack.token}"}, timeout=30)
        self.edge = f"http://127.0.0.1:{stack.ports['edge_http']}"
        self.engine = httpx.Client(
            transport=httpx.HTTPTransport(uds=str(stack.state_dir / "engine" / "podman.sock")),
            base_url="http://engine",
            timeout=30,
        )
        self.page = page

    def ok(self, response: httpx.Response, status: int = 200) -> Any:
        assert response.status_code == status, response.text
        return response.json() if response.content else {}

    def setup(self) -> None:
        self.org = self.ok(self.api.post("/organization", json={"name": self.org_name, "plan": "FREE"}), 201)["id"]
        project = self.ok(self.api.post(f"/organization/{self.org}/project", json={"name": "shop"}))
        self.env = self.ok(self.api.post(f"/project/{project['id']}/environment", json={"name": "dev"}), 201)["id"]
        registry = self.ok(self.api.get(f"/organization/{self.org}/containerRegistry"))["results"][0]
        host = registry["url"].removeprefix("https://").removeprefix("http://").rstrip("/")
        image = f"tenant-{self.page}"
        cmd = json.dumps(["sh", "-c", f"echo {self.page} > /www/index.html; exec httpd -f -p 8080 -h /www"])
        build_image(self.engine, f"{host}/{image}:1", cmd)
        body = {
            "name": "web",
            "registry_id": registry["id"],
            "image_name": image,
            "tag": "1",
            "ports": [{"internal_port": 8080, "publicly_accessible": True, "protocol": "HTTP"}],
            "storage": [{"type": "FAST_SSD", "size": 4, "mount_point": "/data"}],
            "healthchecks": {
                "readiness_probe": {
                    "type": {"tcp": {"port": 8080}},
                    "initial_delay_seconds": 0,
                    "period_seconds": 1,
                    "failure_threshold": 10,
                }
            },
        }
        self.web = self.ok(self.api.post(f"/environment/{self.env}/container", json=body), 201)["id"]
        links = self.ok(self.api.get(f"/container/{self.web}/link"))["results"]
        self.host = str(links[0]["url"]).split("://", 1)[1].split(":")[0]

    def deploy(self) -> str:
        return str(
            self.ok(self.api.post(f"/container/{self.web}/deploy", json={"image_tag": "1"}), 202)["execution_id"]
        )

    def wait(self, execution_id: str) -> str:
        def done() -> str | None:
            history = self.ok(self.api.get(f"/environment/{self.env}/deploymentHistoryV2"))["results"]
            mine = [h for h in history if h["identifier"]["execution_id"] == execution_id]
            return mine[0]["status"] if mine and mine[0]["status"] in TERMINAL else None

        return str(until(done, 240, f"execution {execution_id}"))

    def get(self) -> httpx.Response:
        return httpx.get(f"{self.edge}/", headers={"Host": self.host}, timeout=5)

    def leftovers(self) -> dict[str, list[str]]:
        filters = json.dumps({"label": [f"slipway.organization-id={self.org}"]})
        containers = self.engine.get("/containers/json", params={"all": "true", "filters": filters}).json()
        networks = [n["Name"] for n in self.engine.get("/networks").json() if self.env in n["Name"]]
        volumes = self.engine.get("/volumes").json().get("Volumes") or []
        mine = [v["Name"] for v in volumes if v["Name"].startswith(f"slipway-vol-{self.web.replace('-', '')}-")]
        return {"containers": [c["Id"] for c in containers], "networks": networks, "volumes": mine}


def test_identical_tenants_each_reach_their_own_and_a_deleted_one_leaves_nothing(stack: RunningStack) -> None:
    # one administrator, so the organizations' names differ; everything below them is named alike
    a, b = Tenant(stack, "tenant-a", "acme"), Tenant(stack, "tenant-b", "acme-2")
    a.setup()
    b.setup()
    try:
        assert a.host != b.host and a.host.startswith("web-") and b.host.startswith("web-")
        runs = [a.deploy(), b.deploy()]  # both at once
        assert [a.wait(runs[0]), b.wait(runs[1])] == ["DEPLOYED", "DEPLOYED"]
        for tenant in (a, b):
            r = tenant.get()
            assert r.status_code == 200 and r.text.strip() == tenant.page, (tenant.host, r.status_code, r.text)

        stopped = a.ok(a.api.post(f"/container/{a.web}/stop", json={}), 202)["execution_id"]
        assert a.wait(stopped) == "STOPPED"
        assert b.get().text.strip() == "tenant-b"  # a's host never falls through to b
        assert a.get().status_code != 200 or a.get().text.strip() != "tenant-b"
        assert a.wait(a.deploy()) == "DEPLOYED"
        assert a.get().text.strip() == "tenant-a" and b.get().text.strip() == "tenant-b"

        assert a.leftovers()["containers"] and a.leftovers()["volumes"]
        a.ok(a.api.delete(f"/organization/{a.org}"), 204)
        until(
            lambda: a.leftovers() == {"containers": [], "networks": [], "volumes": []},
            90,
            "the deleted organization's workloads",
        )
        until(
            lambda: a.get().status_code == 404 and a.get().headers.get("x-slipway-no-route") == "1",
            30,
            "the deleted organization's host to leave the edge",
        )
        assert b.get().text.strip() == "tenant-b" and b.leftovers()["containers"]
        b.ok(b.api.delete(f"/organization/{b.org}"), 204)
        until(
            lambda: b.leftovers() == {"containers": [], "networks": [], "volumes": []},
            90,
            "the second organization's workloads",
        )
    finally:  # a failed run leaves nothing running either
        for tenant in (a, b):
            tenant.api.delete(f"/organization/{tenant.org}")
