"""Every subscription of the catalog, one thin function each."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession

from catalog.organization import service
from catalog.previews import reports
from catalog.previews import service as previews
from catalog.settings import CatalogSettings
from slipway.contracts import OrganizationCreated, OrganizationDeleted, OrganizationUpdated, Subjects
from slipway.crypto import keyring_from
from slipway.events import Envelope, Subscription


def subscriptions(settings: CatalogSettings) -> list[Subscription]:
    async def organization_created(session: AsyncSession, envelope: Envelope) -> None:
        event = OrganizationCreated.model_validate(envelope.payload)
        await service.ensure_organization(session, settings, event.organization_id, event.name)

    async def organization_updated(session: AsyncSession, envelope: Envelope) -> None:
        event = OrganizationUpdated.model_validate(envelope.payload)
        await service.rename(session, event.organization_id, event.name)

    async def organization_deleted(session: AsyncSession, envelope: Envelope) -> None:
        event = OrganizationDeleted.model_validate(envelope.payload)
        await service.remove(session, event.organization_id, keyring_from(settings))

    async def deployer_status(session: AsyncSession, envelope: Envelope) -> None:
        await reports.on_status(session, envelope.payload, settings)

    async def pull_received(session: AsyncSession, envelope: Envelope) -> None:
        assert envelope.organization_id is not None
        await previews.act_on_pull(session, envelope.organization_id, envelope.payload, settings)

    handlers: dict[str, Callable] = {  # type: ignore[type-arg]
        Subjects.ORGANIZATION_CREATED: organization_created,
        Subjects.ORGANIZATION_UPDATED: organization_updated,
        Subjects.ORGANIZATION_DELETED: organization_deleted,
        Subjects.DEPLOYER_STATUS_CHANGED: deployer_status,
        Subjects.GIT_PULL_RECEIVED: pull_received,
    }
    return [Subscription(subject, handler) for subject, handler in handlers.items()]
