"""Deleting an organization, project, environment or service announces every workload below it to the deployer,
with the cluster it ran on (engine and address, never a secret), before the rows cascade away."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from catalog.models import Environment, Project, Service
from catalog.organization.service import remove

from .test_clone_services import _events_since, _last_seq, build_world
from .test_clusters import Catalog, catalog  # noqa: F401  (fixture)


async def test_deleting_an_organization_announces_everything_it_ran(catalog: Catalog) -> None:  # noqa: F811
    w = await build_world(catalog)
    other = await build_world(catalog)  # another organization: untouched
    cluster = (await catalog.api.get(f"/organization/{w.organization}/cluster")).json()["results"][0]
    second_env = (await catalog.api.post(f"/project/{w.project}/environment", json={"name": "second"})).json()
    services = {w.app, w.web, w.db, w.job}
    seq = await _last_seq(catalog)
    async with catalog.app.state.db.transaction() as session:
        await remove(session, uuid.UUID(w.organization))
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
