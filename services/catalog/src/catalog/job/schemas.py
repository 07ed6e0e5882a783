"""Job bodies with Qovery's field names (JobRequest in, JobResponse = CronJobResponse | LifecycleJobResponse out)."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from catalog.workload.schemas import GitRepositoryOut, GitRepositoryRequest, Healthcheck, Reference, RegistryDetails
from slipway import oci

JobType = Literal["CRON", "LIFECYCLE"]
LifecycleType = Literal["GENERIC", "TERRAFORM", "CLOUDFORMATION"]
EVENTS = ("on_start", "on_stop", "on_delete")


class ImageSource(BaseModel):
    image_name: str = Field(min_length=1, max_length=1024, pattern=oci.IMAGE_NAME_PATTERN)
    tag: str = Field(min_length=1, max_length=128, pattern=oci.TAG_PATTERN)
    registry_id: uuid.UUID


class DockerSource(BaseModel):
    git_repository: GitRepositoryRequest
    dockerfile_path: str | None = Field(default=None, max_length=1024)
    dockerfile_raw: str | None = None  # not supported: only null is accepted
    docker_target_build_stage: str | None = None  # likewise


class JobSource(BaseModel):
    image: ImageSource | None = None
    docker: DockerSource | None = None

    @model_validator(mode="after")
    def exactly_one(self) -> JobSource:
        if (self.image is None) == (self.docker is None):
            raise ValueError("exactly one of image or docker must be set")
        return self


class Command(BaseModel):
    arguments: list[str] | None = Field(default=None, max_length=1000)
    entrypoint: str | None = Field(default=None, max_length=4096)


class CronSchedule(Command):
    scheduled_at: str = Field(min_length=1, max_length=255)
    timezone: str | None = Field(default=None, max_length=64)  # Qovery's default: Etc/UTC


class JobSchedule(BaseModel):
    on_start: Command | None = None
    on_stop: Command | None = None
    on_delete: Command | None = None
    cronjob: CronSchedule | None = None
    lifecycle_type: LifecycleType | None = None


class JobRequest(BaseModel):
    """A create, or an edit once merged onto the stored job (omitted keys keep their value)."""

    name: str = Field(min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=10_000)
    cpu: int = Field(default=500, ge=1)
    memory: int = Field(default=512, ge=1)
    gpu: int = Field(default=0, ge=0)
    max_nb_restart: int = Field(default=0, ge=0, le=1000)
    max_duration_seconds: int = Field(default=300, ge=1, le=30 * 24 * 3600)
    auto_preview: bool | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    source: JobSource
    healthchecks: Healthcheck  # required by Qovery's schema
    schedule: JobSchedule
    auto_deploy: bool | None = None


class CommandOut(BaseModel):
    arguments: list[str]
    entrypoint: str | None = None


class CronOut(CommandOut):
    timezone: str
    scheduled_at: str


class ScheduleOut(BaseModel):
    on_start: CommandOut | None = None
    on_stop: CommandOut | None = None
    on_delete: CommandOut | None = None
    cronjob: CronOut | None = None
    lifecycle_type: LifecycleType | None = None


class ImageSourceOut(BaseModel):
    image_name: str
    tag: str
    registry_id: str
    registry: RegistryDetails


class DockerSourceOut(BaseModel):
    git_repository: GitRepositoryOut
    dockerfile_path: str | None = None


class SourceOut(BaseModel):
    image: ImageSourceOut | None = None
    docker: DockerSourceOut | None = None


class Job(BaseModel):
    id: str
    created_at: str
    updated_at: str
    environment: Reference
    maximum_cpu: int
    maximum_memory: int
    maximum_gpu: int
    name: str
    description: str | None = None
    cpu: int
    memory: int
    gpu: int
    max_nb_restart: int
    max_duration_seconds: int
    auto_preview: bool
    port: int | None = None
    source: SourceOut
    healthchecks: Healthcheck
    auto_deploy: bool
    icon_uri: str
    service_type: Literal["JOB"] = "JOB"
    job_type: JobType
    schedule: ScheduleOut
    annotations_groups: list[dict[str, str]]
    labels_groups: list[dict[str, str]]


class JobResponseList(BaseModel):
    results: list[Job]
