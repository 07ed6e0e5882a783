"""Container registry bodies with Qovery's field names; credentials go in, only non-secret config comes out."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

RegistryKind = Literal[
    "ECR",
    "SCALEWAY_CR",
    "DOCKER_HUB",
    "GITHUB_CR",
    "GITHUB_ENTERPRISE_CR",
    "GITLAB_CR",
    "PUBLIC_ECR",
    "DOCR",
    "GENERIC_CR",
    "GCP_ARTIFACT_REGISTRY",
    "AZURE_CR",
]
_SHORT = Field(default=None, max_length=1024)


class RegistryConfig(BaseModel):
    """Qovery's ContainerRegistryRequest.config: which keys are needed depends on the kind."""

    access_key_id: str | None = _SHORT
    secret_access_key: str | None = _SHORT
    region: str | None = Field(default=None, max_length=64)
    scaleway_access_key: str | None = _SHORT
    scaleway_secret_key: str | None = _SHORT
    scaleway_project_id: str | None = _SHORT
    json_credentials: str | None = Field(default=None, max_length=65_536)
    gcp_credentials_type: Literal["workload_identity_federation"] | None = None
    project_id: str | None = _SHORT
    service_account_email: str | None = _SHORT
    workload_identity_provider_resource: str | None = _SHORT
    token_lifetime_seconds: int | None = Field(default=None, ge=1)
    username: str | None = _SHORT
    password: str | None = Field(default=None, max_length=10_000)
    role_arn: str | None = _SHORT
    azure_tenant_id: str | None = _SHORT
    azure_subscription_id: str | None = _SHORT


class ContainerRegistryRequest(BaseModel):
    name: str = Field(min_length=1, max_length=255)
    kind: RegistryKind
    description: str | None = Field(default=None, max_length=10_000)
    url: str | None = Field(default=None, max_length=2048)
    config: RegistryConfig


class RegistryConfigOut(BaseModel):
    """The response's config: Qovery shows identifiers (username, region, key ids), never secrets."""

    username: str | None = None
    region: str | None = None
    scaleway_access_key: str | None = None
    scaleway_project_id: str | None = None
    access_key_id: str | None = None
    role_arn: str | None = None
    gcp_credentials_type: str | None = None
    project_id: str | None = None
    service_account_email: str | None = None
    workload_identity_provider_resource: str | None = None
    token_lifetime_seconds: int | None = None
    azure_tenant_id: str | None = None
    azure_subscription_id: str | None = None


class ContainerRegistry(BaseModel):
    id: str
    created_at: str
    updated_at: str
    name: str
    kind: str
    description: str | None = None
    url: str
    config: RegistryConfigOut
    associated_services_count: int


class ContainerRegistryResponseList(BaseModel):
    results: list[ContainerRegistry]


class AvailableContainerRegistry(BaseModel):
    kind: str
    required_config: dict[str, Any]
    is_mandatory: bool


class AvailableContainerRegistryResponseList(BaseModel):
    results: list[AvailableContainerRegistry]
