"""Pytest plugin: real Postgres, real NATS and the whole stack, started by the test harness itself.

Fixtures:
    pg_server        one embedded Postgres per test session (random port, temp dir)
    database_url     a fresh database on it for each test, every service's schema already migrated to head
    empty_database_url  a fresh, empty database (for the tests of migrations and of a first boot)
    nats_server      a fresh nats-server with JetStream for each test (restartable)
    make_nats        factory for extra nats-servers
    serve_app        run an ASGI app on a random loopback port inside the test's event loop
    stack            the whole platform started exactly like `make up` (shared by the session)
    engine           the container engine (Podman service, or DOCKER_HOST) with the busybox base image
    registry         a loopback registry (Debian's docker-registry) for the session
    edge             a Caddy edge proxy (admin API + http/https ports) for the session
    edge_resolver    the edge resolver (slipway.edgedns) Caddy resolves dynamic upstreams through
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn

from slipway_stack.caddy import Caddy
from slipway_stack.edgeresolver import EdgeResolver
from slipway_stack.engine import ContainerEngine, Registry
from slipway_stack.natsserver import NatsServer
from slipway_stack.postgres import EmbeddedPostgres
from slipway_stack.procs import alive, free_port


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "stack: cross-service test against the full embedded stack")


@contextlib.contextmanager
def own_state_dir(name: str, in_memory: bool = False) -> Iterator[Path]:
    """A state folder outside pytest's base temp, removed afterwards.

    pytest resets its base folder (/tmp/pytest-of-<user>) to 0700 at every session start and prunes old
    runs: state a server reads as another user (Postgres runs as slipway-pg under root) or that must outlive
    a second pytest session on the machine does not belong there. `in_memory` puts it on /dev/shm when that
    has room (IN_MEMORY_MIN_FREE), for state that is only written and thrown away.
    """
    where = "/var/tmp"
    if in_memory and os.path.isdir("/dev/shm") and shutil.disk_usage("/dev/shm").free >= IN_MEMORY_MIN_FREE:
        where = "/dev/shm"
    root = Path(tempfile.mkdtemp(prefix=f"slipway-{name}-", dir=where))
    root.chmod(0o755)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


# -- Postgres -------------------------------------------------------------------------------------
# The session's ~400 test databases (~8 MB each) are written and thrown away: in memory when there is room, they
# cost no disk writes and no 20 s deletion at the end.
IN_MEMORY_MIN_FREE = 8 << 30
_migrated_templates: dict[int, str] = {}  # Postgres port -> its template database with every schema at head


def sweep_abandoned_pg_dirs(min_age: float = 600.0) -> list[Path]:
    """Remove the test Postgres folders of sessions that were killed (their postmaster gone, untouched for
    `min_age` seconds): on /dev/shm they would hold gigabytes of memory that nobody owns any more."""
    removed = []
    for where in ("/dev/shm", "/var/tmp"):
        for root in Path(where).glob("slipway-pg-*"):
            with contextlib.suppress(OSError, ValueError):
                if time.time() - root.stat().st_mtime < min_age:
                    continue
                pid_file = root / "pgdata" / "postmaster.pid"
                if pid_file.exists() and alive(int(pid_file.read_text().split()[0])):
                    continue
                shutil.rmtree(root, ignore_errors=True)
                removed.append(root)
    return removed


@pytest.fixture(scope="session")
def pg_server() -> Iterator[EmbeddedPostgres]:
    sweep_abandoned_pg_dirs()
    with own_state_dir("pg", in_memory=True) as root:
        pg = EmbeddedPostgres(root / "pgdata", free_port(), root / "postgres.log", durable=False)
        pg.init()
        pg.start()
        yield pg
        pg.stop()


def migrated_template(pg: EmbeddedPostgres) -> str:
    """A database with every service's schema migrated to head, made once per Postgres, never connected to again.

    A copy of it (CREATE DATABASE … TEMPLATE, ~40 ms) replaces each test's own run of its service's migrations
    (0.1-0.3 s, catalog's the longest); a service booting on the copy finds its schema at head, as in production
    after the first boot. The tests of migrations and first boots take `empty_database_url`.
    """
    if pg.port not in _migrated_templates:
        from slipway.migrate import SERVICE_PACKAGES, migrations_dir
        from slipway.migrations import upgrade

        name = "template_" + uuid.uuid4().hex[:12]
        pg.create_database(name)

        def migrate() -> None:  # Alembic runs its own event loop: never inside the caller's (an async fixture's)
            for schema in SERVICE_PACKAGES:
                upgrade(migrations_dir(schema), pg.url(name), schema)  # engine disposed: nobody stays connected

        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(migrate).result()
        _migrated_templates[pg.port] = name
    return _migrated_templates[pg.port]


def create_database(pg: EmbeddedPostgres, migrated: bool = True) -> str:
    name = "t_" + uuid.uuid4().hex[:12]
    pg.create_database(name, template=migrated_template(pg) if migrated else None)
    return pg.url(name)


@pytest.fixture
def database_url(pg_server: EmbeddedPostgres) -> str:
    return create_database(pg_server)


@pytest.fixture
def empty_database_url(pg_server: EmbeddedPostgres) -> str:
    return create_database(pg_server, migrated=False)


# -- NATS -----------------------------------------------------------------------------------------
@pytest.fixture
def make_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator:  # type: ignore[type-arg]
    servers: list[NatsServer] = []

    def _make() -> NatsServer:
        root = tmp_path_factory.mktemp("nats")
        server = NatsServer(root / "store", free_port(), root / "nats.log", root / "nats.pid")
        start_nats(server)
        servers.append(server)
        return server

    yield _make
    for server in servers:
        server.stop()


def start_nats(server: NatsServer, timeout: float = 10.0) -> None:
    import socket

    pid = server.start()
    deadline = time.monotonic() + timeout
    while True:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", server.port)) == 0:
                return
        if not alive(pid) or time.monotonic() > deadline:
            raise RuntimeError(f"nats-server did not start; see {server.log_file}")
        time.sleep(0.01)


@pytest.fixture
def nats_server(make_nats) -> NatsServer:  # type: ignore[no-untyped-def]
    return make_nats()


# -- in-process ASGI servers ------------------------------------------------------------------------
class _TestServer(uvicorn.Server):
    """uvicorn, stopping as soon as it is asked: the suite starts and stops ~500 of them.

    uvicorn notices `should_exit` at its next 0.1 s tick, then sleeps 0.1 s more for connections to wind down
    even when there are none: ~0.15 s per app, a minute over the suite. Here the tick is cut short by `exit()`
    and the wait only happens while a connection or a request is still open (polled every 10 ms).
    """

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._exit_requested = asyncio.Event()

    def exit(self) -> None:
        self.should_exit = True
        self._exit_requested.set()

    async def main_loop(self) -> None:
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.1):
                    await self._exit_requested.wait()

    async def shutdown(self, sockets: list | None = None) -> None:  # type: ignore[type-arg]
        for listener in self.servers:
            listener.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        while self.server_state.connections or self.server_state.tasks:  # noqa: ASYNC110 - uvicorn keeps sets, no event
            await asyncio.sleep(0.01)
        for listener in self.servers:
            await listener.wait_closed()
        await self.lifespan.shutdown()


@contextlib.asynccontextmanager
async def serve(app, port: int | None = None) -> AsyncIterator[str]:  # type: ignore[no-untyped-def]
    """Serve `app` (lifespan included) on 127.0.0.1; yields its base URL."""
    port = port or free_port()
    server = _TestServer(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on", access_log=False)
    )
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 30
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("server exited during start-up")
        if time.monotonic() > deadline:
            raise TimeoutError("server did not start in 30s")
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.exit()
        await asyncio.wait_for(task, 30)


@pytest.fixture
def serve_app():  # type: ignore[no-untyped-def]
    return serve


async def wait_until(predicate, timeout: float = 20.0, interval: float = 0.05, message: str = "") -> None:  # type: ignore[no-untyped-def]
    """Poll an (async or sync) predicate until it is truthy; never a fixed sleep."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s {message}")
        await asyncio.sleep(interval)


