"""Custom domain bodies with Qovery's field names (CustomDomainRequest in, CustomDomain out)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class CustomDomainRequest(BaseModel):
    domain: str = Field(min_length=1, max_length=300)  # the 253 limit is checked with a clearer message
    generate_certificate: bool
    use_cdn: bool | None = None


class CustomDomain(BaseModel):
    id: str
    created_at: str
    updated_at: str
    domain: str
    generate_certificate: bool
    use_cdn: bool
    validation_domain: str
    status: Literal["VALIDATION_PENDING"] = "VALIDATION_PENDING"


class CustomDomainResponseList(BaseModel):
    results: list[CustomDomain]
