"""The edge resolver: edge names, pass-through answers, the last good answer while aardvark is silent."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator

import pytest

from slipway.dns import _query, parse_a_records, parse_question, resolve_a
from slipway.edgedns import EdgeResolver, edge_name, serve, upstream_of


class FakeAardvark(asyncio.DatagramProtocol):
    """Answers `<name>.dns.podman` with `addresses[name]`; silent (drops every query) while `silent`."""

    def __init__(self) -> None:
        self.addresses: dict[str, set[str]] = {}
        self.silent = False
        self.asked: list[str] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram transport (selector or uvloop)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        from slipway.dns import NXDOMAIN, build_answer

        question = parse_question(data)
        assert question is not None and self.transport is not None
        self.asked.append(question.name)
        if self.silent:
            return
        found = self.addresses.get(question.name.removesuffix(".dns.podman"))
        self.transport.sendto(build_answer(question, found, 0 if found is not None else NXDOMAIN), addr)


@pytest.fixture
async def aardvark() -> AsyncIterator[tuple[FakeAardvark, int]]:
    loop = asyncio.get_running_loop()
    transport, fake = await loop.create_datagram_endpoint(FakeAardvark, local_addr=("127.0.0.1", 0))
    yield fake, transport.get_extra_info("sockname")[1]
    transport.close()


@pytest.fixture
async def front(aardvark: tuple[FakeAardvark, int]) -> AsyncIterator[tuple[EdgeResolver, int]]:
    resolver = EdgeResolver(upstream_port=aardvark[1], stale_for=60.0)
    transport = await serve("127.0.0.1", 0, resolver)
    yield resolver, transport.get_extra_info("sockname")[1]
    transport.close()


async def ask(port: int, name: str, qtype: int = 1) -> bytes:
    """The raw answer of the front to one query (10 s: far above its own retries)."""
    loop = asyncio.get_running_loop()
    got: asyncio.Future[bytes] = loop.create_future()

    class Client(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            got.set_result(data)

    query = _query(name, 4242)
    query = query[:-4] + struct.pack("!HH", qtype, 1)
    transport, _ = await loop.create_datagram_endpoint(Client, remote_addr=("127.0.0.1", port))
    try:
        transport.sendto(query)
        return await asyncio.wait_for(got, 10)
    finally:
        transport.close()


def rcode(data: bytes) -> int:
    return struct.unpack("!H", data[2:4])[0] & 0xF


def test_edge_names_carry_the_gateway_to_ask() -> None:
    name = edge_name("e-abc", "10.89.3.1")
    assert name == "e-abc.10-89-3-1.slipway-edge."
    assert upstream_of(name) == ("e-abc.dns.podman", "10.89.3.1")
    assert upstream_of("E-ABC.10-89-3-1.SLIPWAY-EDGE") == ("e-abc.dns.podman", "10.89.3.1")
    assert upstream_of("e-abc.8-8-8-8.slipway-edge.") is None  # a public address: never forwarded
    assert upstream_of("e-abc.10-89-3.slipway-edge.") is None
    assert upstream_of("e-abc.10-89-3-1.example.") is None
    assert upstream_of("x.e-abc.10-89-3-1.slipway-edge.") is None


async def test_answers_pass_through_and_follow_changes(
    aardvark: tuple[FakeAardvark, int], front: tuple[EdgeResolver, int]
) -> None:
    fake, _ = aardvark
    resolver, port = front
    name = edge_name("e-web", "127.0.0.1")
    fake.addresses["e-web"] = {"10.1.0.2", "10.1.0.3"}
    assert await resolve_a("127.0.0.1", name, timeout=10, port=port) == {"10.1.0.2", "10.1.0.3"}
    fake.addresses["e-web"] = {"10.1.0.4"}
    assert await resolve_a("127.0.0.1", name, timeout=10, port=port) == {"10.1.0.4"}
    del fake.addresses["e-web"]  # aardvark: NXDOMAIN → no address, not "no answer"
    assert await resolve_a("127.0.0.1", name, timeout=10, port=port) == set()
    assert fake.asked == ["e-web.dns.podman"] * 3 and resolver.stats["fresh"] == 3


async def test_a_silent_aardvark_gets_the_last_answer_then_servfail(
    aardvark: tuple[FakeAardvark, int], front: tuple[EdgeResolver, int]
) -> None:
    fake, _ = aardvark
    resolver, port = front
    name = edge_name("e-api", "127.0.0.1")
    fake.addresses["e-api"] = {"10.1.0.7"}
    assert await resolve_a("127.0.0.1", name, timeout=10, port=port) == {"10.1.0.7"}
    fake.silent = True
    answer = await ask(port, name)
    assert rcode(answer) == 0 and parse_a_records(answer, 4242) == {"10.1.0.7"}
    assert resolver.stats["stale"] == 1 and len(fake.asked) == 1 + 3  # three quick tries, then the last answer
    # a name never answered has nothing to stand in: SERVFAIL (Caddy retries), never a made-up address
    answer = await ask(port, edge_name("e-other", "127.0.0.1"))
    assert rcode(answer) == 2 and resolver.stats["failed"] == 1
    # aardvark back: fresh answers again
    fake.silent = False
    fake.addresses["e-api"] = {"10.1.0.8"}
    assert await resolve_a("127.0.0.1", name, timeout=10, port=port) == {"10.1.0.8"}


async def test_a_last_answer_older_than_stale_for_is_not_used(aardvark: tuple[FakeAardvark, int]) -> None:
    fake, upstream = aardvark
    resolver = EdgeResolver(upstream_port=upstream, stale_for=0.0)
    transport = await serve("127.0.0.1", 0, resolver)
    port = transport.get_extra_info("sockname")[1]
    try:
        fake.addresses["e-db"] = {"10.1.0.9"}
        name = edge_name("e-db", "127.0.0.1")
        assert await resolve_a("127.0.0.1", name, timeout=10, port=port) == {"10.1.0.9"}
        fake.silent = True
        assert rcode(await ask(port, name)) == 2 and resolver.stats["stale"] == 0
    finally:
        transport.close()


async def test_other_names_types_and_garbage(
    aardvark: tuple[FakeAardvark, int], front: tuple[EdgeResolver, int]
) -> None:
    fake, _ = aardvark
    resolver, port = front
    assert rcode(await ask(port, "example.com")) == 3  # NXDOMAIN, never forwarded anywhere
    fake.addresses["e-web"] = {"10.1.0.2"}
    aaaa = await ask(port, edge_name("e-web", "127.0.0.1"), qtype=28)
    assert rcode(aaaa) == 0 and struct.unpack("!H", aaaa[6:8])[0] == 0  # no IPv6 address, no error
    assert fake.asked == [] and resolver.stats["refused"] == 1
    assert await resolver.answer(b"\x00\x01garbage") is None
