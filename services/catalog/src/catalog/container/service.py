"""Container rules: a registry of the organization, consistent ports and probes, names unique per environment."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from catalog.container.schemas import Container as ContainerOut
from catalog.container.schemas import ContainerRequest, Healthcheck, PortOut, Reference, StorageOut
from catalog.models import Environment, Service
from catalog.workload import rules, store
from catalog.workload.rules import MAXIMUM_CPU, MAXIMUM_GPU, MAXIMUM_MEMORY
from slipway.crypto import Keyring
from slipway.timeutil import rfc3339

KIND = "CONTAINER"
DEFAULT_STAGE = "CONTAINER DEFAULT"
DEFAULT_ICON = "app://qovery-console/container"


async def get(session: AsyncSession, container_id: uuid.UUID) -> Service:
    return await store.get(session, container_id, KIND)


async def listing(session: AsyncSession, environment_id: uuid.UUID) -> list[Service]:
    return await store.listing(session, environment_id, KIND)


async def _config(
    session: AsyncSession, env: Environment, body: ContainerRequest, previous: dict[str, Any]
) -> dict[str, Any]:
    await rules.registry(session, env.organization_id, body.registry_id, "registry_id")
    ports = rules.ports(body.ports, previous.get("ports", []))
    rules.check_instances(body.min_running_instances, body.max_running_instances)
    rules.check_resources(body.cpu, body.memory, body.gpu)
    rules.check_probe_ports(body.healthchecks, {p["internal_port"] for p in ports}, "container")
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
        "auto_preview": await rules.auto_preview(session, env, body.auto_preview),
        "auto_deploy": bool(body.auto_deploy),
        "icon_uri": body.icon_uri or DEFAULT_ICON,
        "ports": ports,
        "storage": rules.storage(body.storage, previous.get("storage", [])),
    }


async def create(session: AsyncSession, env: Environment, body: ContainerRequest) -> Service:
    config = await _config(session, env, body, {})
    return await store.create(
        session, env, kind=KIND, stage=DEFAULT_STAGE, name=body.name, description=body.description, config=config
    )


async def edit(session: AsyncSession, svc: Service, body: ContainerRequest) -> None:
    """The whole body replaces the configuration (ContainerRequest's required keys make it a full object)."""
    env = await store.environment_of(session, svc)
    config = await _config(session, env, body, svc.config)
    sent = "description" in body.model_fields_set
    await store.update(session, svc, name=body.name, config=config, description=body.description, sent=sent)


async def delete(session: AsyncSession, svc: Service, keys: Keyring) -> None:
    await store.delete(session, svc, keys)


async def render(session: AsyncSession, svc: Service) -> ContainerOut:
    config = svc.config
    return ContainerOut(
        id=str(svc.id),
        created_at=rfc3339(svc.created_at),
        updated_at=rfc3339(svc.updated_at or svc.created_at),
        storage=[StorageOut(**s) for s in config["storage"]],
        image_name=config["image_name"],
        tag=config["tag"],
        registry_id=config["registry_id"],
        registry=await rules.registry_details(session, config["registry_id"]),
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