# -- the whole stack ------------------------------------------------------------------------------------
@dataclass
class RunningStack:
    state_dir: Path
    api_url: str
    token: str
    urls: dict[str, str]
    ports: dict[str, int]
    up_output: str
    kubernetes_owned: bool = True  # the stack runs the session's embedded cluster (see slipway_stack.kube.testing)
    kubernetes_state: Path | None = None  # else: the state directory of the machine's running cluster

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "slipway_stack", "--state-dir", str(self.state_dir), *args],
            capture_output=True,
            text=True,
            check=check,
            env=_stack_env(),
            timeout=600,
        )

    def log(self, component: str) -> str:
        return (self.state_dir / "logs" / f"{component}.log").read_text(errors="replace")

    def database_url(self) -> str:
        """The stack's own Postgres (the harness never uses an operator's DATABASE_URL)."""
        from slipway_stack.stack import Stack

        stack = Stack(self.state_dir)
        return stack.postgres(stack.load_config()).url()


def _stack_env() -> dict[str, str]:
    # The harness starts its own Postgres and NATS, exactly like `make up` on a fresh machine.
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "NATS_URL")}
    # the Kubernetes drift correction runs every few seconds (60 by default), so its test waits for seconds
    env.setdefault("DEPLOYER_KUBERNETES_RECONCILE_SECONDS", "3")
    # the preview sweeper and the Git reporter run every few seconds (300 and 2 by default)
    env.setdefault("CATALOG_PREVIEW_SWEEP_SECONDS", "3")
    env.setdefault("CATALOG_GIT_REPORT_SECONDS", "0.5")
    # a deleted service's images still used by its containers are tried again every few seconds (30 by default)
    env.setdefault("BUILDER_IMAGE_SWEEP_SECONDS", "2")
    # local database images: provided by the `database_images` fixture for the tests that deploy databases
    env.setdefault("SLIPWAY_DATABASE_IMAGES_DEFER", "1")
    return env


