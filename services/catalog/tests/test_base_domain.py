"""The base domain of generated hosts: an installation default (CATALOG_BASE_DOMAIN) and a cluster's own
`slipway_base_domain`; links, built-in variables and the deployer's desired state all follow it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import ValidationError

from catalog.main import create_app
from catalog.settings import CatalogSettings
from slipway_stack.testing import serve

from .test_clone_services import build_world
from .test_clusters import KEY, ON_PREMISE, Catalog, Signed, bad, user_principal
from .test_desired_state import snapshot


@pytest.fixture
async def apps_catalog(database_url: str, nats_server) -> AsyncIterator[Catalog]:  # type: ignore[no-untyped-def]
    settings = CatalogSettings(
        database_url=database_url, nats_url=nats_server.url, internal_auth_key=KEY, base_domain="Apps.Slipway.DEV."
    )
    app = create_app(settings)
    async with serve(app) as url, httpx.AsyncClient(base_url=url, auth=Signed(user_principal()), timeout=30) as api:
        yield Catalog(app, settings, api, url)


async def generated_hosts(cat: Catalog, container_id: str) -> list[str]:
    """The container's link hosts except its custom domains (build_world gives it one)."""
    links = (await cat.api.get(f"/container/{container_id}/link")).json()["results"]
    hosts = [str(link["url"]).split("://", 1)[1].split(":")[0] for link in links]
    return [h for h in hosts if not h.endswith("example.org")]


async def test_the_installation_default_names_new_clusters_hosts(apps_catalog: Catalog) -> None:
    cat = apps_catalog
    w = await build_world(cat)
    [default] = (await cat.api.get(f"/organization/{w.organization}/cluster")).json()["results"]
    assert default["slipway_base_domain"] == "apps.slipway.dev"  # normalised: lower case, no final dot
    hosts = await generated_hosts(cat, w.web)
    assert hosts and all(h.endswith(".apps.slipway.dev") for h in hosts), hosts
    state = await snapshot(cat, w.environment)
    assert state.cluster.base_domain == "apps.slipway.dev"
    web = state.service(w.web)
    assert web is not None and any(v.endswith(".apps.slipway.dev") for k, v in web.env.items() if "HOST_EXTERNAL" in k)

    # a cluster may name its own; editing it moves the links (the routes follow at the next deploy)
    mine = await cat.api.post(
        f"/organization/{w.organization}/cluster",
        json={**ON_PREMISE, "name": "edge-b", "slipway_engine": "podman", "slipway_engine_host": "unix:///run/b.sock",
              "slipway_base_domain": "B.example.org"},
    )  # fmt: skip
    assert mine.status_code == 201, mine.text
    assert mine.json()["slipway_base_domain"] == "b.example.org"
    edited = await cat.api.put(
        f"/organization/{w.organization}/cluster/{default['id']}",
        json={**ON_PREMISE, "name": default["name"], "slipway_base_domain": "eu.apps.slipway.dev"},
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["slipway_base_domain"] == "eu.apps.slipway.dev"
    hosts = await generated_hosts(cat, w.web)
    assert hosts and all(h.endswith(".eu.apps.slipway.dev") for h in hosts), hosts


async def test_a_bad_base_domain_is_a_400_and_changes_nothing(apps_catalog: Catalog) -> None:
    cat = apps_catalog
    org = str(uuid.uuid4())
    [default] = (await cat.api.get(f"/organization/{org}/cluster")).json()["results"]
    for value in ("-bad.example.com", "a..b", "10.0.0.1", "under_score.dev", "x" * 181, "", "a b.dev", "é.dev"):
        body = {**ON_PREMISE, "name": default["name"], "slipway_base_domain": value}
        bad(await cat.api.put(f"/organization/{org}/cluster/{default['id']}", json=body), "slipway_base_domain")
        created = {**ON_PREMISE, "name": f"c-{uuid.uuid4().hex[:6]}", "slipway_engine": "podman",
                   "slipway_engine_host": "unix:///run/x.sock", "slipway_base_domain": value}  # fmt: skip
        r = await cat.api.post(f"/organization/{org}/cluster", json=created)
        if value == "":
            assert r.status_code == 201  # empty: the installation default
            assert r.json()["slipway_base_domain"] == "apps.slipway.dev"
        else:
            bad(r, "slipway_base_domain")
    [again, *_] = (await cat.api.get(f"/organization/{org}/cluster")).json()["results"]
    assert again["slipway_base_domain"] == "apps.slipway.dev"


def test_a_bad_installation_default_stops_the_catalog_at_start() -> None:
    with pytest.raises(ValidationError, match="CATALOG_BASE_DOMAIN"):
        CatalogSettings(base_domain="not a domain")
