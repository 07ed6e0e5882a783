"""Purges audit entries older than the operator's retention (never, unless one is set)."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from fastapi import FastAPI
from sqlalchemy import delete

from iam.models import AuditEntry
from slipway.tasks import cancel_and_wait
from slipway.timeutil import utcnow

log = logging.getLogger("iam.audit")


async def purge_once(app: FastAPI, days: int) -> int:
    async with app.state.db.transaction() as session:
        result = await session.execute(
            delete(AuditEntry).where(AuditEntry.occurred_at < utcnow() - timedelta(days=days))
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def start(app: FastAPI) -> None:
    days = app.state.settings.audit_retention_days
    if days is None:
        return

    async def loop() -> None:
        while True:
            try:
                removed = await purge_once(app, days)
                if removed:
                    log.info("audit retention removed %d entries older than %d days", removed, days)
            except Exception as exc:  # noqa: BLE001 - try again next hour
                log.warning("audit retention failed: %s", exc)
            await asyncio.sleep(3600)

    app.state.audit_purge = asyncio.create_task(loop())


async def stop(app: FastAPI) -> None:
    task = getattr(app.state, "audit_purge", None)
    await cancel_and_wait(task)
