"""The Caddy edge against a real Caddy: route ids, in-place switches, dynamic upstreams, catch-all order, TLS."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from deployer.edge import AcmeIssuer, CaddyEdge, Route, is_public_domain, tls_policies
from deployer.edge.caddy import ACME_POLICY_ID, DynamicUpstreams, HostTaken


@pytest.fixture
async def caddy(edge) -> AsyncIterator[CaddyEdge]:  # type: ignore[no-untyped-def]
    client = CaddyEdge(edge.admin_url, edge.http_port, edge.https_port)
    yield client
    for route in await client.list_routes():
        if route.service_id.startswith("edgetest-"):
            await client.remove_service(route.service_id)
    raw = await client._raw_routes()
    keep = [r for r in raw if r.get("@id") != "edgetest-catchall"]
    if len(keep) != len(raw):
        await client._call("PATCH", client._routes_path, keep)
    await client.aclose()


async def upstream_app(serve_app, body: str):  # type: ignore[no-untyped-def]
    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": f"{body} {scope['path']}".encode()})

    return serve_app(app)


async def get(edge, host: str, path: str = "/") -> httpx.Response:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(timeout=5, trust_env=False) as client:
        return await client.get(f"http://127.0.0.1:{edge.http_port}{path}", headers={"Host": host})


async def https_get(edge, host: str, timeout: float = 20.0) -> httpx.Response:  # type: ignore[no-untyped-def]
    """GET https://<host>/ through the edge; Caddy's internal CA issues the certificate in the background,
    so the handshake is retried until it has one."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(verify=False, timeout=5, trust_env=False) as client:
        while True:
            request = client.build_request(
                "GET",
                f"https://127.0.0.1:{edge.https_port}/",
                headers={"Host": host},
                extensions={"sni_hostname": host},
            )
            try:
                return await client.send(request)
            except httpx.ConnectError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)


NO_ROUTE_BODY = "No service answers on this host.\n"


async def test_routes_switch_in_place_and_sit_before_catch_all(caddy: CaddyEdge, edge, serve_app) -> None:  # type: ignore[no-untyped-def]
    sid = f"edgetest-{uuid.uuid4().hex[:8]}"
    host = f"{sid}.slipway.localhost"
    # the stack's catch-all (404 for hosts nobody serves): our routes must be inserted before it
    assert (await caddy._raw_routes())[-1]["@id"] == "slipway-no-route"
    async with await upstream_app(serve_app, "one") as one, await upstream_app(serve_app, "two") as two:
        up1, up2 = one.removeprefix("http://"), two.removeprefix("http://")
        ids = await caddy.set_service_routes(sid, [(host, up1), (f"www.{host}", up1)])
        assert ids == [f"svc-{sid}-0", f"svc-{sid}-1"]
        r = await get(edge, host, "/x")
        assert (r.status_code, r.text) == (200, "one /x")
        raw = await caddy._raw_routes()
        positions = {r.get("@id"): i for i, r in enumerate(raw)}
        assert positions[f"svc-{sid}-0"] < positions["slipway-no-route"]
        assert positions[f"svc-{sid}-1"] < positions["slipway-no-route"]

        # same hosts, new upstream: the route stays where it is, only its upstreams change
        await caddy.set_service_routes(sid, [(host, up2), (f"www.{host}", up2)])
        assert {r.get("@id"): i for i, r in enumerate(await caddy._raw_routes())} == positions
        assert (await get(edge, host)).text == "two /"
        assert (await get(edge, f"www.{host}")).text == "two /"

        # two upstreams for one host are load-balanced
        await caddy.set_service_routes(sid, [Route(host, up1), Route(host, up2)])
        assert [r.upstreams for r in await caddy.list_routes() if r.service_id == sid] == [[up1, up2]]
        seen = {(await get(edge, host)).text for _ in range(6)}
        assert seen == {"one /", "two /"}

        # a path prefix routes only that path
        await caddy.set_service_routes(sid, [(host, up1)], path_prefix="/api/")
        assert (await get(edge, host, "/api/v1")).text == "one /api/v1"
        assert (await get(edge, host, "/other")).text == NO_ROUTE_BODY

        # Caddy restarted empty (routes wiped): ensure re-applies the set
        await caddy.remove_service(sid)
        assert (await get(edge, host)).text == NO_ROUTE_BODY
        await caddy.ensure({sid: [(host, up2)]})
        assert (await get(edge, host)).text == "two /"
        assert [r.route_id for r in await caddy.list_routes() if r.service_id == sid] == [f"svc-{sid}-0"]

        await caddy.remove_service(sid)
        assert not [r for r in await caddy.list_routes() if r.service_id == sid]


