"""The deployer's reads for its routes: deployments, their services' parts and the current service states."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from deployer.models import Deployment, DeploymentService, ServiceState


async def latest_deployment(session: AsyncSession, environment_id: uuid.UUID) -> Deployment | None:
    return await session.scalar(
        select(Deployment)
        .where(Deployment.environment_id == environment_id)
        .order_by(Deployment.number.desc())
        .limit(1)
    )


async def live_environments(session: AsyncSession, limit: int = 10_000) -> list[str]:
    """Environments whose latest deployment is not an uninstall: those that may run something."""
    latest = (
        select(Deployment.environment_id, Deployment.action)
        .ext(distinct_on(Deployment.environment_id))
        .order_by(Deployment.environment_id, Deployment.number.desc())
        .subquery()
    )
    rows = await session.scalars(select(latest.c.environment_id).where(latest.c.action != "DELETE").limit(limit))
    return [str(r) for r in rows]


async def routable_services(session: AsyncSession) -> set[str]:
    """Services that may hold an edge route: every one with a current state but stopped or deleted."""
    rows = await session.scalars(
        select(ServiceState.service_id).where(ServiceState.state.not_in(("STOPPED", "DELETED")))
    )
    return {str(r) for r in rows}


async def last_finished(session: AsyncSession, environment_id: uuid.UUID) -> Deployment | None:
    return await session.scalar(
        select(Deployment)
        .where(Deployment.environment_id == environment_id, Deployment.phase == "DONE")
        .order_by(Deployment.number.desc())
        .limit(1)
    )


async def queued_count(session: AsyncSession, environment_id: uuid.UUID) -> int:
    query = select(func.count()).where(Deployment.environment_id == environment_id, Deployment.phase == "QUEUED")
    return int(await session.scalar(query) or 0)


async def waiting(session: AsyncSession, environment_id: uuid.UUID) -> list[Deployment]:
    """Deployments queued or claimed, oldest first (their services may have no state written yet)."""
    rows = await session.scalars(
        select(Deployment)
        .where(Deployment.environment_id == environment_id, Deployment.phase.in_(("QUEUED", "RUNNING")))
        .order_by(Deployment.number)
    )
    return list(rows)


async def service_states(session: AsyncSession, service_ids: Iterable[str]) -> dict[str, ServiceState]:
    ids = [uuid.UUID(s) for s in service_ids]
    if not ids:
        return {}
    rows = await session.scalars(select(ServiceState).where(ServiceState.service_id.in_(ids)))
    return {str(row.service_id): row for row in rows}


async def executions(session: AsyncSession, deployment_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    ids = list(set(deployment_ids))
    if not ids:
        return {}
    rows = await session.scalars(select(Deployment).where(Deployment.id.in_(ids)))
    return {d.id: d.execution_id for d in rows}


async def parts(session: AsyncSession, deployment_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[DeploymentService]]:
    out: dict[uuid.UUID, list[DeploymentService]] = {}
    if deployment_ids:
        query = select(DeploymentService).where(DeploymentService.deployment_id.in_(deployment_ids))
        for part in await session.scalars(query):
            out.setdefault(part.deployment_id, []).append(part)
    return out


async def environment_deployments(
    session: AsyncSession, environment_id: uuid.UUID, limit: int, before_number: int | None = None
) -> list[Deployment]:
    """The environment's deployments, newest first (only those numbered below `before_number`, when given)."""
    query = select(Deployment).where(Deployment.environment_id == environment_id)
    if before_number is not None:
        query = query.where(Deployment.number < before_number)
    return list(await session.scalars(query.order_by(Deployment.number.desc()).limit(limit)))


async def service_history(
    session: AsyncSession, service_id: uuid.UUID, limit: int
) -> list[tuple[Deployment, DeploymentService]]:
    rows = await session.execute(
        select(Deployment, DeploymentService)
        .join(DeploymentService, DeploymentService.deployment_id == Deployment.id)
        .where(DeploymentService.service_id == service_id)
        .order_by(Deployment.number.desc())
        .limit(limit)
    )
    return [(d, p) for d, p in rows]
