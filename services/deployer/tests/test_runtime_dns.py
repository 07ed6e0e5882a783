"""The edge's DNS check: parsing answers, and watching aardvark-dns converge on a real Podman network."""

from __future__ import annotations

import socket
import struct
import uuid

from deployer.runtime.dnsquery import _query, parse_a_records, resolve_a, wait_for_answer
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


async def test_aardvark_answers_an_alias_until_it_is_removed(engine: ContainerEngine) -> None:
    name, alias = f"slipway-dnstest-{uuid.uuid4().hex[:6]}", f"e-{uuid.uuid4().hex}"
    with engine.client() as api:
        assert api.post("/networks/create", json={"Name": name}).status_code in (200, 201)
        created = api.post(
            "/containers/create",
            params={"name": name},
            json={
                "Image": BASE_IMAGE,
                "Cmd": ["sleep", "60"],
                "Labels": {"slipway.test": "dns"},
                "HostConfig": {"NetworkMode": name},
                "NetworkingConfig": {"EndpointsConfig": {name: {"Aliases": [alias]}}},
            },
        )
        assert created.status_code == 201, created.text
        cid = created.json()["Id"]
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
