"""Service host names: the internal DNS name inside an environment and the public host under the cluster's domain."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.models import Cluster, Environment, Service

_PREFIX = {"APPLICATION": "app", "CONTAINER": "app", "DATABASE": "db", "JOB": "job", "HELM": "helm"}


def slug(text: str, limit: int = 30) -> str:
    """DNS-label-safe form of a name: lower case, [a-z0-9-], no leading/trailing dash."""
    cleaned = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return cleaned[:limit].strip("-") or "svc"


def short_id(service_id: uuid.UUID | str) -> str:
    """Qovery's `z<first 8 hex of the id>` service token (lower case here, upper case in variable names)."""
    return "z" + str(service_id).replace("-", "")[:8]


def internal_host(kind: str, service_id: uuid.UUID | str) -> str:
    """The name other services of the same environment reach this one by (e.g. `app-z037c9e87`)."""
    return f"{_PREFIX.get(kind, 'svc')}-{short_id(service_id)}"


def external_host(host_slug: str, cluster: Cluster) -> str:
    return f"{host_slug}.{cluster.base_domain}"


_PORT_HOST = re.compile(r"^p[0-9]+-")


async def assign_host_slug(session: AsyncSession, env: Environment, name: str, service_id: uuid.UUID) -> str:
    """`<service>-<environment>`, unique across the whole installation (every organization's clusters share one
    edge): the service's short id is appended when another service anywhere has it, or when it would read like
    another service's port host (`p<port>-<slug>`). Kept for the service's life; a unique index backs it."""
    candidate = f"{slug(name)}-{slug(env.name)}"
    suffixed = f"{candidate}-{short_id(service_id)}"
    if _PORT_HOST.match(candidate):
        return suffixed
    # creators of the same candidate wait for each other (until commit), so the later one sees it taken
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"catalog:host:{candidate}"})
    taken = await session.scalar(select(Service.id).where(Service.config["host_slug"].astext == candidate).limit(1))
    return candidate if taken is None else suffixed


def public_url(host: str, https_port: int) -> str:
    return f"https://{host}" if https_port == 443 else f"https://{host}:{https_port}"
