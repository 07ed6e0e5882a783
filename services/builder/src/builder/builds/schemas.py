"""Request and response models of the internal builds API."""

from __future__ import annotations

import re
import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from slipway.desired import GitSource, RegistryRef

_COMMIT = re.compile(r"^[0-9a-fA-F]{4,64}$")
_BRANCH = re.compile(r"^(?!-)(?!.*\.\.)[\w./@+-]{1,255}$")
_ARG = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
# a Docker repository name: optional registry host[:port], then lowercase path components
_REPOSITORY = re.compile(r"^([a-zA-Z0-9.-]+(:\d+)?/)?[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$")


def _relative(path: str, field: str) -> str:
    parts = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ValueError(f"{field} must stay inside the repository")
    return "/".join(parts)


class BuildRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    deployment_id: str = Field(min_length=1, max_length=255)
    organization_id: str = Field(min_length=1, max_length=64)
    project_id: str = Field(min_length=1, max_length=64)
    environment_id: str = Field(min_length=1, max_length=64)
    service_id: str = Field(min_length=1, max_length=64)
    service_name: str = Field(min_length=1, max_length=255)
    stage_id: str | None = Field(default=None, max_length=64)
    git: GitSource
    build_args: dict[str, str] = Field(default_factory=dict)
    secret_values: list[str] = Field(default_factory=list)
    image_repository: str = Field(min_length=1, max_length=512)
    registry: RegistryRef | None = None

    @field_validator("image_repository")
    @classmethod
    def _repository(cls, value: str) -> str:
        if not _REPOSITORY.match(value):
            raise ValueError("must be a lowercase image repository such as localhost/slipway/<service_id>")
        return value

    @field_validator("build_args")
    @classmethod
    def _build_args(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not _ARG.match(key):
                raise ValueError(f"{key!r} is not a valid build argument name")
        return value

    @field_validator("git")
    @classmethod
    def _git(cls, value: GitSource) -> GitSource:
        if not value.url.strip() or value.url.startswith("-") or any(c.isspace() for c in value.url):
            raise ValueError("url: not a Git URL")
        if value.commit is not None and not _COMMIT.match(value.commit):
            raise ValueError("commit: must be a hexadecimal commit SHA")
        if value.branch is not None and not _BRANCH.match(value.branch):
            raise ValueError("branch: not a valid branch name")
        root = _relative(value.root_path or "/", "root_path")
        dockerfile = _relative(value.dockerfile_path or "Dockerfile", "dockerfile_path")
        if not dockerfile:
            raise ValueError("dockerfile_path: must name a file")
        return value.model_copy(
            update={"root_path": root, "dockerfile_path": dockerfile, "commit": value.commit and value.commit.lower()}
        )

    @model_validator(mode="after")
    def _registry(self) -> BuildRequest:
        if self.registry is not None and not self.registry.url.strip():
            raise ValueError("registry.url: must not be empty")
        return self

    def secrets(self) -> list[str]:
        """Every value to mask in what this build shows."""
        values = [*self.secret_values, self.git.token, self.git.ssh_key]
        if self.registry is not None:
            values.append(self.registry.password)
        return [v for v in values if v]


class BuildView(BaseModel):
    id: uuid.UUID
    deployment_id: str
    service_id: str
    status: str
    image: str | None  # `<repo>:<content tag>`; in the registry when one was given
    local_image: str | None  # the same image's name on the build engine
    commit: str | None
    skipped: bool
    error: str | None
    failing_step: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
