"""Container registry rules: per-kind URL and credential checks; the whole config encrypted at rest."""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.models import ContainerRegistry, Service
from catalog.registry.schemas import AvailableContainerRegistry, ContainerRegistryRequest, RegistryConfigOut
from catalog.registry.schemas import ContainerRegistry as RegistryOut
from slipway.crypto import Keyring
from slipway.db import flush_or_conflict
from slipway.errors import BadRequest, Conflict, NotFound
from slipway.timeutil import rfc3339, utcnow

# Qovery: these kinds have one fixed URL (the default when none is given).
FIXED_URLS = {
    "DOCKER_HUB": "https://docker.io",
    "GITHUB_CR": "https://ghcr.io",
    "GITLAB_CR": "https://registry.gitlab.com",
}
USERNAME_PASSWORD = {"DOCKER_HUB", "GITHUB_CR", "GITHUB_ENTERPRISE_CR", "GITLAB_CR", "GENERIC_CR"}
# A secret left out of an edit is kept while the identity it belongs to is unchanged (clients never see it).
SECRET_OF = {"password": "username", "secret_access_key": "access_key_id", "scaleway_secret_key": "scaleway_access_key"}
SECRETS = {*SECRET_OF, "json_credentials"}

_USER = {"username": "string (optional)", "password": "string (optional)"}
AVAILABLE = [
    AvailableContainerRegistry(
        kind="ECR",
        required_config={"region": "string", "access_key_id": "string", "secret_access_key": "string"},
        is_mandatory=True,
    ),
    AvailableContainerRegistry(
        kind="SCALEWAY_CR",
        required_config={"region": "string", "scaleway_access_key": "string", "scaleway_secret_key": "string"},
        is_mandatory=True,
    ),
    AvailableContainerRegistry(kind="DOCKER_HUB", required_config=_USER, is_mandatory=False),
    AvailableContainerRegistry(kind="GITHUB_CR", required_config=_USER, is_mandatory=False),
    AvailableContainerRegistry(kind="GITHUB_ENTERPRISE_CR", required_config=_USER, is_mandatory=False),
    AvailableContainerRegistry(kind="GITLAB_CR", required_config=_USER, is_mandatory=False),
    AvailableContainerRegistry(kind="PUBLIC_ECR", required_config={}, is_mandatory=False),
    AvailableContainerRegistry(kind="GENERIC_CR", required_config=_USER, is_mandatory=False),
    AvailableContainerRegistry(
        kind="GCP_ARTIFACT_REGISTRY",
        required_config={"region": "string", "json_credentials": "string"},
        is_mandatory=True,
    ),
    AvailableContainerRegistry(
        kind="AZURE_CR",
        required_config={"azure_tenant_id": "string", "azure_subscription_id": "string"},
        is_mandatory=True,
    ),
]


def _context(registry: ContainerRegistry) -> str:
    return f"container_registry:{registry.id}:config"


def stored_config(registry: ContainerRegistry, keys: Keyring) -> dict[str, Any]:
    """The registry's full config, credentials included (for this service's own use, never a response)."""
    if registry.config_encrypted is None:
        return {}
    return json.loads(keys.decrypt(registry.config_encrypted, _context(registry)))  # type: ignore[no-any-return]


def render(registry: ContainerRegistry, keys: Keyring, used_by: int = 0) -> RegistryOut:
    config = stored_config(registry, keys)
    public = {k: v for k, v in config.items() if k in RegistryConfigOut.model_fields}
    return RegistryOut(
        id=str(registry.id),
        created_at=rfc3339(registry.created_at),
        updated_at=rfc3339(registry.updated_at or registry.created_at),
        name=registry.name,
        kind=registry.kind,
        description=registry.description,
        url=registry.url,
        config=RegistryConfigOut(**public),
        associated_services_count=used_by,
    )


async def listing(session: AsyncSession, organization_id: uuid.UUID) -> list[ContainerRegistry]:
    rows = await session.execute(
        select(ContainerRegistry)
        .where(ContainerRegistry.organization_id == organization_id)
        .order_by(ContainerRegistry.is_default.desc(), ContainerRegistry.created_at, ContainerRegistry.id)
    )
    return list(rows.scalars())


async def get(session: AsyncSession, organization_id: uuid.UUID, registry_id: uuid.UUID) -> ContainerRegistry:
    registry = await session.get(ContainerRegistry, registry_id)
    if registry is None or registry.organization_id != organization_id:
        raise NotFound("container registry not found")
    return registry


