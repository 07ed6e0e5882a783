"""iam's organization events give each organization exactly one default cluster and registry in catalog."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import func, select

from catalog.main import create_app
from catalog.models import Cluster, ContainerRegistry, Organization
from catalog.organization.service import ensure_organization
from catalog.settings import CatalogSettings
from slipway.contracts import OrganizationCreated, OrganizationDeleted, OrganizationUpdated, Subjects
from slipway.events import Envelope
from slipway_stack.testing import serve, wait_until


async def count(app, model, org: uuid.UUID) -> int:  # type: ignore[no-untyped-def]
    async with app.state.db.transaction() as s:
        column = model.id if model is Organization else model.organization_id
        return int((await s.execute(select(func.count()).select_from(model).where(column == org))).scalar_one())


async def test_events_seed_rename_and_remove(database_url: str, nats_server) -> None:  # type: ignore[no-untyped-def]
    app = create_app(CatalogSettings(database_url=database_url, nats_url=nats_server.url))
    org = uuid.uuid4()
    async with serve(app):
        js = await app.state.nats.wait_connected(10)

        async def publish(subject: str, payload: dict, msg_id: str | None = None) -> None:  # type: ignore[type-arg]
            envelope = Envelope(type=subject, source="iam", organization_id=org, payload=payload)
            await js.publish(subject, envelope.to_bytes(), headers={"Nats-Msg-Id": msg_id or str(envelope.id)})

        created = OrganizationCreated(organization_id=org, name="acme", owner_id=uuid.uuid4()).model_dump(mode="json")
        await publish(Subjects.ORGANIZATION_CREATED, created)
        await publish(Subjects.ORGANIZATION_CREATED, created)  # a second delivery of the same fact

        async def seeded() -> bool:
            return await count(app, Cluster, org) == 1 and await count(app, ContainerRegistry, org) == 1

        await wait_until(seeded, message="default cluster and registry never appeared")
        async with app.state.db.transaction() as s:
            cluster = (await s.execute(select(Cluster).where(Cluster.organization_id == org))).scalar_one()
            registry = (
                await s.execute(select(ContainerRegistry).where(ContainerRegistry.organization_id == org))
            ).scalar_one()
        assert cluster.is_default and cluster.cloud_provider == "ON_PREMISE" and cluster.kubernetes == "SELF_MANAGED"
        assert cluster.engine == "podman" and registry.is_default and registry.kind == "GENERIC_CR"

        await publish(
            Subjects.ORGANIZATION_UPDATED,
            OrganizationUpdated(organization_id=org, name="acme 2").model_dump(mode="json"),
        )

        async def renamed() -> bool:
            async with app.state.db.transaction() as s:
                return (await s.get(Organization, org)).name == "acme 2"  # type: ignore[union-attr]

        await wait_until(renamed)
        await publish(Subjects.ORGANIZATION_DELETED, OrganizationDeleted(organization_id=org).model_dump(mode="json"))

        async def removed() -> bool:
            return await count(app, Organization, org) == 0 and await count(app, Cluster, org) == 0

        await wait_until(removed)
        assert await count(app, ContainerRegistry, org) == 0


async def test_concurrent_first_access_seeds_once(database_url: str, nats_server) -> None:  # type: ignore[no-untyped-def]
    settings = CatalogSettings(database_url=database_url, nats_url=nats_server.url)
    app = create_app(settings)
    org = uuid.uuid4()
    async with serve(app):

        async def seed() -> None:
            async with app.state.db.transaction() as s:
                await ensure_organization(s, settings, org, "race")

        await asyncio.gather(*(seed() for _ in range(8)))
        assert await count(app, Cluster, org) == 1 and await count(app, ContainerRegistry, org) == 1
