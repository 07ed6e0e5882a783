"""Qovery's link routes of applications and containers (the gateway has authorized the caller)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request

from catalog.domain.service import workload
from catalog.link import service
from catalog.link.schemas import LinkResponseList
from slipway.db import SessionDep
from slipway.principal import require_principal

# Reached through the gateway only: a signed principal is required on every route.
router = APIRouter(dependencies=[Depends(require_principal)])


async def _links(request: Request, session: SessionDep, service_id: uuid.UUID, kind: str) -> LinkResponseList:
    svc = await workload(session, service_id, kind)
    return LinkResponseList(results=await service.links(session, svc, request.app.state.settings.edge_https_port))


@router.get("/application/{application_id}/link", response_model=LinkResponseList)
async def list_application_links(application_id: uuid.UUID, request: Request, session: SessionDep) -> LinkResponseList:
    return await _links(request, session, application_id, "APPLICATION")


@router.get("/container/{container_id}/link", response_model=LinkResponseList)
async def list_container_links(container_id: uuid.UUID, request: Request, session: SessionDep) -> LinkResponseList:
    return await _links(request, session, container_id, "CONTAINER")
