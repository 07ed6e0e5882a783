"""Container services and their deployment stages on the catalog app itself: Qovery's codes and schemas."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
from sqlalchemy import text

from slipway.principal import HEADER, service_principal, sign
from slipway_stack.qovery_spec import check

from .test_clusters import KEY, Catalog, bad, catalog, user_principal  # noqa: F401  (fixture)


async def _environment(cat: Catalog) -> tuple[str, str, str]:
    """A fresh organization's (environment id, default registry id, organization id)."""
    org = uuid.uuid4()
    registries = (await cat.api.get(f"/organization/{org}/containerRegistry")).json()["results"]
    pid = (await cat.api.post(f"/organization/{org}/project", json={"name": "p"})).json()["id"]
    r = await cat.api.post(f"/project/{pid}/environment", json={"name": f"e-{uuid.uuid4().hex[:6]}"})
    assert r.status_code == 201, r.text
    return r.json()["id"], registries[0]["id"], str(org)


def body(registry: str, **extra: Any) -> dict[str, Any]:
    return {"name": "web", "registry_id": registry, "image_name": "nginx", "tag": "1.27", **extra}


async def _events(cat: Catalog, resource: str) -> list[tuple[str, dict[str, Any]]]:
    async with cat.app.state.db.transaction() as session:
        rows = await session.execute(
            text("SELECT subject, data FROM catalog.outbox WHERE data LIKE :id ORDER BY seq"), {"id": f"%{resource}%"}
        )
        return [(subject, json.loads(data)["payload"]) for subject, data in rows]


async def test_container_crud_matches_the_spec(catalog: Catalog, spec: dict[str, Any]) -> None:  # noqa: F811
    eid, registry, _ = await _environment(catalog)
    base = f"/environment/{eid}/container"
    ports = [
        {"internal_port": 8080, "publicly_accessible": True, "protocol": "HTTP", "public_path": "/"},
        {"internal_port": 9090, "publicly_accessible": False, "protocol": "GRPC"},
    ]
    health = {
        "readiness_probe": {"type": {"http": {"path": "/ready", "port": 8080}, "tcp": None}, "period_seconds": 5},
        "liveness_probe": {"type": {"tcp": {"port": 8080}}},
    }
    created = check(
        spec,
        "createContainer",
        await catalog.api.post(
            base,
            json=body(
                registry,
                description="front",
                ports=ports,
                healthchecks=health,
                arguments=["--verbose"],
                entrypoint="/bin/start",
                cpu=250,
                memory=256,
                min_running_instances=1,
                max_running_instances=3,
                storage=[{"type": "FAST_SSD", "size": 10, "mount_point": "/data"}],
            ),
        ),
    )
    cid = created["id"]
    assert created["service_type"] == "CONTAINER" and created["environment"]["id"] == eid
    assert created["registry"]["id"] == registry and created["registry_id"] == registry
    assert (created["image_name"], created["tag"], created["cpu"], created["memory"]) == ("nginx", "1.27", 250, 256)
    assert created["arguments"] == ["--verbose"] and created["entrypoint"] == "/bin/start"
    assert created["auto_preview"] is False and created["auto_deploy"] is False  # the environment's rule: off
    assert created["healthchecks"]["readiness_probe"]["type"]["http"]["path"] == "/ready"
    assert created["healthchecks"]["readiness_probe"]["period_seconds"] == 5
    assert created["healthchecks"]["liveness_probe"]["failure_threshold"] == 9  # Qovery's default
    web, grpc = created["ports"]
    assert web["is_default"] is True and web["external_port"] == 443 and web["name"] == "p8080"
    assert grpc["is_default"] is False and grpc["publicly_accessible"] is False and grpc["protocol"] == "GRPC"
    [volume] = created["storage"]
    assert volume["mount_point"] == "/data" and volume["size"] == 10

    listed = check(spec, "listContainer", await catalog.api.get(base))
    assert [c["id"] for c in listed["results"]] == [cid]
    got = check(spec, "getContainer", await catalog.api.get(f"/container/{cid}"))
    assert got == created

    # Qovery clients PUT back what they read: port and storage ids are kept
    edit = body(registry, name="Web2", tag="1.28", ports=[{**web, "internal_port": 8081}], storage=created["storage"])
    edited = check(spec, "editContainer", await catalog.api.put(f"/container/{cid}", json=edit))
    assert edited["name"] == "Web2" and edited["tag"] == "1.28" and edited["description"] == "front"
    assert [p["id"] for p in edited["ports"]] == [web["id"]] and edited["ports"][0]["internal_port"] == 8081
    assert edited["storage"][0]["id"] == volume["id"]
    assert "readiness_probe" not in edited["healthchecks"]  # the whole body replaces the configuration
    assert (await catalog.api.get(f"/container/{cid}")).json()["tag"] == "1.28"

    events = await _events(catalog, cid)
    assert [s for s, _ in events] == ["evt.catalog.service.created", "evt.catalog.service.updated"]
    assert events[0][1] == {"service_id": cid, "environment_id": eid, "kind": "CONTAINER"}

    check(spec, "deleteContainer", await catalog.api.delete(f"/container/{cid}"))
    assert (await catalog.api.get(f"/container/{cid}")).status_code == 404
    assert (await catalog.api.delete(f"/container/{cid}")).status_code == 404
    assert (await catalog.api.get(base)).json()["results"] == []
    assert [s for s, _ in await _events(catalog, cid)][-1] == "evt.catalog.service.deleted"


