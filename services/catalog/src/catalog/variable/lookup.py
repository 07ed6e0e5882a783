"""Finding one variable by id: a stored row, or a built-in recognised by its stable id."""

from __future__ import annotations

import uuid
from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.job import outputs as job_outputs
from catalog.models import Environment, JobOutput, Service, Variable
from catalog.variable import builtins
from catalog.variable.items import Item, ServiceRef, from_row
from catalog.variable.visible import builtins_of
from slipway.errors import NotFound


async def find_builtin(session: AsyncSession, variable_id: uuid.UUID) -> Item | None:
    """The built-in with that id, if any: its id derives from (environment or service id, key), so every
    environment's candidate ids are computed until one matches (ids and kinds only, no configuration)."""
    services: dict[uuid.UUID, list[tuple[uuid.UUID, str, str | None]]] = defaultdict(list)
    for service_id, kind, environment_id, database_type in await session.execute(
        select(Service.id, Service.kind, Service.environment_id, Service.config["type"].astext)
    ):
        services[environment_id].append((service_id, kind, database_type))
    outputs: dict[uuid.UUID, dict[uuid.UUID, uuid.UUID]] = defaultdict(dict)  # environment → output's id → job
    for job_id, key, environment_id in await session.execute(
        select(JobOutput.job_id, JobOutput.key, JobOutput.environment_id)
    ):
        outputs[environment_id][builtins.builtin_id(job_id, job_outputs.variable_key(job_id, key))] = job_id
    for (environment_id,) in await session.execute(select(Environment.id)):
        candidates = builtins.candidate_ids(environment_id, services.get(environment_id, []))
        owner = candidates.get(variable_id) or outputs[environment_id].get(variable_id)
        if owner is None:
            continue
        env = await session.get(Environment, environment_id)
        service = await session.get(Service, owner) if owner != environment_id else None
        if env is None:  # pragma: no cover - deleted meanwhile
            return None
        found = await builtins_of(session, env, service, builtins.no_password)
        return next((item for item in found if item.id == variable_id), None)
    return None


async def service_ref(session: AsyncSession, row: Variable) -> ServiceRef | None:
    if row.service_id is None:
        return None
    service = await session.get(Service, row.service_id)
    return ServiceRef(service.id, service.name, service.kind) if service is not None else None


async def find(session: AsyncSession, variable_id: uuid.UUID) -> tuple[Item, Variable | None]:
    """The variable as an item, with its row when it is stored; 404 when it is neither stored nor built in."""
    row = await session.get(Variable, variable_id)
    if row is not None:
        return from_row(row, await service_ref(session, row)), row
    builtin = await find_builtin(session, variable_id)
    if builtin is None:
        raise NotFound("variable not found")
    return builtin, None
