"""Custom domains of applications and containers on the catalog app itself: Qovery's codes and schemas.

Also holds `application()`, which inserts an APPLICATION service row the way catalog stores one.
"""

from __future__ import annotations

import uuid
from typing import Any

from catalog.models import Environment, Service
from slipway_stack.qovery_spec import check

from .test_clusters import Catalog, bad, catalog  # noqa: F401  (fixture)
from .test_databases import db_body, environment, events, stored_config

HTTP = {"internal_port": 8080, "publicly_accessible": True, "protocol": "HTTP"}


def port_row(internal: int, *, public: bool = True, default: bool = False, protocol: str = "HTTP") -> dict[str, Any]:
    """A port as catalog stores it in a service's `config["ports"]`."""
    return {
        "id": str(uuid.uuid4()),
        "name": f"p{internal}",
        "internal_port": internal,
        "external_port": 443 if public else None,
        "publicly_accessible": public,
        "is_default": default,
        "protocol": protocol,
        "public_path": None,
        "public_path_rewrite": None,
    }


async def application(cat: Catalog, eid: str, name: str = "api", ports: list[dict[str, Any]] | None = None) -> str:
    """An APPLICATION row with the config shape applications share with containers (ports, host_slug)."""
    sid = uuid.uuid4()
    async with cat.app.state.db.transaction() as session:
        env = await session.get(Environment, uuid.UUID(eid))
        assert env is not None
        session.add(
            Service(
                id=sid,
                organization_id=env.organization_id,
                project_id=env.project_id,
                environment_id=env.id,
                kind="APPLICATION",
                name=name,
                config={"ports": ports if ports is not None else [port_row(3000, default=True)], "host_slug": name},
            )
        )
    return str(sid)


async def container(cat: Catalog, eid: str, registry: str, name: str = "web", **extra: Any) -> str:
    body = {"name": name, "registry_id": registry, "image_name": "nginx", "tag": "1", "ports": [HTTP], **extra}
    r = await cat.api.post(f"/environment/{eid}/container", json=body)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def test_container_custom_domain_crud_matches_the_spec(catalog: Catalog, spec: dict[str, Any]) -> None:  # noqa: F811
    eid, registry, _ = await environment(catalog)
    cid = await container(catalog, eid, registry)
    host = f"{(await stored_config(catalog, cid))['host_slug']}.localhost"  # the default cluster's base domain
    base = f"/container/{cid}/customDomain"
    assert check(spec, "listContainerCustomDomain", await catalog.api.get(base)) == {"results": []}

    body = {"domain": "  Shop.Example.COM ", "generate_certificate": True}
    created = check(spec, "createContainerCustomDomain", await catalog.api.post(base, json=body))
    assert created["domain"] == "shop.example.com" and created["validation_domain"] == host
    assert created["status"] == "VALIDATION_PENDING"
    assert created["generate_certificate"] is True and created["use_cdn"] is False
    wildcard = check(
        spec,
        "createContainerCustomDomain",
        await catalog.api.post(
            base, json={"domain": "*.shop.example.com", "generate_certificate": False, "use_cdn": True}
        ),
    )
    assert wildcard["domain"] == "*.shop.example.com" and wildcard["use_cdn"] is True
    listed = check(spec, "listContainerCustomDomain", await catalog.api.get(base))
    assert listed["results"] == [created, wildcard]

    edit = {"domain": "store.example.com", "generate_certificate": False}
    edited = check(spec, "editContainerCustomDomain", await catalog.api.put(f"{base}/{wildcard['id']}", json=edit))
    assert edited["id"] == wildcard["id"] and edited["domain"] == "store.example.com"
    assert edited["generate_certificate"] is False and edited["use_cdn"] is True  # left out: kept
    assert edited["created_at"] == wildcard["created_at"]
    same = {"domain": "SHOP.example.com", "generate_certificate": True, "use_cdn": True}
    kept = check(spec, "editContainerCustomDomain", await catalog.api.put(f"{base}/{created['id']}", json=same))
    assert kept["domain"] == "shop.example.com" and kept["use_cdn"] is True  # its own domain is no conflict

    check(spec, "deleteContainerCustomDomain", await catalog.api.delete(f"{base}/{created['id']}"))
    assert (await catalog.api.delete(f"{base}/{created['id']}")).status_code == 404
    assert [d["domain"] for d in (await catalog.api.get(base)).json()["results"]] == ["store.example.com"]

    # the edge re-routes on each change: one service.updated per write, ids only
    emitted = await events(catalog, cid)
    assert [s for s, _ in emitted] == ["evt.catalog.service.created", *["evt.catalog.service.updated"] * 5]
    assert emitted[-1][1] == {"service_id": cid, "environment_id": eid, "kind": "CONTAINER"}

    # a deleted container takes its domains along: the name is free again
    assert (await catalog.api.delete(f"/container/{cid}")).status_code == 204
    other = await container(catalog, eid, registry, name="web2")
    r = await catalog.api.post(f"/container/{other}/customDomain", json={**edit, "generate_certificate": True})
    assert r.status_code == 201, r.text