async def test_container_input_is_validated(catalog: Catalog) -> None:  # noqa: F811
    eid, registry, _ = await _environment(catalog)
    base = f"/environment/{eid}/container"
    for missing in ("name", "registry_id", "image_name", "tag"):
        incomplete = body(registry)
        del incomplete[missing]
        bad(await catalog.api.post(base, json=incomplete), missing)
    port = {"internal_port": 80, "publicly_accessible": True}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"ports": [{**port, "internal_port": 0}]}, "internal_port"),
        ({"ports": [{**port, "internal_port": 65536}]}, "internal_port"),
        ({"ports": [port, {**port, "publicly_accessible": False}]}, "internal_port"),
        ({"ports": [{"internal_port": 80}]}, "publicly_accessible"),
        ({"ports": [{**port, "protocol": "SCTP"}]}, "protocol"),
        ({"ports": [{**port, "protocol": "TCP", "public_path": "/api"}]}, "public_path"),
        ({"ports": [{**port, "is_default": True}, {**port, "internal_port": 81, "is_default": True}]}, "is_default"),
        ({"cpu": 0}, "cpu"),
        ({"memory": -5}, "memory"),
        ({"min_running_instances": -1}, "min_running_instances"),
        ({"min_running_instances": 3, "max_running_instances": 2}, "min_running_instances"),
        ({"max_running_instances": 0}, "max_running_instances"),
        ({"arguments": "--verbose"}, "arguments"),
        ({"healthchecks": {"liveness_probe": {"type": {}}}}, "liveness_probe"),
        ({"healthchecks": {"liveness_probe": {"type": {"tcp": {"port": 81}}}}, "ports": [port]}, "liveness_probe"),
        ({"healthchecks": {"readiness_probe": {"type": {"exec": {"command": []}}}}}, "command"),
        ({"storage": [{"type": "FAST_SSD", "size": 1, "mount_point": "/d"}]}, "size"),
        ({"registry_id": "not-a-uuid"}, "registry_id"),
        ({"registry_id": str(uuid.uuid4())}, "registry_id"),
        ({"name": ""}, "name"),
        ({"image_name": "UPPER CASE!!"}, "image_name"),
        ({"image_name": "Nginx"}, "image_name"),
        ({"image_name": "a//b"}, "image_name"),
        ({"tag": "y y"}, "tag"),
        ({"tag": ".hidden"}, "tag"),
    ]
    for extra, field in cases:
        bad(await catalog.api.post(base, json={**body(registry), **extra}), field)
    assert (await catalog.api.get(base)).json()["results"] == []

    # unbounded instances (-1) and a zero minimum are Qovery's
    ok = await catalog.api.post(base, json=body(registry, min_running_instances=0, max_running_instances=-1))
    assert ok.status_code == 201, ok.text
    assert (await catalog.api.post(base, json=body(registry, name="WEB"))).status_code == 409
    second = await catalog.api.post(base, json=body(registry, name="api"))
    assert second.status_code == 201
    r = await catalog.api.put(f"/container/{second.json()['id']}", json=body(registry, name="Web"))
    assert r.status_code == 409 and "already taken" in r.json()["detail"]
    bad(await catalog.api.put(f"/container/{second.json()['id']}", json=body(registry, cpu=0)), "cpu")

    # the same name in another environment is fine
    other, other_registry, _ = await _environment(catalog)
    assert (await catalog.api.post(f"/environment/{other}/container", json=body(other_registry))).status_code == 201


