"""Project bodies with Qovery's field names."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ProjectRequest(BaseModel):
    name: str = Field(min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=10_000)


class Reference(BaseModel):
    id: str


class Project(BaseModel):
    id: str
    created_at: str
    updated_at: str
    name: str
    description: str | None = None
    associated_environments_count: int
    organization: Reference


class ProjectResponseList(BaseModel):
    results: list[Project]
