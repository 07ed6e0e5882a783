"""The docker driver's test world: images, a driver on the session's engine and edge, probes, lookups."""

from __future__ import annotations

import io
import json
import tarfile
import threading
import time
import uuid

import aiodocker
import httpx
from aiodocker.exceptions import DockerError

from deployer.runtime.docker.base import list_containers
from slipway.desired import ClusterTarget, DesiredState, Port, ProbeSpec, ServiceSpec
from slipway_stack.engine import BASE_IMAGE

TEST_LABEL = "slipway.test"
TEST_VALUE = "deployer-runtime"
BASE_DOMAIN = "slipway.localhost"
WEB = "localhost/slipway-test/web:v1"
BROKEN = "localhost/slipway-test/broken:v1"
# serves "version $VERSION <hostname>" on :8080; one line on stdout, one on stderr
WEB_CMD = (
    'echo "version $VERSION $(cat /etc/hostname)" > /www/index.html; echo "started version $VERSION"; '
    "echo to-stderr >&2; exec httpd -f -p 8080 -h /www"
)
BROKEN_CMD = "echo broken build starting; echo cannot serve >&2; exec sleep 3600"


def build(client: httpx.Client, tag: str, cmd: str) -> None:
    dockerfile = f"FROM {BASE_IMAGE}\nCMD {json.dumps(['sh', '-c', cmd])}\n".encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile))
    r = client.post(
        "/build",
        params={"t": tag, "labels": json.dumps({TEST_LABEL: TEST_VALUE})},
        content=buf.getvalue(),
        headers={"Content-Type": "application/x-tar"},
    )
    assert r.status_code == 200 and "Successfully tagged" in r.text, r.text[-500:]


def remove_leftovers(client: httpx.Client) -> None:
    filters = json.dumps({"label": [f"{TEST_LABEL}={TEST_VALUE}"]})
    for c in client.get("/containers/json", params={"all": "true", "filters": filters}).json():
        client.delete(f"/containers/{c['Id']}", params={"force": "true"})
    for n in client.get("/networks", params={"filters": filters}).json():
        client.delete(f"/networks/{n['Name']}")


class Journal:
    def __init__(self) -> None:
        self.lines: list[str] = []

    async def __call__(self, line: str) -> None:
        print(f"{time.time():.3f} {line}")
        self.lines.append(line)


def web(name: str = "web", version: str = "1", **kw) -> ServiceSpec:  # type: ignore[no-untyped-def]
    sid = kw.pop("id", str(uuid.uuid4()))
    return ServiceSpec(
        id=sid,
        kind="CONTAINER",
        name=name,
        internal_host=f"{name}-{sid[:8]}",
        host_slug=f"{name}-{sid[:8]}",
        cpu=250,
        memory=64,
        ports=[
            Port(id="p1", name="http", internal_port=8080, publicly_accessible=True, is_default=True, protocol="HTTP")
        ],
        readiness_probe=ProbeSpec(kind="http", port=8080, path="/", period_seconds=1, failure_threshold=3),
        env={"VERSION": version},
        **kw,
    )


def state_of(*services: ServiceSpec, env_id: str | None = None) -> DesiredState:
    return DesiredState(
        organization_id="org-1",
        project_id="proj-1",
        environment_id=env_id or f"rt{uuid.uuid4().hex[:10]}",
        environment_name="test",
        environment_mode="DEVELOPMENT",
        cluster=ClusterTarget(id="c1", engine="podman", base_domain=BASE_DOMAIN),
        stages=[],
        services=list(services),
    )


def host_of(svc: ServiceSpec) -> str:
    return f"{svc.host_slug}.{BASE_DOMAIN}"


def no_route(r: httpx.Response) -> bool:
    return r.status_code == 404 and r.headers.get("x-slipway-no-route") == "1"


async def via_edge(edge, host: str, client: httpx.AsyncClient | None = None) -> httpx.Response:  # type: ignore[no-untyped-def]
    if client is not None:
        return await client.get(f"http://127.0.0.1:{edge.http_port}/", headers={"Host": host})
    async with httpx.AsyncClient(timeout=5, trust_env=False) as c:
        return await c.get(f"http://127.0.0.1:{edge.http_port}/", headers={"Host": host})


async def container_ids(docker: aiodocker.Docker, env_id: str, retired: bool = False) -> set[str]:
    """The environment's live containers (or, with `retired`, the retired ones)."""
    found = await list_containers(docker, json.dumps({"label": [f"slipway.environment-id={env_id}"]}))
    return {c.id for c in found if ("--retired-" in c["Names"][0]) == retired}


async def edge_members(docker: aiodocker.Docker, env_id: str) -> set[str]:
    """Containers on the environment's edge network (an instance draining there without its alias too)."""
    found = await list_containers(docker, json.dumps({"label": [f"slipway.environment-id={env_id}"]}))
    members = set()
    for c in found:
        try:
            info = await c.show()
        except DockerError as exc:
            if exc.status == 404:  # removed since the listing
                continue
            raise
        if f"slipway-{env_id}-edge" in (info["NetworkSettings"].get("Networks") or {}):
            members.add(c.id)
    return members


async def networks_of(docker: aiodocker.Docker, env_id: str) -> set[str]:
    return {n["Name"] for n in await docker.networks.list() if n["Name"].startswith(f"slipway-{env_id}")}


class Probers:
    """Two clients hammering a host through the edge from threads, without any retry: one keeps its
    connection alive, the other opens a new connection per request. `results` holds each answer's version."""

    def __init__(self, edge, host: str) -> None:  # type: ignore[no-untyped-def]
        self.url = f"http://127.0.0.1:{edge.http_port}/"
        self.host = host
        self.results: dict[str, list[str]] = {"keep-alive": [], "new-connection": []}
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(kind,)) for kind in self.results]

    def _run(self, kind: str) -> None:
        limits = httpx.Limits(max_keepalive_connections=0 if kind == "new-connection" else 10)
        with httpx.Client(timeout=5, trust_env=False, limits=limits) as client:
            while not self._stop.is_set():
                try:
                    r = client.get(self.url, headers={"Host": self.host})
                    if r.status_code == 200 and r.text.startswith("version "):
                        self.results[kind].append(r.text.split(" ")[1])
                    else:
                        self.failures.append(f"{kind}: HTTP {r.status_code} {r.text[:80]!r}")
                except httpx.HTTPError as exc:
                    self.failures.append(f"{kind}: {time.time():.3f} {exc!r}")

    def served(self) -> int:
        return sum(len(r) for r in self.results.values())

    def last(self) -> set[str]:
        return {r[-1] for r in self.results.values() if r}

    def __enter__(self) -> Probers:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()


async def exec_in(docker: aiodocker.Docker, container_id: str, script: str) -> str:
    execution = await docker.containers.container(container_id).exec(["sh", "-c", script])
    out = []
    async with execution.start(detach=False) as stream:
        while (msg := await stream.read_out()) is not None:
            out.append(msg.data.decode())
    return "".join(out)
