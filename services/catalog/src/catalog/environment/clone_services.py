"""cloneEnvironment's copy of the services: new ids, stages mapped by name, new host slugs, fresh database passwords."""

from __future__ import annotations

import copy
import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog import hosts
from catalog.database.service import _password, password_context
from catalog.events.publish import emit_service
from catalog.models import DeploymentStage, Environment, Service
from catalog.workload.rules import flush_name
from slipway.contracts import Subjects
from slipway.crypto import Keyring


def _fresh_ids(items: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Ports and volumes belong to their service: the copy's get ids of their own."""
    return [{**item, "id": str(uuid.uuid4())} for item in items or []]


async def _config(
    session: AsyncSession, source: Service, env: Environment, new_id: uuid.UUID, keys: Keyring
) -> dict[str, Any]:
    config: dict[str, Any] = copy.deepcopy(source.config or {})
    for key in ("ports", "storage"):
        if isinstance(config.get(key), list):
            config[key] = _fresh_ids(config[key])
    if source.kind == "DATABASE":
        # A new database (its data is never copied) gets its own master password: a preview cloned from
        # production must not learn production's credentials.
        config["password_encrypted"] = keys.encrypt(_password(), password_context(new_id))
    config["host_slug"] = await hosts.assign_host_slug(session, env, source.name, new_id)
    return config


async def clone_services(
    session: AsyncSession,
    source: Environment,
    env: Environment,
    stage_of: dict[uuid.UUID, DeploymentStage],
    keys: Keyring,
) -> dict[uuid.UUID, Service]:
    """Copy every service of `source` into `env`; `stage_of` maps a source stage id to the clone's stage."""
    rows = await session.execute(
        select(Service).where(Service.environment_id == source.id).order_by(Service.created_at, Service.id)
    )
    cloned: dict[uuid.UUID, Service] = {}
    for original in rows.scalars():
        new_id = uuid.uuid4()
        stage = stage_of.get(original.deployment_stage_id) if original.deployment_stage_id else None
        svc = Service(
            id=new_id,
            organization_id=env.organization_id,
            project_id=env.project_id,
            environment_id=env.id,
            kind=original.kind,
            name=original.name,
            description=original.description,
            deployment_stage_id=stage.id if stage is not None else None,
            is_skipped=original.is_skipped,
            config=await _config(session, original, env, new_id, keys),
            created_at=func.clock_timestamp(),  # not the transaction's now(): listings keep the source's order
        )
        session.add(svc)
        await flush_name(session, svc.name)  # flushed one by one: the next host slug sees this one
        await session.refresh(svc, ["created_at"])
        await emit_service(session, Subjects.SERVICE_CREATED, svc)
        cloned[original.id] = svc
    return cloned
