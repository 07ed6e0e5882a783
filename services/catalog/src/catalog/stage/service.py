"""Stage rules: names unique per environment, orders stay 1..n after every change."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.environment.service import stages
from catalog.models import DeploymentStage, Service
from slipway.db import flush_or_conflict
from slipway.errors import BadRequest, Conflict, NotFound
from slipway.timeutil import utcnow


async def get(session: AsyncSession, stage_id: uuid.UUID) -> DeploymentStage:
    stage = await session.get(DeploymentStage, stage_id)
    if stage is None:
        raise NotFound("deployment stage not found")
    return stage


async def edit(session: AsyncSession, stage: DeploymentStage, name: str, description: str | None) -> None:
    stage.name = name
    stage.description = description
    stage.updated_at = utcnow()
    await flush_or_conflict(session, f"a deployment stage named '{name}' already exists in this environment")


async def _renumber(session: AsyncSession, ordered: list[DeploymentStage]) -> None:
    # Two passes: orders are unique only by convention, but keeping them distinct at every step is cheap.
    for stage in ordered:
        stage.deployment_order = -stage.deployment_order - 1000
    await session.flush()
    for position, stage in enumerate(ordered, start=1):
        stage.deployment_order = position
    await session.flush()


async def delete(session: AsyncSession, stage: DeploymentStage) -> None:
    remaining = [s for s in await stages(session, stage.environment_id) if s.id != stage.id]
    if not remaining:
        raise BadRequest("an environment keeps at least one deployment stage")
    attached = (
        await session.execute(select(func.count()).select_from(Service).where(Service.deployment_stage_id == stage.id))
    ).scalar_one()
    if attached:
        raise Conflict(f"the deployment stage still holds {attached} service(s); move them to another stage first")
    await session.delete(stage)
    await session.flush()
    await _renumber(session, remaining)


async def move(
    session: AsyncSession, stage: DeploymentStage, anchor_id: uuid.UUID, after: bool
) -> list[DeploymentStage]:
    anchor = await get(session, anchor_id)
    if anchor.environment_id != stage.environment_id:
        raise BadRequest("stageId: both stages must belong to the same environment")
    if anchor.id == stage.id:
        raise BadRequest("stageId: a stage cannot move relative to itself")
    ordered = [s for s in await stages(session, stage.environment_id) if s.id != stage.id]
    position = next(i for i, s in enumerate(ordered) if s.id == anchor.id) + (1 if after else 0)
    ordered.insert(position, stage)
    await _renumber(session, ordered)
    return ordered


async def find_service(session: AsyncSession, service_id: uuid.UUID) -> Service:
    found = await session.get(Service, service_id)
    if found is None:
        raise NotFound("service not found")
    return found


async def attach(session: AsyncSession, stage: DeploymentStage, svc: Service, is_skipped: bool | None) -> None:
    """Move `svc` into `stage` (same environment only); `is_skipped` defaults to false, as in Qovery."""
    if svc.environment_id != stage.environment_id:
        raise BadRequest("serviceId: the service and the deployment stage must belong to the same environment")
    svc.deployment_stage_id = stage.id
    svc.is_skipped = bool(is_skipped)
    svc.updated_at = utcnow()
    await session.flush()


async def stage_of(session: AsyncSession, svc: Service) -> DeploymentStage:
    if svc.deployment_stage_id is None:
        raise NotFound("the service is in no deployment stage")
    return await get(session, svc.deployment_stage_id)
