"""Publishing catalog's facts through its outbox."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.models import Cluster, Environment, Project, Service, outbox
from catalog.tombstones import bury
from slipway.contracts import Subjects
from slipway.crypto import Keyring
from slipway.events import Envelope, add_event


async def emit(
    session: AsyncSession, subject: str, organization_id: uuid.UUID, resource_id: uuid.UUID, payload: dict[str, Any]
) -> None:
    envelope = Envelope(
        type=subject, source="catalog", organization_id=organization_id, resource_id=str(resource_id), payload=payload
    )
    await add_event(session, outbox, envelope)


async def emit_service(session: AsyncSession, subject: str, service: Service) -> None:
    """A service fact: ids and kind only, never its configuration (it may hold secrets)."""
    payload = {"service_id": str(service.id), "environment_id": str(service.environment_id), "kind": service.kind}
    await emit(session, subject, service.organization_id, service.id, payload)


async def cluster_target(session: AsyncSession, environment_id: uuid.UUID) -> dict[str, Any]:
    """Where an environment's workloads run (no secret: engine and its address), so the deployer can
    uninstall them after the rows are gone."""
    row = (
        await session.execute(
            select(Cluster.id, Cluster.engine, Cluster.engine_host)
            .join(Environment, Environment.cluster_id == Cluster.id)
            .where(Environment.id == environment_id)
        )
    ).first()
    if row is None:
        return {}
    return {"cluster_id": str(row.id), "engine": row.engine, "engine_host": row.engine_host}


async def emit_service_deleted(
    session: AsyncSession, service: Service, keys: Keyring, *, with_environment: bool = False
) -> None:
    """A deleted service: the deployer uninstalls it from its tombstone (ON_DELETE first). A service that
    goes `with_environment` is uninstalled by its environment's deletion: the event only announces it."""
    tombstone = None if with_environment else await bury(session, service.environment_id, keys, service.id)
    payload = {
        "service_id": str(service.id),
        "environment_id": str(service.environment_id),
        "project_id": str(service.project_id),
        "kind": service.kind,
        "with_environment": with_environment,
        "tombstone_id": str(tombstone) if tombstone else None,
        **await cluster_target(session, service.environment_id),
    }
    await emit(session, Subjects.SERVICE_DELETED, service.organization_id, service.id, payload)


async def emit_environment_deleted(session: AsyncSession, env: Environment, keys: Keyring) -> None:
    """Before an environment's rows cascade away, seal what it ran and announce it and each of its services."""
    tombstone = await bury(session, env.id, keys)
    rows = await session.execute(select(Service).where(Service.environment_id == env.id))
    for service in rows.scalars():
        await emit_service_deleted(session, service, keys, with_environment=True)
    payload = {
        "environment_id": str(env.id),
        "project_id": str(env.project_id),
        "tombstone_id": str(tombstone) if tombstone else None,
        **await cluster_target(session, env.id),
    }
    await emit(session, Subjects.ENVIRONMENT_DELETED, env.organization_id, env.id, payload)


async def emit_project_deleted(session: AsyncSession, project: Project, keys: Keyring) -> None:
    """Every environment of the project (and so every service) is announced deleted, then the project."""
    environments = await session.scalars(select(Environment).where(Environment.project_id == project.id))
    for env in environments.all():
        await emit_environment_deleted(session, env, keys)
    await emit(session, Subjects.PROJECT_DELETED, project.organization_id, project.id, {"project_id": str(project.id)})


async def emit_action_requested(
    session: AsyncSession,
    env: Environment,
    action: str,
    service_ids: list[str] | None,
    versions: dict[str, Any],
    origin: str,
    triggered_by: str,
) -> None:
    """Ask the deployer to queue `action` (DEPLOY | STOP) on the environment (`service_ids` None: all of it)."""
    payload = {
        "environment_id": str(env.id),
        "project_id": str(env.project_id),
        "action": action,
        "service_ids": service_ids,
        "versions": versions,
        "origin": origin,
        "triggered_by": triggered_by[:255],
    }
    await emit(session, Subjects.ENVIRONMENT_ACTION_REQUESTED, env.organization_id, env.id, payload)