async def test_application_custom_domain_crud_matches_the_spec(catalog: Catalog, spec: dict[str, Any]) -> None:  # noqa: F811
    eid, _, _ = await environment(catalog)
    aid = await application(catalog, eid, name=f"api-{uuid.uuid4().hex[:6]}")
    base = f"/application/{aid}/customDomain"
    created = check(
        spec,
        "createApplicationCustomDomain",
        await catalog.api.post(base, json={"domain": "api.example.org", "generate_certificate": True}),
    )
    assert created["validation_domain"] == f"{(await stored_config(catalog, aid))['host_slug']}.localhost"
    assert check(spec, "listApplicationCustomDomain", await catalog.api.get(base))["results"] == [created]
    edit = {"domain": "api2.example.org", "generate_certificate": True, "use_cdn": True}
    edited = check(spec, "editCustomDomain", await catalog.api.put(f"{base}/{created['id']}", json=edit))
    assert edited["domain"] == "api2.example.org" and edited["use_cdn"] is True
    check(spec, "deleteCustomDomain", await catalog.api.delete(f"{base}/{created['id']}"))
    assert (await catalog.api.get(base)).json()["results"] == []
    assert [s for s, _ in await events(catalog, aid)] == ["evt.catalog.service.updated"] * 3


async def test_domains_are_validated(catalog: Catalog) -> None:  # noqa: F811
    eid, registry, _ = await environment(catalog)
    cid = await container(catalog, eid, registry)
    base = f"/container/{cid}/customDomain"
    cases: list[tuple[str, str]] = [
        ("https://shop.example.com", "scheme"),
        ("shop.example.com/cart", "path"),
        ("shop.example.com:8443", "port"),
        ("localhost-only", "two labels"),
        ("com", "two labels"),
        ("shop..example.com", "empty label"),
        ("shop.example.com.", "empty label"),
        (".example.com", "empty label"),
        ("-shop.example.com", "-shop"),
        ("shop-.example.com", "shop-"),
        ("sh_op.example.com", "sh_op"),
        ("shop example.com", "shop example"),
        ("a." + "b" * 64 + ".com", "b" * 64),
        (".".join(["abcdefghi"] * 26) + ".com", "253"),
        ("shop.*.example.com", "'*'"),
        ("*example.com", "*example"),
        ("*.com", "two labels"),
        ("10.0.0.1", "IP address"),
        ("café.example.com", "xn--"),
        ("web.localhost", "localhost"),  # the default cluster's base domain: Slipway's own hosts live there
        ("localhost.", "empty label"),
    ]
    for domain, word in cases:
        bad(await catalog.api.post(base, json={"domain": domain, "generate_certificate": True}), "domain", word)
    bad(await catalog.api.post(base, json={"generate_certificate": True}), "domain")
    bad(await catalog.api.post(base, json={"domain": "ok.example.com"}), "generate_certificate")
    bad(await catalog.api.post(base, json={"domain": "", "generate_certificate": True}), "domain")
    bad(await catalog.api.post(base, json={"domain": "ok.example.com", "generate_certificate": "maybe"}), "generate")
    assert (await catalog.api.get(base)).json()["results"] == []

    made = (await catalog.api.post(base, json={"domain": "ok.example.com", "generate_certificate": True})).json()
    bad(await catalog.api.put(f"{base}/{made['id']}", json={"domain": "http://x.io", "generate_certificate": True}))
    assert (await catalog.api.get(base)).json()["results"] == [made]
    assert [s for s, _ in await events(catalog, cid)] == ["evt.catalog.service.created", "evt.catalog.service.updated"]


