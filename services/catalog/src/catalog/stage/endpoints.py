"""Qovery's deployment-stage routes by stage id, and the stage scope lookup for the gateway."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.environment.schemas import DeploymentStage, DeploymentStageRequest, DeploymentStageResponseList
from catalog.environment.service import get as get_environment
from catalog.environment.service import render_stages, stages
from catalog.models import DeploymentStage as StageRow
from catalog.stage import service
from slipway.db import SessionDep
from slipway.principal import require_principal, require_service

router = APIRouter(prefix="/deploymentStage/{stage_id}", dependencies=[Depends(require_principal)])
stage_scope_router = APIRouter(include_in_schema=False, dependencies=[Depends(require_service)])
service_stage_router = APIRouter(dependencies=[Depends(require_principal)])


class AttachServiceRequest(BaseModel):
    is_skipped: bool | None = None


async def _render(session: AsyncSession, stage: StageRow) -> DeploymentStage:
    [rendered] = await render_stages(session, [stage])
    return rendered


@router.get("", response_model=DeploymentStage)
async def get_stage(stage_id: uuid.UUID, session: SessionDep) -> DeploymentStage:
    return await _render(session, await service.get(session, stage_id))


@router.put("", response_model=DeploymentStage)
async def edit_stage(stage_id: uuid.UUID, body: DeploymentStageRequest, session: SessionDep) -> DeploymentStage:
    stage = await service.get(session, stage_id)
    await service.edit(session, stage, body.name, body.description)
    return await _render(session, stage)


@router.delete("", status_code=204)
async def delete_stage(stage_id: uuid.UUID, session: SessionDep) -> Response:
    await service.delete(session, await service.get(session, stage_id))
    return Response(status_code=204)


@router.put("/moveBefore/{anchor_id}", response_model=DeploymentStageResponseList)
async def move_before(stage_id: uuid.UUID, anchor_id: uuid.UUID, session: SessionDep) -> DeploymentStageResponseList:
    ordered = await service.move(session, await service.get(session, stage_id), anchor_id, after=False)
    return DeploymentStageResponseList(results=await render_stages(session, ordered))


@router.put("/moveAfter/{anchor_id}", response_model=DeploymentStageResponseList)
async def move_after(stage_id: uuid.UUID, anchor_id: uuid.UUID, session: SessionDep) -> DeploymentStageResponseList:
    ordered = await service.move(session, await service.get(session, stage_id), anchor_id, after=True)
    return DeploymentStageResponseList(results=await render_stages(session, ordered))


@router.put("/service/{service_id}", response_model=DeploymentStageResponseList)
async def attach_service(
    stage_id: uuid.UUID, service_id: uuid.UUID, session: SessionDep, body: AttachServiceRequest | None = None
) -> DeploymentStageResponseList:
    """Qovery's AttachServiceToDeploymentStage: answers the environment's whole stage list."""
    stage = await service.get(session, stage_id)
    await service.attach(
        session, stage, await service.find_service(session, service_id), body.is_skipped if body else None
    )
    return DeploymentStageResponseList(
        results=await render_stages(session, await stages(session, stage.environment_id))
    )


@service_stage_router.get("/service/{service_id}/deploymentStage", response_model=DeploymentStage)
async def service_stage(service_id: uuid.UUID, session: SessionDep) -> DeploymentStage:
    """Qovery's getServiceDeploymentStage."""
    stage = await service.stage_of(session, await service.find_service(session, service_id))
    return await _render(session, stage)


@stage_scope_router.get("/internal/scope/stage/{stage_id}")
async def stage_scope(stage_id: uuid.UUID, session: SessionDep) -> dict[str, str]:
    stage = await service.get(session, stage_id)
    env = await get_environment(session, stage.environment_id)
    return {
        "organization_id": str(env.organization_id),
        "project_id": str(env.project_id),
        "environment_id": str(env.id),
        "environment_mode": env.mode,
        "cluster_id": str(env.cluster_id),
    }
