"""Cluster DNS for the embedded node: `<service>.<namespace>.svc.cluster.local` → the Service's ClusterIP.

Debian has no CoreDNS; this resolver keeps a map of Services from a list-then-watch of the apiserver
(resumed from its resourceVersion, relisted on 410 Gone) and answers A queries on the node IP, the address
kubelet gives pods as their nameserver. Names outside the cluster domain are relayed to the host's resolver.

Run: `python -m slipway_stack.kube.dns --listen 10.244.0.1:53 --kubeconfig <file>`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import logging
import signal
import ssl
import tempfile
from pathlib import Path

import httpx

from slipway.dns import NXDOMAIN, SERVFAIL, TYPE_A, Question, build_answer, parse_question, relay

log = logging.getLogger("slipway.kube.dns")
DOMAIN = "cluster.local"


class ServiceMap:
    """`name.namespace` → ClusterIP, fed by watch events."""

    def __init__(self, domain: str = DOMAIN) -> None:
        self.domain = domain
        self.addresses: dict[str, str] = {}

    def apply(self, kind: str, service: dict) -> None:  # type: ignore[type-arg]
        meta = service.get("metadata", {})
        key = f"{meta.get('name')}.{meta.get('namespace')}"
        ip = service.get("spec", {}).get("clusterIP")
        if kind == "DELETED" or not ip or ip == "None":
            self.addresses.pop(key, None)
        else:
            self.addresses[key] = ip

    def lookup(self, name: str) -> tuple[bool, str | None]:
        """(inside the cluster domain, the address); an address only for `<svc>.<ns>.svc.<domain>`."""
        name = name.rstrip(".").lower()
        suffix = f".svc.{self.domain}"
        if name != self.domain and not name.endswith("." + self.domain):
            return False, None
        if not name.endswith(suffix):
            return True, None
        parts = name[: -len(suffix)].split(".")
        if len(parts) != 2:
            return True, None
        return True, self.addresses.get(".".join(parts))


class Resolver:
    def __init__(self, services: ServiceMap, upstream: str | None) -> None:
        self.services = services
        self.upstream = upstream

    async def answer(self, data: bytes) -> bytes | None:
        question = parse_question(data)
        if question is None:
            return None
        inside, address = self.services.lookup(question.name)
        if inside:
            if address is None:
                return build_answer(question, None, NXDOMAIN)
            return build_answer(question, {address} if question.qtype == TYPE_A else None, ttl=5)
        return await self._relay(question, data)

    async def _relay(self, question: Question, data: bytes) -> bytes:
        if self.upstream is None:
            return build_answer(question, None, SERVFAIL)
        response = await relay(self.upstream, data, timeout=2.0)
        return response if response is not None else build_answer(question, None, SERVFAIL)


class _Server(asyncio.DatagramProtocol):
    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        self.transport: asyncio.DatagramTransport | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        task = asyncio.get_running_loop().create_task(self._reply(data, addr))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reply(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            response = await self.resolver.answer(data)
        except Exception:  # noqa: BLE001 - one bad query never stops the resolver
            log.exception("could not answer a query from %s", addr)
            return
        if response is not None and self.transport is not None:
            self.transport.sendto(response, addr)


def _client(kubeconfig: Path) -> httpx.AsyncClient:
    document = json.loads(kubeconfig.read_text())
    cluster = document["clusters"][0]["cluster"]
    token = document["users"][0]["user"]["token"]
    with tempfile.NamedTemporaryFile("wb", suffix=".crt", delete=False) as ca:
        ca.write(base64.b64decode(cluster["certificate-authority-data"]))
    context = ssl.create_default_context(cafile=ca.name)
    Path(ca.name).unlink()
    return httpx.AsyncClient(
        base_url=cluster["server"],
        verify=context,
        headers={"Authorization": f"Bearer {token}"},
        timeout=httpx.Timeout(10.0, read=330.0),
    )


async def watch_services(client: httpx.AsyncClient, services: ServiceMap, stop: asyncio.Event) -> None:
    """List, then watch from the list's resourceVersion; relist after 410 Gone; retry with backoff."""
    delay = 0.5
    while not stop.is_set():
        try:
            r = await client.get("/api/v1/services")
            r.raise_for_status()
            body = r.json()
            services.addresses.clear()
            for item in body.get("items", []):
                services.apply("ADDED", item)
            version = body["metadata"]["resourceVersion"]
            log.info("cluster dns: %d services", len(services.addresses))
            while not stop.is_set():
                params = {"watch": "1", "resourceVersion": version, "timeoutSeconds": "300", "allowWatchBookmarks": "1"}
                async with client.stream("GET", "/api/v1/services", params=params) as stream:
                    stream.raise_for_status()
                    async for line in stream.aiter_lines():
                        if not line:
                            continue
                        event = json.loads(line)
                        obj = event.get("object", {})
                        if event.get("type") == "ERROR":
                            if obj.get("code") == 410:
                                raise _Gone()
                            raise RuntimeError(obj.get("message", "watch error"))
                        version = obj.get("metadata", {}).get("resourceVersion", version)
                        if event.get("type") != "BOOKMARK":
                            services.apply(event["type"], obj)
                delay = 0.5
        except _Gone:
            continue
        except (httpx.HTTPError, RuntimeError, ValueError, KeyError) as exc:
            log.warning("cluster dns: service watch failed (%s); retrying in %.1fs", exc, delay)
            try:
                await asyncio.wait_for(stop.wait(), delay)
            except TimeoutError:
                pass
            delay = min(delay * 2, 10.0)


class _Gone(Exception):
    pass


def host_nameserver() -> str | None:
    try:
        for line in Path("/etc/resolv.conf").read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "nameserver":
                return parts[1]
    except OSError:
        pass
    return None


async def _main(host: str, port: int, kubeconfig: Path) -> None:
    services = ServiceMap()
    resolver = Resolver(services, host_nameserver())
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: _Server(resolver), local_addr=(host, port))
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.warning("cluster dns listening on %s:%d (udp)", host, port)
    async with _client(kubeconfig) as client:
        watcher = asyncio.create_task(watch_services(client, services, stop))
        await stop.wait()
        watcher.cancel()
    transport.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m slipway_stack.kube.dns", description=__doc__.splitlines()[0])
    parser.add_argument("--listen", required=True, help="host:port to answer on (UDP)")
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--state", help="the cluster's state directory (identifies the process)")
    args = parser.parse_args()
    host, _, port = args.listen.rpartition(":")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(_main(host, int(port), args.kubeconfig))


if __name__ == "__main__":
    main()
