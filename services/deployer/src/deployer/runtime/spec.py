"""What a service's containers look like on a docker engine: names, labels, spec hash, routes, create config."""

from __future__ import annotations

import hashlib
import io
import json
import re
import secrets
import shlex
import tarfile
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from slipway.desired import DesiredState, ProbeSpec, ServiceSpec, public_hosts
from slipway.joboutput import OUTPUT_DIR

LABEL_PREFIX = "slipway."
L_MANAGED = "slipway.managed-by"
L_ORG = "slipway.organization-id"
L_PROJECT = "slipway.project-id"
L_ENV = "slipway.environment-id"
L_SERVICE = "slipway.service-id"
L_DEPLOYMENT = "slipway.deployment-id"
L_HASH = "slipway.spec-hash"
L_KIND = "slipway.service-kind"
L_NAME = "slipway.service-name"
L_IMAGE = "slipway.image"
L_ROUTES = "slipway.routes"  # JSON [[host, internal port, path prefix | null], …]: the edge routes, from labels alone
L_INSTANCE = "slipway.instance"
MANAGED_BY = "slipway-deployer"
# labels cannot change after creation: a replaced (retired) instance is renamed `<name>--retired-<epoch ms>`
RETIRED_MARK = "--retired-"


@dataclass(frozen=True)
class PublicRoute:
    host: str
    port: int
    path_prefix: str | None = None


def network_name(environment_id: str) -> str:
    return f"slipway-{environment_id}"


def edge_network_name(environment_id: str) -> str:
    """The environment's edge network: only READY instances of public services are connected to it."""
    return f"slipway-{environment_id}-edge"


def edge_alias(service_id: str) -> str:
    """A service's DNS name on the edge network (`<alias>.dns.podman`). Unique across environments: Caddy
    caches dynamic upstreams by name and port only, not by resolver."""
    return f"e-{short_id(service_id, 60)}"


def retired_name(name: str, retired_at_ms: int) -> str:
    return f"{name}{RETIRED_MARK}{retired_at_ms}"


def parse_retired(name: str) -> tuple[str, int | None]:
    """(the instance's original name, when it was retired in epoch ms or None while it is live)."""
    base, mark, stamp = name.rpartition(RETIRED_MARK)
    if mark and base and stamp.isdigit():
        return base, int(stamp)
    return name, None


def volume_prefix(service_id: str) -> str:
    return f"slipway-vol-{service_id.replace('-', '')}-"


def volume_name(service_id: str, volume_id: str) -> str:
    """The engine's named volume behind one of a service's volumes (it outlives containers and rollouts)."""
    return volume_prefix(service_id) + volume_id.replace("-", "")[:12]


def slugify(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:63].strip("-") or "service"


def short_id(value: str, length: int = 8) -> str:
    return re.sub(r"[^a-z0-9]", "", value.lower())[:length] or "x"


def container_name(service_id: str, deployment_id: str, instance: int) -> str:
    """`slipway-<service short id>-<deployment short id><random>-<instance>`: unique across re-applies."""
    return f"slipway-{short_id(service_id)}-{short_id(deployment_id)}{secrets.token_hex(2)}-{instance}"


def aliases(service: ServiceSpec) -> list[str]:
    names = [service.internal_host, slugify(service.name)]
    return [n for i, n in enumerate(names) if n and n not in names[:i]]


def public_routes(state: DesiredState, service: ServiceSpec) -> list[PublicRoute]:
    """Public HTTP/GRPC ports' hosts, plus the custom domains on the default public port."""
    hosts = public_hosts(service.host_slug, service.ports, state.cluster.base_domain)
    by_port = {p.internal_port: p for p in service.ports}
    routes = [PublicRoute(h, port, by_port[port].public_path) for port, h in hosts.items()]
    default = next((p for p in service.ports if p.is_default and p.internal_port in hosts), None)
    default = default or next((p for p in service.ports if p.internal_port in hosts), None)
    if default is not None:
        known = {r.host for r in routes}
        routes += [
            PublicRoute(d.lower(), default.internal_port, default.public_path)
            for d in service.custom_domains
            if d.lower() not in known
        ]
    return routes


def encode_routes(routes: list[PublicRoute]) -> str:
    return json.dumps([[r.host, r.port, r.path_prefix] for r in routes], separators=(",", ":"))


def decode_routes(label: str | None) -> list[PublicRoute]:
    try:
        return [PublicRoute(str(h), int(p), x) for h, p, x in json.loads(label or "[]")]
    except (ValueError, TypeError):
        return []


