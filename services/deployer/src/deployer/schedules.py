"""The cron_schedules rows a deployment writes: scheduled when a CRON job deploys, dropped when it stops or goes."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert

from deployer.models import CronSchedule, Deployment
from slipway.db import Database
from slipway.timeutil import utcnow


async def upsert(
    db: Database,
    dep: Deployment,
    service_id: str,
    name: str,
    cron: str,
    timezone: str,
    image: str,
    next_run_at: datetime,
) -> None:
    """Schedule (or reschedule, on redeploy) a CRON job; its last run and any run in progress are kept."""
    values = {
        "organization_id": dep.organization_id,
        "project_id": dep.project_id,
        "environment_id": dep.environment_id,
        "name": name,
        "cron": cron,
        "timezone": timezone,
        "image": image,
        "execution_id": dep.execution_id,
        "next_run_at": next_run_at,
        "updated_at": utcnow(),
    }
    statement = insert(CronSchedule).values(service_id=uuid.UUID(service_id), **values)
    statement = statement.on_conflict_do_update(index_elements=[CronSchedule.service_id], set_=values)
    async with db.transaction() as session:
        await session.execute(statement)


async def drop(db: Database, service_id: str) -> None:
    async with db.transaction() as session:
        await session.execute(delete(CronSchedule).where(CronSchedule.service_id == uuid.UUID(service_id)))


async def drop_environment(db: Database, environment_id: str) -> None:
    async with db.transaction() as session:
        await session.execute(delete(CronSchedule).where(CronSchedule.environment_id == uuid.UUID(environment_id)))
