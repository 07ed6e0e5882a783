"""Container bodies with Qovery's field names (ContainerRequest in, ContainerResponse out)."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, Field, model_validator

PortProtocol = Literal["HTTP", "GRPC", "TCP", "UDP"]
CpuArchitecture = Literal["AMD64", "ARM64"]
_PORT = Field(ge=1, le=65535)


class TcpProbe(BaseModel):
    port: int | None = Field(default=None, ge=1, le=65535)
    host: str | None = Field(default=None, max_length=255)


class HttpProbe(BaseModel):
    path: str = Field(default="/", min_length=1, max_length=2048)
    scheme: Literal["HTTP", "HTTPS"] = "HTTP"
    port: int | None = Field(default=None, ge=1, le=65535)


class ExecProbe(BaseModel):
    command: list[str] = Field(min_length=1)


class GrpcProbe(BaseModel):
    service: str | None = Field(default=None, max_length=255)
    port: int | None = Field(default=None, ge=1, le=65535)


class ProbeType(BaseModel):
    tcp: TcpProbe | None = None
    http: HttpProbe | None = None
    exec: ExecProbe | None = None
    grpc: GrpcProbe | None = None

    @model_validator(mode="after")
    def exactly_one(self) -> ProbeType:
        chosen = [k for k in ("tcp", "http", "exec", "grpc") if getattr(self, k) is not None]
        if len(chosen) != 1:
            raise ValueError("exactly one of tcp, http, exec, grpc must be set")
        return self

    def port(self) -> int | None:
        for probe in (self.tcp, self.http, self.grpc):
            if probe is not None:
                return probe.port
        return None


class Probe(BaseModel):
    type: ProbeType
    initial_delay_seconds: int = Field(default=30, ge=0, le=3600)
    period_seconds: int = Field(default=10, ge=1, le=3600)
    timeout_seconds: int = Field(default=5, ge=1, le=3600)
    success_threshold: int = Field(default=1, ge=1, le=100)
    failure_threshold: int = Field(default=9, ge=1, le=100)


class Healthcheck(BaseModel):
    readiness_probe: Probe | None = None
    liveness_probe: Probe | None = None


class PortRequest(BaseModel):
    id: uuid.UUID | None = None
    name: str | None = Field(default=None, min_length=1, max_length=255)
    internal_port: int = _PORT
    external_port: int | None = Field(default=None, ge=1, le=65535)
    publicly_accessible: bool
    is_default: bool | None = None
    protocol: PortProtocol = "HTTP"
    public_path: str | None = Field(default=None, max_length=2048)
    public_path_rewrite: str | None = Field(default=None, max_length=2048)


class StorageRequest(BaseModel):
    id: uuid.UUID | None = None
    type: Literal["FAST_SSD"]
    size: int = Field(ge=4, le=100_000)  # GB; Qovery's minimum is 4
    mount_point: str = Field(pattern=r"^/", max_length=1024)


class ContainerRequest(BaseModel):
    name: str = Field(min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=10_000)
    registry_id: uuid.UUID
    image_name: str = Field(min_length=1, max_length=1024)
    tag: str = Field(min_length=1, max_length=128)
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


class Reference(BaseModel):
    id: str


class RegistryDetails(BaseModel):
    id: str
    name: str
    url: str
    kind: str


class PortOut(BaseModel):
    id: str
    name: str
    internal_port: int
    external_port: int | None = None
    publicly_accessible: bool
    is_default: bool
    protocol: str
    public_path: str | None = None
    public_path_rewrite: str | None = None


class StorageOut(BaseModel):
    id: str
    type: str
    size: int
    mount_point: str


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