async def test_https_uses_internal_ca_for_localhost_names(caddy: CaddyEdge, edge, serve_app) -> None:  # type: ignore[no-untyped-def]
    sid = f"edgetest-{uuid.uuid4().hex[:8]}"
    host = f"{sid}.slipway.localhost"
    async with await upstream_app(serve_app, "tls") as up:
        await caddy.set_service_routes(sid, [(host, up.removeprefix("http://"))])
        r = await https_get(edge, host)
        assert (r.status_code, r.text) == (200, "tls /")
        assert caddy.url(host) == f"https://{host}:{edge.https_port}"


def test_public_domain_rules() -> None:
    assert is_public_domain("shop.example.com")
    assert not is_public_domain("app.slipway.localhost")
    assert not is_public_domain("localhost")
    assert not is_public_domain("db.internal")
    assert not is_public_domain("printer.local")
    assert not is_public_domain("10.0.0.1")
    assert not is_public_domain("intranet")
    assert tls_policies(["a.localhost"]) == []
    assert tls_policies(["b.io", "a.io", "x.localhost"], email="ops@a.io") == [
        {
            "@id": ACME_POLICY_ID,
            "subjects": ["a.io", "b.io"],
            "issuers": [{"module": "acme", "email": "ops@a.io"}, {"module": "zerossl", "email": "ops@a.io"}],
        }
    ]
    # no email: Caddy's own defaults; one private directory: only it, trusting its root
    assert "issuers" not in tls_policies(["a.io"])[0]
    private = AcmeIssuer(ca="https://ca.lan/acme/directory", ca_root="/etc/ca.pem", challenge_port=8080)
    assert tls_policies(["a.io"], issuer=private)[0]["issuers"] == [
        {
            "module": "acme",
            "ca": "https://ca.lan/acme/directory",
            "trusted_roots_pem_files": ["/etc/ca.pem"],
            "challenges": {"http": {"alternate_port": 8080}, "tls-alpn": {"disabled": True}},
        }
    ]


async def test_dynamic_upstreams_route_is_sent_once(caddy: CaddyEdge, edge, serve_app) -> None:  # type: ignore[no-untyped-def]
    sid = f"edgetest-{uuid.uuid4().hex[:8]}"
    host = f"{sid}.slipway.localhost"
    dyn = DynamicUpstreams("e-nowhere.dns.podman", 8080, "127.0.0.1:9", "1s")
    writes: list[str] = []
    call = caddy._call

    async def counting(method: str, path: str, body: object = None, if_match: str | None = None) -> object:
        if method != "GET":
            writes.append(f"{method} {path}")
        return await call(method, path, body, if_match)

    caddy._call = counting  # type: ignore[method-assign]
    await caddy.set_service_routes(sid, [Route(host, dyn)])
    (route,) = [r for r in await caddy.list_routes() if r.service_id == sid]
    assert route.dynamic == dyn and route.upstreams == []
    handler = (await call("GET", f"/id/{route.route_id}"))["handle"][0]
    assert handler["dynamic_upstreams"]["name"] == "e-nowhere.dns.podman"
    assert handler["dynamic_upstreams"]["resolver"] == {"addresses": ["127.0.0.1:9"]}

    # the same route again (every rollout, every re-apply): no write, hence no Caddy reload
    writes.clear()
    await caddy.set_service_routes(sid, [Route(host, dyn)])
    await caddy.ensure({sid: [Route(host, dyn)]})
    assert writes == []

    # a new port (or resolver) replaces the route; static upstreams replace the dynamic ones and back
    moved = DynamicUpstreams("e-nowhere.dns.podman", 9090, "127.0.0.1:9", "1s")
    await caddy.set_service_routes(sid, [Route(host, moved)])
    assert writes == [f"PATCH /id/svc-{sid}-0"]
    async with await upstream_app(serve_app, "static") as up:
        await caddy.set_service_routes(sid, [(host, up.removeprefix("http://"))])
        (route,) = [r for r in await caddy.list_routes() if r.service_id == sid]
        assert route.dynamic is None and (await get(edge, host)).text == "static /"
    await caddy.set_service_routes(sid, [Route(host, dyn)])
    assert [r.dynamic for r in await caddy.list_routes() if r.service_id == sid] == [dyn]
    await caddy.remove_service(sid)


