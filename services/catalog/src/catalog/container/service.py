"""Container rules: a registry of the organization, consistent ports and probes, names unique per environment."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog import hosts
from catalog.container.schemas import Container as ContainerOut
from catalog.container.schemas import (
    ContainerRequest,
    Healthcheck,
    PortOut,
    Reference,
    RegistryDetails,
    StorageOut,
)
from catalog.environment import rules
from catalog.environment.service import stages
from catalog.events.publish import emit_service
from catalog.models import ContainerRegistry, DeploymentStage, Environment, Service
from slipway.contracts import Subjects
from slipway.db import flush_or_conflict
from slipway.errors import BadRequest, NotFound
from slipway.timeutil import rfc3339, utcnow

KIND = "CONTAINER"
DEFAULT_STAGE = "CONTAINER DEFAULT"
DEFAULT_ICON = "app://qovery-console/container"
# What one container may ask for on a Slipway cluster (no per-node inventory yet).
MAXIMUM_CPU = 16_000
MAXIMUM_MEMORY = 16_384
MAXIMUM_GPU = 0
HTTP_LIKE = {"HTTP", "GRPC"}


async def get(session: AsyncSession, container_id: uuid.UUID) -> Service:
    found = await session.get(Service, container_id)
    if found is None or found.kind != KIND:
        raise NotFound("container not found")
    return found


async def listing(session: AsyncSession, environment_id: uuid.UUID) -> list[Service]:
    rows = await session.execute(
        select(Service)
        .where(Service.environment_id == environment_id, Service.kind == KIND)
        .order_by(Service.created_at, Service.id)
    )
    return list(rows.scalars())


async def _registry(session: AsyncSession, organization_id: uuid.UUID, registry_id: uuid.UUID) -> ContainerRegistry:
    registry = await session.get(ContainerRegistry, registry_id)
    if registry is None or registry.organization_id != organization_id:
        raise BadRequest("registry_id: no such container registry in this organization")
    return registry


def _ports(body: ContainerRequest, previous: list[dict[str, Any]]) -> list[dict[str, Any]]:
    known = {p["id"] for p in previous}
    ports = body.ports or []
    seen: set[int] = set()
    for i, port in enumerate(ports):
        if port.internal_port in seen:
            raise BadRequest(f"ports.{i}.internal_port: port {port.internal_port} is declared twice")
        seen.add(port.internal_port)
        if (port.public_path or port.public_path_rewrite) and not (
            port.publicly_accessible and port.protocol in HTTP_LIKE
        ):
            raise BadRequest(f"ports.{i}.public_path: only for publicly accessible HTTP or GRPC ports")
    defaults = [i for i, p in enumerate(ports) if p.is_default]
    if len(defaults) > 1:
        raise BadRequest(f"ports.{defaults[1]}.is_default: only one port can be the default")
    # Qovery: the first publicly accessible port is the default one when none is chosen
    chosen = defaults[0] if defaults else next((i for i, p in enumerate(ports) if p.publicly_accessible), None)
    out = []
    for i, port in enumerate(ports):
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


def _storage(body: ContainerRequest, previous: list[dict[str, Any]]) -> list[dict[str, Any]]:
    known = {s["id"] for s in previous}
    mounts: set[str] = set()
    out = []
    for i, volume in enumerate(body.storage or []):
        if volume.mount_point in mounts:
            raise BadRequest(f"storage.{i}.mount_point: {volume.mount_point} is mounted twice")
        mounts.add(volume.mount_point)
        ident = str(volume.id) if volume.id is not None and str(volume.id) in known else str(uuid.uuid4())
        out.append({"id": ident, "type": volume.type, "size": volume.size, "mount_point": volume.mount_point})
    return out


def _check(body: ContainerRequest, ports: list[dict[str, Any]]) -> None:
    if body.max_running_instances != -1:
        if body.max_running_instances < 1:
            raise BadRequest("max_running_instances: must be at least 1 (or -1 for no limit)")
        if body.min_running_instances > body.max_running_instances:
            raise BadRequest("min_running_instances: must not exceed max_running_instances")
    if body.cpu > MAXIMUM_CPU:
        raise BadRequest(f"cpu: at most {MAXIMUM_CPU} millicores")
    if body.memory > MAXIMUM_MEMORY:
        raise BadRequest(f"memory: at most {MAXIMUM_MEMORY} MB")
    if body.gpu > MAXIMUM_GPU:
        raise BadRequest(f"gpu: at most {MAXIMUM_GPU}")
    declared = {p["internal_port"] for p in ports}
    for name in ("readiness_probe", "liveness_probe"):
        probe = getattr(body.healthchecks, name)
        port = probe.type.port() if probe is not None else None
        if port is not None and port not in declared:
            raise BadRequest(f"healthchecks.{name}.type: port {port} is not one of the container's ports")


async def _config(
    session: AsyncSession, env: Environment, body: ContainerRequest, previous: dict[str, Any]
) -> dict[str, Any]:
    await _registry(session, env.organization_id, body.registry_id)
    ports = _ports(body, previous.get("ports", []))
    _check(body, ports)
    auto_preview = body.auto_preview
    if auto_preview is None:  # Qovery: the environment's deployment rule decides
        auto_preview = (await rules.rule_of(session, env)).auto_preview
    return {
        "registry_id": str(body.registry_id),
        "image_name": body.image_name,
        "tag": body.tag,
        "arguments": body.arguments or [],
        "entrypoint": body.entrypoint,
        "cpu": body.cpu,
        "memory": body.memory,
        "gpu": body.gpu,
        "ephemeral_storage_in_gib": body.ephemeral_storage_in_gib,
        "cpu_architecture": body.cpu_architecture,
        "min_running_instances": body.min_running_instances,
        "max_running_instances": body.max_running_instances,
        "healthchecks": body.healthchecks.model_dump(mode="json", exclude_none=True),
        "auto_preview": auto_preview,
        "auto_deploy": bool(body.auto_deploy),
        "icon_uri": body.icon_uri or DEFAULT_ICON,
        "ports": ports,
        "storage": _storage(body, previous.get("storage", [])),
    }


async def _flush(session: AsyncSession, name: str) -> None:
    await flush_or_conflict(session, f"name '{name}' is already taken by another service of this environment")


async def _default_stage(session: AsyncSession, environment_id: uuid.UUID) -> DeploymentStage | None:
    ordered = await stages(session, environment_id)
    return next((s for s in ordered if s.name == DEFAULT_STAGE), ordered[-1] if ordered else None)


async def create(session: AsyncSession, env: Environment, body: ContainerRequest) -> Service:
    config = await _config(session, env, body, {})
    stage = await _default_stage(session, env.id)
    service_id = uuid.uuid4()
    config["host_slug"] = await hosts.assign_host_slug(session, env, body.name, service_id)
    svc = Service(
        id=service_id,
        organization_id=env.organization_id,
        project_id=env.project_id,
        environment_id=env.id,
        kind=KIND,
        name=body.name,
        description=body.description,
        deployment_stage_id=stage.id if stage else None,
        is_skipped=False,
        config=config,
    )
    session.add(svc)
    await _flush(session, body.name)
    await session.refresh(svc, ["created_at"])
    await emit_service(session, Subjects.SERVICE_CREATED, svc)
    return svc


async def edit(session: AsyncSession, svc: Service, body: ContainerRequest) -> None:
    env = await session.get(Environment, svc.environment_id)
    if env is None:
        raise NotFound("container not found")
    svc.config = {**await _config(session, env, body, svc.config), "host_slug": svc.config.get("host_slug")}
    svc.name = body.name
    if "description" in body.model_fields_set:
        svc.description = body.description
    svc.updated_at = utcnow()
    await _flush(session, body.name)
    await emit_service(session, Subjects.SERVICE_UPDATED, svc)


async def delete(session: AsyncSession, svc: Service) -> None:
    await emit_service(session, Subjects.SERVICE_DELETED, svc)
    await session.delete(svc)
    await session.flush()


async def render(session: AsyncSession, svc: Service) -> ContainerOut:
    config = svc.config
    registry = await session.get(ContainerRegistry, uuid.UUID(config["registry_id"]))
    details = (
        RegistryDetails(id=str(registry.id), name=registry.name, url=registry.url, kind=registry.kind)
        if registry is not None
        else RegistryDetails(id=config["registry_id"], name="", url="", kind="GENERIC_CR")  # registry since deleted
    )
    return ContainerOut(
        id=str(svc.id),
        created_at=rfc3339(svc.created_at),
        updated_at=rfc3339(svc.updated_at or svc.created_at),
        storage=[StorageOut(**s) for s in config["storage"]],
        image_name=config["image_name"],
        tag=config["tag"],
        registry_id=config["registry_id"],
        registry=details,
        environment=Reference(id=str(svc.environment_id)),
        maximum_cpu=MAXIMUM_CPU,
        maximum_memory=MAXIMUM_MEMORY,
        maximum_gpu=MAXIMUM_GPU,
        name=svc.name,
        description=svc.description,
        arguments=config["arguments"],
        entrypoint=config["entrypoint"],
        cpu=config["cpu"],
        memory=config["memory"],
        gpu=config["gpu"],
        ephemeral_storage_in_gib=config["ephemeral_storage_in_gib"],
        cpu_architecture=config["cpu_architecture"],
        min_running_instances=config["min_running_instances"],
        max_running_instances=config["max_running_instances"],
        healthchecks=Healthcheck.model_validate(config["healthchecks"]),
        auto_preview=config["auto_preview"],
        ports=[PortOut(**p) for p in config["ports"]],
        auto_deploy=config["auto_deploy"],
        annotations_groups=[],
        labels_groups=[],
        icon_uri=config["icon_uri"],
    )
