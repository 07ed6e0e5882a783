"""Bodies every workload shares, with Qovery's field names: probes, ports, storage, Git repositories."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, Field, model_validator

PortProtocol = Literal["HTTP", "GRPC", "TCP", "UDP"]
GitProvider = Literal["BITBUCKET", "GITHUB", "GITLAB"]
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

    def needs_port(self) -> bool:
        return self.exec is None


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


class GitRepositoryRequest(BaseModel):
    """ApplicationGitRepositoryRequest; `owner` and `name` are derived from the URL when omitted."""

    url: str = Field(min_length=1, max_length=2048)
    branch: str | None = Field(default=None, max_length=255)
    root_path: str | None = Field(default=None, max_length=1024)
    provider: GitProvider
    git_token_id: uuid.UUID | None = None
    owner: str | None = Field(default=None, max_length=255)
    name: str | None = Field(default=None, max_length=255)


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


class GitRepositoryOut(BaseModel):
    """ApplicationGitRepository; the deployed_commit_* keys appear once the deployer has reported a deployment."""

    has_access: bool = True
    provider: str
    owner: str
    name: str
    url: str
    branch: str
    root_path: str
    deployed_commit_id: str | None = None
    deployed_commit_date: str | None = None
    deployed_commit_contributor: str | None = None
    deployed_commit_tag: str | None = None
    git_token_id: str | None = None
    git_token_name: str | None = None