async def test_a_host_held_by_another_service_is_never_taken_over(caddy: CaddyEdge, edge, serve_app) -> None:  # type: ignore[no-untyped-def]
    first, second = f"edgetest-{uuid.uuid4().hex[:8]}", f"edgetest-{uuid.uuid4().hex[:8]}"
    host = f"web-dev-{uuid.uuid4().hex[:6]}.slipway.localhost"
    async with await upstream_app(serve_app, "one") as one, await upstream_app(serve_app, "two") as two:
        up1, up2 = one.removeprefix("http://"), two.removeprefix("http://")
        await caddy.set_service_routes(first, [(host, up1)])
        before = await caddy._raw_routes()
        with pytest.raises(HostTaken, match="already routed to another service") as taken:
            await caddy.set_service_routes(second, [(f"own.{host}", up2), (host.upper(), up2)])
        assert first not in str(taken.value)  # the holder is not named to the other tenant
        assert await caddy._raw_routes() == before  # nothing written, not even its own host
        assert (await get(edge, host)).text == "one /"
        # re-applying everything (adoption after a restart) skips the clash and routes the rest
        third = f"edgetest-{uuid.uuid4().hex[:8]}"
        await caddy.ensure({second: [(host, up2)], third: [(f"third.{host}", up2)]})
        assert (await get(edge, host)).text == "one /" and (await get(edge, f"third.{host}")).text == "two /"
        assert not [r for r in await caddy.list_routes() if r.service_id == second]
        # once the holder gave it up, the host is free
        await caddy.remove_service(first)
        await caddy.set_service_routes(second, [(host, up2)])
        assert (await get(edge, host)).text == "two /"


class _Interleaved(httpx.AsyncBaseTransport):
    """Another writer changes Caddy's routes right after this client reads them: `meanwhile` runs (once, with
    its own client) after the `nth` GET of the routes, before the write that follows it."""

    def __init__(self, meanwhile, nth: int) -> None:  # type: ignore[no-untyped-def]
        self.inner = httpx.AsyncHTTPTransport()
        self.meanwhile = meanwhile
        self.nth = nth
        self.reads = 0
        self.writes_refused = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if response.status_code == 412:
            self.writes_refused += 1
        if request.method == "GET" and request.url.path.endswith("/routes"):
            self.reads += 1
            if self.reads == self.nth:
                await response.aread()
                await self.meanwhile()
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_a_route_inserted_while_another_writer_removes_one_still_sits_before_the_catch_all(  # type: ignore[no-untyped-def]
    caddy: CaddyEdge, edge, serve_app
) -> None:
    """A deployer's insert computes its index from the routes it read; another process (the docker engine's
    edge, a restarted deployer) deleting a route in between would shift it past the catch-all (then 404 for
    ever). The write carries the routes' ETag: Caddy refuses it and the index is computed again."""
    first, second = f"edgetest-{uuid.uuid4().hex[:8]}", f"edgetest-{uuid.uuid4().hex[:8]}"
    async with await upstream_app(serve_app, "served") as up:
        target = up.removeprefix("http://")
        await caddy.set_service_routes(first, [(f"{first}.slipway.localhost", target)])

        async def other_writer() -> None:
            await caddy.remove_service(first)

        # set_service_routes reads the routes (1), then the insert reads them again (2) and writes
        interleaved = _Interleaved(other_writer, nth=2)
        racing = CaddyEdge(edge.admin_url, edge.http_port, edge.https_port, transport=interleaved)
        try:
            await racing.set_service_routes(second, [(f"{second}.slipway.localhost", target)])
        finally:
            await racing.aclose()
        raw = await caddy._raw_routes()
        ids = [r.get("@id") for r in raw]
        assert ids[-1] == "slipway-no-route" and f"svc-{second}-0" in ids, ids
        assert f"svc-{first}-0" not in ids
        r = await get(edge, f"{second}.slipway.localhost")
        assert r.status_code == 200 and r.text == "served /", r.text
        assert interleaved.writes_refused == 1  # the stale write was refused, then made again


async def test_prune_keeps_only_the_routes_of_the_services_named(caddy: CaddyEdge, edge, serve_app) -> None:  # type: ignore[no-untyped-def]
    kept, stale = f"edgetest-{uuid.uuid4().hex[:8]}", f"edgetest-{uuid.uuid4().hex[:8]}"
    async with await upstream_app(serve_app, "x") as up:
        target = up.removeprefix("http://")
        for sid in (kept, stale):
            await caddy.set_service_routes(sid, [(f"{sid}.slipway.localhost", target)])
        others = {r.service_id for r in await caddy.list_routes()} - {kept, stale}
        assert await caddy.prune(keep={kept} | others) == [stale]
        assert {r.service_id for r in await caddy.list_routes()} == {kept} | others
        assert (await get(edge, f"{kept}.slipway.localhost")).status_code == 200
        assert (await get(edge, f"{stale}.slipway.localhost")).text == NO_ROUTE_BODY
