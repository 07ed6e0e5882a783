"""Control-plane overhead of a deployment: a prebuilt image deployed through Slipway's public API vs the same
engine calls made directly (create, start, wait until healthy), measured in the same run on the same engine.

Run: `make bench` (all benchmarks) or `.venv/bin/python bench/deploy_overhead.py` (BENCH_RUNS=N, default 7).
It starts its own stack (random ports, temporary state directory) and stops it at the end.
Both sides run the same container configuration (the service's CPU and memory limits, an init process, a
restart policy: what Slipway's driver creates) and poll readiness with the same HTTP probe (PROBE_PERIOD
seconds, default 1, Slipway's smallest probe period; Slipway also probes quickly until the first success, the
direct side at 50 ms), so the ratio measures what Slipway adds: the API, the queue, the catalog's state,
state tracking, the edge route and the log lines — not the cost of starting a container under a 0.1 CPU
quota, which both pay. (Before 2026-12-02 the direct side created the container without limits.)

Since 2026-12-05 the direct side also has Slipway's networking: the container has a DNS alias on an environment
network and joins a second (edge) network with an alias, as every public Slipway service does; the run also
reports a direct container on one plain network (`direct_one_network`, the method before) and the ratio to it.
Each measured run starts on a settled engine (BENCH_SETTLE seconds, default 3, after the previous run): a
removed container's network teardown goes on in the background after the API answered and slowed whichever side
ran next by 0.1-0.3 s. Each Slipway run's service is deleted afterwards (untimed), as the direct side removes its
container, so every run starts from the same number of containers and routes.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

RUNS = int(os.environ.get("BENCH_RUNS", "7"))
PERIOD = float(os.environ.get("PROBE_PERIOD", "1"))
# each side starts on a settled engine: the previous side's container removal (conmon, network, cgroups) finishes in
# the background after the API answered, and would otherwise slow whichever side runs next
SETTLE = float(os.environ.get("BENCH_SETTLE", "3"))
CPU_MILLI, MEMORY_MIB = 100, 64  # the service's resources, applied on both sides
DOCKERFILE = (
    "FROM localhost/slipway-busybox:latest\n"
    "RUN mkdir -p /www && echo ok > /www/index.html\n"
    'CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]\n'
)


def stack(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "slipway_stack", "--state-dir", str(state), *args],
        capture_output=True,
        text=True,
        timeout=900,
    )


def build_image(engine: httpx.Client, ref: str) -> None:
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = DOCKERFILE.encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    r = engine.post(
        "/build", params={"t": ref}, content=buf.getvalue(), headers={"Content-Type": "application/x-tar"}, timeout=300
    )
    assert r.status_code == 200 and engine.get(f"/images/{ref}/json").status_code == 200, r.text[-500:]


def direct(engine: httpx.Client, image: str, network: str, edge: str | None = None) -> float:
    """create → (connect to the edge network) → start → wait until the HTTP probe answers, with the Docker Engine
    API. With `edge`, the container has what a Slipway service has: a DNS alias on its environment's network and a
    second network (the edge's) with an alias of its own."""
    name = f"bench-direct-{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    body: dict[str, object] = {
        "Image": image,
        "Labels": {"slipway.bench": "1"},
        "HostConfig": {
            "NetworkMode": network,
            "NanoCpus": CPU_MILLI * 1_000_000,
            "Memory": MEMORY_MIB * 1024 * 1024,
            "RestartPolicy": {"Name": "unless-stopped"},
            "Init": True,
        },
    }
    if edge is not None:
        body["NetworkingConfig"] = {"EndpointsConfig": {network: {"Aliases": [name]}}}
    r = engine.post("/containers/create", params={"name": name}, json=body)
    assert r.status_code == 201, r.text
    cid = r.json()["Id"]
    if edge is not None:
        joined = engine.post(
            f"/networks/{edge}/connect", json={"Container": cid, "EndpointConfig": {"Aliases": [f"e-{name}"]}}
        )
        assert joined.status_code == 200, joined.text
    assert engine.post(f"/containers/{cid}/start").status_code == 204
    ip = engine.get(f"/containers/{cid}/json").json()["NetworkSettings"]["Networks"][network]["IPAddress"]
    while True:
        try:
            if httpx.get(f"http://{ip}:8080/", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    engine.delete(f"/containers/{cid}", params={"force": "true"})
    return elapsed


def through_slipway(api: httpx.Client, env_id: str, registry_id: str, image: str, tag: str) -> tuple[float, str]:
    """create a container service, deploy it, wait until its status is DEPLOYED (the edge routes it)."""
    body = {
        "name": f"b-{uuid.uuid4().hex[:6]}",
        "registry_id": registry_id,
        "image_name": image,
        "tag": tag,
        "cpu": CPU_MILLI,
        "memory": MEMORY_MIB,
        "ports": [{"internal_port": 8080, "publicly_accessible": True, "protocol": "HTTP"}],
        "healthchecks": {
            "readiness_probe": {
                "type": {"http": {"path": "/", "port": 8080}},
                "initial_delay_seconds": 0,
                "period_seconds": int(PERIOD),
                "timeout_seconds": 1,
                "failure_threshold": 30,
            }
        },
    }
    service = api.post(f"/environment/{env_id}/container", json=body)
    assert service.status_code == 201, service.text
    sid = service.json()["id"]
    started = time.perf_counter()
    r = api.post(f"/container/{sid}/deploy", json={"image_tag": tag})
    assert r.status_code == 202, r.text
    while True:
        state = api.get(f"/container/{sid}/status").json()["state"]
        if state == "DEPLOYED":
            break
        assert not state.endswith("ERROR"), state
        time.sleep(0.02)
    return time.perf_counter() - started, sid


def remove_service(api: httpx.Client, engine: httpx.Client, sid: str) -> None:
    """Delete the service and wait until its container is gone (untimed): like the direct side's removal, so each
    run starts from the same engine, network and edge, not from one more service than the last."""
    assert api.delete(f"/container/{sid}").status_code == 204
    filters = json.dumps({"label": [f"slipway.service-id={sid}"]})
    deadline = time.monotonic() + 60
    while engine.get("/containers/json", params={"all": "true", "filters": filters}).json():
        assert time.monotonic() < deadline, "the benchmark's service was not uninstalled"
        time.sleep(0.1)


def summary(name: str, values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median_s": statistics.median(ordered),
        "min_s": ordered[0],
        "max_s": ordered[-1],
        "p90_s": ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))],
    }


