"""Events the deployer consumes: catalog's deletions queue the uninstall of what ran (a DELETE deployment); an
accepted Git push queues the deployment of the services it pinned to its commit."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from deployer.drivers import Drivers
from deployer.models import Deployment, ServiceState
from deployer.queue import enqueue
from deployer.store import forget_services
from slipway.contracts import Subjects
from slipway.errors import Conflict
from slipway.events import Envelope, RetryableError, Subscription

log = logging.getLogger("deployer.events")


async def _nolog(_: str) -> None:
    return None


async def _queue_uninstall(
    session: AsyncSession, envelope: Envelope, tombstone_id: str, service_ids: list[str] | None
) -> bool:
    """Queue the DELETE deployment of a deletion once, however often its event arrives."""
    tombstone = uuid.UUID(tombstone_id)
    if await session.scalar(select(Deployment.id).where(Deployment.tombstone_id == tombstone)) is not None:
        return False
    payload = envelope.payload
    scope = {
        "organization_id": str(envelope.organization_id),
        "project_id": str(payload["project_id"]),
        "environment_id": str(payload["environment_id"]),
    }
    await enqueue(
        session, scope, "DELETE", service_ids, origin="QOVERY_INTERNAL", triggered_by="catalog", tombstone_id=tombstone
    )
    return True


def subscriptions(drivers: Drivers, poke: Callable[[], None] = lambda: None) -> list[Subscription]:
    async def service_deleted(session: AsyncSession, envelope: Envelope) -> None:
        payload: dict[str, Any] = envelope.payload
        if payload.get("with_environment"):
            return  # its environment's uninstall removes it
        if payload.get("tombstone_id"):
            if await _queue_uninstall(session, envelope, payload["tombstone_id"], [payload["service_id"]]):
                poke()
            return
        # no tombstone (its state could not be sealed, or an older catalog): remove what runs directly
        driver = drivers.for_event(payload)
        try:
            if driver is not None:
                await driver.delete(payload["environment_id"], payload["service_id"], _nolog)
        except Exception as exc:  # noqa: BLE001 - the engine may be briefly away: retry later
            raise RetryableError(str(exc)) from exc
        await forget_services(session, envelope.organization_id, uuid.UUID(payload["environment_id"]),
                              [payload["service_id"]])  # fmt: skip

    async def environment_deleted(session: AsyncSession, envelope: Envelope) -> None:
        payload: dict[str, Any] = envelope.payload
        environment_id = payload.get("environment_id") or envelope.resource_id
        if payload.get("tombstone_id"):
            if await _queue_uninstall(session, envelope, payload["tombstone_id"], None):
                poke()
            return
        driver = drivers.for_event(payload)
        try:
            if driver is not None:
                await driver.delete_environment(str(environment_id))
        except Exception as exc:  # noqa: BLE001
            raise RetryableError(str(exc)) from exc
        await forget_services(session, envelope.organization_id, uuid.UUID(str(environment_id)), [], whole=True)

    async def git_pushed(session: AsyncSession, envelope: Envelope) -> None:
        """Deploy the pushed commit on the services catalog matched (auto_deploy, repository, branch), in their
        environment's queue; a stopped service stays stopped."""
        payload: dict[str, Any] = envelope.payload
        ids = [str(s["id"]) for s in payload.get("services") or []]
        if not ids:
            return
        states = await session.scalars(select(ServiceState).where(ServiceState.service_id.in_(ids)))
        stopped = {str(s.service_id) for s in states if s.state in ("STOPPED", "STOPPING", "STOP_QUEUED")}
        targets = [i for i in ids if i not in stopped]
        if not targets:
            return
        scope = {
            "organization_id": str(envelope.organization_id),
            "project_id": str(payload["project_id"]),
            "environment_id": str(payload["environment_id"]),
        }
        versions = {i: {"git_commit_id": payload["commit"]} for i in targets}
        who = f"{str(payload.get('provider', 'git')).lower()} push {payload.get('delivery_id', '')}".strip()
        try:
            await enqueue(session, scope, "DEPLOY", targets, versions=versions, origin="GIT", triggered_by=who[:255])
        except Conflict:
            return  # the same deployment is already queued
        poke()

    async def action_requested(session: AsyncSession, envelope: Envelope) -> None:
        """Catalog asks for an environment's deployment or stop (a preview opened or updated, a schedule)."""
        payload: dict[str, Any] = envelope.payload
        action = str(payload.get("action"))
        if action not in ("DEPLOY", "STOP"):
            log.warning("ignoring a requested %r on environment %s", action, payload.get("environment_id"))
            return
        scope = {
            "organization_id": str(envelope.organization_id),
            "project_id": str(payload["project_id"]),
            "environment_id": str(payload["environment_id"]),
        }
        ids = payload.get("service_ids")
        try:
            await enqueue(
                session,
                scope,
                action,
                [str(i) for i in ids] if ids is not None else None,
                versions=payload.get("versions") or {},
                origin=str(payload.get("origin") or "QOVERY_INTERNAL"),
                triggered_by=str(payload.get("triggered_by") or "")[:255] or None,
            )
        except Conflict:
            return  # the same request is already queued
        poke()

    return [
        Subscription(Subjects.ENVIRONMENT_ACTION_REQUESTED, action_requested),
        Subscription(Subjects.GIT_PUSHED, git_pushed),
        Subscription(Subjects.SERVICE_DELETED, service_deleted),
        Subscription(Subjects.ENVIRONMENT_DELETED, environment_deleted),
    ]