def forget_registry_names(registry: str) -> list[str]:
    """The engine's image names under a registry that went with its session (what was pushed there, the database
    images pulled from it): unusable from now on, they would only pile up on the machine run after run, and a
    long image list slows every listing down. Never forced: an image a container still uses keeps its name."""
    podman = shutil.which("podman")
    if podman is None:
        return []
    names: set[str] = set()
    for pattern in (f"{registry}/*", f"{registry}/*/*"):  # a filter answers in a second; a full list takes ten
        listed = subprocess.run(
            [podman, "images", "--filter", f"reference={pattern}", "--format", "{{.Repository}}:{{.Tag}}"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        names.update(n for n in listed.stdout.split() if n.startswith(registry + "/"))
    if names:
        subprocess.run([podman, "rmi", "--ignore", *sorted(names)], capture_output=True, text=True, timeout=300)
    return sorted(names)


def stack_processes(state_dir: Path) -> list[int]:
    """Every live process started for this state directory (services, nats, postgres)."""
    import psutil

    found = []
    marker = str(state_dir)
    for proc in psutil.process_iter(["pid", "cmdline", "environ"]):
        try:
            cmd = " ".join(proc.info["cmdline"] or [])
            if marker in cmd:
                found.append(proc.pid)
                continue
            env = proc.environ() if proc.info["environ"] is None else proc.info["environ"]
            if env and env.get("SLIPWAY_STATE_DIR") == marker:
                found.append(proc.pid)
        except (psutil.Error, OSError):
            continue
    return found


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    with own_state_dir("stack") as root:
        try:
            yield from _stack(root / ".slipway")
        finally:  # the services' logs outlive the stack, in pytest's folder (kept for its last runs)
            with contextlib.suppress(OSError):
                shutil.copytree(root / ".slipway" / "logs", tmp_path_factory.getbasetemp() / "stack-logs")


def _stack(state: Path) -> Iterator[RunningStack]:
    import json

    from slipway_stack.kube.cluster import EmbeddedKubernetes
    from slipway_stack.kube.testing import running_cluster

    # one embedded cluster per machine: the session's own, or the one another stack already runs
    other = running_cluster()
    env = {**_stack_env(), "SLIPWAY_KUBERNETES": str(other / "kubeconfig") if other else "embedded"}
    up = subprocess.run(
        [sys.executable, "-m", "slipway_stack", "--state-dir", str(state), "up", "--random-ports"],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    if up.returncode != 0:
        subprocess.run(
            [sys.executable, "-m", "slipway_stack", "--state-dir", str(state), "down"],
            env=_stack_env(),
            capture_output=True,
        )
        raise RuntimeError(f"stack failed to start:\n{up.stdout}\n{up.stderr}")
    config = json.loads((state / "stack.json").read_text())
    ports = config["ports"]
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    written = dict(line.split("=", 1) for line in (state / "env").read_text().splitlines() if "=" in line)
    running = RunningStack(
        state, written["SLIPWAY_API_URL"], written["SLIPWAY_API_TOKEN"], urls, ports, up.stdout, other is None, other
    )
    yield running
    down = running.cli("down", check=False)
    forget_registry_names(f"127.0.0.1:{ports['registry']}")
    leftovers = stack_processes(state)
    assert down.returncode == 0, down.stderr
    assert not leftovers, f"`down` left processes behind: {leftovers}"
    if other is None:
        kube = EmbeddedKubernetes(state / "kubernetes", state / "logs", state / "run", registries=[])
        assert not kube.leftovers(), f"`down` left the embedded cluster's traces behind: {kube.leftovers()}"


async def assert_boots_ready(app, schema: str, tables: set[str]) -> None:  # type: ignore[no-untyped-def]
    """Boot a service app (migrating its schema at start-up) and wait for a green /readyz."""
    import httpx
    from sqlalchemy import text

    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:

        async def ready() -> bool:
            return (await client.get("/readyz")).status_code == 200

        await wait_until(ready, timeout=30, message=f"{schema} never became ready")
        body = (await client.get("/readyz")).json()
        assert body["checks"] == {"nats": "ok", "database": "ok"}
        async with app.state.db.transaction() as session:
            rows = await session.execute(
                text("SELECT table_name FROM information_schema.tables WHERE table_schema = :s"), {"s": schema}
            )
            assert tables <= {r[0] for r in rows}
        r = await client.get("/no-such-route")
        assert r.status_code == 404 and r.headers.get("x-slipway-no-route") == "1"


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    state = tmp_path_factory.mktemp("registry")
    reg = Registry(state, free_port(), state / "registry.log", state / "registry.pid")
    reg.start()
    yield reg
    reg.stop()
    forget_registry_names(reg.address)


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory, registry: Registry) -> Iterator[ContainerEngine]:
    """The session's container engine; its `env()` (DOCKER_HOST…) is what builder/deployer need."""
    state = tmp_path_factory.mktemp("engine")
    eng = ContainerEngine(state, state / "podman.log", state / "podman.pid", os.environ.get("DOCKER_HOST"))
    eng.start(registry=registry.address)
    eng.ensure_base_image()
    yield eng
    eng.stop()


@pytest.fixture(scope="session")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Caddy]:
    state = tmp_path_factory.mktemp("caddy")
    caddy = Caddy(state, free_port(), free_port(), free_port(), state / "caddy.log", state / "caddy.pid")
    caddy.start()
    yield caddy
    caddy.stop()


@pytest.fixture(scope="session")
def edge_resolver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EdgeResolver]:
    state = tmp_path_factory.mktemp("edgedns")
    resolver = EdgeResolver(free_port(udp=True), state / "edge-dns.log", state / "edge-dns.pid")
    resolver.start()
    yield resolver
    resolver.stop()


@pytest.fixture(scope="session")
def database_images(stack: RunningStack) -> dict[str, str]:
    """The local database images (and the clients image) in the session stack's registry: built from Debian's
    packages the first time on a machine (minutes, cached in ~/.cache/slipway/images), pushed each session.
    Answers catalog's CATALOG_DATABASE_IMAGES, plus `clients` (psql, mariadb, redis-cli and busybox)."""
    from slipway_stack.dbimages import CLIENTS, REPOSITORY, DatabaseImages
    from slipway_stack.stack import Stack

    local = Stack(stack.state_dir)
    registry = f"127.0.0.1:{stack.ports['registry']}"
    images = DatabaseImages(local.engine().env()).provide(registry, clients=True)
    return {**images, "clients": f"{registry}/{REPOSITORY}/{CLIENTS.name}:{CLIENTS.tag}"}
