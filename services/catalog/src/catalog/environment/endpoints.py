"""Qovery's environment and deployment-stage routes (the gateway has authorized the caller)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request, Response

from catalog.environment import rules, service
from catalog.environment.clone import clone
from catalog.environment.schemas import (
    CloneEnvironmentRequest,
    CreateEnvironmentRequest,
    DeploymentStage,
    DeploymentStageRequest,
    DeploymentStageResponseList,
    Environment,
    EnvironmentEditRequest,
    EnvironmentResponseList,
)
from catalog.project import service as projects
from catalog.settings import KeysDep
from slipway.crypto import keyring_from
from slipway.db import SessionDep
from slipway.principal import PrincipalDep, require_principal

# Reached through the gateway only: a signed principal is required on every route.
router = APIRouter(dependencies=[Depends(require_principal)])


@router.get(
    "/project/{project_id}/environment", response_model=EnvironmentResponseList, response_model_exclude_none=True
)
async def list_environments(project_id: uuid.UUID, session: SessionDep) -> EnvironmentResponseList:
    await projects.get(session, project_id)
    return EnvironmentResponseList(
        results=[await service.render(session, e) for e in await service.listing(session, project_id)]
    )


@router.post("/project/{project_id}/environment", status_code=201, response_model=Environment)
async def create_environment(
    project_id: uuid.UUID, body: CreateEnvironmentRequest, principal: PrincipalDep, session: SessionDep
) -> Environment:
    project = await projects.get(session, project_id)
    return await service.render(session, await service.create(session, principal, project, body))


@router.get("/environment/{environment_id}", response_model=Environment)
async def get_environment(environment_id: uuid.UUID, session: SessionDep) -> Environment:
    return await service.render(session, await service.get(session, environment_id))


@router.put("/environment/{environment_id}", response_model=Environment)
async def edit_environment(
    environment_id: uuid.UUID, body: EnvironmentEditRequest, principal: PrincipalDep, session: SessionDep
) -> Environment:
    env = await service.get(session, environment_id)
    await service.edit(session, principal, env, body)
    return await service.render(session, env)


@router.delete("/environment/{environment_id}", status_code=204)
async def delete_environment(environment_id: uuid.UUID, session: SessionDep, keys: KeysDep) -> Response:
    await service.delete(session, await service.get(session, environment_id), keys)
    return Response(status_code=204)


@router.get("/environment/{environment_id}/deploymentStage", response_model=DeploymentStageResponseList)
async def list_stages(environment_id: uuid.UUID, session: SessionDep) -> DeploymentStageResponseList:
    await service.get(session, environment_id)
    return DeploymentStageResponseList(
        results=await service.render_stages(session, await service.stages(session, environment_id))
    )


@router.post("/environment/{environment_id}/deploymentStage", status_code=200, response_model=DeploymentStage)
async def create_stage(environment_id: uuid.UUID, body: DeploymentStageRequest, session: SessionDep) -> DeploymentStage:
    """Qovery answers 200 (not 201) here."""
    env = await service.get(session, environment_id)
    return service.render_stage(await service.add_stage(session, env, body.name, body.description))


@router.post("/environment/{environment_id}/clone", status_code=202, response_model=Environment)
async def clone_environment(
    environment_id: uuid.UUID,
    body: CloneEnvironmentRequest,
    principal: PrincipalDep,
    session: SessionDep,
    request: Request,
) -> Environment:
    """Qovery answers 202 with the clone."""
    source = await service.get(session, environment_id)
    keys = keyring_from(request.app.state.settings)
    return await service.render(session, await clone(session, principal, source, body, keys))


@router.get("/environment/{environment_id}/deploymentRule", response_model=rules.DeploymentRuleOut)
async def get_deployment_rule(environment_id: uuid.UUID, session: SessionDep) -> rules.DeploymentRuleOut:
    return rules.render(await rules.rule_of(session, await service.get(session, environment_id)))


@router.put("/environment/{environment_id}/deploymentRule/{rule_id}", response_model=rules.DeploymentRuleOut)
async def edit_deployment_rule(
    environment_id: uuid.UUID, rule_id: uuid.UUID, body: rules.DeploymentRuleEditRequest, session: SessionDep
) -> rules.DeploymentRuleOut:
    env = await service.get(session, environment_id)
    return rules.render(await rules.edit(session, env, rule_id, body))
