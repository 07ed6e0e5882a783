"""Tenants on the data plane, on the real stack: two organizations with identical names each reach their own
application, and deleting an organization, an environment or a service uninstalls everything it ran
(containers, networks, volumes, edge routes, cron schedules) through a DELETE deployment that runs the
ON_DELETE lifecycle jobs first."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import asyncpg
import httpx
import pytest

from slipway_stack.testing import RunningStack

from .e2e_world import TERMINAL, api_client, build_image, engine_client, engine_list, until

pytestmark = pytest.mark.stack


class Tenant:
    """One organization with project `shop`, environment `dev` and a public container `web`."""

    def __init__(self, stack: RunningStack, page: str, org_name: str) -> None:
        self.org_name = org_name
        self.api = api_client(stack)
        self.edge = f"http://127.0.0.1:{stack.ports['edge_http']}"
        self.engine = engine_client(stack)
        self.page = page

    def ok(self, response: httpx.Response, status: int = 200) -> Any:
        assert response.status_code == status, response.text
        return response.json() if response.content else {}

    def setup(self) -> None:
        self.org = self.ok(self.api.post("/organization", json={"name": self.org_name, "plan": "FREE"}), 201)["id"]
        self.project = self.ok(self.api.post(f"/organization/{self.org}/project", json={"name": "shop"}))["id"]
        self.env = self.ok(self.api.post(f"/project/{self.project}/environment", json={"name": "dev"}), 201)["id"]
        registry = self.ok(self.api.get(f"/organization/{self.org}/containerRegistry"))["results"][0]
        self.registry = registry["id"]
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

    def add_jobs(self, registry_id: str) -> None:
        """A lifecycle job whose ON_DELETE run checks it got its environment's variables, and a cron job."""
        source = {"image": {"image_name": f"tenant-{self.page}", "tag": "1", "registry_id": registry_id}}
        check = f'test "$QOVERY_ENVIRONMENT_ID" = "{self.env}" && echo cleaned up'
        cleanup = {"on_delete": {"arguments": ["sh", "-c", check]}}
        cron = {"cronjob": {"scheduled_at": "0 3 * * *", "timezone": "Etc/UTC"}}
        self.jobs = {}
        for name, schedule in (("cleanup", cleanup), ("nightly", cron)):
            body = {"name": name, "source": source, "schedule": schedule, "healthchecks": {}}
            self.jobs[name] = self.ok(self.api.post(f"/environment/{self.env}/job", json=body), 201)["id"]
            run = self.ok(self.api.post(f"/job/{self.jobs[name]}/deploy", json={}), 202)["execution_id"]
            assert self.wait(run) == "DEPLOYED", name

    def leftovers(self) -> dict[str, list[str]]:
        filters = json.dumps({"label": [f"slipway.organization-id={self.org}"]})
        containers = engine_list(self.engine, "/containers/json", all="true", filters=filters)
        networks = [n["Name"] for n in engine_list(self.engine, "/networks") if self.env in n["Name"]]
        volumes = engine_list(self.engine, "/volumes").get("Volumes") or []
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

        a.add_jobs(a.registry)
        assert a.leftovers()["containers"] and a.leftovers()["volumes"]
        assert uninstalled(stack, a.env)["schedules"] == 1
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
        # the uninstall was a DELETE deployment of everything a ran, ON_DELETE job first, then forgotten
        gone = until(lambda: finished(stack, a.env), 60, "the deleted environment's uninstall to finish")
        assert gone["services"] == {"web": "DELETED", "cleanup": "DELETED", "nightly": "DELETED"}
        assert gone["schedules"] == 0 and gone["states"] == 0 and gone["tombstones"] == 0
        assert "cleanup: running the delete lifecycle job" in gone["lines"]
        assert "cleanup: job completed" in gone["lines"]  # its check of the injected variables passed
        assert "web: deleted" in gone["lines"], gone["lines"]
        # the job ran before anything of the environment went (its network, the service it cleans up)
        assert gone["lines"].index("cleanup: job completed") < gone["lines"].index("web: deleted"), gone["lines"]

        # deleting one service of b: a DELETE deployment in its history, its host leaves the edge
        assert b.get().text.strip() == "tenant-b" and b.leftovers()["containers"]
        history = b.ok(b.api.get(f"/environment/{b.env}/deploymentHistoryV2"))["results"]
        seen = {h["identifier"]["execution_id"] for h in history}
        b.ok(b.api.delete(f"/container/{b.web}"), 204)

        def deleted() -> str | None:  # the deletion's own deployment (queued from catalog's event)
            history = b.ok(b.api.get(f"/environment/{b.env}/deploymentHistoryV2"))["results"]
            new = [h for h in history if h["identifier"]["execution_id"] not in seen]
            return new[0]["status"] if new and new[0]["status"] in TERMINAL else None

        assert until(deleted, 90, "the deleted service's uninstall") == "DELETED"
        assert b.leftovers() == {"containers": [], "networks": [], "volumes": []}
        assert b.get().status_code == 404 and b.get().headers.get("x-slipway-no-route") == "1"
        b.ok(b.api.delete(f"/project/{b.project}"), 204)  # its environment goes with it, uninstalled
        assert until(lambda: finished(stack, b.env), 60, "the deleted environment's uninstall")["tombstones"] == 0
        b.ok(b.api.delete(f"/organization/{b.org}"), 204)
        until(
            lambda: b.leftovers() == {"containers": [], "networks": [], "volumes": []},
            90,
            "the second organization's workloads",
        )
    finally:  # a failed run leaves nothing running either
        for tenant in (a, b):
            tenant.api.delete(f"/organization/{tenant.org}")


def uninstalled(stack: RunningStack, environment_id: str) -> dict[str, Any]:
    """What the platform's own tables say about a deleted environment's uninstall (its API is gone with it)."""

    async def read() -> dict[str, Any]:
        db = await asyncpg.connect(stack.database_url())
        try:
            dep = await db.fetchrow(
                "SELECT id, number, status, action FROM deployer.deployments WHERE tombstone_id = $1",
                environment_id,
            )
            services = (
                await db.fetch(
                    "SELECT name, state FROM deployer.deployment_services WHERE deployment_id = $1", dep["id"]
                )
                if dep
                else []
            )
            lines = (
                await db.fetch(
                    "SELECT message FROM logs.deployment_log_lines WHERE execution_id = $1 ORDER BY timestamp_ms, seq",
                    f"{environment_id}-{dep['number']}",
                )
                if dep
                else []
            )
            count = "SELECT count(*) FROM {} WHERE environment_id = $1"
            return {
                "status": dep["status"] if dep else None,
                "action": dep["action"] if dep else None,
                "services": {r["name"]: r["state"] for r in services},
                "lines": "\n".join(r["message"] for r in lines),
                "schedules": await db.fetchval(count.format("deployer.cron_schedules"), environment_id),
                "states": await db.fetchval(count.format("deployer.service_states"), environment_id),
                "tombstones": await db.fetchval(count.format("catalog.tombstones"), environment_id),
            }
        finally:
            await db.close()

    return asyncio.run(read())


def finished(stack: RunningStack, environment_id: str) -> dict[str, Any] | None:
    """The uninstall's record once it finished and its last log line reached the log store."""
    found = uninstalled(stack, environment_id)
    return found if found["status"] == "DELETED" and "delete finished: DELETED" in found["lines"] else None
