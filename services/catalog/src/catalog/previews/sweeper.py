"""No preview outlives its pull request: previews whose PR closed (the provider says so, when asked) or whose time
ran out are closed, and closed previews are deleted — each in its own transaction, a failed deletion counted and
tried again at the next sweep until it succeeds. A preview whose environment someone deleted is done with.

Deleting a preview's environment is an ordinary environment deletion: its state is sealed in a tombstone and
the deployer uninstalls everything it ran (retrying on its side too).
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.environment import service as environments
from catalog.gitapi.client import GitApi, GitApiError
from catalog.models import Environment, GitRepository, Preview
from catalog.previews.service import close, delete_now, token_for
from slipway.crypto import Keyring
from slipway.db import Database
from slipway.timeutil import utcnow

log = logging.getLogger("catalog.previews")


async def _pull_state(session: AsyncSession, preview: Preview, keys: Keyring) -> str | None:
    """The PR's state at the provider (OPEN, CLOSED, MERGED); None when it cannot be asked."""
    repo = await session.scalar(
        select(GitRepository).where(
            GitRepository.organization_id == preview.organization_id,
            GitRepository.provider == preview.provider,
            GitRepository.repository == preview.repository,
        )
    )
    found = await token_for(session, preview.organization_id, preview.provider, None, keys)
    if repo is None or found is None:
        return None
    token, secret = found
    try:
        async with GitApi(preview.provider, secret, token.git_api_url) as api:
            return (await api.pull(repo.path, preview.number)).state
    except GitApiError as exc:
        log.info("could not ask %s about pull request #%d: %s", preview.provider, preview.number, exc)
        return None


async def _ids(db: Database, state: str) -> list[uuid.UUID]:
    async with db.transaction() as session:
        return list(
            await session.scalars(select(Preview.id).where(Preview.state == state).order_by(Preview.created_at))
        )


async def sweep(db: Database, keys: Keyring, now: datetime | None = None, ask: bool = True) -> dict[str, Any]:
    """One pass; what it did. `ask`: also ask the providers whether each open PR still is."""
    moment = now or utcnow()
    closed: list[str] = []
    for preview_id in await _ids(db, "OPEN"):
        async with db.transaction() as session:
            preview = await session.get(Preview, preview_id, with_for_update={"skip_locked": True})
            if preview is None or preview.state != "OPEN":
                continue
            env = await session.get(Environment, preview.environment_id) if preview.environment_id else None
            if env is None:  # deleted by someone: nothing left to delete
                preview.state, preview.reason, preview.updated_at = "DELETED", "environment deleted", moment
                continue
            if env.expires_at is not None and env.expires_at <= moment:
                close(preview, "expired")
                closed.append(str(preview.id))
                continue
            if ask:
                state = await _pull_state(session, preview, keys)
                preview.checked_at = moment
                if state in ("CLOSED", "MERGED"):
                    close(preview, f"{state.lower()} (found by the sweeper)")
                    closed.append(str(preview.id))
    deleted: list[str] = []
    failed: list[str] = []
    for preview_id in await _ids(db, "CLOSED"):
        async with db.transaction() as session:
            preview = await session.get(Preview, preview_id, with_for_update={"skip_locked": True})
            if preview is None or preview.state != "CLOSED":
                continue
            (deleted if await delete_now(session, preview, keys) else failed).append(str(preview.id))
    async with db.transaction() as session:  # previews without a pull request (container previews) expire too
        expired = list(
            await session.scalars(
                select(Environment.id).where(
                    Environment.mode == "PREVIEW",
                    Environment.expires_at <= moment,
                    ~exists().where(Preview.environment_id == Environment.id),
                )
            )
        )
    for environment_id in expired:
        try:
            async with db.transaction() as session:
                env = await session.get(Environment, environment_id, with_for_update={"skip_locked": True})
                if env is not None:
                    await environments.delete(session, env, keys)
            deleted.append(str(environment_id))
        except Exception as exc:  # noqa: BLE001 - left in place: the next sweep tries again
            log.warning("deleting expired preview environment %s failed: %s", environment_id, exc)
            failed.append(str(environment_id))
    return {"closed": closed, "deleted": deleted, "failed": failed}
