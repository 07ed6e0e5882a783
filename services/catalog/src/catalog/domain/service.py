"""Custom domain rules: a valid host name, used once in the installation, never under a cluster's own domain."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog import hosts
from catalog.domain.schemas import CustomDomain as CustomDomainOut
from catalog.domain.schemas import CustomDomainRequest
from catalog.events.publish import emit_service
from catalog.models import Cluster, CustomDomain, Environment, Service
from slipway.contracts import Subjects
from slipway.db import flush_or_conflict
from slipway.errors import BadRequest, Conflict, NotFound
from slipway.timeutil import rfc3339, utcnow

KINDS = ("APPLICATION", "CONTAINER")  # the kinds the edge routes HTTP to
MAX_LENGTH = 253
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def normalize(raw: str) -> str:
    """The domain in lower case, or BadRequest saying what is wrong (RFC 1123 names, optional `*.` wildcard)."""
    domain = raw.strip().lower()
    if "://" in domain:
        raise BadRequest("domain: give the host name only, without a scheme (e.g. app.example.com)")
    if "/" in domain:
        raise BadRequest("domain: give the host name only, without a path")
    if ":" in domain:
        raise BadRequest("domain: give the host name only, without a port")
    if len(domain) > MAX_LENGTH:
        raise BadRequest(f"domain: at most {MAX_LENGTH} characters")
    name = domain[2:] if domain.startswith("*.") else domain
    labels = name.split(".")
    if any(not label for label in labels):
        raise BadRequest("domain: has an empty label (a leading or trailing dot, or two dots in a row)")
    if len(labels) < 2:
        raise BadRequest("domain: needs at least two labels (e.g. example.com)")
    for label in labels:
        if not _LABEL.match(label):
            raise BadRequest(
                f"domain: '{label}' is not a valid DNS label (letters, digits and inner hyphens, at most 63 "
                "characters; a wildcard only as a leading '*.'; international names in their xn-- form)"
            )
    if labels[-1].isdigit():
        raise BadRequest("domain: an IP address is not a domain name")
    return domain


async def workload(session: AsyncSession, service_id: uuid.UUID, kind: str) -> Service:
    """The application or container the path names (404 when the id is another kind's)."""
    found = await session.get(Service, service_id)
    if found is None or found.kind != kind:
        raise NotFound(f"{kind.lower()} not found")
    return found


async def cluster_of(session: AsyncSession, svc: Service) -> Cluster:
    env = await session.get(Environment, svc.environment_id)
    cluster = await session.get(Cluster, env.cluster_id) if env is not None else None
    if cluster is None:
        raise NotFound(f"{svc.kind.lower()} not found")
    return cluster


def public_host(svc: Service, cluster: Cluster) -> str:
    """The host a custom domain must point at (a CNAME): the service's own public host."""
    return hosts.external_host(svc.config["host_slug"], cluster)


async def listing(session: AsyncSession, service_id: uuid.UUID) -> list[CustomDomain]:
    rows = await session.execute(
        select(CustomDomain)
        .where(CustomDomain.service_id == service_id)
        .order_by(CustomDomain.created_at, CustomDomain.id)
    )
    return list(rows.scalars())


async def get(session: AsyncSession, svc: Service, domain_id: uuid.UUID) -> CustomDomain:
    found = await session.get(CustomDomain, domain_id)
    if found is None or found.service_id != svc.id:
        raise NotFound("custom domain not found")
    return found


async def _check(session: AsyncSession, domain: str, own_id: uuid.UUID | None) -> None:
    # Every cluster's domain is Slipway's namespace for generated hosts (the edge is shared): no hijacking there.
    bases = (await session.execute(select(Cluster.base_domain).distinct())).scalars()
    name = domain.removeprefix("*.")
    for base in (b.lower() for b in bases):
        if name == base or name.endswith("." + base):
            raise BadRequest(f"domain: {domain} is under {base}, where Slipway names services itself")
    query = select(CustomDomain.id).where(func.lower(CustomDomain.domain) == domain)
    if own_id is not None:
        query = query.where(CustomDomain.id != own_id)
    if await session.scalar(query.limit(1)) is not None:
        raise Conflict(f"domain: {domain} is already used by a service")


async def _flush(session: AsyncSession, domain: str) -> None:
    await flush_or_conflict(session, f"domain: {domain} is already used by a service")


async def create(session: AsyncSession, svc: Service, body: CustomDomainRequest) -> CustomDomain:
    domain = normalize(body.domain)
    await _check(session, domain, None)
    row = CustomDomain(
        id=uuid.uuid4(),
        organization_id=svc.organization_id,
        service_id=svc.id,
        domain=domain,
        generate_certificate=body.generate_certificate,
        use_cdn=bool(body.use_cdn),
    )
    session.add(row)
    await _flush(session, domain)
    await session.refresh(row, ["created_at"])
    await emit_service(session, Subjects.SERVICE_UPDATED, svc)  # the edge must route the new domain
    return row


async def edit(session: AsyncSession, svc: Service, row: CustomDomain, body: CustomDomainRequest) -> None:
    domain = normalize(body.domain)
    await _check(session, domain, row.id)
    row.domain = domain
    row.generate_certificate = body.generate_certificate
    if body.use_cdn is not None:
        row.use_cdn = body.use_cdn
    row.updated_at = utcnow()
    await _flush(session, domain)
    await emit_service(session, Subjects.SERVICE_UPDATED, svc)


async def delete(session: AsyncSession, svc: Service, row: CustomDomain) -> None:
    await session.delete(row)
    await session.flush()
    await emit_service(session, Subjects.SERVICE_UPDATED, svc)


def render(row: CustomDomain, validation_domain: str) -> CustomDomainOut:
    return CustomDomainOut(
        id=str(row.id),
        created_at=rfc3339(row.created_at),
        updated_at=rfc3339(row.updated_at or row.created_at),
        domain=row.domain,
        generate_certificate=row.generate_certificate,
        use_cdn=row.use_cdn,
        validation_domain=validation_domain,
    )
