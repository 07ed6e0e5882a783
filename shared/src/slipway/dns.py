"""DNS on the wire, just enough for the edge: A queries and answers, a one-server lookup, a convergence wait;
and which names are public (could get a certificate from a public ACME CA)."""

from __future__ import annotations

import asyncio
import ipaddress
import random
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass


def _query(name: str, ident: int) -> bytes:
    header = struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0)  # recursion desired, one question
    labels = b"".join(bytes([len(part)]) + part.encode() for part in name.rstrip(".").split("."))
    return header + labels + b"\x00" + struct.pack("!HH", 1, 1)  # type A, class IN


def _skip_name(data: bytes, offset: int) -> int:
    while True:
        length = data[offset]
        if length == 0:
            return offset + 1
        if length & 0xC0 == 0xC0:  # compression pointer
            return offset + 2
        offset += 1 + length


def parse_a_records(data: bytes, ident: int) -> set[str] | None:
    """The IPv4 addresses answered in a DNS response: empty for NXDOMAIN / no record, None when the
    response is not an answer to this query (malformed, another id, a server failure)."""
    if len(data) < 12:
        return None
    rid, flags, qd, an, _, _ = struct.unpack("!HHHHHH", data[:12])
    rcode = flags & 0x000F
    if rid != ident or rcode not in (0, 3):  # another query's answer, or a server error
        return None
    if rcode == 3:  # NXDOMAIN: the name has no address (any more)
        return set()
    offset = 12
    for _ in range(qd):
        offset = _skip_name(data, offset) + 4
    found: set[str] = set()
    for _ in range(an):
        offset = _skip_name(data, offset)
        rtype, _, _, length = struct.unpack("!HHIH", data[offset : offset + 10])
        offset += 10
        if rtype == 1 and length == 4:
            found.add(socket.inet_ntoa(data[offset : offset + 4]))
        offset += length
    return found


NOERROR, SERVFAIL, NXDOMAIN = 0, 2, 3
TYPE_A = 1


@dataclass(frozen=True)
class Question:
    """The one question of a query: its id, recursion flag, raw question bytes (echoed back), name and type."""

    ident: int
    recursion_desired: bool
    raw: bytes
    name: str
    qtype: int


def parse_question(data: bytes) -> Question | None:
    """The question of a standard query with exactly one question; None for anything else."""
    if len(data) < 12:
        return None
    ident, flags, qd, _, _, _ = struct.unpack("!HHHHHH", data[:12])
    if flags & 0x8000 or (flags >> 11) & 0xF or qd != 1:  # a response, not a QUERY, or not one question
        return None
    labels: list[str] = []
    offset = 12
    try:
        while (length := data[offset]) != 0:
            if length & 0xC0:  # no compression in a question
                return None
            labels.append(data[offset + 1 : offset + 1 + length].decode("ascii"))
            offset += 1 + length
        qtype, qclass = struct.unpack("!HH", data[offset + 1 : offset + 5])
    except (IndexError, UnicodeDecodeError, struct.error):
        return None
    return Question(ident, bool(flags & 0x0100), data[12 : offset + 5], ".".join(labels).lower(), qtype)


def build_answer(question: Question, addresses: set[str] | None, rcode: int = NOERROR, ttl: int = 1) -> bytes:
    """A response to `question`: A records for `addresses` (sorted), or just `rcode` (recursion available,
    so an empty NOERROR is not taken for a lame referral)."""
    records = sorted(addresses or ())
    flags = 0x8080 | (0x0100 if question.recursion_desired else 0) | rcode
    header = struct.pack("!HHHHHH", question.ident, flags, 1, len(records), 0, 0)
    body = b"".join(b"\xc0\x0c" + struct.pack("!HHIH", TYPE_A, 1, ttl, 4) + socket.inet_aton(a) for a in records)
    return header + question.raw + body


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.answer: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if not self.answer.done():
            self.answer.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.answer.done():
            self.answer.set_exception(exc)


async def resolve_a(server: str, name: str, timeout: float = 1.0, port: int = 53) -> set[str] | None:
    """A records of `name` from `server` (port 53); None when it gives no usable answer in time (never
    confuse "no answer" with "no address": a rollout waits for the latter)."""
    loop = asyncio.get_running_loop()
    ident = random.randint(0, 0xFFFF)
    transport, protocol = await loop.create_datagram_endpoint(_Protocol, remote_addr=(server, port))
    try:
        transport.sendto(_query(name, ident))
        return parse_a_records(await asyncio.wait_for(protocol.answer, timeout), ident)
    except (TimeoutError, OSError):
        return None
    finally:
        transport.close()


async def relay(server: str, data: bytes, timeout: float = 2.0, port: int = 53) -> bytes | None:
    """Send a raw query to `server` and return its raw response (None when it does not answer in time)."""
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(_Protocol, remote_addr=(server, port))
    try:
        transport.sendto(data)
        return await asyncio.wait_for(protocol.answer, timeout)
    except (TimeoutError, OSError):
        return None
    finally:
        transport.close()


async def wait_for_answer(
    server: str,
    name: str,
    done: Callable[[set[str]], bool],
    timeout: float = 10.0,
    interval: float = 0.1,
    port: int = 53,
) -> bool:
    """Poll `name` until `done(addresses)`; False when the server never converges within `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = await resolve_a(server, name, port=port)
        if found is not None and done(found):
            return True
        await asyncio.sleep(interval)
    return False


# names that never get a publicly trusted certificate (RFC 2606 / 6761 / 8375 and common private suffixes)
PRIVATE_SUFFIXES = ("localhost", "local", "internal", "test", "example", "invalid", "lan", "home.arpa", "localdomain")


def is_public_domain(host: str) -> bool:
    """True for names a public ACME CA could validate (not IPs, single labels or reserved suffixes)."""
    name = host.lower().rstrip(".")
    try:
        ipaddress.ip_address(name)
        return False
    except ValueError:
        pass
    if "." not in name or name.startswith("*."):
        return False
    return not any(name == s or name.endswith("." + s) for s in PRIVATE_SUFFIXES)
