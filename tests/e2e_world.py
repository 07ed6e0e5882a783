"""The world the end-to-end suites share: the test images, a local Git repository, an organization with an
environment and an application, and helpers to wait, build images and follow websockets."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from slipway_stack.testing import RunningStack

DOCKERFILE = """\
FROM localhost/slipway-busybox:latest
COPY index.html /www/index.html
CMD ["sh", "-c", "echo token is $API_TOKEN; echo \\"$GREETING\\" > /www/greeting.txt && exec httpd -f -p 8080 -h /www"]
"""
BROKEN = """\
FROM localhost/slipway-busybox:latest
COPY index.html /www/index.html
CMD ["sleep", "600"]
"""
SLOW = """\
FROM localhost/slipway-busybox:latest
RUN sleep 15
COPY index.html /www/index.html
CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]
"""
TERMINAL = {
    "DEPLOYED",
    "STOPPED",
    "RESTARTED",
    "DELETED",
    "CANCELED",
    "BUILD_ERROR",
    "DEPLOYMENT_ERROR",
    "STOP_ERROR",
    "RESTART_ERROR",
    "DELETE_ERROR",
}


def build_image(engine: httpx.Client, ref: str, cmd: str = '["httpd", "-f", "-p", "8080", "-h", "/www"]') -> None:
    """A tiny image built locally (no registry pull): an HTTP server unless `cmd` says otherwise."""
    import io
    import tarfile

    dockerfile = (
        b"FROM localhost/slipway-busybox:latest\nRUN mkdir -p /www && echo box > /www/index.html\n"
        + f"CMD {cmd}\n".encode()
    )
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile))
    r = engine.post(
        "/build", params={"t": ref}, content=buf.getvalue(), headers={"Content-Type": "application/x-tar"}, timeout=300
    )
    assert r.status_code == 200 and engine.get(f"/images/{ref}/json").status_code == 200, r.text[-500:]


def application_body(url: str, name: str = "web", provider: str = "GITHUB", **extra: Any) -> dict[str, Any]:
    """A public HTTP application built from `url`'s `main` with a quick readiness probe (`extra` added)."""
    return {
        "name": name,
        "git_repository": {"url": url, "branch": "main", "root_path": "/", "provider": provider},
        "build_mode": "DOCKER",
        "dockerfile_path": "Dockerfile",
        "cpu": 250,
        "memory": 128,
        "ports": [{"internal_port": 8080, "publicly_accessible": True, "protocol": "HTTP"}],
        # Qovery's default initial delay is 30 s: a probe from the start keeps each deploy seconds long
        "healthchecks": {
            "readiness_probe": {
                "type": {"http": {"path": "/", "port": 8080}},
                "initial_delay_seconds": 0,
                "period_seconds": 1,
            }
        },
        **extra,
    }


def until(predicate: Callable[[], Any], timeout: float = 120.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.3)


def api_client(stack: RunningStack) -> httpx.Client:
    """The public API as the stack's administrator."""
    return httpx.Client(base_url=stack.api_url, headers={"Authorization": f"Token {stack.token}"}, timeout=30)


def engine_client(stack: RunningStack) -> httpx.Client:
    """The stack's container engine (Docker Engine API on its unix socket)."""
    return httpx.Client(
        transport=httpx.HTTPTransport(uds=str(stack.state_dir / "engine" / "podman.sock")),
        base_url="http://engine",
        timeout=30,
    )


def engine_list(engine: httpx.Client, path: str, **params: str) -> Any:
    """A listing from the engine, asked again while Podman fails it because a listed container is being removed
    (a 500 "no such container" for the whole list, podman#10225); any other failure fails the test."""
    for attempt in range(8):
        r = engine.get(path, params=params)
        if r.status_code == 500 and ("no such container" in r.text or "container not known" in r.text) and attempt < 7:
            time.sleep(0.05 * 2**attempt)
            continue
        assert r.status_code == 200, (path, r.status_code, r.text)
        return r.json()
    raise AssertionError("unreachable")


class Repo:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.git("init", "-q", "-b", "main")
        self.git("config", "user.email", "dev@example.com")
        self.git("config", "user.name", "Dev")

    def git(self, *args: str) -> str:
        return subprocess.run(["git", *args], cwd=self.path, check=True, capture_output=True, text=True).stdout.strip()

    def commit(self, dockerfile: str, page: str) -> str:
        (self.path / "Dockerfile").write_text(dockerfile)
        (self.path / "index.html").write_text(page)
        self.git("add", "-A")
        self.git("commit", "-q", "-m", page)
        return self.git("rev-parse", "HEAD")

    @property
    def url(self) -> str:
        return f"file://{self.path}"


