"""Database bodies with Qovery's field names (DatabaseRequest/DatabaseEditRequest in, Database out)."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, Field

DatabaseType = Literal["POSTGRESQL", "MYSQL", "MONGODB", "REDIS"]
DatabaseMode = Literal["CONTAINER", "MANAGED"]
Accessibility = Literal["PRIVATE", "PUBLIC"]


class GroupReference(BaseModel):
    id: uuid.UUID


class DatabaseRequest(BaseModel):
    name: str = Field(min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=10_000)
    type: DatabaseType
    version: str = Field(min_length=1, max_length=32)
    mode: DatabaseMode
    accessibility: Accessibility = "PRIVATE"
    cpu: int = Field(default=250, ge=1)  # millicores
    instance_type: str | None = Field(default=None, max_length=255)
    memory: int | None = Field(default=None, ge=1)  # MB; None: the type's default
    storage: int = Field(default=10, ge=1)  # GiB
    annotations_groups: list[GroupReference] | None = None
    labels_groups: list[GroupReference] | None = None
    icon_uri: str | None = Field(default=None, max_length=2048)


class DatabaseEditRequest(BaseModel):
    """Every field optional (Qovery's edit body); what is left out is kept.

    `type` and `mode` are not Qovery edit fields, but clients PUT back what they read: they are
    accepted when unchanged and refused otherwise.
    """

    name: str | None = Field(default=None, min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=10_000)
    type: DatabaseType | None = None
    mode: DatabaseMode | None = None
    version: str | None = Field(default=None, min_length=1, max_length=32)
    accessibility: Accessibility | None = None
    cpu: int | None = Field(default=None, ge=1)
    memory: int | None = Field(default=None, ge=1)
    storage: int | None = Field(default=None, ge=1)
    instance_type: str | None = Field(default=None, max_length=255)
    annotations_groups: list[GroupReference] | None = None
    labels_groups: list[GroupReference] | None = None
    icon_uri: str | None = Field(default=None, max_length=2048)
    disk_type: Literal["gp2", "gp3"] | None = None


class Reference(BaseModel):
    id: str


class Database(BaseModel):
    id: str
    created_at: str
    updated_at: str
    name: str
    description: str | None = None
    type: str
    version: str
    mode: str
    accessibility: str
    cpu: int
    instance_type: str | None = None
    memory: int
    storage: int
    annotations_groups: list[dict[str, str]]
    labels_groups: list[dict[str, str]]
    icon_uri: str
    environment: Reference
    host: str
    port: int
    maximum_cpu: int
    maximum_memory: int
    disk_encrypted: bool
    service_type: Literal["DATABASE"] = "DATABASE"


class DatabaseResponseList(BaseModel):
    results: list[Database]


class Credentials(BaseModel):
    host: str
    port: int
    login: str
    password: str


class DatabaseVersionMode(BaseModel):
    name: str
    supported_mode: DatabaseMode


class DatabaseConfiguration(BaseModel):
    database_type: DatabaseType
    version: list[DatabaseVersionMode]


class DatabaseConfigurationResponseList(BaseModel):
    results: list[DatabaseConfiguration]
