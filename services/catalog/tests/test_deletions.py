"""Deleting an organization, project, environment or service announces every workload below it to the deployer,
with the cluster it ran on (engine and address, never a secret), before the rows cascade away; what each deleted
environment or service ran stays sealed in a tombstone until the deployer's uninstall drops it."""

from __future__ import annotations

import io
import uuid

import httpx
from sqlalchemy import func, select

from catalog import rotate, tombstones
from catalog.models import Environment, Project, Service
from catalog.organization.service import remove
from slipway.crypto import Keyring, generate_key, keyring_from, parse_keys
from slipway.desired import DesiredState

from .test_clone_services import _events_since, _last_seq, build_world
from .test_clusters import Catalog, catalog  # noqa: F401  (fixture)
from .test_desired_state import deployer


async def tombstone(cat: Catalog, ident: str, method: str = "GET") -> httpx.Response:
    async with httpx.AsyncClient(base_url=cat.url, timeout=30) as client:
        return await client.request(method, f"/internal/tombstone/{ident}", headers=deployer())


async def test_deleting_an_organization_announces_everything_it_ran(catalog: Catalog) -> None:  # noqa: F811
    w = await build_world(catalog)
    other = await build_world(catalog)  # another organization: untouched
    cluster = (await catalog.api.get(f"/organization/{w.organization}/cluster")).json()["results"][0]
    second_env = (await catalog.api.post(f"/project/{w.project}/environment", json={"name": "second"})).json()
    services = {w.app, w.web, w.db, w.job}
    seq = await _last_seq(catalog)
    async with catalog.app.state.db.transaction() as session:
        await remove(session, uuid.UUID(w.organization), keyring_from(catalog.settings))
    events = await _events_since(catalog, seq)

    deleted_services = {p["service_id"]: p for s, p in events if s == "evt.catalog.service.deleted"}
    assert set(deleted_services) == services
    deleted_envs = {p["environment_id"]: p for s, p in events if s == "evt.catalog.environment.deleted"}
    assert set(deleted_envs) == {w.environment, second_env["id"]}
    assert [p["project_id"] for s, p in events if s == "evt.catalog.project.deleted"] == [w.project]
    for payload in [*deleted_services.values(), *deleted_envs.values()]:
        assert payload["cluster_id"] == cluster["id"]
        assert payload["engine"] == cluster["slipway_engine"]
        assert payload["engine_host"] == cluster["slipway_engine_host"]
    # the environments are uninstalled from their tombstones; their services go with them
    assert all(p["with_environment"] and p["tombstone_id"] is None for p in deleted_services.values())
    assert {p["tombstone_id"] for p in deleted_envs.values()} == {w.environment, second_env["id"]}
    sealed = await tombstone(catalog, w.environment)
    assert sealed.status_code == 200
    state = DesiredState.model_validate(sealed.json())
    assert {s.id for s in state.services} == services and state.organization_id == w.organization
    assert "a-s3cret" in state.service(w.app).env.values()  # type: ignore[union-attr]
    assert "a-s3cret" not in await catalog.row("tombstones", w.environment)  # sealed at rest
    assert (await tombstone(catalog, second_env["id"])).json()["services"] == []
    # each environment's services are announced before the environment itself
    subjects = [s for s, _ in events]
    assert subjects.index("evt.catalog.environment.deleted") > max(
        i for i, s in enumerate(subjects) if s == "evt.catalog.service.deleted"
    )
    async with catalog.app.state.db.transaction() as session:
        left = await session.scalar(
            select(func.count()).select_from(Project).where(Project.organization_id == uuid.UUID(w.organization))
        )
        assert left == 0
        assert await session.get(Environment, uuid.UUID(w.environment)) is None
        assert await session.get(Service, uuid.UUID(other.app)) is not None


async def test_deleting_a_service_or_project_names_its_cluster(catalog: Catalog) -> None:  # noqa: F811
    w = await build_world(catalog)
    seq = await _last_seq(catalog)
    assert (await catalog.api.delete(f"/container/{w.web}")).status_code == 204
    assert (await catalog.api.delete(f"/project/{w.project}")).status_code == 204
    events = await _events_since(catalog, seq)
    first = events[0]
    assert first[0] == "evt.catalog.service.deleted" and first[1]["service_id"] == w.web
    assert first[1]["engine"] and "engine_host" in first[1]
    deleted = [p["service_id"] for s, p in events[1:] if s == "evt.catalog.service.deleted"]
    assert sorted(deleted) == sorted([w.app, w.db, w.job])
    assert [s for s, _ in events][-2:] == ["evt.catalog.environment.deleted", "evt.catalog.project.deleted"]
    # the deleted container's tombstone holds only it; the environment's holds the rest
    web = DesiredState.model_validate((await tombstone(catalog, w.web)).json())
    assert [s.id for s in web.services] == [w.web] and web.environment_id == w.environment
    assert all(st.service_ids in ([], [w.web]) for st in web.stages)
    assert first[1]["tombstone_id"] == w.web and first[1]["with_environment"] is False
    env = DesiredState.model_validate((await tombstone(catalog, w.environment)).json())
    assert sorted(s.id for s in env.services) == sorted([w.app, w.db, w.job])


async def test_a_tombstone_is_dropped_once_and_unknown_ids_are_404(catalog: Catalog) -> None:  # noqa: F811
    w = await build_world(catalog)
    assert (await catalog.api.delete(f"/environment/{w.environment}")).status_code == 204
    assert (await tombstone(catalog, w.environment)).status_code == 200
    assert (await tombstone(catalog, w.environment, "DELETE")).status_code == 204
    gone = await tombstone(catalog, w.environment)
    assert gone.status_code == 404 and gone.json()["status"] == 404
    assert (await tombstone(catalog, w.environment, "DELETE")).status_code == 204  # idempotent
    async with httpx.AsyncClient(base_url=catalog.url, timeout=30) as client:  # users never read one
        r = await client.get(f"/internal/tombstone/{w.app}")
    assert r.status_code in (401, 403)


async def test_a_tombstone_is_rotated_to_the_new_key(catalog: Catalog) -> None:  # noqa: F811
    w = await build_world(catalog)
    assert (await catalog.api.delete(f"/application/{w.app}")).status_code == 204
    new_key = generate_key()
    ring = Keyring([*parse_keys(new_key), *parse_keys(catalog.settings.encryption_keys.get_secret_value())])
    found = await rotate.rotate(catalog.app.state.db, ring, out=io.StringIO())
    assert (found["tombstones.state_encrypted"].rotated, found["tombstones.state_encrypted"].failed) == (1, 0)
    async with catalog.app.state.db.transaction() as session:
        state = await tombstones.read(session, uuid.UUID(w.app), Keyring.from_value(new_key))
    assert state is not None and [s.id for s in state.services] == [w.app]
