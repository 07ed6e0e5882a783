"""Database services on the catalog app itself: Qovery's codes and schemas, master credentials kept encrypted.

Also holds the helpers the custom domain and link tests share (a fresh environment, outbox reads).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import text

from slipway_stack.qovery_spec import check

from .test_clusters import Catalog, bad, catalog  # noqa: F401  (fixture)

CONFIG_KEYS = {
    "type",
    "version",
    "mode",
    "accessibility",
    "port",
    "login",
    "password_encrypted",
    "database_name",
    "cpu",
    "memory",
    "storage",
    "instance_type",
    "host_slug",
}


# -- shared helpers ----------------------------------------------------------------------------------
async def environment(cat: Catalog) -> tuple[str, str, str]:
    """A fresh organization's (environment id, default registry id, organization id)."""
    org = uuid.uuid4()
    registries = (await cat.api.get(f"/organization/{org}/containerRegistry")).json()["results"]
    pid = (await cat.api.post(f"/organization/{org}/project", json={"name": "p"})).json()["id"]
    r = await cat.api.post(f"/project/{pid}/environment", json={"name": f"e-{uuid.uuid4().hex[:6]}"})
    assert r.status_code == 201, r.text
    return r.json()["id"], registries[0]["id"], str(org)


async def events(cat: Catalog, resource: str) -> list[tuple[str, dict[str, Any]]]:
    """The outbox events mentioning `resource`, oldest first, as (subject, payload)."""
    async with cat.app.state.db.transaction() as session:
        rows = await session.execute(
            text("SELECT subject, data FROM catalog.outbox WHERE data LIKE :id ORDER BY seq"), {"id": f"%{resource}%"}
        )
        return [(subject, json.loads(data)["payload"]) for subject, data in rows]


async def outbox_mentions(cat: Catalog, needle: str) -> int:
    async with cat.app.state.db.transaction() as session:
        found = await session.execute(
            text("SELECT count(*) FROM catalog.outbox WHERE data LIKE :needle"), {"needle": f"%{needle}%"}
        )
        return int(found.scalar_one())


async def stored_config(cat: Catalog, service_id: str) -> dict[str, Any]:
    value = await cat.column("services", "config", service_id)
    return json.loads(value) if isinstance(value, str) else dict(value)


def db_body(**extra: Any) -> dict[str, Any]:
    return {"name": "main-db", "type": "POSTGRESQL", "version": "16", "mode": "CONTAINER", **extra}


