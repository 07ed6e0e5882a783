"""Generated public host names are unique across the whole installation, readable and kept for life; the
migration that introduced that rule de-duplicates hosts created before it."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import create_async_engine

from slipway.db import async_url
from slipway.migrate import migrations_dir
from slipway.migrations import alembic_config, upgrade

from .test_clusters import Catalog, catalog  # noqa: F401  (fixture)
from .test_databases import stored_config


async def tenant(cat: Catalog, service: str = "web", env: str = "dev") -> tuple[str, str, str]:
    """A new organization with project `shop`, environment `env` and a public container `service`:
    (environment id, container id, its default public host)."""
    org = uuid.uuid4()
    registry = (await cat.api.get(f"/organization/{org}/containerRegistry")).json()["results"][0]["id"]
    pid = (await cat.api.post(f"/organization/{org}/project", json={"name": "shop"})).json()["id"]
    eid = (await cat.api.post(f"/project/{pid}/environment", json={"name": env})).json()["id"]
    body: dict[str, Any] = {
        "name": service,
        "registry_id": registry,
        "image_name": "nginx",
        "tag": "1",
        "ports": [
            {"internal_port": 80, "publicly_accessible": True, "protocol": "HTTP"},
            {"internal_port": 8080, "publicly_accessible": True, "protocol": "HTTP"},
        ],
    }
    created = await cat.api.post(f"/environment/{eid}/container", json=body)
    assert created.status_code == 201, created.text
    cid = created.json()["id"]
    links = (await cat.api.get(f"/container/{cid}/link")).json()["results"]
    return eid, cid, links[0]["url"].split("://", 1)[1].split(":")[0]


async def test_identical_names_in_two_organizations_get_different_hosts(catalog: Catalog) -> None:  # noqa: F811
    env_a, web_a, host_a = await tenant(catalog)
    _, web_b, host_b = await tenant(catalog)
    assert host_a == "web-dev.localhost"  # the first keeps the readable form
    assert host_b == f"web-dev-z{web_b.replace('-', '')[:8]}.localhost" and host_b != host_a
    # stable across an environment rename and an edit of the service
    assert (await catalog.api.put(f"/environment/{env_a}", json={"name": "staging"})).status_code == 200
    assert (await stored_config(catalog, web_a))["host_slug"] == "web-dev"
    # a name that reads like another service's port host (p8080-web-dev) never takes the plain form
    _, port_like, host_c = await tenant(catalog, service="p8080-web")
    assert host_c == f"p8080-web-dev-z{port_like.replace('-', '')[:8]}.localhost"
    links = [x["url"] for x in (await catalog.api.get(f"/container/{web_a}/link")).json()["results"]]
    assert "https://p8080-web-dev.localhost" in links and all(host_c not in x for x in links)


async def test_the_migration_renames_duplicates_and_enforces_uniqueness(catalog: Catalog, database_url: str) -> None:  # noqa: F811
    from alembic import command

    ids = [(await tenant(catalog, service=f"web{n}"))[1] for n in range(3)]
    config = alembic_config(migrations_dir("catalog"), database_url, "catalog")
    await asyncio.to_thread(command.downgrade, config, "0007")
    engine = create_async_engine(async_url(database_url))
    try:
        async with engine.begin() as conn:  # hosts as the old per-cluster rule let them be
            for n, sid in enumerate(ids):
                await conn.execute(
                    text(
                        "UPDATE catalog.services SET config = jsonb_set(config, '{host_slug}', '\"web-dev\"'), "
                        "created_at = now() + make_interval(secs => :n) WHERE id = :i"
                    ),
                    {"n": n, "i": uuid.UUID(sid)},
                )
        await asyncio.to_thread(upgrade, migrations_dir("catalog"), database_url, "catalog")
        async with engine.begin() as conn:
            rows = await conn.execute(text("SELECT config->>'host_slug' FROM catalog.services ORDER BY created_at"))
            slugs = [slug for (slug,) in rows]
        assert slugs == ["web-dev", *(f"web-dev-z{sid.replace('-', '')[:8]}" for sid in ids[1:])]
        with pytest.raises(IntegrityError, match="uq_services_host_slug"):
            async with engine.begin() as conn:
                await conn.execute(
                    text("UPDATE catalog.services SET config = jsonb_set(config, '{host_slug}', '\"web-dev\"')")
                )
    finally:
        await engine.dispose()
