"""Application rules: a cloneable Git source (a token of the organization), a Dockerfile, ports and probes."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from catalog.application.schemas import Application as ApplicationOut
from catalog.application.schemas import ApplicationRequest
from catalog.models import Environment, Service
from catalog.workload import git, restrictions, rules, store
from catalog.workload.rules import MAXIMUM_CPU, MAXIMUM_GPU, MAXIMUM_MEMORY
from catalog.workload.schemas import Healthcheck, PortOut, Reference, StorageOut
from slipway.crypto import Keyring
from slipway.errors import BadRequest
from slipway.timeutil import rfc3339

KIND = "APPLICATION"
DEFAULT_STAGE = "APPLICATION DEFAULT"
DEFAULT_ICON = "app://qovery-console/application"


async def get(session: AsyncSession, application_id: uuid.UUID) -> Service:
    return await store.get(session, application_id, KIND)


async def listing(session: AsyncSession, environment_id: uuid.UUID) -> list[Service]:
    return await store.listing(session, environment_id, KIND)


async def _config(
    session: AsyncSession, env: Environment, body: ApplicationRequest, previous: dict[str, Any]
) -> dict[str, Any]:
    repository = await git.repository(session, env.organization_id, body.git_repository)
    if body.docker_target_build_stage is not None:
        raise BadRequest("docker_target_build_stage: not supported; the Dockerfile's last stage is built")
    dockerfile = git.check_dockerfile_path(body.dockerfile_path, "dockerfile_path")
    ports = rules.ports(body.ports, previous.get("ports", []))
    rules.check_instances(body.min_running_instances, body.max_running_instances)
    rules.check_resources(body.cpu, body.memory, body.gpu)
    rules.check_probe_ports(body.healthchecks, {p["internal_port"] for p in ports}, "application")
    storage = rules.storage(body.storage, previous.get("storage", []))
    # a pinned commit only makes sense on the repository and branch it came from
    pinned = previous.get("git_commit_id") if git.same_source(previous.get("git_repository"), repository) else None
    return {
        "git_repository": repository,
        "git_commit_id": pinned,
        "dockerfile_path": dockerfile,
        "build_mode": body.build_mode,
        "arguments": body.arguments or [],
        "entrypoint": body.entrypoint,
        "cpu": body.cpu,
        "memory": body.memory,
        "gpu": body.gpu,
        "min_running_instances": body.min_running_instances,
        "max_running_instances": body.max_running_instances,
        "healthchecks": body.healthchecks.model_dump(mode="json", exclude_none=True),
        "ports": ports,
        "storage": storage,
        "auto_preview": await rules.auto_preview(session, env, body.auto_preview),
        "auto_deploy": bool(body.auto_deploy),
        "icon_uri": body.icon_uri or DEFAULT_ICON,
    }


def _as_request(svc: Service) -> dict[str, Any]:
    """The stored application in ApplicationRequest's shape: what an edit's omitted keys keep."""
    config = svc.config
    kept = ("build_mode", "dockerfile_path", "cpu", "memory", "gpu", "min_running_instances", "max_running_instances")
    return {
        "name": svc.name,
        "description": svc.description,
        "git_repository": dict(config["git_repository"]),
        **{key: config[key] for key in kept},
        "healthchecks": config["healthchecks"],
        "auto_preview": config["auto_preview"],
        "arguments": config["arguments"],
        "entrypoint": config["entrypoint"],
        "auto_deploy": config["auto_deploy"],
        "icon_uri": config["icon_uri"],
        "ports": config["ports"],
        "storage": config["storage"],
    }


async def create(session: AsyncSession, env: Environment, body: ApplicationRequest) -> Service:
    config = await _config(session, env, body, {})
    return await store.create(
        session, env, kind=KIND, stage=DEFAULT_STAGE, name=body.name, description=body.description, config=config
    )


async def edit(session: AsyncSession, svc: Service, sent: dict[str, Any]) -> None:
    """ApplicationEditRequest: `healthchecks` is required, every other omitted key keeps its value."""
    if "healthchecks" not in sent:
        raise BadRequest("healthchecks: Field required")
    await restrictions.lock(session, svc)  # its restrictions are kept: none may be added meanwhile
    body = rules.parse(ApplicationRequest, rules.overlay(_as_request(svc), sent, nested=["git_repository"]))
    env = await store.environment_of(session, svc)
    config = {**await _config(session, env, body, svc.config), **restrictions.carried(svc.config)}
    await store.update(
        session, svc, name=body.name, config=config, description=body.description, sent="description" in sent
    )


async def delete(session: AsyncSession, svc: Service, keys: Keyring) -> None:
    await store.delete(session, svc, keys)


async def render(session: AsyncSession, svc: Service) -> ApplicationOut:
    config = svc.config
    return ApplicationOut(
        id=str(svc.id),
        created_at=rfc3339(svc.created_at),
        updated_at=rfc3339(svc.updated_at or svc.created_at),
        storage=[StorageOut(**s) for s in config["storage"]],
        environment=Reference(id=str(svc.environment_id)),
        git_repository=await git.render(session, config["git_repository"]),
        maximum_cpu=MAXIMUM_CPU,
        maximum_memory=MAXIMUM_MEMORY,
        maximun_gpu=MAXIMUM_GPU,
        name=svc.name,
        description=svc.description,
        build_mode=config["build_mode"],
        dockerfile_path=config["dockerfile_path"],
        cpu=config["cpu"],
        memory=config["memory"],
        gpu=config["gpu"],
        min_running_instances=config["min_running_instances"],
        max_running_instances=config["max_running_instances"],
        healthchecks=Healthcheck.model_validate(config["healthchecks"]),
        auto_preview=config["auto_preview"],
        ports=[PortOut(**p) for p in config["ports"]],
        arguments=config["arguments"],
        entrypoint=config["entrypoint"],
        auto_deploy=config["auto_deploy"],
        annotations_groups=[],
        labels_groups=[],
        icon_uri=config["icon_uri"],
    )