# -- databases -----------------------------------------------------------------------------------------
async def test_database_crud_matches_the_spec(catalog: Catalog, spec: dict[str, Any]) -> None:  # noqa: F811
    eid, _, _ = await environment(catalog)
    base = f"/environment/{eid}/database"
    create = await catalog.api.post(base, json=db_body(description="orders", accessibility="PUBLIC", storage=20))
    created = check(spec, "createDatabase", create)
    did = created["id"]
    short = "z" + did.replace("-", "")[:8]
    assert created["service_type"] == "DATABASE" and created["environment"]["id"] == eid
    assert (created["type"], created["version"], created["mode"]) == ("POSTGRESQL", "16", "CONTAINER")
    assert (created["accessibility"], created["cpu"], created["memory"], created["storage"]) == ("PUBLIC", 250, 100, 20)
    assert created["host"] == f"db-{short}" and created["port"] == 5432
    assert created["description"] == "orders" and "instance_type" not in created

    listed = check(spec, "listDatabase", await catalog.api.get(base))
    assert [d["id"] for d in listed["results"]] == [did]
    got = check(spec, "getDatabase", await catalog.api.get(f"/database/{did}"))
    assert got == created

    cred_response = await catalog.api.get(f"/database/{did}/masterCredentials")
    creds = check(spec, "getDatabaseMasterCredentials", cred_response)
    assert cred_response.headers["cache-control"] == "no-store"
    password = creds["password"]
    assert creds["host"] == f"db-{short}" and creds["port"] == 5432 and creds["login"] == "superuser"
    assert len(password) == 32 and password.isalnum()

    # what is stored: exactly the agreed keys, the password only as ciphertext
    config = await stored_config(catalog, did)
    assert set(config) == CONFIG_KEYS
    assert config["password_encrypted"].startswith("v1.") and password not in config["password_encrypted"]
    assert config["database_name"] == "postgres" and config["instance_type"] is None
    assert config["host_slug"].startswith("main-db-e-")
    assert password not in await catalog.row("services", did)

    edit = await catalog.api.put(
        f"/database/{did}", json={"name": "Orders", "version": "17", "cpu": 500, "storage": 30}
    )
    edited = check(spec, "editDatabase", edit)
    assert (edited["name"], edited["version"], edited["cpu"], edited["storage"]) == ("Orders", "17", 500, 30)
    assert edited["accessibility"] == "PUBLIC" and edited["memory"] == 100 and edited["description"] == "orders"
    after = await stored_config(catalog, did)
    assert after["host_slug"] == config["host_slug"] and after["password_encrypted"] == config["password_encrypted"]
    # clients PUT back what they read: unchanged type and mode are accepted
    again = check(spec, "editDatabase", await catalog.api.put(f"/database/{did}", json=edited))
    assert again["version"] == "17"
    assert (await catalog.api.get(f"/database/{did}/masterCredentials")).json() == creds

    # the password is in no other answer and in no event
    for r in (create, edit, await catalog.api.get(base), await catalog.api.get(f"/database/{did}")):
        assert password not in r.text
    assert await outbox_mentions(catalog, password) == 0
    emitted = await events(catalog, did)
    assert [s for s, _ in emitted] == ["evt.catalog.service.created", *["evt.catalog.service.updated"] * 2]
    assert emitted[0][1] == {"service_id": did, "environment_id": eid, "kind": "DATABASE"}

    check(spec, "deleteDatabase", await catalog.api.delete(f"/database/{did}"))
    assert (await catalog.api.get(f"/database/{did}")).status_code == 404
    assert (await catalog.api.get(f"/database/{did}/masterCredentials")).status_code == 404
    assert (await catalog.api.delete(f"/database/{did}")).status_code == 404
    assert (await catalog.api.get(base)).json()["results"] == []
    assert [s for s, _ in await events(catalog, did)][-1] == "evt.catalog.service.deleted"


async def test_each_type_has_its_port_login_and_versions(catalog: Catalog, spec: dict[str, Any]) -> None:  # noqa: F811
    eid, _, _ = await environment(catalog)
    configs = check(
        spec, "listEnvironmentDatabaseConfig", await catalog.api.get(f"/environment/{eid}/databaseConfiguration")
    )["results"]
    versions = {c["database_type"]: [v["name"] for v in c["version"]] for c in configs}
    assert set(versions) == {"POSTGRESQL", "MYSQL", "MONGODB", "REDIS"}
    assert all(v["supported_mode"] == "CONTAINER" for c in configs for v in c["version"])
    assert "16" in versions["POSTGRESQL"] and "8.0" in versions["MYSQL"]
    expected = {
        "POSTGRESQL": (5432, "superuser", 100),
        "MYSQL": (3306, "superuser", 512),
        "MONGODB": (27017, "superuser", 256),
        "REDIS": (6379, "default", 100),
    }
    passwords = set()
    for kind, (port, login, memory) in expected.items():
        for version in versions[kind]:  # every advertised version is accepted
            r = await catalog.api.post(
                f"/environment/{eid}/database",
                json=db_body(name=f"{kind}-{version}".lower(), type=kind, version=version),
            )
            made = check(spec, "createDatabase", r)
            assert (made["port"], made["memory"], made["accessibility"]) == (port, memory, "PRIVATE")
            creds = (await catalog.api.get(f"/database/{made['id']}/masterCredentials")).json()
            assert (creds["port"], creds["login"]) == (port, login)
            passwords.add(creds["password"])
    assert len(passwords) == sum(len(v) for v in versions.values())  # a fresh password each time
    assert (await catalog.api.get(f"/environment/{uuid.uuid4()}/databaseConfiguration")).status_code == 404


