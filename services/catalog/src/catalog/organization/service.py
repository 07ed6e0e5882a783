"""Idempotent seeding of an organization's defaults (from iam's events, or on first access)."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.events.publish import emit_project_deleted
from catalog.models import Cluster, ContainerRegistry, Organization, Project
from catalog.settings import CatalogSettings
from slipway.crypto import Keyring


async def ensure_organization(
    session: AsyncSession, settings: CatalogSettings, organization_id: uuid.UUID, name: str | None = None
) -> None:
    """Record the organization and give it its default cluster and registry, once, whoever comes first.

    Routes call it without a name (the gateway has confirmed the organization with iam, but iam's
    event may not have arrived): the row starts with an empty name that the event fills in later.
    """
    if name is None:
        known = await session.execute(select(Organization.id).where(Organization.id == organization_id))
        if known.first() is not None:
            return  # the row and its defaults are written together, so both exist already
        statement = (
            insert(Organization).values(id=organization_id, name="").on_conflict_do_nothing(index_elements=["id"])
        )
    else:
        statement = (
            insert(Organization)
            .values(id=organization_id, name=name)
            # only the empty name written on first access is replaced: a rename seen earlier must not be undone
            .on_conflict_do_update(index_elements=["id"], set_={"name": name}, where=Organization.name == "")
        )
    await session.execute(statement)
    await session.execute(
        insert(Cluster)
        .values(
            id=uuid.uuid4(),
            organization_id=organization_id,
            name="local",
            region="local",
            description="The container engine of this Slipway host",
            cloud_provider="ON_PREMISE",
            kubernetes="SELF_MANAGED",
            engine=settings.default_engine,
            engine_host=settings.default_engine_host,
            base_domain=settings.base_domain,
            is_default=True,
        )
        .on_conflict_do_nothing(index_elements=["organization_id"], index_where=text("is_default"))
    )
    await session.execute(
        insert(ContainerRegistry)
        .values(
            id=uuid.uuid4(),
            organization_id=organization_id,
            name="local",
            kind="GENERIC_CR",
            description="The registry of this Slipway host",
            url=settings.default_registry_url,
            is_default=True,
        )
        .on_conflict_do_nothing(index_elements=["organization_id"], index_where=text("is_default"))
    )


async def rename(session: AsyncSession, organization_id: uuid.UUID, name: str) -> None:
    await session.execute(update(Organization).where(Organization.id == organization_id).values(name=name))


async def remove(session: AsyncSession, organization_id: uuid.UUID, keys: Keyring) -> None:
    """Everything below the organization goes with it (foreign keys cascade); first every project, environment
    and service is announced deleted, so the deployer uninstalls all the organization ran."""
    projects = await session.scalars(select(Project).where(Project.organization_id == organization_id))
    for project in projects.all():
        await emit_project_deleted(session, project, keys)
    await session.execute(delete(Organization).where(Organization.id == organization_id))