def spec_hash(service: ServiceSpec, image: str | None, image_id: str | None, routes: list[PublicRoute]) -> str:
    """Everything that affects the containers (and their routes): equal hashes mean nothing to do."""
    data = {
        "kind": service.kind,
        "image": image,
        "image_id": image_id,
        "env": service.env,
        "files": [f.model_dump(mode="json") for f in service.files],
        "ports": [p.model_dump(mode="json") for p in service.ports],
        "readiness": service.readiness_probe.model_dump(mode="json") if service.readiness_probe else None,
        "liveness": service.liveness_probe.model_dump(mode="json") if service.liveness_probe else None,
        "cpu": service.cpu,
        "memory": service.memory,
        "instances": service.min_running_instances,
        "arguments": service.arguments,
        "entrypoint": service.entrypoint,
        "aliases": aliases(service),
        "routes": encode_routes(routes),
        "database": service.database.model_dump(mode="json") if service.database else None,
        "volumes": [v.model_dump(mode="json") for v in service.volumes],
    }
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:24]


def labels(
    state: DesiredState,
    service: ServiceSpec,
    deployment_id: str,
    digest: str,
    image: str,
    routes: list[PublicRoute],
    instance: int,
    extra: dict[str, str],
) -> dict[str, str]:
    return {
        **extra,
        L_MANAGED: MANAGED_BY,
        L_ORG: state.organization_id,
        L_PROJECT: state.project_id,
        L_ENV: state.environment_id,
        L_SERVICE: service.id,
        L_DEPLOYMENT: deployment_id,
        L_HASH: digest,
        L_KIND: service.kind,
        L_NAME: service.name,
        L_IMAGE: image,
        L_ROUTES: encode_routes(routes),
        L_INSTANCE: str(instance),
    }


def create_config(
    service: ServiceSpec, image: str, network: str, container_labels: dict[str, str], run_to_completion: bool
) -> dict[str, Any]:
    """The Docker Engine API body of `POST /containers/create` for one instance."""
    config: dict[str, Any] = {
        "Image": image,
        "Env": [f"{k}={v}" for k, v in service.env.items()],
        "Labels": container_labels,
        "ExposedPorts": {f"{p.internal_port}/{'udp' if p.protocol == 'UDP' else 'tcp'}": {} for p in service.ports},
        "HostConfig": {
            "NetworkMode": network,
            "NanoCpus": max(service.cpu, 1) * 1_000_000,
            "Memory": max(service.memory, 6) * 1024 * 1024,
            # long-running services come back after a crash even while no deployer runs; jobs run once
            "RestartPolicy": {"Name": "no" if run_to_completion else "unless-stopped"},
            "Init": True,  # a tiny init as PID 1 forwards SIGTERM: stops are graceful, not 10 s timeouts
        },
        "NetworkingConfig": {"EndpointsConfig": {network: {"Aliases": aliases(service)}}},
    }
    if service.volumes:
        config["HostConfig"]["Mounts"] = [
            {"Type": "volume", "Source": volume_name(service.id, v.id), "Target": v.mount_point}
            for v in service.volumes
        ]
    if service.entrypoint:
        config["Entrypoint"] = shlex.split(service.entrypoint)
    if service.arguments:
        config["Cmd"] = list(service.arguments)
    return config


def files_archive(service: ServiceSpec) -> bytes | None:
    """A tar of the service's file variables for `PUT /containers/{id}/archive?path=/` (secrets mode 0400); a job's
    also has the directory its run may write its outputs to (/qovery-output, writable by any user)."""
    if not service.files and service.kind != "JOB":
        return None
    buf = io.BytesIO()
    dirs: set[str] = set()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        if service.kind == "JOB":
            info = tarfile.TarInfo(OUTPUT_DIR.lstrip("/"))
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777
            tar.addfile(info)
        for f in service.files:
            path = PurePosixPath("/", f.path)
            for parent in reversed(path.parents):
                rel = str(parent).lstrip("/")
                if rel and rel not in dirs:
                    dirs.add(rel)
                    info = tarfile.TarInfo(rel)
                    info.type = tarfile.DIRTYPE
                    info.mode = 0o755
                    tar.addfile(info)
            data = f.content.encode()
            info = tarfile.TarInfo(str(path).lstrip("/"))
            info.size = len(data)
            info.mode = 0o400 if f.is_secret or f.key in service.secret_keys else 0o444
            tar.addfile(info, io.BytesIO(data))
    # tarfile pads the archive to a 10 KiB record after the end-of-archive blocks. Podman's copier stops reading at
    # those blocks and exits, so the padding still being written races it: a spurious 500 "passing bulk input to
    # subprocess: write |1: broken pipe" (containers/buildah#6573). The archive ends where its end marker does.
    return buf.getvalue()[: tar.offset]


def readiness_probe(service: ServiceSpec) -> ProbeSpec | None:
    """The service's readiness probe, else a TCP check of its default (or first) port, else none."""
    if service.readiness_probe is not None:
        return service.readiness_probe
    port = next((p for p in service.ports if p.is_default and p.protocol != "UDP"), None)
    port = port or next((p for p in service.ports if p.protocol != "UDP"), None)
    if port is None and service.database is not None:
        return ProbeSpec(kind="tcp", port=service.database.port, period_seconds=2, failure_threshold=30)
    if port is None:
        return None
    return ProbeSpec(kind="tcp", port=port.internal_port, period_seconds=1, failure_threshold=30)
