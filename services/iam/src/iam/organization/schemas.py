"""Organization request/response bodies with Qovery's field names."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

PlanEnum = Literal[
    "FREE",
    "TEAM",
    "TEAM_YEARLY",
    "ENTERPRISE",
    "ENTERPRISE_YEARLY",
    "PROFESSIONAL",
    "BUSINESS",
    "USER_2025",
    "TEAM_2025",
    "BUSINESS_2025",
    "ENTERPRISE_2025",
]


class OrganizationRequest(BaseModel):
    name: str = Field(min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=10_000)
    plan: PlanEnum
    website_url: str | None = Field(default=None, max_length=2048)
    repository: str | None = Field(default=None, max_length=2048)
    logo_url: str | None = Field(default=None, max_length=2048)
    icon_url: str | None = Field(default=None, max_length=2048)
    admin_emails: list[str] | None = None


class OrganizationEditRequest(BaseModel):
    name: str = Field(min_length=1, max_length=255)
    plan: PlanEnum | None = None  # required by the spec; accepted and ignored (no billing here)
    description: str | None = Field(default=None, max_length=10_000)
    website_url: str | None = Field(default=None, max_length=2048)
    repository: str | None = Field(default=None, max_length=2048)
    logo_url: str | None = Field(default=None, max_length=2048)
    icon_url: str | None = Field(default=None, max_length=2048)
    admin_emails: list[str] | None = None


class OrganizationPlan(BaseModel):
    plan: str
    audit_logs_retention_in_days: int | None = None


class Organization(BaseModel):
    id: str
    created_at: str
    updated_at: str | None
    name: str
    description: str | None
    plan: str
    website_url: str | None
    repository: str | None
    logo_url: str | None
    icon_url: str | None
    admin_emails: list[str] | None
    owner: str
    billing_deployment_restriction: str | None = None
    organization_plan: OrganizationPlan


class OrganizationResponseList(BaseModel):
    results: list[Organization]
