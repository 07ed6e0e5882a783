"""Environment and deployment-stage bodies with Qovery's field names."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, Field

CreateEnvironmentMode = Literal["DEVELOPMENT", "PRODUCTION", "STAGING"]


class CreateEnvironmentRequest(BaseModel):
    name: str = Field(min_length=1, max_length=255)
    cluster: uuid.UUID | None = None
    mode: CreateEnvironmentMode = "DEVELOPMENT"


class EnvironmentEditRequest(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=255)
    mode: CreateEnvironmentMode | None = None


class Reference(BaseModel):
    id: str


class CloudProvider(BaseModel):
    provider: str
    cluster: str


class Environment(BaseModel):
    id: str
    created_at: str
    updated_at: str
    name: str
    organization: Reference
    project: Reference
    last_updated_by: str | None = None
    cloud_provider: CloudProvider
    mode: str
    cluster_id: str
    cluster_name: str
    expires_at: str | None


class EnvironmentResponseList(BaseModel):
    results: list[Environment]


class DeploymentStageRequest(BaseModel):
    name: str = Field(min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=10_000)


class DeploymentStageService(BaseModel):
    """Qovery's DeploymentStageServiceResponse: a service attached to a stage (`id` is the service's)."""

    id: str
    created_at: str
    updated_at: str
    service_id: str
    service_type: str
    is_skipped: bool


class DeploymentStage(BaseModel):
    id: str
    created_at: str
    updated_at: str
    environment: Reference
    name: str
    description: str
    deployment_order: int
    services: list[DeploymentStageService]


class DeploymentStageResponseList(BaseModel):
    results: list[DeploymentStage]


class CloneEnvironmentRequest(BaseModel):
    name: str = Field(min_length=1, max_length=255)
    cluster_id: uuid.UUID | None = None
    mode: Literal["DEVELOPMENT", "PREVIEW", "PRODUCTION", "STAGING"] | None = None  # PREVIEW only by cloning
    apply_deployment_rule: bool = False
    project_id: uuid.UUID | None = None