async def test_another_organizations_environment_or_registry(catalog: Catalog) -> None:  # noqa: F811
    eid, registry, _ = await _environment(catalog)
    _, foreign_registry, _ = await _environment(catalog)
    r = await catalog.api.post(f"/environment/{eid}/container", json=body(foreign_registry))
    bad(r, "registry_id")
    assert (await catalog.api.post(f"/environment/{uuid.uuid4()}/container", json=body(registry))).status_code == 404
    assert (await catalog.api.get(f"/environment/{uuid.uuid4()}/container")).status_code == 404
    assert (await catalog.api.get(f"/container/{uuid.uuid4()}")).status_code == 404
    assert (await catalog.api.put(f"/container/{uuid.uuid4()}", json=body(registry))).status_code == 404
    cid = (await catalog.api.post(f"/environment/{eid}/container", json=body(registry))).json()["id"]
    bad(await catalog.api.put(f"/container/{cid}", json=body(foreign_registry)), "registry_id")
    assert (await catalog.api.get(f"/container/{cid}")).json()["registry_id"] == registry


async def test_containers_join_the_default_stage_and_move_between_stages(
    catalog: Catalog,  # noqa: F811
    spec: dict[str, Any],
) -> None:
    eid, registry, _ = await _environment(catalog)
    other, _, _ = await _environment(catalog)
    cid = (await catalog.api.post(f"/environment/{eid}/container", json=body(registry))).json()["id"]
    stages = check(
        spec, "ListEnvironmentDeploymentStage", await catalog.api.get(f"/environment/{eid}/deploymentStage")
    )["results"]
    by_name = {s["name"]: s for s in stages}
    [attached] = by_name["CONTAINER DEFAULT"]["services"]
    assert attached["service_id"] == cid and attached["service_type"] == "CONTAINER"
    assert attached["is_skipped"] is False
    assert all(s["services"] == [] for s in stages if s["name"] != "CONTAINER DEFAULT")
    current = check(spec, "getServiceDeploymentStage", await catalog.api.get(f"/service/{cid}/deploymentStage"))
    assert current["id"] == by_name["CONTAINER DEFAULT"]["id"]

    target = by_name["APPLICATION DEFAULT"]["id"]
    moved = check(
        spec,
        "AttachServiceToDeploymentStage",
        await catalog.api.put(f"/deploymentStage/{target}/service/{cid}", json={"is_skipped": True}),
    )
    after = {s["name"]: s["services"] for s in moved["results"]}
    assert after["CONTAINER DEFAULT"] == [] and [s["service_id"] for s in after["APPLICATION DEFAULT"]] == [cid]
    assert after["APPLICATION DEFAULT"][0]["is_skipped"] is True
    got = check(spec, "getDeploymentStage", await catalog.api.get(f"/deploymentStage/{target}"))
    assert [s["service_id"] for s in got["services"]] == [cid]
    assert (await catalog.api.get(f"/service/{cid}/deploymentStage")).json()["id"] == target
    # without a body: attached and no longer skipped
    again = await catalog.api.put(f"/deploymentStage/{target}/service/{cid}")
    assert again.status_code == 200
    assert {s["name"]: s for s in again.json()["results"]}["APPLICATION DEFAULT"]["services"][0]["is_skipped"] is False

    foreign_stage = (await catalog.api.get(f"/environment/{other}/deploymentStage")).json()["results"][0]["id"]
    bad(await catalog.api.put(f"/deploymentStage/{foreign_stage}/service/{cid}"), "same environment")
    assert (await catalog.api.put(f"/deploymentStage/{target}/service/{uuid.uuid4()}")).status_code == 404
    assert (await catalog.api.put(f"/deploymentStage/{uuid.uuid4()}/service/{cid}")).status_code == 404
    assert (await catalog.api.get(f"/service/{uuid.uuid4()}/deploymentStage")).status_code == 404

    # a stage holding services cannot be deleted; an emptied one can
    r = await catalog.api.delete(f"/deploymentStage/{target}")
    assert r.status_code == 409, r.text
    assert (await catalog.api.get(f"/deploymentStage/{target}")).status_code == 200
    await catalog.api.put(f"/deploymentStage/{by_name['JOB DEFAULT']['id']}/service/{cid}")
    assert (await catalog.api.delete(f"/deploymentStage/{target}")).status_code == 204