def main() -> int:
    state = Path(tempfile.mkdtemp(prefix="slipway-bench-")) / ".slipway"
    print(f"starting a stack in {state} …", flush=True)
    up = stack(state, "up", "--random-ports")
    if up.returncode != 0:
        print(up.stdout, up.stderr)
        return 1
    try:
        env = dict(line.split("=", 1) for line in (state / "env").read_text().splitlines() if "=" in line)
        api = httpx.Client(
            base_url=env["SLIPWAY_API_URL"], headers={"Authorization": f"Token {env['SLIPWAY_API_TOKEN']}"}, timeout=60
        )
        engine = httpx.Client(
            transport=httpx.HTTPTransport(uds=str(state / "engine" / "podman.sock")),
            base_url="http://engine",
            timeout=60,
        )
        org = api.post("/organization", json={"name": "bench", "plan": "FREE"}).json()["id"]
        registry = api.get(f"/organization/{org}/containerRegistry").json()["results"][0]
        project = api.post(f"/organization/{org}/project", json={"name": "bench"}).json()["id"]
        env_id = api.post(f"/project/{project}/environment", json={"name": "bench"}).json()["id"]
        host = registry["url"].removeprefix("https://").removeprefix("http://").rstrip("/")
        tag = "1"
        image = "slipway-bench"
        build_image(engine, f"{host}/{image}:{tag}")
        network, edge = f"bench-{uuid.uuid4().hex[:6]}", f"bench-edge-{uuid.uuid4().hex[:6]}"
        for name in (network, edge):
            assert engine.post("/networks/create", json={"Name": name}).status_code in (200, 201)
        direct(engine, f"{host}/{image}:{tag}", network, edge)  # warm-up (engine caches)
        remove_service(api, engine, through_slipway(api, env_id, registry["id"], image, tag)[1])
        d, one, s = [], [], []
        for i in range(RUNS):  # interleaved so drift on a shared machine hits both sides alike
            time.sleep(SETTLE)
            d.append(direct(engine, f"{host}/{image}:{tag}", network, edge))
            time.sleep(SETTLE)
            one.append(direct(engine, f"{host}/{image}:{tag}", network))
            time.sleep(SETTLE)
            elapsed, sid = through_slipway(api, env_id, registry["id"], image, tag)
            s.append(elapsed)
            remove_service(api, engine, sid)
            print(
                f"  run {i + 1}/{RUNS}: direct {d[-1]:.3f}s (one network: {one[-1]:.3f}s)  slipway {s[-1]:.3f}s",
                flush=True,
            )
        for name in (network, edge):
            engine.delete(f"/networks/{name}")
        api.post(f"/environment/{env_id}/uninstall", json={})
        result = {
            "runs": RUNS,
            "probe_period_s": PERIOD,
            "direct_engine": summary("direct", d),
            "direct_one_network": summary("direct, one network", one),
            "slipway": summary("slipway", s),
            "ratio_median": statistics.median(s) / statistics.median(d),
            "overhead_median_s": statistics.median(s) - statistics.median(d),
            "ratio_median_vs_one_network": statistics.median(s) / statistics.median(one),
            "overhead_median_vs_one_network_s": statistics.median(s) - statistics.median(one),
        }
        print(json.dumps(result, indent=2))
        return 0
    finally:
        print(stack(state, "down").stdout.strip().splitlines()[-1] if state.exists() else "", flush=True)
        shutil.rmtree(state.parent, ignore_errors=True)  # the temporary stack's data: nobody needs it after


if __name__ == "__main__":
    sys.exit(main())
