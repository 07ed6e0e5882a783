"""Edge resolver: a loopback DNS front between Caddy and aardvark-dns that answers fast and never stalls.

Caddy re-resolves each public service's edge alias every second (dynamic upstreams). aardvark-dns drops
queries while it reloads, which it does whenever any container on the machine starts or stops; Go's resolver
then waits 5 s, and so does every request behind that lookup. This front asks aardvark with short timeouts,
retries, and when aardvark stays silent answers the last good answer for that name (stale for at most
`stale_for` seconds) instead of nothing. Names look like `<alias>.<gateway with dashes>.slipway-edge.`:
the query for `<alias>.dns.podman` goes to `<gateway>:53`, so the front needs no state of its own.

Run: `python -m slipway.edgedns --listen 127.0.0.1:5354`.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import signal
import time
from collections import Counter

from slipway.dns import NXDOMAIN, SERVFAIL, TYPE_A, build_answer, parse_question, resolve_a

log = logging.getLogger("slipway.edgedns")

SUFFIX = "slipway-edge"
FIRST_TRIES = (0.1, 0.2, 0.3)  # seconds per attempt before a stale answer is acceptable
LAST_TRIES = (0.5, 1.0)  # attempts made only when there is nothing (fresh enough) to answer instead


def edge_name(alias: str, gateway: str) -> str:
    """The name Caddy resolves through the front for `alias` on the edge network whose gateway is `gateway`."""
    return f"{alias}.{gateway.replace('.', '-')}.{SUFFIX}."


def upstream_of(name: str) -> tuple[str, str] | None:
    """(the aardvark name, the gateway to ask) for an edge name; None for any other name."""
    labels = name.rstrip(".").lower().split(".")
    if len(labels) != 3 or labels[2] != SUFFIX or not labels[0]:
        return None
    try:
        gateway = ipaddress.IPv4Address(labels[1].replace("-", "."))
    except ValueError:
        return None
    if not (gateway.is_private or gateway.is_loopback):  # container networks only: never a reflector
        return None
    return f"{labels[0]}.dns.podman", str(gateway)


class EdgeResolver:
    """Answers edge names from aardvark-dns, or from its last good answer while aardvark is silent."""

    def __init__(self, upstream_port: int = 53, stale_for: float = 60.0) -> None:
        self.upstream_port = upstream_port
        self.stale_for = stale_for
        self._last: dict[str, tuple[set[str], float]] = {}  # edge name → (addresses, when answered)
        self.stats: Counter[str] = Counter()  # fresh, stale, failed, refused

    async def answer(self, data: bytes) -> bytes | None:
        question = parse_question(data)
        if question is None:
            return None  # not a query we understand: silence, as for garbage
        target = upstream_of(question.name)
        if target is None:
            self.stats["refused"] += 1
            return build_answer(question, None, NXDOMAIN)
        if question.qtype != TYPE_A:
            return build_answer(question, None)  # edge names have IPv4 addresses only
        name, gateway = target
        for timeout in FIRST_TRIES:
            if (found := await self._ask(question.name, gateway, name, timeout)) is not None:
                return build_answer(question, found)
        last = self._last.get(question.name)
        if last is not None and time.monotonic() - last[1] <= self.stale_for:
            self.stats["stale"] += 1
            log.info("aardvark-dns on %s is silent: answering %s with its last addresses", gateway, name)
            return build_answer(question, last[0])
        for timeout in LAST_TRIES:
            if (found := await self._ask(question.name, gateway, name, timeout)) is not None:
                return build_answer(question, found)
        self.stats["failed"] += 1
        log.warning("aardvark-dns on %s did not answer for %s", gateway, name)
        return build_answer(question, None, SERVFAIL)

    async def _ask(self, key: str, gateway: str, name: str, timeout: float) -> set[str] | None:
        found = await resolve_a(gateway, name, timeout=timeout, port=self.upstream_port)
        if found is not None:
            self.stats["fresh"] += 1
            now = time.monotonic()
            self._last[key] = (found, now)
            if len(self._last) > 4096:  # names of removed services: forget what is too old to be used
                self._last = {k: v for k, v in self._last.items() if now - v[1] <= self.stale_for}
        return found


class _Server(asyncio.DatagramProtocol):
    def __init__(self, resolver: EdgeResolver) -> None:
        self.resolver = resolver
        self.transport: asyncio.DatagramTransport | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram transport (selector or uvloop)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        task = asyncio.get_running_loop().create_task(self._reply(data, addr))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reply(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            response = await self.resolver.answer(data)
        except Exception:  # noqa: BLE001 - one bad query never stops the front
            log.exception("could not answer a query from %s", addr)
            return
        if response is not None and self.transport is not None:
            self.transport.sendto(response, addr)


async def serve(host: str, port: int, resolver: EdgeResolver) -> asyncio.DatagramTransport:
    """Listen on `host:port` (UDP); close the returned transport to stop."""
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: _Server(resolver), local_addr=(host, port)
    )
    return transport


async def _main(host: str, port: int, upstream_port: int, stale_for: float) -> None:
    resolver = EdgeResolver(upstream_port, stale_for)
    transport = await serve(host, port, resolver)
    log.warning("edge resolver listening on %s:%d (udp), asking aardvark-dns on port %d", host, port, upstream_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    transport.close()
    log.warning("edge resolver stopped: %s", dict(resolver.stats))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m slipway.edgedns", description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="127.0.0.1:5354", help="host:port to answer on (UDP)")
    parser.add_argument("--upstream-port", type=int, default=53, help="aardvark-dns's port on each gateway")
    parser.add_argument("--stale-for", type=float, default=60.0, help="seconds a last answer may stand in")
    args = parser.parse_args()
    host, _, port = args.listen.rpartition(":")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(_main(host or "127.0.0.1", int(port), args.upstream_port, args.stale_for))


if __name__ == "__main__":
    main()
