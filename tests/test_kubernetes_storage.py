"""Storage on the embedded Kubernetes cluster, through the public API: a container with storage runs as a
StatefulSet whose volume claim the stack's provisioner binds; its data survives a restart and a new version,
and uninstalling it removes the claim and the volume. A container database (PostgreSQL, from the image built
here) is a StatefulSet with a claim too: its rows survive a restart, and it goes with its claim."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import pytest

from slipway_stack.kube.testing import KubeCluster
from slipway_stack.testing import RunningStack
from tests.e2e_world import until
from tests.test_kubernetes_deploy import KubeWorld, started

pytestmark = pytest.mark.stack

# each start appends a line to the volume, then serves the volume's file
BOOTS = '["sh", "-c", "date +%s%N >> /data/boots; ln -sf /data/boots /www/boots; exec httpd -f -p 8080 -h /www"]'


class StorageWorld(KubeWorld):
    def setup(self) -> None:
        self.on_kubernetes("disk")
        registry = self.registry_image("k8s-boots:1", BOOTS)
        box = {
            "name": "boots",
            "registry_id": registry["id"],
            "image_name": "k8s-boots",
            "tag": "1",
            "cpu": 100,
            "memory": 64,
            "ports": [{"internal_port": 8080, "publicly_accessible": True, "protocol": "HTTP"}],
            "storage": [{"type": "FAST_SSD", "size": 4, "mount_point": "/data"}],
            "healthchecks": {
                "readiness_probe": {"type": {"tcp": {"port": 8080}}, "initial_delay_seconds": 0, "period_seconds": 1}
            },
        }
        self.app = self.ok(self.api.post(f"/environment/{self.env['id']}/container", json=box), 201)

    def host(self) -> str:
        links = self.ok(self.api.get(f"/container/{self.app['id']}/link"))["results"]
        return str(links[0]["url"]).split("://", 1)[1].split(":")[0]

    def boots(self) -> int:
        """Lines of the volume's file; -1 while the single instance is being replaced (stop, then start: a
        service with storage has a short gap, during which the edge may hold a request for seconds)."""
        try:
            r = self.get("/boots")
        except httpx.HTTPError:
            return -1
        return len(r.text.split()) if r.status_code == 200 else -1

    def reach(self, count: int, what: str) -> None:
        """Until the volume's file has `count` lines; on a timeout, says how many it had (a start too many is
        a second rollout, say drift correction putting an older version back)."""
        seen: list[int] = []
        try:
            until(lambda: seen.append(self.boots()) or seen[-1] == count, 60, what)
        except AssertionError as exc:
            raise AssertionError(f"{exc}: the file had {sorted(set(seen))} lines") from None

    def claims(self) -> list[dict]:  # type: ignore[type-arg]
        selector = f"slipway.dev/service-id={self.app['id']}"
        found = self.kube(f"/api/v1/namespaces/{self.namespace}/persistentvolumeclaims?labelSelector={selector}")
        return list((found or {"items": []})["items"])

    def wait(self, queued: dict) -> str:  # type: ignore[type-arg]
        return self.wait_terminal(queued["execution_id"], timeout=300)

    def pods_of(self, service_id: str) -> list[dict[str, Any]]:
        selector = f"slipway.dev/service-id={service_id}"
        found = self.kube(f"/api/v1/namespaces/{self.namespace}/pods?labelSelector={selector}")
        return list((found or {"items": []})["items"])

    def sql(self, database_id: str, *statements: str) -> Any:
        """Run statements on the database's (single, ready) pod from this machine; answers the last one's value."""
        [pod] = [p for p in self.pods_of(database_id) if p["status"].get("phase") == "Running"]
        secret = self.ok(self.api.get(f"/database/{database_id}/masterCredentials"))

        async def run() -> Any:
            conn = await asyncpg.connect(
                host=pod["status"]["podIP"], port=5432, user=secret["login"], password=secret["password"],
                database="postgres", timeout=10,
            )  # fmt: skip
            try:
                for statement in statements[:-1]:
                    await conn.execute(statement)
                return await conn.fetchval(statements[-1])
            finally:
                await conn.close()

        return asyncio.run(run())


@pytest.fixture(scope="module")
def disk(
    stack: RunningStack, kubernetes: KubeCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StorageWorld]:
    yield from started(StorageWorld, stack, kubernetes, tmp_path_factory)


def test_storage_survives_restart_and_new_version_and_goes_with_the_service(disk: StorageWorld) -> None:
    box = disk.app["id"]
    queued = disk.ok(disk.api.post(f"/container/{box}/deploy", json={"image_tag": "1"}), 202)
    assert disk.wait(queued) == "DEPLOYED", disk.deployment_log(queued["execution_id"])[-2000:]
    sets = disk.kube(f"/apis/apps/v1/namespaces/{disk.namespace}/statefulsets") or {"items": []}
    assert [s["metadata"]["labels"]["slipway.dev/service-id"] for s in sets["items"]] == [box]
    assert not (disk.kube(f"/apis/apps/v1/namespaces/{disk.namespace}/deployments") or {"items": []})["items"]
    claims = disk.claims()
    assert len(claims) == 1 and claims[0]["status"]["phase"] == "Bound", claims
    volume = claims[0]["spec"]["volumeName"]
    assert disk.boots() == 1

    restarted = disk.ok(disk.api.post(f"/container/{box}/restart-service"), 202)
    assert disk.wait(restarted) == "RESTARTED", disk.deployment_log(restarted["execution_id"])[-2000:]
    disk.reach(2, "the restarted pod to serve the same volume")

    variable = {"key": "V", "value": "2", "is_secret": False, "variable_scope": "CONTAINER", "variable_parent_id": box}
    disk.ok(disk.api.post("/variable", json=variable), 201)
    queued = disk.ok(disk.api.post(f"/container/{box}/redeploy"), 202)
    assert disk.wait(queued) == "DEPLOYED", disk.deployment_log(queued["execution_id"])[-2000:]
    disk.reach(3, "the new version to serve the same volume")
    assert [c["spec"]["volumeName"] for c in disk.claims()] == [volume]

    removed = disk.ok(disk.api.post(f"/container/{box}/uninstall", json={}), 202)
    assert disk.wait(removed) == "DELETED"
    until(lambda: not disk.claims(), 60, "the claim to go")
    until(lambda: disk.kube(f"/api/v1/persistentvolumes/{volume}") is None, 60, "the volume to go with its data")


def test_a_database_is_a_stateful_set_whose_rows_survive_a_restart_and_that_goes_with_its_claim(
    disk: StorageWorld, database_images: dict[str, str]
) -> None:
    body = {"name": "pg", "type": "POSTGRESQL", "version": "15", "mode": "CONTAINER", "accessibility": "PRIVATE"}
    db = disk.ok(disk.api.post(f"/environment/{disk.env['id']}/database", json=body), 201)
    queued = disk.ok(disk.api.post(f"/database/{db['id']}/deploy", json={}), 202)
    assert disk.wait(queued) == "DEPLOYED", disk.deployment_log(queued["execution_id"])[-2000:]
    selector = f"labelSelector=slipway.dev/service-id={db['id']}"
    (found,) = disk.kube(f"/apis/apps/v1/namespaces/{disk.namespace}/statefulsets?{selector}")["items"]  # type: ignore[index]
    container = found["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == database_images["POSTGRESQL"].replace("{version}", "15"), container["image"]
    assert (
        found["spec"]["volumeClaimTemplates"] and found["metadata"]["labels"]["slipway.dev/organization-id"] == disk.org
    )
    claims = disk.kube(f"/api/v1/namespaces/{disk.namespace}/persistentvolumeclaims?{selector}")["items"]  # type: ignore[index]
    assert len(claims) == 1 and claims[0]["status"]["phase"] == "Bound", claims
    assert (
        disk.sql(db["id"], "CREATE TABLE kept (v text)", "INSERT INTO kept VALUES ('row')", "SELECT count(*) FROM kept")
        == 1
    )

    restarted = disk.ok(disk.api.post(f"/database/{db['id']}/restart-service"), 202)
    assert disk.wait(restarted) == "RESTARTED", disk.deployment_log(restarted["execution_id"])[-2000:]
    until(lambda: _answers(disk, db["id"]), 120, "the restarted database to answer")
    assert disk.sql(db["id"], "SELECT string_agg(v, ',') FROM kept") == "row"

    removed = disk.ok(disk.api.post(f"/database/{db['id']}/uninstall", json={}), 202)
    assert disk.wait(removed) == "DELETED"
    gone = f"/api/v1/namespaces/{disk.namespace}/persistentvolumeclaims?{selector}"
    until(lambda: not disk.kube(gone)["items"] and not disk.pods_of(db["id"]), 90, "the database and its claim to go")  # type: ignore[index]


def _answers(disk: StorageWorld, database_id: str) -> bool:
    try:
        return disk.sql(database_id, "SELECT 1") == 1
    except (TimeoutError, OSError, ValueError, asyncpg.PostgresError):
        return False