async def test_without_a_container_stage_the_last_stage_is_used(catalog: Catalog) -> None:  # noqa: F811
    eid, registry, _ = await _environment(catalog)
    stages = (await catalog.api.get(f"/environment/{eid}/deploymentStage")).json()["results"]
    container_stage = next(s for s in stages if s["name"] == "CONTAINER DEFAULT")
    await catalog.api.put(f"/deploymentStage/{container_stage['id']}", json={"name": "runtime"})
    cid = (await catalog.api.post(f"/environment/{eid}/container", json=body(registry))).json()["id"]
    last = (await catalog.api.get(f"/environment/{eid}/deploymentStage")).json()["results"][-1]
    assert last["name"] == "APPLICATION DEFAULT"
    assert (await catalog.api.get(f"/service/{cid}/deploymentStage")).json()["id"] == last["id"]


async def test_service_scope_is_for_services_only(catalog: Catalog) -> None:  # noqa: F811
    eid, registry, org = await _environment(catalog)
    cid = (await catalog.api.post(f"/environment/{eid}/container", json=body(registry))).json()["id"]
    env = (await catalog.api.get(f"/environment/{eid}")).json()
    as_service = {HEADER: sign(service_principal("api-gateway"), KEY)}
    async with httpx.AsyncClient(base_url=catalog.url) as client:
        r = await client.get(f"/internal/scope/service/{cid}", headers=as_service)
        assert r.status_code == 200
        assert r.json() == {
            "organization_id": org,
            "project_id": env["project"]["id"],
            "environment_id": eid,
            "environment_mode": "DEVELOPMENT",
            "cluster_id": env["cluster_id"],
            "kind": "CONTAINER",
        }
        assert (await client.get(f"/internal/scope/service/{uuid.uuid4()}", headers=as_service)).status_code == 404
        as_user = {HEADER: sign(user_principal(), KEY)}
        assert (await client.get(f"/internal/scope/service/{cid}", headers=as_user)).status_code == 403


async def test_deleting_an_environment_or_project_announces_each_service(catalog: Catalog) -> None:  # noqa: F811
    env, registry, _ = await _environment(catalog)
    web = (await catalog.api.post(f"/environment/{env}/container", json=body(registry))).json()["id"]
    api = (await catalog.api.post(f"/environment/{env}/container", json=body(registry, name="api"))).json()["id"]
    assert (await catalog.api.delete(f"/environment/{env}")).status_code == 204
    for service in (web, api):
        subjects = [subject for subject, _ in await _events(catalog, service)]
        assert subjects[-1] == "evt.catalog.service.deleted", subjects
    project_env, registry, _ = await _environment(catalog)
    job = (await catalog.api.post(f"/environment/{project_env}/container", json=body(registry))).json()["id"]
    pid = (await catalog.api.get(f"/environment/{project_env}")).json()["project"]["id"]
    assert (await catalog.api.delete(f"/project/{pid}")).status_code == 204
    assert [s for s, _ in await _events(catalog, job)][-1] == "evt.catalog.service.deleted"
    assert "evt.catalog.environment.deleted" in [s for s, _ in await _events(catalog, project_env)]


async def test_a_registry_in_use_counts_its_services_and_cannot_be_deleted(catalog: Catalog) -> None:  # noqa: F811
    env, _, org = await _environment(catalog)
    base = f"/organization/{org}/containerRegistry"
    r = await catalog.api.post(
        base, json={"name": "mine", "kind": "GENERIC_CR", "url": "https://registry.example.com", "config": {}}
    )
    assert r.status_code == 201, r.text
    registry = r.json()["id"]
    assert r.json()["associated_services_count"] == 0
    web = (await catalog.api.post(f"/environment/{env}/container", json=body(registry))).json()["id"]
    assert (await catalog.api.get(f"{base}/{registry}")).json()["associated_services_count"] == 1
    listed = {x["id"]: x for x in (await catalog.api.get(base)).json()["results"]}
    assert listed[registry]["associated_services_count"] == 1
    refused = await catalog.api.delete(f"{base}/{registry}")
    assert refused.status_code == 409 and "used by 1 service" in refused.json()["detail"]
    assert (await catalog.api.delete(f"/container/{web}")).status_code == 204
    assert (await catalog.api.delete(f"{base}/{registry}")).status_code == 204
