"""Everything a parent sees: its own variables, those of the scopes above it, and the environment's built-ins."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.database.service import password_context
from catalog.job import outputs as job_outputs
from catalog.models import Cluster, Environment, JobOutput, Service, Variable
from catalog.variable import builtins
from catalog.variable.items import Item, from_row, value_context
from catalog.variable.parents import Parent
from slipway.crypto import Keyring


async def environment_services(session: AsyncSession, environment_id: uuid.UUID) -> list[Service]:
    rows = await session.execute(
        select(Service).where(Service.environment_id == environment_id).order_by(Service.created_at, Service.id)
    )
    return list(rows.scalars())


async def builtins_of(
    session: AsyncSession,
    env: Environment,
    service: Service | None,
    password_of: builtins.PasswordOf,
    keys: Keyring | None = None,
) -> list[Item]:
    """The environment's built-ins (jobs' outputs included), and `service`'s own; secrets decrypted given `keys`."""
    cluster = await session.get(Cluster, env.cluster_id)
    services = await environment_services(session, env.id)
    outputs = await job_outputs.of_environment(session, env.id)

    def reveal(row: JobOutput) -> str | None:
        return job_outputs.reveal(row, keys) if keys is not None else None

    found = builtins.for_environment(env, cluster, services, password_of, outputs, reveal)
    return found + (builtins.own(env, service) if service is not None else [])


async def stored(session: AsyncSession, parent: Parent) -> list[Variable]:
    """The rows of the parent and of every scope above it, highest scope first."""
    ids = [parent.project_id, parent.environment_id, parent.service_id]
    rows = await session.execute(
        select(Variable)
        .where(Variable.parent_id.in_([i for i in ids if i is not None]))
        .order_by(Variable.created_at, Variable.id)
    )
    return sorted(rows.scalars(), key=lambda v: [i for i in ids if i is not None].index(v.parent_id))


async def visible(
    session: AsyncSession,
    parent: Parent,
    password_of: builtins.PasswordOf = builtins.no_password,
    keys: Keyring | None = None,
) -> list[Item]:
    """Built-ins first, then project, environment and service variables; secrets decrypted only given `keys`."""
    items: list[Item] = []
    if parent.environment_id is not None:
        env = await session.get(Environment, parent.environment_id)
        if env is not None:
            items = await builtins_of(session, env, parent.service, password_of, keys)
    own = parent.service_ref
    for row in await stored(session, parent):
        item = from_row(row, own if row.service_id is not None else None)
        if keys is not None and row.is_secret and row.value_encrypted is not None:
            item.secret = keys.decrypt(row.value_encrypted, value_context(row.id))
        items.append(item)
    return items


async def visible_to_service(session: AsyncSession, service: Service, keys: Keyring) -> list[Item]:
    """What `service` sees, with every secret decrypted (variables and database passwords)."""

    def password_of(svc: Service) -> str | None:
        encrypted = (svc.config or {}).get("password_encrypted")
        return keys.decrypt(encrypted, password_context(svc.id)) if encrypted else None

    parent = Parent(
        service.kind, service.id, service.organization_id, service.project_id, service.environment_id, service
    )
    return await visible(session, parent, password_of, keys)