async def test_database_input_is_validated(catalog: Catalog) -> None:  # noqa: F811
    eid, registry, _ = await environment(catalog)
    base = f"/environment/{eid}/database"
    for missing in ("name", "type", "version", "mode"):
        incomplete = db_body()
        del incomplete[missing]
        bad(await catalog.api.post(base, json=incomplete), missing)
    cases: list[tuple[dict[str, Any], tuple[str, ...]]] = [
        ({"mode": "MANAGED"}, ("mode", "containers")),
        ({"mode": "SERVERLESS"}, ("mode",)),
        ({"type": "ORACLE"}, ("type",)),
        ({"version": "9.6"}, ("version", "14")),
        ({"type": "REDIS", "version": "16"}, ("version",)),
        ({"version": ""}, ("version",)),
        ({"accessibility": "INTERNET"}, ("accessibility",)),
        ({"cpu": 0}, ("cpu",)),
        ({"cpu": 5}, ("cpu",)),
        ({"cpu": 64_000}, ("cpu",)),
        ({"memory": 0}, ("memory",)),
        ({"memory": 16}, ("memory",)),
        ({"memory": 1_000_000}, ("memory",)),
        ({"storage": 0}, ("storage",)),
        ({"storage": 100_000}, ("storage",)),
        ({"instance_type": "db.t3.medium"}, ("instance_type",)),
        ({"name": ""}, ("name",)),
        ({"cpu": "lots"}, ("cpu",)),
    ]
    for extra, words in cases:
        bad(await catalog.api.post(base, json={**db_body(), **extra}), *words)
    assert (await catalog.api.get(base)).json()["results"] == []
    assert not [p for _, p in await events(catalog, eid) if p.get("kind") == "DATABASE"]  # no partial write

    # names are unique per environment, whatever the kind, case-insensitively
    did = (await catalog.api.post(base, json=db_body())).json()["id"]
    assert (await catalog.api.post(base, json=db_body(name="MAIN-DB", type="REDIS", version="7"))).status_code == 409
    container = {"name": "cache", "registry_id": registry, "image_name": "nginx", "tag": "1"}
    assert (await catalog.api.post(f"/environment/{eid}/container", json=container)).status_code == 201
    assert (await catalog.api.post(base, json=db_body(name="Cache"))).status_code == 409

    before = (await catalog.api.get(f"/database/{did}")).json()
    config = await stored_config(catalog, did)
    edits: list[tuple[dict[str, Any], tuple[str, ...]]] = [
        ({"version": "15"}, ("version", "downgrade")),
        ({"version": "42"}, ("version",)),
        ({"type": "MYSQL"}, ("type",)),
        ({"mode": "MANAGED"}, ("mode", "containers")),
        ({"storage": 5}, ("storage", "shrink")),
        ({"cpu": 0}, ("cpu",)),
        ({"memory": 99_999}, ("memory",)),
        ({"accessibility": "WORLD"}, ("accessibility",)),
        ({"instance_type": "db.t3.medium"}, ("instance_type",)),
        ({"disk_type": "gp3"}, ("disk_type",)),
        ({"name": "", "version": "17"}, ("name",)),
        ({"version": "17", "storage": 1}, ("storage",)),  # nothing of a refused edit is kept
    ]
    for edit, words in edits:
        bad(await catalog.api.put(f"/database/{did}", json=edit), *words)
    r = await catalog.api.put(f"/database/{did}", json={"name": "CACHE", "version": "17"})
    assert r.status_code == 409 and "already taken" in r.json()["detail"]
    assert (await catalog.api.get(f"/database/{did}")).json() == before
    assert await stored_config(catalog, did) == config
    assert [s for s, _ in await events(catalog, did)] == ["evt.catalog.service.created"]