async def test_a_domain_routes_to_one_service_in_the_installation(catalog: Catalog) -> None:  # noqa: F811
    eid, registry, _ = await environment(catalog)
    other_eid, other_registry, _ = await environment(catalog)  # another organization
    cid = await container(catalog, eid, registry)
    aid = await application(catalog, eid, name=f"api-{uuid.uuid4().hex[:6]}")
    foreign = await container(catalog, other_eid, other_registry)
    domain = f"{uuid.uuid4().hex[:8]}.example.net"
    first = await catalog.api.post(
        f"/container/{cid}/customDomain", json={"domain": domain, "generate_certificate": True}
    )
    assert first.status_code == 201
    for path in (f"/container/{cid}", f"/application/{aid}", f"/container/{foreign}"):
        r = await catalog.api.post(
            f"{path}/customDomain", json={"domain": domain.upper(), "generate_certificate": True}
        )
        assert r.status_code == 409 and domain in r.json()["detail"], r.text

    second = await catalog.api.post(
        f"/application/{aid}/customDomain", json={"domain": f"www.{domain}", "generate_certificate": True}
    )
    assert second.status_code == 201
    r = await catalog.api.put(
        f"/application/{aid}/customDomain/{second.json()['id']}", json={"domain": domain, "generate_certificate": True}
    )
    assert r.status_code == 409
    assert (await catalog.api.get(f"/application/{aid}/customDomain")).json()["results"][0]["domain"] == f"www.{domain}"


async def test_ids_of_another_kind_or_service_are_not_found(catalog: Catalog) -> None:  # noqa: F811
    eid, registry, _ = await environment(catalog)
    cid = await container(catalog, eid, registry)
    aid = await application(catalog, eid, name=f"api-{uuid.uuid4().hex[:6]}")
    did = (await catalog.api.post(f"/environment/{eid}/database", json=db_body())).json()["id"]
    new = {"domain": f"{uuid.uuid4().hex[:8]}.example.com", "generate_certificate": True}
    on_container = (await catalog.api.post(f"/container/{cid}/customDomain", json=new)).json()

    # the path's id must be a service of the path's kind
    for path in (f"/application/{cid}", f"/container/{aid}", f"/container/{did}", f"/application/{uuid.uuid4()}"):
        assert (await catalog.api.get(f"{path}/customDomain")).status_code == 404, path
        assert (await catalog.api.post(f"{path}/customDomain", json=new)).status_code == 404, path
    r = await catalog.api.get(f"/container/{aid}/customDomain")
    assert r.json()["detail"] == "container not found"

    # a domain of one service is not reachable through another
    foreign = f"/application/{aid}/customDomain/{on_container['id']}"
    assert (await catalog.api.put(foreign, json=new)).status_code == 404
    assert (await catalog.api.delete(foreign)).status_code == 404
    other = await container(catalog, eid, registry, name="web2")
    assert (await catalog.api.delete(f"/container/{other}/customDomain/{on_container['id']}")).status_code == 404
    unknown = f"/container/{cid}/customDomain/{uuid.uuid4()}"
    assert (await catalog.api.put(unknown, json=new)).status_code == 404
    assert (await catalog.api.delete(unknown)).status_code == 404
    assert (await catalog.api.get(f"/container/{cid}/customDomain")).json()["results"] == [on_container]
