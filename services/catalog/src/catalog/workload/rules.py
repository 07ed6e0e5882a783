"""Workload rules shared by containers, applications and jobs: ports, storage, probes, resources, stage, name."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.environment import rules
from catalog.environment.service import stages
from catalog.models import ContainerRegistry, DeploymentStage, Environment
from catalog.workload.schemas import Healthcheck, PortRequest, RegistryDetails, StorageRequest
from slipway.db import flush_or_conflict
from slipway.errors import BadRequest, validation_detail

# What one workload may ask for on a Slipway cluster (no per-node inventory yet).
MAXIMUM_CPU = 16_000
MAXIMUM_MEMORY = 16_384
MAXIMUM_GPU = 0
HTTP_LIKE = {"HTTP", "GRPC"}
PROBES = ("readiness_probe", "liveness_probe")
M = TypeVar("M", bound=BaseModel)


def ports(requested: Sequence[PortRequest] | None, previous: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The stored ports: ids kept when the client sends back a known one, one default (the first public one)."""
    known = {p["id"] for p in previous}
    requested = requested or []
    seen: set[int] = set()
    for i, port in enumerate(requested):
        if port.internal_port in seen:
            raise BadRequest(f"ports.{i}.internal_port: port {port.internal_port} is declared twice")
        seen.add(port.internal_port)
        if (port.public_path or port.public_path_rewrite) and not (
            port.publicly_accessible and port.protocol in HTTP_LIKE
        ):
            raise BadRequest(f"ports.{i}.public_path: only for publicly accessible HTTP or GRPC ports")
    defaults = [i for i, p in enumerate(requested) if p.is_default]
    if len(defaults) > 1:
        raise BadRequest(f"ports.{defaults[1]}.is_default: only one port can be the default")
    # Qovery: the first publicly accessible port is the default one when none is chosen
    chosen = defaults[0] if defaults else next((i for i, p in enumerate(requested) if p.publicly_accessible), None)
    out = []
    for i, port in enumerate(requested):
        external = port.external_port
        if external is None and port.publicly_accessible and port.protocol in HTTP_LIKE:
            external = 443
        out.append(
            {
                "id": str(port.id) if port.id is not None and str(port.id) in known else str(uuid.uuid4()),
                "name": port.name or f"p{port.internal_port}",
                "internal_port": port.internal_port,
                "external_port": external,
                "publicly_accessible": port.publicly_accessible,
                "is_default": i == chosen,
                "protocol": port.protocol,
                "public_path": port.public_path,
                "public_path_rewrite": port.public_path_rewrite,
            }
        )
    return out


def storage(requested: Sequence[StorageRequest] | None, previous: list[dict[str, Any]]) -> list[dict[str, Any]]:
    known = {s["id"] for s in previous}
    mounts: set[str] = set()
    out = []
    for i, volume in enumerate(requested or []):
        if volume.mount_point in mounts:
            raise BadRequest(f"storage.{i}.mount_point: {volume.mount_point} is mounted twice")
        mounts.add(volume.mount_point)
        ident = str(volume.id) if volume.id is not None and str(volume.id) in known else str(uuid.uuid4())
        out.append({"id": ident, "type": volume.type, "size": volume.size, "mount_point": volume.mount_point})
    return out


def check_instances(minimum: int, maximum: int) -> None:
    if maximum != -1:
        if maximum < 1:
            raise BadRequest("max_running_instances: must be at least 1 (or -1 for no limit)")
        if minimum > maximum:
            raise BadRequest("min_running_instances: must not exceed max_running_instances")


def check_resources(cpu: int, memory: int, gpu: int) -> None:
    if cpu > MAXIMUM_CPU:
        raise BadRequest(f"cpu: at most {MAXIMUM_CPU} millicores")
    if memory > MAXIMUM_MEMORY:
        raise BadRequest(f"memory: at most {MAXIMUM_MEMORY} MB")
    if gpu > MAXIMUM_GPU:
        raise BadRequest(f"gpu: at most {MAXIMUM_GPU}")


def check_probe_ports(healthchecks: Healthcheck, declared: set[int], kind: str) -> None:
    """A probe on a port must probe one of the workload's ports."""
    for name in PROBES:
        probe = getattr(healthchecks, name)
        port = probe.type.port() if probe is not None else None
        if port is not None and port not in declared:
            raise BadRequest(f"healthchecks.{name}.type: port {port} is not one of the {kind}'s ports")


async def registry(session: AsyncSession, organization_id: uuid.UUID, registry_id: uuid.UUID, field: str) -> None:
    found = await session.get(ContainerRegistry, registry_id)
    if found is None or found.organization_id != organization_id:
        raise BadRequest(f"{field}: no such container registry in this organization")


async def registry_details(session: AsyncSession, registry_id: str) -> RegistryDetails:
    found = await session.get(ContainerRegistry, uuid.UUID(registry_id))
    if found is None:  # the registry was deleted since
        return RegistryDetails(id=registry_id, name="", url="", kind="GENERIC_CR")
    return RegistryDetails(id=str(found.id), name=found.name, url=found.url, kind=found.kind)


async def auto_preview(session: AsyncSession, env: Environment, requested: bool | None) -> bool:
    """Qovery: when not given, the environment's deployment rule decides."""
    if requested is not None:
        return requested
    return (await rules.rule_of(session, env)).auto_preview


async def default_stage(session: AsyncSession, environment_id: uuid.UUID, name: str) -> DeploymentStage | None:
    """The kind's default stage, or the last stage when it was renamed or deleted."""
    ordered = await stages(session, environment_id)
    return next((s for s in ordered if s.name == name), ordered[-1] if ordered else None)


async def flush_name(session: AsyncSession, name: str) -> None:
    """Service names are unique per environment whatever their kind (a unique index): a clash is a 409."""
    await flush_or_conflict(session, f"name '{name}' is already taken by another service of this environment")


def parse(model: type[M], data: Any) -> M:
    """Validate a body assembled by the service (an edit merged onto the stored state): errors are 400s."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise BadRequest(validation_detail([dict(e) for e in exc.errors()])) from None


def overlay(base: dict[str, Any], sent: dict[str, Any], nested: Sequence[str] = ()) -> dict[str, Any]:
    """Qovery's edit: the keys sent replace the stored ones, omitted keys keep theirs (one level deeper in `nested`)."""
    merged = {**base, **sent}
    for key in nested:
        if isinstance(base.get(key), dict) and isinstance(sent.get(key), dict):
            merged[key] = {**base[key], **sent[key]}
    return merged
