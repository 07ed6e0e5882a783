"""Qovery's project routes (the gateway has authorized the caller)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request, Response

from catalog.organization.service import ensure_organization
from catalog.project import service
from catalog.project.schemas import Project, ProjectRequest, ProjectResponseList
from catalog.settings import KeysDep
from slipway.db import SessionDep
from slipway.principal import require_principal

# Reached through the gateway only: a signed principal is required on every route.
router = APIRouter(dependencies=[Depends(require_principal)])


@router.get(
    "/organization/{organization_id}/project", response_model=ProjectResponseList, response_model_exclude_none=True
)
async def list_projects(organization_id: uuid.UUID, request: Request, session: SessionDep) -> ProjectResponseList:
    await ensure_organization(session, request.app.state.settings, organization_id)
    return ProjectResponseList(
        results=[await service.render(session, p) for p in await service.listing(session, organization_id)]
    )


@router.post(
    "/organization/{organization_id}/project", status_code=200, response_model=Project, response_model_exclude_none=True
)
async def create_project(
    organization_id: uuid.UUID, body: ProjectRequest, request: Request, session: SessionDep
) -> Project:
    """Qovery answers 200 (not 201) here."""
    await ensure_organization(session, request.app.state.settings, organization_id)
    return await service.render(session, await service.create(session, organization_id, body))


@router.get("/project/{project_id}", response_model=Project, response_model_exclude_none=True)
async def get_project(project_id: uuid.UUID, session: SessionDep) -> Project:
    return await service.render(session, await service.get(session, project_id))


@router.put("/project/{project_id}", response_model=Project, response_model_exclude_none=True)
async def edit_project(project_id: uuid.UUID, body: ProjectRequest, session: SessionDep) -> Project:
    project = await service.get(session, project_id)
    await service.edit(session, project, body)
    return await service.render(session, project)


@router.delete("/project/{project_id}", status_code=204)
async def delete_project(project_id: uuid.UUID, session: SessionDep, keys: KeysDep) -> Response:
    await service.delete(session, await service.get(session, project_id), keys)
    return Response(status_code=204)
