"""The embedded stack: state directory, ports, start/stop of every component, bootstrap of the admin."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from slipway.crypto import generate_key
from slipway.dns import is_public_domain
from slipway.principal import HEADER, service_principal, sign
from slipway_stack.caddy import Caddy
from slipway_stack.dbimages import DatabaseImages, ImageError, catalog_images
from slipway_stack.edgeresolver import EdgeResolver
from slipway_stack.engine import ContainerEngine, EngineError, Registry
from slipway_stack.kube.cluster import EmbeddedKubernetes, KubernetesError
from slipway_stack.kube.register import RegisterError, register_cluster
from slipway_stack.natsserver import NatsServer
from slipway_stack.postgres import EmbeddedPostgres
from slipway_stack.procs import alive, free_port, port_is_free, read_pid, start_detached, stop_pid, tail
from slipway_stack.purge import PurgeError, purge_installation


@dataclass(frozen=True)
class ServiceDef:
    name: str  # component name (log file, pid file)
    module: str  # python -m <module>
    env_prefix: str
    default_port: int


# the edge proxy's public ports default to 80/443 when free (clean URLs), else any free port
EXTRA_PORTS = {"registry": 5000, "caddy_admin": 2019, "edge_http": 80, "edge_https": 443, "edge_dns": 5354}
UDP_PORTS = {"edge_dns"}  # the edge resolver answers DNS over UDP

SERVICES = [
    ServiceDef("iam", "iam", "IAM", 8101),
    ServiceDef("catalog", "catalog", "CATALOG", 8102),
    ServiceDef("builder", "builder", "BUILDER", 8103),
    ServiceDef("deployer", "deployer", "DEPLOYER", 8104),
    ServiceDef("logs", "logs", "LOGS", 8105),
    ServiceDef("api-gateway", "gateway", "GATEWAY", 8100),
]


class StackSettings(BaseSettings):
    """What an operator may set; everything else is chosen and remembered in `<state>/stack.json`."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    nats_url: str | None = Field(default=None, validation_alias="NATS_URL")
    admin_email: str = Field(default="admin@slipway.local", validation_alias="SLIPWAY_ADMIN_EMAIL")
    log_level: str = Field(default="INFO", validation_alias="SLIPWAY_LOG_LEVEL")
    # Overrides the keys generated into stack.json (e.g. during a rotation managed outside the stack).
    encryption_keys: str | None = Field(default=None, validation_alias="SLIPWAY_ENCRYPTION_KEYS")
    ready_timeout: float = Field(default=180.0, validation_alias="SLIPWAY_READY_TIMEOUT")
    # An operator's Docker (or Podman) Engine API; unset: the stack runs `podman system service` itself.
    docker_host: str | None = Field(default=None, validation_alias="DOCKER_HOST")
    # `embedded`: also run the one-node Kubernetes (KUBERNETES-LOCAL.md) and register it as `local-kubernetes`;
    # a path: register the cluster that kubeconfig reaches instead. Unset: the docker-engine cluster only.
    kubernetes: str | None = Field(default=None, validation_alias="SLIPWAY_KUBERNETES")
    # `local`: container databases run images built on this machine from Debian's packages (PostgreSQL, MariaDB for
    # MySQL, Redis: slipway_stack.dbimages, built once into ~/.cache/slipway/images) pushed to the stack's registry;
    # `official`: the official images (Docker Hub must be reachable). CATALOG_DATABASE_IMAGES, when set, wins.
    database_images: str = Field(default="local", validation_alias="SLIPWAY_DATABASE_IMAGES")
    # with `local`: leave providing the images to whoever needs them first (the test harness), not `up`
    defer_database_images: bool = Field(default=False, validation_alias="SLIPWAY_DATABASE_IMAGES_DEFER")


def acme_by_default(env: dict[str, str]) -> bool:
    """A public base domain (CATALOG_BASE_DOMAIN) gets ACME certificates unless the operator decided otherwise."""
    base = env.get("CATALOG_BASE_DOMAIN", "")
    return bool(base) and is_public_domain(base) and "DEPLOYER_EDGE_ACME_PUBLIC_DOMAINS" not in env


class StackError(RuntimeError):
    """A component failed; the message names it and its log file."""