async def test_databases_are_found_by_kind_and_join_the_database_stage(
    catalog: Catalog,  # noqa: F811
    spec: dict[str, Any],
) -> None:
    eid, registry, _ = await environment(catalog)
    did = (await catalog.api.post(f"/environment/{eid}/database", json=db_body())).json()["id"]
    container = {"name": "web", "registry_id": registry, "image_name": "nginx", "tag": "1"}
    cid = (await catalog.api.post(f"/environment/{eid}/container", json=container)).json()["id"]

    # a container is no database and a database no container
    assert (await catalog.api.get(f"/database/{cid}")).status_code == 404
    assert (await catalog.api.get(f"/database/{cid}/masterCredentials")).status_code == 404
    assert (await catalog.api.put(f"/database/{cid}", json={"version": "17"})).status_code == 404
    assert (await catalog.api.delete(f"/database/{cid}")).status_code == 404
    assert (await catalog.api.get(f"/container/{did}")).status_code == 404
    assert (await catalog.api.get(f"/container/{cid}")).status_code == 200
    assert [d["id"] for d in (await catalog.api.get(f"/environment/{eid}/database")).json()["results"]] == [did]
    assert [c["id"] for c in (await catalog.api.get(f"/environment/{eid}/container")).json()["results"]] == [cid]

    missing = uuid.uuid4()
    assert (await catalog.api.get(f"/environment/{missing}/database")).status_code == 404
    assert (await catalog.api.post(f"/environment/{missing}/database", json=db_body())).status_code == 404
    assert (await catalog.api.get(f"/database/{missing}")).status_code == 404
    assert (await catalog.api.get("/database/not-a-uuid")).status_code in (400, 404)

    stages = check(
        spec, "ListEnvironmentDeploymentStage", await catalog.api.get(f"/environment/{eid}/deploymentStage")
    )["results"]
    by_name = {s["name"]: [x["service_id"] for x in s["services"]] for s in stages}
    assert by_name["DATABASE DEFAULT"] == [did] and by_name["CONTAINER DEFAULT"] == [cid]
    [attached] = next(s for s in stages if s["name"] == "DATABASE DEFAULT")["services"]
    assert attached["service_type"] == "DATABASE"


# -- database images -----------------------------------------------------------------------------------
def test_database_images_follow_the_installation_map_and_the_cluster_mirror() -> None:
    from slipway.desired import database_image

    assert database_image("POSTGRESQL", "16") == "postgres:16"
    assert database_image("REDIS", "7", mirror="mirror.internal:5000/hub") == "mirror.internal:5000/hub/library/redis:7"
    mine = {"POSTGRESQL": "registry.internal/db/postgres:{version}-debian", "MYSQL": "bitnami/mysql:{version}"}
    assert database_image("POSTGRESQL", "15", mine) == "registry.internal/db/postgres:15-debian"
    assert database_image("POSTGRESQL", "15", mine, "m.local:5000") == "m.local:5000/db/postgres:15-debian"
    assert database_image("MYSQL", "8", mine, "m.local:5000") == "m.local:5000/bitnami/mysql:8"
    assert database_image("MONGODB", "7", mine) == "mongo:7"  # left out of the map: the official image


async def test_the_desired_state_names_each_database_image(catalog: Catalog) -> None:  # noqa: F811
    """Catalog resolves a database's image (the installation's map, the cluster's mirror) into the desired state;
    the mirror is checked as a registry address and applies to the docker engine too."""
    from .test_desired_state import snapshot

    eid, _, org = await environment(catalog)
    made = await catalog.api.post(f"/environment/{eid}/database", json=db_body(type="REDIS", version="7"))
    assert made.status_code == 201, made.text

    async def image() -> str | None:
        [db] = [s for s in (await snapshot(catalog, eid)).services if s.database]
        assert db.database is not None
        return db.database.image

    assert await image() == "redis:7"
    cluster = (await catalog.api.get(f"/organization/{org}/cluster")).json()["results"][0]["id"]
    settings_url = f"/organization/{org}/cluster/{cluster}/advancedSettings"
    current = (await catalog.api.get(settings_url)).json()
    for wrong in ("https://mirror.internal", "Mirror.Internal", "mirror.internal/", "a b"):
        bad(await catalog.api.put(settings_url, json={**current, "slipway.database.registry_mirror": wrong}),
            "slipway.database.registry_mirror")  # fmt: skip
    mirrored = {**current, "slipway.database.registry_mirror": "mirror.internal:5000/hub"}
    assert (await catalog.api.put(settings_url, json=mirrored)).status_code == 201
    assert await image() == "mirror.internal:5000/hub/library/redis:7"


def test_an_unknown_database_type_in_the_image_map_is_refused() -> None:
    import pytest
    from pydantic import ValidationError

    from catalog.settings import CatalogSettings

    with pytest.raises(ValidationError) as refused:
        CatalogSettings(database_images={"ORACLE": "oracle:{version}"})
    assert "CATALOG_DATABASE_IMAGES" in str(refused.value) and "ORACLE" in str(refused.value)
    assert CatalogSettings(database_images={"REDIS": "r:{version}"}).database_images == {"REDIS": "r:{version}"}
