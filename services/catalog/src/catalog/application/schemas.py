"""Application bodies with Qovery's field names (ApplicationRequest/ApplicationEditRequest in, Application out)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from catalog.workload.schemas import (
    GitRepositoryOut,
    GitRepositoryRequest,
    Healthcheck,
    PortOut,
    PortRequest,
    Reference,
    StorageOut,
    StorageRequest,
)

BuildMode = Literal["DOCKER"]


class ApplicationRequest(BaseModel):
    """A create, or an edit once merged onto the stored application (omitted keys keep their value)."""

    name: str = Field(min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=10_000)
    git_repository: GitRepositoryRequest
    build_mode: BuildMode = "DOCKER"
    dockerfile_path: str | None = Field(default=None, max_length=1024)
    docker_target_build_stage: str | None = None  # not supported: only null is accepted
    cpu: int = Field(default=500, ge=1)
    memory: int = Field(default=512, ge=1)
    gpu: int = Field(default=0, ge=0)
    min_running_instances: int = Field(default=1, ge=0)
    max_running_instances: int = Field(default=1, ge=-1)  # -1: no limit
    healthchecks: Healthcheck  # required by Qovery's schema
    auto_preview: bool | None = None
    arguments: list[str] | None = Field(default=None, max_length=1000)
    entrypoint: str | None = Field(default=None, max_length=4096)
    auto_deploy: bool | None = None
    icon_uri: str | None = Field(default=None, max_length=2048)
    ports: list[PortRequest] | None = Field(default=None, max_length=100)
    storage: list[StorageRequest] | None = Field(default=None, max_length=100)


class Application(BaseModel):
    id: str
    created_at: str
    updated_at: str
    storage: list[StorageOut]
    environment: Reference
    git_repository: GitRepositoryOut
    maximum_cpu: int
    maximum_memory: int
    maximun_gpu: int  # sic: Qovery's spelling
    name: str
    description: str | None = None
    build_mode: BuildMode
    dockerfile_path: str | None = None
    cpu: int
    memory: int
    gpu: int
    min_running_instances: int
    max_running_instances: int
    healthchecks: Healthcheck
    auto_preview: bool
    ports: list[PortOut]
    arguments: list[str]
    entrypoint: str | None = None
    auto_deploy: bool
    annotations_groups: list[dict[str, str]]
    labels_groups: list[dict[str, str]]
    icon_uri: str
    service_type: Literal["APPLICATION"] = "APPLICATION"


class ApplicationResponseList(BaseModel):
    results: list[Application]