def say(message: str) -> None:
    print(message, flush=True)


class Stack:
    def __init__(self, state_dir: Path, *, random_ports: bool = False, settings: StackSettings | None = None):
        self.state = state_dir.resolve()
        self.random_ports = random_ports
        self.settings = settings or StackSettings()
        self.logs = self.state / "logs"
        self.run = self.state / "run"
        self.config_file = self.state / "stack.json"
        self.env_file = self.state / "env"

    # -- configuration ------------------------------------------------------------------------------
    def _pick_port(self, default: int, udp: bool = False) -> int:
        if not self.random_ports and port_is_free(default, udp=udp):
            return default
        return free_port(udp=udp)

    def load_config(self) -> dict:  # type: ignore[type-arg]
        if self.config_file.exists():
            return json.loads(self.config_file.read_text())
        return {}

    def ensure_config(self) -> dict:  # type: ignore[type-arg]
        config = self.load_config()
        changed = False
        if not config:
            self.state.mkdir(parents=True, exist_ok=True)
            self.state.chmod(0o755)
            ports = {"postgres": self._pick_port(54329), "nats": self._pick_port(42229)}
            for svc in SERVICES:
                ports[svc.name] = self._pick_port(svc.default_port)
            config = {"internal_key": secrets.token_urlsafe(32), "ports": ports}
            changed = True
        for name, default in EXTRA_PORTS.items():  # added after a state directory was first created
            if name not in config["ports"]:
                config["ports"][name] = self._pick_port(default, udp=name in UDP_PORTS)
                changed = True
        if not config.get("installation_id"):
            # names this installation's containers on a shared engine (the deployer only touches its own)
            config["installation_id"] = secrets.token_hex(8)
            changed = True
        if not config.get("encryption_keys"):
            # Encryption at rest (slipway.crypto). Rotate by prepending a new key here (comma-separated):
            # the first encrypts, all decrypt. Losing this file loses every stored secret.
            config["encryption_keys"] = generate_key()
            changed = True
        if changed:
            self.config_file.write_text(json.dumps(config, indent=2))
            self.config_file.chmod(0o600)
        return config

    def encryption_keys(self, config: dict) -> str:  # type: ignore[type-arg]
        return self.settings.encryption_keys or str(config["encryption_keys"])

    def postgres(self, config: dict) -> EmbeddedPostgres:  # type: ignore[type-arg]
        return EmbeddedPostgres(self.state / "pgdata", config["ports"]["postgres"], self.logs / "postgres.log")

    def nats(self, config: dict) -> NatsServer:  # type: ignore[type-arg]
        return NatsServer(self.state / "nats", config["ports"]["nats"], self.logs / "nats.log", self.run / "nats.pid")

    def engine(self) -> ContainerEngine:
        return ContainerEngine(
            self.state / "engine", self.logs / "podman.log", self.run / "podman.pid", self.settings.docker_host
        )

    def registry(self, config: dict) -> Registry:  # type: ignore[type-arg]
        return Registry(
            self.state / "registry", config["ports"]["registry"], self.logs / "registry.log", self.run / "registry.pid"
        )

    def caddy(self, config: dict) -> Caddy:  # type: ignore[type-arg]
        ports = config["ports"]
        return Caddy(
            self.state / "caddy",
            ports["caddy_admin"],
            ports["edge_http"],
            ports["edge_https"],
            self.logs / "caddy.log",
            self.run / "caddy.pid",
        )

    def edge_resolver(self, config: dict) -> EdgeResolver:  # type: ignore[type-arg]
        env = {**os.environ, "SLIPWAY_STATE_DIR": str(self.state)}  # `down` and tests find it by its stack
        return EdgeResolver(config["ports"]["edge_dns"], self.logs / "edge-dns.log", self.run / "edge-dns.pid", env)

    def kubernetes(self, config: dict) -> EmbeddedKubernetes:  # type: ignore[type-arg]
        return EmbeddedKubernetes(
            self.state / "kubernetes", self.logs, self.run, registries=[self.registry(config).address]
        )

    def urls(self, config: dict) -> dict[str, str]:  # type: ignore[type-arg]
        return {svc.name: f"http://127.0.0.1:{config['ports'][svc.name]}" for svc in SERVICES}

    def database_url(self, config: dict) -> str:  # type: ignore[type-arg]
        return self.settings.database_url or self.postgres(config).url()

    def nats_url(self, config: dict) -> str:  # type: ignore[type-arg]
        return self.settings.nats_url or self.nats(config).url

    def service_env(self, config: dict, svc: ServiceDef) -> dict[str, str]:  # type: ignore[type-arg]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "NATS_URL"))}
        env.update(
            {
                "DATABASE_URL": self.database_url(config),
                "NATS_URL": self.nats_url(config),
                "SLIPWAY_INTERNAL_KEY": config["internal_key"],
                "SLIPWAY_ENCRYPTION_KEYS": self.encryption_keys(config),
                "SLIPWAY_LOG_LEVEL": self.settings.log_level,
                "SLIPWAY_RUN_MIGRATIONS": "false",  # `up` migrated every schema already
                f"{svc.env_prefix}_PORT": str(config["ports"][svc.name]),
                f"{svc.env_prefix}_HOST": "127.0.0.1",
                "PYTHONUNBUFFERED": "1",
                "SLIPWAY_STATE_DIR": str(self.state),  # lets `down` and tests find every process of this stack
                # the container engine, registry and edge proxy this stack runs
                **self.engine().env(),
                "CATALOG_DEFAULT_ENGINE": "docker" if self.settings.docker_host else "podman",
                "CATALOG_DEFAULT_ENGINE_HOST": self.engine().host,
                "CATALOG_DEFAULT_REGISTRY_URL": self.registry(config).address,
                "CATALOG_EDGE_HTTP_PORT": str(config["ports"]["edge_http"]),
                "CATALOG_EDGE_HTTPS_PORT": str(config["ports"]["edge_https"]),
                "DEPLOYER_EDGE_ADMIN_URL": self.caddy(config).admin_url,
                "DEPLOYER_EDGE_RESOLVER": self.edge_resolver(config).address,
                "DEPLOYER_INSTALLATION_ID": str(config["installation_id"]),
                "DEPLOYER_EDGE_HTTP_PORT": str(config["ports"]["edge_http"]),
                "DEPLOYER_EDGE_HTTPS_PORT": str(config["ports"]["edge_https"]),
                "BUILDER_REGISTRY_URL": self.registry(config).address,
            }
        )
        if svc.name == "deployer":
            env["DEPLOYER_CATALOG_URL"] = self.urls(config)["catalog"]
            env["DEPLOYER_BUILDER_URL"] = self.urls(config)["builder"]
            if acme_by_default(env):
                env["DEPLOYER_EDGE_ACME_PUBLIC_DOMAINS"] = "true"
        if svc.name == "catalog":  # Git providers post webhook deliveries to the gateway
            env["CATALOG_PUBLIC_URL"] = self.urls(config)["api-gateway"]
            if self.settings.database_images == "local" and "CATALOG_DATABASE_IMAGES" not in os.environ:
                env["CATALOG_DATABASE_IMAGES"] = json.dumps(catalog_images(self.registry(config).address))
        if svc.name == "logs":
            env["LOGS_CATALOG_URL"] = self.urls(config)["catalog"]
            env["LOGS_DEPLOYER_URL"] = self.urls(config)["deployer"]
        if svc.name == "api-gateway":
            for other in SERVICES:
                if other.name != "api-gateway":
                    env[f"GATEWAY_{other.env_prefix}_URL"] = self.urls(config)[other.name]
        return env

    def pid_file(self, name: str) -> Path:
        return self.run / f"{name}.pid"

    def service_pid(self, svc: ServiceDef) -> int | None:
        return read_pid(self.pid_file(svc.name), marker=svc.module)

    # -- up -----------------------------------------------------------------------------------------
    def up(self) -> str:
        started = time.monotonic()
        config = self.ensure_config()
        self.logs.mkdir(parents=True, exist_ok=True)
        self.run.mkdir(parents=True, exist_ok=True)
        say(f"Slipway state directory: {self.state}")
        self._start_postgres(config)
        self._start_nats(config)
        self._start_engine(config)
        self._database_images(config)
        kubeconfig = self._start_kubernetes(config)
        self._migrate(config)
        pids = self._start_services(config)
        self._wait_ready(config, pids)
        token = self._bootstrap(config)
        gateway = self.urls(config)["api-gateway"]
        self.env_file.write_text(f"SLIPWAY_API_URL={gateway}\nSLIPWAY_API_TOKEN={token}\n")
        self.env_file.chmod(0o600)
        if kubeconfig is not None:
            try:
                cluster_id = register_cluster(gateway, token, kubeconfig)
            except RegisterError as exc:
                raise StackError(f"kubernetes: {exc}") from exc
            say(f"  kubernetes registered as cluster local-kubernetes ({cluster_id})")
        say(f"Slipway is up in {time.monotonic() - started:.1f}s.")
        say(f"  API (gateway): {gateway}")
        say(f"  credentials:   {self.env_file} (source it: set -a; . {self.env_file}; set +a)")
        return gateway

    def _start_postgres(self, config: dict) -> None:  # type: ignore[type-arg]
        if self.settings.database_url:
            say("  postgres   using DATABASE_URL")
            return
        pg = self.postgres(config)
        try:
            if not pg.initialized():
                say("  postgres   initialising data directory…")
                pg.init()
            was_running = pg.running()
            pg.start()
            pg.create_database("slipway")
        except Exception as exc:
            raise StackError(f"postgres failed to start: {exc}\n  log: {pg.log_file}\n{tail(pg.log_file)}") from exc
        say(f"  postgres   {'already running' if was_running else 'started'} on 127.0.0.1:{pg.port}")

    def _start_nats(self, config: dict) -> None:  # type: ignore[type-arg]
        if self.settings.nats_url:
            say("  nats       using NATS_URL")
            return
        nats = self.nats(config)
        running = nats.pid() is not None
        pid = nats.start()
        deadline = time.monotonic() + 30
        while not _tcp_open(nats.port):
            if not alive(pid):
                raise StackError(f"nats failed to start\n  log: {nats.log_file}\n{tail(nats.log_file)}")
            if time.monotonic() > deadline:
                raise StackError(f"nats did not open its port in 30s\n  log: {nats.log_file}")
            time.sleep(0.1)
        say(f"  nats       {'already running' if running else 'started'} on 127.0.0.1:{nats.port} (JetStream)")

    def _start_engine(self, config: dict) -> None:  # type: ignore[type-arg]
        registry, engine, caddy = self.registry(config), self.engine(), self.caddy(config)
        try:
            registry.start()
            say(f"  registry   on {registry.address}")
            engine.start(registry=registry.address)
            say(f"  engine     {engine.host}")
            say(f"  base image {engine.ensure_base_image()}")
            caddy.start()
            say(f"  edge       caddy on :{caddy.http_port} (http) and :{caddy.https_port} (https)")
            resolver = self.edge_resolver(config)
            resolver.start()
            say(f"  edge dns   {resolver.address} (udp), in front of aardvark-dns")
        except RuntimeError as exc:
            raise StackError(str(exc)) from exc

    def _database_images(self, config: dict) -> None:  # type: ignore[type-arg]
        """With local database images: each in the registry (built once here; a failure only warns: databases
        then fail to deploy with an error naming the setting, everything else works)."""
        if self.settings.database_images != "local" or self.settings.defer_database_images:
            return
        try:
            self.database_images(config)
        except StackError as exc:
            say(f"  databases  WARNING: {exc}; container databases will not deploy until `make db-images` works")

    def database_images(self, config: dict | None = None) -> None:  # type: ignore[type-arg]
        """The local database images in this stack's registry (`slipway-stack db-images`)."""
        config = config or self.load_config()
        if not config:
            raise StackError("Slipway is not set up here (no stack.json): run `make up` first")
        registry = self.registry(config).address
        try:
            DatabaseImages(self.engine().env(), say).provide(registry, clients=True)  # clients: the examples' base
        except (ImageError, OSError, subprocess.TimeoutExpired) as exc:
            raise StackError(f"no local database images: {exc}") from exc
        say(f"  databases  PostgreSQL, MySQL (MariaDB) and Redis images in {registry}/slipway-db (and clients:1)")

    def _start_kubernetes(self, config: dict) -> str | None:  # type: ignore[type-arg]
        """The kubeconfig to register: the embedded cluster's once it runs, or the operator's file; else None."""
        choice = (self.settings.kubernetes or "").strip()
        if not choice:
            return None
        if choice == "embedded":
            cluster = self.kubernetes(config)
            try:
                cluster.start(say)
            except (KubernetesError, RuntimeError) as exc:
                raise StackError(f"kubernetes: {exc}") from exc
            return cluster.admin_kubeconfig()
        path = Path(choice).expanduser()
        if not path.is_file():
            raise StackError(f"SLIPWAY_KUBERNETES: '{choice}' is neither 'embedded' nor a kubeconfig file")
        say(f"  kubernetes registering the cluster of {path}")
        return path.read_text()

    def _migrate(self, config: dict) -> None:  # type: ignore[type-arg]
        log_file = self.logs / "migrations.log"
        import subprocess

        from slipway.migrate import SERVICE_PACKAGES

        say(f"  migrations applying {', '.join(SERVICE_PACKAGES)}…")

        with open(log_file, "ab") as log:
            result = subprocess.run(
                [sys.executable, "-m", "slipway.migrate", *SERVICE_PACKAGES],
                env={**os.environ, "DATABASE_URL": self.database_url(config)},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        if result.returncode != 0:
            raise StackError(f"migrations failed\n  log: {log_file}\n{tail(log_file)}")

    def _start_services(self, config: dict) -> dict[str, int]:  # type: ignore[type-arg]
        pids: dict[str, int] = {}
        for svc in SERVICES:
            existing = self.service_pid(svc)
            if existing is not None:
                pids[svc.name] = existing
                say(f"  {svc.name:<11} already running")
                continue
            pids[svc.name] = start_detached(
                svc.name,
                [sys.executable, "-m", svc.module],
                log_file=self.logs / f"{svc.name}.log",
                pid_file=self.pid_file(svc.name),
                env=self.service_env(config, svc),
            )
            say(f"  {svc.name:<11} starting on 127.0.0.1:{config['ports'][svc.name]}")
        return pids

    def _wait_ready(self, config: dict, pids: dict[str, int]) -> None:  # type: ignore[type-arg]
        urls = self.urls(config)
        pending = {svc.name: svc for svc in SERVICES}
        started = time.monotonic()
        last_note = started
        with httpx.Client(timeout=2) as client:
            while pending:
                for name in list(pending):
                    if not alive(pids[name]):
                        log_file = self.logs / f"{name}.log"
                        raise StackError(f"{name} exited during start-up\n  log: {log_file}\n{tail(log_file)}")
                    try:
                        ready = client.get(urls[name] + "/readyz").status_code == 200
                    except httpx.HTTPError:
                        ready = False
                    if ready:
                        del pending[name]
                        say(f"  {name:<11} ready ({time.monotonic() - started:.1f}s)")
                elapsed = time.monotonic() - started
                if pending and elapsed > self.settings.ready_timeout:
                    name = next(iter(pending))
                    raise StackError(
                        f"{name} not ready after {elapsed:.0f}s\n  log: {self.logs / (name + '.log')}\n"
                        f"{tail(self.logs / (name + '.log'))}"
                    )
                if pending and time.monotonic() - last_note > 5:
                    say(f"  … waiting for {', '.join(pending)} ({elapsed:.0f}s)")
                    last_note = time.monotonic()
                if pending:
                    time.sleep(0.2)

    def _bootstrap(self, config: dict) -> str:  # type: ignore[type-arg]
        iam = self.urls(config)["iam"]
        headers = {HEADER: sign(service_principal("slipway-stack"), config["internal_key"])}
        existing = _read_env(self.env_file).get("SLIPWAY_API_TOKEN")
        with httpx.Client(timeout=10) as client:
            if existing:
                r = client.post(f"{iam}/internal/introspect", json={"token": existing}, headers=headers)
                if r.status_code == 200:
                    say("  admin      reusing the API token in .slipway/env")
                    return existing
            r = client.post(f"{iam}/internal/bootstrap", json={"email": self.settings.admin_email}, headers=headers)
            if r.status_code != 201:
                raise StackError(f"admin bootstrap failed ({r.status_code}): {r.text}\n  log: {self.logs / 'iam.log'}")
            say(f"  admin      {self.settings.admin_email} with a new API token")
            return str(r.json()["token"])

    # -- down / status ------------------------------------------------------------------------------
    def down(self) -> None:
        config = self.load_config()
        if not config:
            say("Slipway is not set up here (no stack.json); nothing to stop.")
            return
        pids = [(svc.name, self.service_pid(svc)) for svc in SERVICES]
        with ThreadPoolExecutor(max_workers=len(pids)) as pool:
            for name, pid in pids:
                if pid is not None:
                    pool.submit(stop_pid, pid)
                    say(f"  {name:<11} stopping")
        for svc in SERVICES:
            self.pid_file(svc.name).unlink(missing_ok=True)
        kube = self.kubernetes(config)
        if kube.settings_file.exists():
            kube.stop()
            say("  kubernetes stopped (pods, mounts, bridge and iptables rules removed)")
        self.caddy(config).stop()
        self.edge_resolver(config).stop()
        self.engine().stop()
        self.registry(config).stop()
        say("  edge, engine, registry stopped")
        if not self.settings.nats_url:
            self.nats(config).stop()
            say("  nats       stopped")
        if not self.settings.database_url:
            pg = self.postgres(config)
            pg.stop()
            say("  postgres   stopped")
        say(f"Slipway stopped; data kept in {self.state}")

    def purge(self) -> None:
        """Remove what this installation deployed on the container engine (`make clean`, after `make down`): its
        state is about to go, and nothing would own those containers, volumes and networks afterwards."""
        installation = str(self.load_config().get("installation_id") or "")
        if not installation:
            say("Slipway is not set up here (no installation id); nothing deployed to remove.")
            return
        engine = self.engine()
        started = not engine.external and engine.pid() is None
        try:
            if started:  # the engine is stopped with the rest by `make down`: this step starts it for itself
                engine.start()
            with engine.client() as client:
                purged = purge_installation(client, installation)
        except (EngineError, PurgeError, httpx.HTTPError) as exc:
            raise StackError(f"could not remove this installation's workloads from the engine: {exc}") from exc
        finally:
            if started:
                engine.stop()
        say(
            f"  removed from the engine: {len(purged.containers)} container(s), {len(purged.volumes)} volume(s), "
            f"{len(purged.networks)} network(s) of installation {installation}"
        )

    def status(self) -> list[tuple[str, str, str]]:
        config = self.load_config()
        if not config:
            return []
        rows: list[tuple[str, str, str]] = []
        if not self.settings.database_url:
            pg = self.postgres(config)
            rows.append(
                ("postgres", "running" if pg.initialized() and pg.running() else "stopped", f"127.0.0.1:{pg.port}")
            )
        if not self.settings.nats_url:
            nats = self.nats(config)
            rows.append(("nats", "running" if nats.pid() else "stopped", nats.url))
        engine, caddy, registry = self.engine(), self.caddy(config), self.registry(config)
        rows.append(
            ("engine", "external" if engine.external else ("running" if engine.pid() else "stopped"), engine.host)
        )
        rows.append(("registry", "running" if registry.pid() else "stopped", registry.address))
        rows.append(
            ("edge", "running" if caddy.pid() else "stopped", f":{caddy.http_port} http, :{caddy.https_port} https")
        )
        resolver = self.edge_resolver(config)
        rows.append(("edge dns", "running" if resolver.pid() else "stopped", f"{resolver.address} udp"))
        kube = self.kubernetes(config)
        if kube.settings_file.exists():
            state, where = kube.status()
            rows.append(("kubernetes", state, f"{where} (kubeconfig {kube.kubeconfig_file})"))
        urls = self.urls(config)
        with httpx.Client(timeout=2) as client:
            for svc in SERVICES:
                pid = self.service_pid(svc)
                state = "stopped"
                if pid is not None and alive(pid):
                    try:
                        ready = client.get(urls[svc.name] + "/readyz").status_code == 200
                    except httpx.HTTPError:
                        ready = False
                    state = f"running pid {pid}, {'ready' if ready else 'NOT ready'}"
                rows.append((svc.name, state, urls[svc.name]))
        return rows


def _tcp_open(port: int) -> bool:
    import socket

    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _read_env(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    values = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip()
    return values
