"""Links of applications and containers on the catalog app itself: the public URLs follow ports and domains."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from catalog.main import create_app
from catalog.settings import CatalogSettings
from slipway_stack.qovery_spec import check
from slipway_stack.testing import serve

from .test_clusters import KEY, Catalog, Signed, catalog, user_principal  # noqa: F401  (fixture)
from .test_custom_domains import application, port_row
from .test_databases import db_body, environment, stored_config


@pytest.fixture
async def catalog_8443(database_url: str, nats_server) -> AsyncIterator[Catalog]:  # type: ignore[no-untyped-def]
    """A catalog whose edge answers HTTPS on 8443 (as a local stack does)."""
    settings = CatalogSettings(
        database_url=database_url, nats_url=nats_server.url, internal_auth_key=KEY, edge_https_port=8443
    )
    app = create_app(settings)
    async with serve(app) as url, httpx.AsyncClient(base_url=url, auth=Signed(user_principal()), timeout=30) as api:
        yield Catalog(app, settings, api, url)


def container_body(registry: str, ports: list[dict[str, Any]]) -> dict[str, Any]:
    return {"name": "web", "registry_id": registry, "image_name": "nginx", "tag": "1", "ports": ports}


def summary(links: list[dict[str, Any]]) -> list[tuple[str, int, int, bool, bool]]:
    return [(x["url"], x["internal_port"], x["external_port"], x["is_qovery_domain"], x["is_default"]) for x in links]


async def test_container_links_follow_its_ports_and_domains(catalog: Catalog, spec: dict[str, Any]) -> None:  # noqa: F811
    eid, registry, _ = await environment(catalog)
    ports = [
        {"internal_port": 8080, "publicly_accessible": True, "protocol": "HTTP"},
        {"internal_port": 9090, "publicly_accessible": True, "protocol": "GRPC"},
        {"internal_port": 5432, "publicly_accessible": True, "protocol": "TCP"},  # the edge routes HTTP/GRPC only
        {"internal_port": 7000, "publicly_accessible": False, "protocol": "HTTP"},
    ]
    created = await catalog.api.post(f"/environment/{eid}/container", json=container_body(registry, ports))
    assert created.status_code == 201, created.text
    cid = created.json()["id"]
    host = f"{(await stored_config(catalog, cid))['host_slug']}.localhost"
    links = check(spec, "listContainerLinks", await catalog.api.get(f"/container/{cid}/link"))["results"]
    assert summary(links) == [
        (f"https://{host}", 8080, 443, True, True),
        (f"https://p9090-{host}", 9090, 443, True, False),
    ]
    assert all(x["service_id"] == cid and x["service_type"] == "CONTAINER" for x in links)

    # custom domains reach the default port
    for domain in ("shop.example.com", "*.shop.example.com"):
        r = await catalog.api.post(
            f"/container/{cid}/customDomain", json={"domain": domain, "generate_certificate": True}
        )
        assert r.status_code == 201, r.text
    links = check(spec, "listContainerLinks", await catalog.api.get(f"/container/{cid}/link"))["results"]
    assert summary(links)[2:] == [
        ("https://shop.example.com", 8080, 443, False, True),
        ("https://*.shop.example.com", 8080, 443, False, True),
    ]

    # the GRPC port becomes the default: hosts and the custom domains' port move with it
    edited = [{**p, "is_default": p["internal_port"] == 9090} for p in ports]
    r = await catalog.api.put(f"/container/{cid}", json=container_body(registry, edited))
    assert r.status_code == 200, r.text
    links = check(spec, "listContainerLinks", await catalog.api.get(f"/container/{cid}/link"))["results"]
    assert summary(links) == [
        (f"https://p8080-{host}", 8080, 443, True, False),
        (f"https://{host}", 9090, 443, True, True),
        ("https://shop.example.com", 9090, 443, False, True),
        ("https://*.shop.example.com", 9090, 443, False, True),
    ]

    # a deleted domain is no link any more
    domains = (await catalog.api.get(f"/container/{cid}/customDomain")).json()["results"]
    assert (await catalog.api.delete(f"/container/{cid}/customDomain/{domains[1]['id']}")).status_code == 204
    links = check(spec, "listContainerLinks", await catalog.api.get(f"/container/{cid}/link"))["results"]
    assert [x["url"] for x in links if not x["is_qovery_domain"]] == ["https://shop.example.com"]

    # nothing public: no link, the custom domain has nowhere to go
    private = [{"internal_port": 8080, "publicly_accessible": False}]
    assert (await catalog.api.put(f"/container/{cid}", json=container_body(registry, private))).status_code == 200
    assert check(spec, "listContainerLinks", await catalog.api.get(f"/container/{cid}/link")) == {"results": []}
    assert (await catalog.api.put(f"/container/{cid}", json=container_body(registry, []))).status_code == 200
    assert (await catalog.api.get(f"/container/{cid}/link")).json() == {"results": []}


async def test_application_links_and_the_edge_port(catalog_8443: Catalog, spec: dict[str, Any]) -> None:
    cat = catalog_8443
    eid, _, _ = await environment(cat)
    slug = f"api-{uuid.uuid4().hex[:6]}"
    ports = [port_row(50051, protocol="GRPC"), port_row(3000, public=False), port_row(8000, default=True)]
    aid = await application(cat, eid, name=slug, ports=ports)
    r = await cat.api.post(
        f"/application/{aid}/customDomain", json={"domain": "api.example.org", "generate_certificate": True}
    )
    assert r.status_code == 201, r.text
    links = check(spec, "listApplicationLinks", await cat.api.get(f"/application/{aid}/link"))["results"]
    assert summary(links) == [
        (f"https://p50051-{slug}.localhost:8443", 50051, 8443, True, False),
        (f"https://{slug}.localhost:8443", 8000, 8443, True, True),
        ("https://api.example.org:8443", 8000, 8443, False, True),
    ]
    assert {x["service_type"] for x in links} == {"APPLICATION"} and {x["service_id"] for x in links} == {aid}

    # the default port is TCP (not routed by the edge): custom domains take the first public HTTP/GRPC one
    tcp_default = [port_row(5432, default=True, protocol="TCP"), port_row(8000)]
    other = await application(cat, eid, name=f"{slug}-b", ports=tcp_default)
    r = await cat.api.post(
        f"/application/{other}/customDomain", json={"domain": "b.example.org", "generate_certificate": True}
    )
    assert r.status_code == 201
    links = check(spec, "listApplicationLinks", await cat.api.get(f"/application/{other}/link"))["results"]
    assert summary(links) == [
        (f"https://p8000-{slug}-b.localhost:8443", 8000, 8443, True, False),
        ("https://b.example.org:8443", 8000, 8443, False, True),
    ]


async def test_links_of_another_kind_are_not_found(catalog: Catalog) -> None:  # noqa: F811
    eid, registry, _ = await environment(catalog)
    r = await catalog.api.post(f"/environment/{eid}/container", json=container_body(registry, []))
    cid = r.json()["id"]
    aid = await application(catalog, eid, name=f"api-{uuid.uuid4().hex[:6]}")
    did = (await catalog.api.post(f"/environment/{eid}/database", json=db_body())).json()["id"]
    assert (await catalog.api.get(f"/container/{cid}/link")).status_code == 200
    assert (await catalog.api.get(f"/application/{aid}/link")).status_code == 200
    for path in (f"/application/{cid}", f"/container/{aid}", f"/container/{did}", f"/application/{did}"):
        r = await catalog.api.get(f"{path}/link")
        assert r.status_code == 404 and r.json()["detail"].endswith("not found"), path
    assert (await catalog.api.get(f"/container/{uuid.uuid4()}/link")).status_code == 404