def _url(kind: str, url: str | None, current: str | None) -> str:
    """The registry URL for `kind`; `current` (same kind, unchanged URL) is kept as is."""
    if url is not None and url == current:
        return url
    fixed = FIXED_URLS.get(kind)
    if fixed is not None:
        if url is None or url.rstrip("/") == fixed:
            return fixed
        raise BadRequest(f"url: must be {fixed} for kind {kind}")
    if not url:
        raise BadRequest(f"url: required for kind {kind}")
    parts = urlsplit(url)
    # Slipway: a generic registry may be plain HTTP (a local registry on loopback, like the default one).
    schemes = {"https", "http"} if kind == "GENERIC_CR" else {"https"}
    if parts.scheme not in schemes or not parts.hostname:
        raise BadRequest(f"url: '{url}' must start with {' or '.join(s + '://' for s in sorted(schemes))}")
    return url


def _check_config(kind: str, config: dict[str, Any]) -> None:
    def need(*names: str) -> None:
        for name in names:
            if not config.get(name):
                raise BadRequest(f"config.{name}: required for kind {kind}")

    if kind == "DOCR":
        raise BadRequest("kind: DOCR is not supported anymore")
    if kind == "ECR":
        need("region")
        if not config.get("role_arn"):
            need("access_key_id", "secret_access_key")
    elif kind == "SCALEWAY_CR":
        need("region", "scaleway_access_key", "scaleway_secret_key")
    elif kind == "GCP_ARTIFACT_REGISTRY":
        need("region")
        if config.get("gcp_credentials_type") == "workload_identity_federation":
            need("project_id", "service_account_email", "workload_identity_provider_resource")
        else:
            need("json_credentials")
    elif kind == "AZURE_CR":
        need("azure_tenant_id", "azure_subscription_id")
    elif kind in USERNAME_PASSWORD:
        if config.get("username") and not config.get("password"):
            raise BadRequest("config.password: required with config.username")
        if config.get("password") and not config.get("username"):
            raise BadRequest("config.username: required with config.password")


def _store_config(registry: ContainerRegistry, config: dict[str, Any], keys: Keyring) -> None:
    registry.config_encrypted = keys.encrypt(json.dumps(config, sort_keys=True), _context(registry)) if config else None


async def _flush(session: AsyncSession, name: str) -> None:
    await flush_or_conflict(
        session, f"name '{name}' is already taken by another container registry of this organization"
    )


async def create(
    session: AsyncSession, organization_id: uuid.UUID, body: ContainerRegistryRequest, keys: Keyring
) -> ContainerRegistry:
    config = body.config.model_dump(exclude_none=True)
    _check_config(body.kind, config)
    registry = ContainerRegistry(
        id=uuid.uuid4(),
        organization_id=organization_id,
        name=body.name,
        kind=body.kind,
        description=body.description,
        url=_url(body.kind, body.url, None),
        is_default=False,
    )
    _store_config(registry, config, keys)
    session.add(registry)
    await _flush(session, body.name)
    return registry


def _still_valid(secret: str, config: dict[str, Any], previous: dict[str, Any]) -> bool:
    if secret == "json_credentials":  # a GCP key file, unless the registry moved to workload identity
        return config.get("gcp_credentials_type") != "workload_identity_federation"
    owner = SECRET_OF[secret]
    return config.get(owner) == previous.get(owner)


async def edit(
    session: AsyncSession, registry: ContainerRegistry, body: ContainerRegistryRequest, keys: Keyring
) -> None:
    """Clients send the object they read back, without secrets: those still valid are kept."""
    same_kind = body.kind == registry.kind
    config = body.config.model_dump(exclude_none=True)
    if same_kind:
        previous = stored_config(registry, keys)
        for secret in SECRETS - config.keys():
            if secret in previous and _still_valid(secret, config, previous):
                config[secret] = previous[secret]
    _check_config(body.kind, config)
    url = body.url if body.url is not None or not same_kind else registry.url
    registry.url = _url(body.kind, url, registry.url if same_kind else None)
    registry.name = body.name
    registry.kind = body.kind
    if "description" in body.model_fields_set:
        registry.description = body.description
    _store_config(registry, config, keys)
    registry.updated_at = utcnow()
    await _flush(session, body.name)


async def used_by(session: AsyncSession, registry_id: uuid.UUID) -> int:
    """How many services pull their image from this registry."""
    return int(
        (
            await session.execute(
                select(func.count())
                .select_from(Service)
                .where(
                    or_(
                        Service.config["registry_id"].astext == str(registry_id),  # containers
                        Service.config["source"]["image"]["registry_id"].astext == str(registry_id),  # image jobs
                    )
                )
            )
        ).scalar_one()
    )


async def delete(session: AsyncSession, registry: ContainerRegistry) -> None:
    if registry.is_default:
        raise BadRequest("the default container registry of an organization cannot be deleted")
    services = await used_by(session, registry.id)
    if services:
        raise Conflict(f"the registry is used by {services} service(s); point them elsewhere first")
    await session.delete(registry)
    await session.flush()
