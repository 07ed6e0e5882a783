"""Request bodies of Qovery's deployment actions (field names and bounds as Qovery's API has them)."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, Field


class DeployRequest(BaseModel):
    git_commit_id: str = Field(min_length=1, max_length=64)


class ContainerDeployRequest(BaseModel):
    image_tag: str = Field(min_length=1, max_length=128)


class JobDeployRequest(BaseModel):
    image_tag: str | None = Field(default=None, max_length=128)
    git_commit_id: str | None = Field(default=None, max_length=64)


class AppVersion(BaseModel):
    application_id: uuid.UUID
    git_commit_id: str | None = Field(default=None, max_length=64)


class ContainerVersion(BaseModel):
    id: uuid.UUID
    image_tag: str | None = Field(default=None, max_length=128)


class JobVersion(BaseModel):
    id: uuid.UUID
    image_tag: str | None = Field(default=None, max_length=128)
    git_commit_id: str | None = Field(default=None, max_length=64)


class DeployAllRequest(BaseModel):
    applications: list[AppVersion] = Field(default_factory=list)
    containers: list[ContainerVersion] = Field(default_factory=list)
    databases: list[uuid.UUID] = Field(default_factory=list)
    jobs: list[JobVersion] = Field(default_factory=list)
    helms: list[dict[str, Any]] = Field(default_factory=list)
    terraforms: list[dict[str, Any]] = Field(default_factory=list)


class RebootServicesRequest(BaseModel):
    application_ids: list[uuid.UUID] = Field(default_factory=list)
    container_ids: list[uuid.UUID] = Field(default_factory=list)
    database_ids: list[uuid.UUID] = Field(default_factory=list)


class CancelRequest(BaseModel):
    force_cancel: bool | None = None
