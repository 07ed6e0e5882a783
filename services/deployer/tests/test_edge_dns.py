"""The edge's DNS: parsing answers, aardvark-dns converging on a real Podman network, and Caddy served through
the edge resolver while aardvark is silent."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
import uuid

import httpx
import psutil

from deployer.edge.caddy import CaddyEdge, DynamicUpstreams, Route
from slipway.dns import _query, parse_a_records, resolve_a, wait_for_answer
from slipway.edgedns import edge_name
from slipway_stack.engine import BASE_IMAGE, ContainerEngine


def _answer(ident: int, name: str, addresses: list[str], rcode: int = 0) -> bytes:
    question = _query(name, ident)[12:]
    header = struct.pack("!HHHHHH", ident, 0x8180 | rcode, 1, len(addresses), 0, 0)
    records = b"".join(b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + socket.inet_aton(a) for a in addresses)
    return header + question + records


def test_parsing_answers() -> None:
    assert parse_a_records(_answer(7, "e-x.dns.podman", ["10.0.0.2", "10.0.0.3"]), 7) == {"10.0.0.2", "10.0.0.3"}
    assert parse_a_records(_answer(7, "e-x.dns.podman", ["10.0.0.2"]), 8) is None  # someone else's answer
    assert parse_a_records(_answer(7, "e-x.dns.podman", [], rcode=3), 7) == set()  # NXDOMAIN: no address
    assert parse_a_records(_answer(7, "e-x.dns.podman", [], rcode=2), 7) is None  # SERVFAIL: no answer
    assert parse_a_records(b"\x00", 7) is None


async def test_a_silent_server_is_no_answer_not_an_empty_one() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:  # receives, never answers
        silent.bind(("127.0.0.1", 0))
        assert await resolve_a("127.0.0.1", "e-x.dns.podman", timeout=0.3, port=silent.getsockname()[1]) is None


def network_with_aliased_container(api: httpx.Client, name: str, alias: str, cmd: list[str]) -> str:
    """A network `name` and a container (also `name`) on it answering to `alias`; the container's id."""
    assert api.post("/networks/create", json={"Name": name}).status_code in (200, 201)
    created = api.post(
        "/containers/create",
        params={"name": name},
        json={
            "Image": BASE_IMAGE,
            "Cmd": cmd,
            "Labels": {"slipway.test": "dns"},
            "HostConfig": {"NetworkMode": name},
            "NetworkingConfig": {"EndpointsConfig": {name: {"Aliases": [alias]}}},
        },
    )
    assert created.status_code == 201, created.text
    return str(created.json()["Id"])


async def test_aardvark_answers_an_alias_until_it_is_removed(engine: ContainerEngine) -> None:
    name, alias = f"slipway-dnstest-{uuid.uuid4().hex[:6]}", f"e-{uuid.uuid4().hex}"
    with engine.client() as api:
        cid = network_with_aliased_container(api, name, alias, ["sleep", "60"])
        try:
            assert api.post(f"/containers/{cid}/start").status_code == 204
            info = api.get(f"/containers/{cid}/json").json()
            ip = info["NetworkSettings"]["Networks"][name]["IPAddress"]
            gateway = api.get(f"/networks/{name}").json()["IPAM"]["Config"][0]["Gateway"]
            assert await wait_for_answer(gateway, f"{alias}.dns.podman", lambda found: found == {ip}, timeout=10)
            assert await resolve_a(gateway, f"nothing-{alias}.dns.podman") == set()
            assert api.post(f"/networks/{name}/disconnect", json={"Container": cid}).status_code == 200
            assert await wait_for_answer(gateway, f"{alias}.dns.podman", lambda found: not found, timeout=10)
        finally:
            api.delete(f"/containers/{cid}", params={"force": "true"})
            api.delete(f"/networks/{name}")


def _aardvarks_on(gateway: str) -> list[psutil.Process]:
    """The aardvark-dns process(es) answering on `gateway`."""
    found = []
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] != "aardvark-dns":
            continue
        with contextlib.suppress(psutil.Error):
            if any(c.laddr and c.laddr.ip == gateway for c in proc.net_connections(kind="udp")):
                found.append(proc)
    return found


