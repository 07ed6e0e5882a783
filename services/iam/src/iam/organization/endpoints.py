"""Qovery's organization routes (authorization already decided by the gateway)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response

from iam.organization import service
from iam.organization.schemas import (
    Organization,
    OrganizationEditRequest,
    OrganizationRequest,
    OrganizationResponseList,
)
from slipway.db import SessionDep
from slipway.principal import PrincipalDep

router = APIRouter()


def _retention(request: Request) -> int | None:
    return request.app.state.settings.audit_retention_days  # type: ignore[no-any-return]


@router.get("/organization", response_model=OrganizationResponseList, response_model_exclude_none=True)
async def list_organizations(
    request: Request, principal: PrincipalDep, session: SessionDep
) -> OrganizationResponseList:
    orgs = await service.visible(session, principal)
    return OrganizationResponseList(results=[service.render(o, _retention(request)) for o in orgs])


@router.post("/organization", status_code=201, response_model=Organization, response_model_exclude_none=True)
async def create_organization(
    body: OrganizationRequest, request: Request, principal: PrincipalDep, session: SessionDep
) -> Organization:
    return service.render(await service.create(session, principal, body), _retention(request))


@router.get("/organization/{organization_id}", response_model=Organization, response_model_exclude_none=True)
async def get_organization(organization_id: uuid.UUID, request: Request, session: SessionDep) -> Organization:
    return service.render(await service.get(session, organization_id), _retention(request))


@router.put("/organization/{organization_id}", response_model=Organization, response_model_exclude_none=True)
async def edit_organization(
    organization_id: uuid.UUID,
    body: OrganizationEditRequest,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
) -> Organization:
    org = await service.get(session, organization_id)
    await service.edit(session, principal, org, body)
    return service.render(org, _retention(request))


@router.delete("/organization/{organization_id}", status_code=204)
async def delete_organization(organization_id: uuid.UUID, session: SessionDep) -> Response:
    await service.delete(session, await service.get(session, organization_id))
    return Response(status_code=204)