class World:
    """One organization, project, environment and application from a local Git repository."""

    def __init__(self, stack: RunningStack, repo: Repo) -> None:
        self.stack = stack
        self.repo = repo
        self.api = api_client(stack)
        self.edge = f"http://127.0.0.1:{stack.ports['edge_http']}"
        self.engine = engine_client(stack)

    def ok(self, response: httpx.Response, status: int = 200) -> dict[str, Any]:
        assert response.status_code == status, response.text
        return response.json() if response.content else {}  # type: ignore[no-any-return]

    def setup(self) -> None:
        org = self.ok(self.api.post("/organization", json={"name": "deployers", "plan": "FREE"}), 201)
        self.org = org["id"]
        project = self.ok(self.api.post(f"/organization/{org['id']}/project", json={"name": "shop"}))
        self.env = self.ok(self.api.post(f"/project/{project['id']}/environment", json={"name": "dev"}), 201)
        self.first = self.repo.commit(DOCKERFILE, "v1")
        app = {
            "name": "web",
            "git_repository": {"url": self.repo.url, "branch": "main", "root_path": "/", "provider": "GITLAB"},
            "build_mode": "DOCKER",
            "dockerfile_path": "Dockerfile",
            "cpu": 250,
            "memory": 128,
            "ports": [{"internal_port": 8080, "publicly_accessible": True, "protocol": "HTTP"}],
            "healthchecks": {
                "readiness_probe": {
                    "type": {"http": {"path": "/", "port": 8080}},
                    "initial_delay_seconds": 0,
                    "period_seconds": 1,
                    "timeout_seconds": 1,
                    "failure_threshold": 8,
                },
            },
        }
        self.app = self.ok(self.api.post(f"/environment/{self.env['id']}/application", json=app), 201)
        self.ok(
            self.api.post(
                "/variable",
                json={
                    "key": "GREETING",
                    "value": "hello",
                    "is_secret": False,
                    "variable_scope": "APPLICATION",
                    "variable_parent_id": self.app["id"],
                },
            ),
            201,
        )

    def deploy(self, commit: str) -> dict[str, Any]:
        return self.ok(self.api.post(f"/application/{self.app['id']}/deploy", json={"git_commit_id": commit}), 202)

    def status(self) -> dict[str, Any]:
        return self.ok(self.api.get(f"/application/{self.app['id']}/status"))

    def history(self) -> list[dict[str, Any]]:
        """The environment's deployments, newest first."""
        return list(self.ok(self.api.get(f"/environment/{self.env['id']}/deploymentHistoryV2"))["results"])

    def wait_terminal(self, execution_id: str, timeout: float = 240.0) -> str:
        def done() -> str | None:
            mine = [h for h in self.history() if h["identifier"]["execution_id"] == execution_id]
            return mine[0]["status"] if mine and mine[0]["status"] in TERMINAL else None

        return str(until(done, timeout, f"execution {execution_id} to finish"))

    def host(self) -> str:
        links = self.ok(self.api.get(f"/application/{self.app['id']}/link"))["results"]
        return str(links[0]["url"]).split("://", 1)[1].split(":")[0]

    def get(self, path: str = "/") -> httpx.Response:
        return httpx.get(f"{self.edge}{path}", headers={"Host": self.host()}, timeout=5)

    def build_containers(self) -> set[str] | None:
        """Podman lists its image-build (buildah) working containers only as "external" ones, in state storage
        (None when the engine cannot list them right now, e.g. while a build holds its storage lock)."""
        r = self.engine.get("/v4.0.0/libpod/containers/json", params={"all": "true", "external": "true"})
        found = r.json() if r.status_code == 200 else None
        if not isinstance(found, list):
            return None
        return {c["Id"] for c in found if c.get("State") == "storage"}

    def containers(self) -> list[dict[str, Any]]:
        return self.containers_of(self.app["id"])

    def containers_of(self, service_id: str) -> list[dict[str, Any]]:
        filters = json.dumps({"label": [f"slipway.service-id={service_id}"]})
        return list(engine_list(self.engine, "/containers/json", all="true", filters=filters))


def ws_url(world: World, path: str, **params: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return world.stack.api_url.replace("http://", "ws://") + f"{path}?{query}"


async def _frames(url: str, token: str, until_done: Callable[[Any], bool], timeout: float = 120) -> list[Any]:
    import asyncio

    import websockets

    frames: list[Any] = []
    async with websockets.connect(url, additional_headers={"Authorization": f"Token {token}"}) as ws:

        async def read() -> None:
            async for raw in ws:
                frames.append(json.loads(raw))
                if until_done(frames[-1]):
                    return

        await asyncio.wait_for(read(), timeout)
    return frames


class Prober:
    """Requests `path` through the edge for `host` in a loop while in its `with` block: what was served (each
    200's body) and what failed (other statuses, connection errors), to prove a rollout drops no request."""

    def __init__(self, edge: str, host: str, path: str = "/") -> None:
        self.url, self.host = f"{edge}{path}", host
        self.served: list[str] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        with httpx.Client(timeout=5) as client:
            while not self._stop.is_set():
                try:
                    r = client.get(self.url, headers={"Host": self.host})
                    (self.served if r.status_code == 200 else self.failures).append(
                        r.text.strip() or str(r.status_code)
                    )
                except httpx.HTTPError as exc:
                    self.failures.append(f"{time.time():.3f} {exc!r}")

    def __enter__(self) -> Prober:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
