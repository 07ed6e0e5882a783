"""Events the deployer consumes: catalog's deletions uninstall what ran (containers, routes, networks, schedules)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from deployer.drivers import Drivers
from deployer.models import CronSchedule, ServiceState
from slipway.contracts import Subjects
from slipway.events import Envelope, RetryableError, Subscription


async def _nolog(_: str) -> None:
    return None


def subscriptions(drivers: Drivers) -> list[Subscription]:
    async def service_deleted(session: AsyncSession, envelope: Envelope) -> None:
        payload: dict[str, Any] = envelope.payload
        driver = drivers.for_event(payload)
        try:
            if driver is not None:
                await driver.delete(payload["environment_id"], payload["service_id"], _nolog)
        except Exception as exc:  # noqa: BLE001 - the engine may be briefly away: retry later
            raise RetryableError(str(exc)) from exc
        await session.execute(delete(ServiceState).where(ServiceState.service_id == payload["service_id"]))
        await session.execute(delete(CronSchedule).where(CronSchedule.service_id == payload["service_id"]))

    async def environment_deleted(session: AsyncSession, envelope: Envelope) -> None:
        environment_id = envelope.payload.get("environment_id") or envelope.resource_id
        driver = drivers.for_event(envelope.payload)
        try:
            if driver is not None:
                await driver.delete_environment(str(environment_id))
        except Exception as exc:  # noqa: BLE001
            raise RetryableError(str(exc)) from exc
        await session.execute(delete(ServiceState).where(ServiceState.environment_id == environment_id))
        await session.execute(delete(CronSchedule).where(CronSchedule.environment_id == environment_id))

    return [
        Subscription(Subjects.SERVICE_DELETED, service_deleted),
        Subscription(Subjects.ENVIRONMENT_DELETED, environment_deleted),
    ]
