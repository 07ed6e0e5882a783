"""Container bodies with Qovery's field names (ContainerRequest in, ContainerResponse out)."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, Field

from catalog.workload.schemas import (  # noqa: F401  (re-exported: the container's vocabulary)
    ExecProbe,
    GrpcProbe,
    Healthcheck,
    HttpProbe,
    PortOut,
    PortProtocol,
    PortRequest,
    Probe,
    ProbeType,
    Reference,
    RegistryDetails,
    StorageOut,
    StorageRequest,
    TcpProbe,
)
from slipway import oci

CpuArchitecture = Literal["AMD64", "ARM64"]


class ContainerRequest(BaseModel):
    name: str = Field(min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=10_000)
    registry_id: uuid.UUID
    image_name: str = Field(min_length=1, max_length=1024, pattern=oci.IMAGE_NAME_PATTERN)
    tag: str = Field(min_length=1, max_length=128, pattern=oci.TAG_PATTERN)
    arguments: list[str] | None = Field(default=None, max_length=1000)
    entrypoint: str | None = Field(default=None, max_length=4096)
    cpu: int = Field(default=500, ge=1)
    memory: int = Field(default=512, ge=1)
    gpu: int = Field(default=0, ge=0)
    ephemeral_storage_in_gib: int | None = Field(default=None, ge=0)
    cpu_architecture: CpuArchitecture | None = None
    min_running_instances: int = Field(default=1, ge=0)
    max_running_instances: int = Field(default=1, ge=-1)  # -1: no limit
    healthchecks: Healthcheck = Field(default_factory=Healthcheck)  # Qovery requires it; Slipway defaults it
    auto_preview: bool | None = None
    auto_deploy: bool | None = None
    icon_uri: str | None = Field(default=None, max_length=2048)
    ports: list[PortRequest] | None = Field(default=None, max_length=100)
    storage: list[StorageRequest] | None = Field(default=None, max_length=100)


class Container(BaseModel):
    id: str
    created_at: str
    updated_at: str
    storage: list[StorageOut]
    image_name: str
    tag: str
    registry_id: str
    registry: RegistryDetails
    environment: Reference
    maximum_cpu: int
    maximum_memory: int
    maximum_gpu: int
    name: str
    description: str | None = None
    arguments: list[str]
    entrypoint: str | None = None
    cpu: int
    memory: int
    gpu: int
    ephemeral_storage_in_gib: int | None = None
    cpu_architecture: str | None = None
    min_running_instances: int
    max_running_instances: int
    healthchecks: Healthcheck
    auto_preview: bool
    ports: list[PortOut]
    auto_deploy: bool
    annotations_groups: list[dict[str, str]]
    labels_groups: list[dict[str, str]]
    icon_uri: str
    service_type: Literal["CONTAINER"] = "CONTAINER"


class ContainerResponseList(BaseModel):
    results: list[Container]
