"""Link bodies with Qovery's field names."""

from __future__ import annotations

from pydantic import BaseModel


class Link(BaseModel):
    service_id: str
    service_type: str
    url: str
    internal_port: int
    external_port: int
    is_qovery_domain: bool
    is_default: bool


class LinkResponseList(BaseModel):
    results: list[Link]
