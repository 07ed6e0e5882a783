"""Git token bodies with Qovery's field names; the token goes in and never comes out."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

GitProvider = Literal["BITBUCKET", "GITHUB", "GITLAB"]


class GitTokenRequest(BaseModel):
    name: str = Field(min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=10_000)
    type: GitProvider
    token: str = Field(min_length=1, max_length=10_000)
    workspace: str | None = Field(default=None, max_length=255)  # required for BITBUCKET
    git_api_url: str | None = Field(default=None, max_length=2048)  # a self-hosted provider's API


class GitTokenResponse(BaseModel):
    id: str
    created_at: str
    updated_at: str
    name: str
    description: str | None = None
    type: str
    workspace: str | None = None
    associated_services_count: int
    git_api_url: str


class GitTokenResponseList(BaseModel):
    results: list[GitTokenResponse]