async def _freeze(gateway: str, name: str, frozen: list[psutil.Process]) -> None:
    """Suspend every aardvark-dns answering on `gateway` (appended to `frozen`) until `name` gets no answer there;
    Podman may start another aardvark-dns for the network meanwhile, so it is looked for again."""
    for _ in range(5):
        fresh = [p for p in _aardvarks_on(gateway) if p.pid not in {f.pid for f in frozen}]
        for proc in fresh:
            proc.suspend()
            frozen.append(proc)
        assert frozen, "no aardvark-dns process answers on the network's gateway"
        if await resolve_a(gateway, name, timeout=0.5) is None:
            return
    listing = await asyncio.create_subprocess_exec("ss", "-lunp", "sport = :53", stdout=asyncio.subprocess.PIPE)
    sockets = (await listing.communicate())[0].decode(errors="replace")
    seen = [(p.pid, p.info["name"]) for p in psutil.process_iter(["name"]) if "aardvark" in (p.info["name"] or "")]
    raise AssertionError(f"{gateway} still answers for {name} with {[f.pid for f in frozen]} suspended; "
                         f"aardvark processes {seen}; sockets:\n{sockets}")  # fmt: skip


async def test_caddy_keeps_serving_while_aardvark_is_frozen(engine: ContainerEngine, edge, edge_resolver) -> None:  # type: ignore[no-untyped-def]
    """aardvark-dns goes silent while it reloads (any container starting or stopping): through the edge resolver,
    Caddy's lookups get the last answer and requests keep succeeding. Here aardvark is frozen outright."""
    name, alias, sid = f"slipway-dnsfreeze-{uuid.uuid4().hex[:6]}", f"e-{uuid.uuid4().hex}", str(uuid.uuid4())
    host = f"freeze-{sid[:8]}.localhost"
    caddy = CaddyEdge(edge.admin_url, edge.http_port, edge.https_port)
    with engine.client() as api:
        serve = "mkdir -p /w && echo frozen-ok > /w/index.html && exec httpd -f -p 8080 -h /w"
        cid = network_with_aliased_container(api, name, alias, ["sh", "-c", serve])
        frozen: list[psutil.Process] = []
        try:
            assert api.post(f"/containers/{cid}/start").status_code == 204
            gateway = api.get(f"/networks/{name}").json()["IPAM"]["Config"][0]["Gateway"]
            assert await wait_for_answer(gateway, f"{alias}.dns.podman", bool, timeout=15)
            upstream = DynamicUpstreams(edge_name(alias, gateway), 8080, edge_resolver.address, "1s")
            await caddy.set_service_routes(sid, [Route(host, upstream)])
            async with httpx.AsyncClient(timeout=15, trust_env=False) as client:

                async def get() -> httpx.Response:
                    return await client.get(f"http://127.0.0.1:{edge.http_port}/", headers={"Host": host})

                deadline = time.monotonic() + 15
                while (await get()).text.strip() != "frozen-ok":
                    assert time.monotonic() < deadline, "the route never served"
                    await asyncio.sleep(0.2)
                await _freeze(gateway, f"{alias}.dns.podman", frozen)  # silent indeed
                statuses = []
                until = time.monotonic() + 3.5  # several of Caddy's 1 s refreshes
                while time.monotonic() < until:
                    r = await get()
                    statuses.append((r.status_code, r.text.strip()))
                    await asyncio.sleep(0.1)
                assert statuses and set(statuses) == {(200, "frozen-ok")}, statuses
            assert "is silent: answering" in edge_resolver.log_file.read_text()
        finally:
            for proc in frozen:
                with contextlib.suppress(psutil.Error):
                    proc.resume()
            await caddy.remove_service(sid)
            await caddy.aclose()
            api.delete(f"/containers/{cid}", params={"force": "true"})
            api.delete(f"/networks/{name}")
