"""Requests through the edge while other containers come and go on the same networks.

Baseline: what Podman gives — Caddy resolves the service's alias by asking aardvark-dns itself, on a bridge
whose MAC address follows its ports. Slipway: Caddy asks the edge resolver (`slipway.edgedns`: short timeouts,
last good answer while aardvark reloads) and the deployer has pinned the bridge's MAC (`deployer.runtime.
hostnet`). Both run in the same run on the same engine, in alternating rounds; two clients (one keep-alive, one
new connection per request) hammer each side's URL while containers join and leave its network.

Run: `make bench` (all benchmarks) or `.venv/bin/python bench/edge_churn.py` (BENCH_ROUNDS=N, default 2;
BENCH_CHURN=N containers per round, default 12). It starts its own Podman service, Caddy and edge resolver.
Prints, per side: requests, failures, requests slower than 1 s, p50 / p99 / max latency, and the ratios.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx

from deployer.runtime import hostnet
from slipway.edgedns import edge_name
from slipway_stack.caddy import Caddy
from slipway_stack.edgeresolver import EdgeResolver
from slipway_stack.engine import BASE_IMAGE, ContainerEngine, Registry
from slipway_stack.procs import free_port

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
CHURN = int(os.environ.get("BENCH_CHURN", "12"))
ALIAS = "websvc"
LABEL = {"slipway.bench": "edge-churn"}


class Side:
    def __init__(self, name: str, api: httpx.Client, caddy: Caddy, resolver: EdgeResolver | None) -> None:
        self.name, self.api, self.caddy, self.resolver = name, api, caddy, resolver
        self.network = f"slipway-bench-{name}-{uuid.uuid4().hex[:6]}"
        self.host = f"{name}.bench.localhost"
        self.latencies: list[float] = []
        self.failures: list[str] = []

    def run(self, name: str, cmd: list[str], alias: bool = False) -> str:
        endpoint = {"Aliases": [ALIAS]} if alias else {}
        r = self.api.post(
            "/containers/create",
            params={"name": name},
            json={
                "Image": BASE_IMAGE,
                "Cmd": cmd,
                "Labels": LABEL,
                "HostConfig": {"NetworkMode": self.network, "Init": True},
                "NetworkingConfig": {"EndpointsConfig": {self.network: endpoint}},
            },
        )
        r.raise_for_status()
        cid = str(r.json()["Id"])
        self.api.post(f"/containers/{cid}/start").raise_for_status()
        return cid

    def setup(self) -> None:
        self.api.post("/networks/create", json={"Name": self.network, "Labels": LABEL}).raise_for_status()
        serve = "mkdir -p /w && echo ok > /w/index.html && exec httpd -f -p 8080 -h /w"
        self.run(f"{self.network}-web", ["sh", "-c", serve], alias=True)
        gateway = self.api.get(f"/networks/{self.network}").json()["IPAM"]["Config"][0]["Gateway"]
        if self.resolver is not None:
            assert hostnet.pin_bridge(gateway), "cannot pin the bridge (run as root on the engine's host)"
            name, resolver = edge_name(ALIAS, gateway), self.resolver.address
        else:
            name, resolver = f"{ALIAS}.dns.podman", f"{gateway}:53"
        route = {
            "@id": f"bench-{self.name}",
            "match": [{"host": [self.host]}],
            "handle": [
                {
                    "handler": "reverse_proxy",
                    "dynamic_upstreams": {
                        "source": "a",
                        "name": name,
                        "port": "8080",
                        "refresh": "1s",
                        "resolver": {"addresses": [resolver]},
                        "versions": {"ipv4": True},
                    },
                    "transport": {"protocol": "http", "dial_timeout": "1s"},
                    "load_balancing": {"try_duration": "5s", "try_interval": "100ms"},
                }
            ],
            "terminal": True,
        }
        routes = f"{self.caddy.admin_url}/config/apps/http/servers/slipway/routes"
        httpx.post(routes, json=route, timeout=10).raise_for_status()
        deadline = time.monotonic() + 30
        while self.get(httpx.Client(timeout=5)) != 200:
            assert time.monotonic() < deadline, f"{self.name}: the route never served"
            time.sleep(0.2)

    def get(self, client: httpx.Client) -> int:
        try:
            return client.get(f"http://127.0.0.1:{self.caddy.http_port}/", headers={"Host": self.host}).status_code
        except httpx.HTTPError:
            return 0

    def churn_round(self) -> None:
        stop = threading.Event()

        def probe(keep_alive: bool) -> None:
            limits = httpx.Limits(max_keepalive_connections=10 if keep_alive else 0)
            with httpx.Client(timeout=10, limits=limits, trust_env=False) as client:
                while not stop.is_set():
                    started = time.monotonic()
                    try:
                        r = client.get(f"http://127.0.0.1:{self.caddy.http_port}/", headers={"Host": self.host})
                        if r.status_code != 200:
                            self.failures.append(f"HTTP {r.status_code}")
                    except httpx.HTTPError as exc:
                        self.failures.append(repr(exc))
                    self.latencies.append(time.monotonic() - started)

        threads = [threading.Thread(target=probe, args=(k,)) for k in (True, False)]
        for t in threads:
            t.start()
        try:
            for _ in range(CHURN):
                cid = self.run(f"{self.network}-churn-{uuid.uuid4().hex[:6]}", ["sleep", "600"])
                time.sleep(0.4)
                self.api.delete(f"/containers/{cid}", params={"force": "true"})
                time.sleep(0.4)
        finally:
            stop.set()
            for t in threads:
                t.join()

    def cleanup(self) -> None:
        httpx.delete(f"{self.caddy.admin_url}/id/bench-{self.name}", timeout=10)
        filters = json.dumps({"label": ["slipway.bench=edge-churn"], "network": [self.network]})
        for c in self.api.get("/containers/json", params={"all": "true", "filters": filters}).json():
            self.api.delete(f"/containers/{c['Id']}", params={"force": "true"})
        self.api.delete(f"/networks/{self.network}")


def summary(side: Side) -> dict[str, float]:
    lat = sorted(side.latencies)
    return {
        "requests": len(lat),
        "failures": len(side.failures),
        "over_1s": sum(1 for x in lat if x > 1.0),
        "p50_ms": statistics.median(lat) * 1000,
        "p99_ms": lat[int(len(lat) * 0.99) - 1] * 1000,
        "max_ms": lat[-1] * 1000,
    }


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="slipway-bench-edge-") as tmp:
        state = Path(tmp)
        registry = Registry(state / "registry", free_port(), state / "registry.log", state / "registry.pid")
        engine = ContainerEngine(state / "engine", state / "podman.log", state / "podman.pid", None)
        caddy = Caddy(state / "caddy", free_port(), free_port(), free_port(), state / "caddy.log", state / "caddy.pid")
        resolver = EdgeResolver(free_port(udp=True), state / "edge-dns.log", state / "edge-dns.pid")
        registry.start()
        engine.start(registry=registry.address)
        engine.ensure_base_image()
        caddy.start()
        resolver.start()
        try:
            with engine.client() as api:
                sides = [Side("baseline", api, caddy, None), Side("slipway", api, caddy, resolver)]
                try:
                    for side in sides:
                        side.setup()
                    for r in range(ROUNDS):
                        for side in sides if r % 2 == 0 else reversed(sides):
                            print(f"round {r + 1}/{ROUNDS}: {side.name}, {CHURN} containers join and leave", flush=True)
                            side.churn_round()
                finally:
                    for side in sides:
                        side.cleanup()
            base, ours = summary(sides[0]), summary(sides[1])
            print(f"\n{'':<10}{'requests':>10}{'failures':>10}{'>1s':>6}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
            for name, s in (("baseline", base), ("slipway", ours)):
                print(
                    f"{name:<10}{s['requests']:>10.0f}{s['failures']:>10.0f}{s['over_1s']:>6.0f}"
                    f"{s['p50_ms']:>10.1f}{s['p99_ms']:>10.1f}{s['max_ms']:>10.1f}"
                )
            print(
                f"\nratios baseline/slipway: p99 {base['p99_ms'] / ours['p99_ms']:.1f}x, "
                f"max {base['max_ms'] / ours['max_ms']:.1f}x; failures {base['failures']:.0f} vs {ours['failures']:.0f}"
            )
            print(f"baseline failures (first 3): {sides[0].failures[:3]}")
        finally:
            resolver.stop()
            caddy.stop()
            engine.stop()
            registry.stop()


if __name__ == "__main__":
    main()
