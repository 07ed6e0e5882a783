"""Qovery's previewContainerEnvironments (the gateway has authorized the caller: project.create)."""

from __future__ import annotations

import re
import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, field_validator

from catalog.organization.service import ensure_organization
from catalog.previews import service
from catalog.settings import CatalogSettings
from slipway.crypto import keyring_from
from slipway.db import SessionDep
from slipway.principal import require_principal

router = APIRouter(dependencies=[Depends(require_principal)])
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")  # a Docker tag


class ContainerPreviewRequest(BaseModel):
    image_name: str = Field(min_length=1, max_length=255)
    tag: str = Field(min_length=1, max_length=128)

    @field_validator("tag")
    @classmethod
    def docker_tag(cls, value: str) -> str:
        if not _TAG.match(value):
            raise ValueError(f"'{value}' is not a Docker tag (letters, digits, _ . -, at most 128)")
        return value


@router.post("/organization/{organization_id}/container/preview", status_code=202)
async def preview_container_environments(
    organization_id: uuid.UUID, body: ContainerPreviewRequest, request: Request, session: SessionDep
) -> JSONResponse:
    settings: CatalogSettings = request.app.state.settings
    await ensure_organization(session, settings, organization_id)
    made = await service.preview_containers(
        session, organization_id, body.image_name, body.tag, settings, keyring_from(settings)
    )
    status: dict[str, Any] = {
        "id": str(organization_id),
        "state": "DEPLOYMENT_QUEUED" if made else "READY",
        "service_deployment_status": "NEVER_DEPLOYED",
        "status_details": {"action": "DEPLOY", "status": "QUEUED" if made else "SUCCESS", "sub_action": "NONE"},
        "is_part_last_deployment": False,
        "deployment_requests_count": len(made),
        "deployment_request_id": None,
        "environment_ids": made,  # Slipway: the preview environments queued
    }
    return JSONResponse(status, status_code=202)
