"""The deployment queue: one action at a time per environment, leases, and take-over after a crash."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable

from sqlalchemy import text

from deployer.models import Deployment
from slipway.db import Database
from slipway.tasks import cancel_and_wait

log = logging.getLogger("deployer.worker")

# The oldest queued deployment of each environment with nothing running (a retry waits for its `not_before`,
# without holding up the rest), or a running one whose lease expired (its process died): claimed with
# SKIP LOCKED so two deployers never take the same row.
_CLAIM = text(
    """
    UPDATE deployer.deployments d
       SET phase = 'RUNNING', lease_owner = :owner,
           lease_expires_at = now() + make_interval(secs => :lease),
           started_at = coalesce(d.started_at, now()), attempts = d.attempts + 1
     WHERE d.id IN (
        SELECT q.id FROM deployer.deployments q
         WHERE (q.phase = 'QUEUED'
                AND (q.not_before IS NULL OR q.not_before <= now())
                AND NOT EXISTS (SELECT 1 FROM deployer.deployments r
                                 WHERE r.environment_id = q.environment_id AND r.phase = 'RUNNING')
                AND q.number = (SELECT min(m.number) FROM deployer.deployments m
                                 WHERE m.environment_id = q.environment_id AND m.phase = 'QUEUED'
                                   AND (m.not_before IS NULL OR m.not_before <= now())))
            OR (q.phase = 'RUNNING' AND q.lease_expires_at < now())
         ORDER BY q.created_at
         LIMIT :limit
         FOR UPDATE SKIP LOCKED)
    RETURNING d.id
    """
)
_RENEW = text(
    "UPDATE deployer.deployments SET lease_expires_at = now() + make_interval(secs => :lease) "
    "WHERE id = :id AND lease_owner = :owner AND phase = 'RUNNING'"
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Worker:
    def __init__(
        self,
        db: Database,
        run: Callable[[Deployment], Awaitable[None]],
        *,
        max_parallel: int = 4,
        lease_seconds: float = 30.0,
        poll_seconds: float = 1.0,
    ) -> None:
        self.db = db
        self.run = run
        self.max_parallel = max_parallel
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.wake = asyncio.Event()
        self.running: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._expire_dead_local_leases()
        self._task = asyncio.create_task(self._loop(), name="deployer-queue")

    async def _expire_dead_local_leases(self) -> None:
        """A deployer of this host that died (e.g. killed mid-rollout) is taken over now, not at lease expiry."""
        host = socket.gethostname()
        async with self.db.transaction() as session:
            rows = await session.execute(
                text(
                    "SELECT id, lease_owner FROM deployer.deployments WHERE phase = 'RUNNING' AND lease_owner LIKE :h"
                ),
                {"h": f"{host}:%"},
            )
            dead = [dep_id for dep_id, owner in rows if not _alive(int(owner.split(":")[1]))]
            if dead:
                await session.execute(
                    text("UPDATE deployer.deployments SET lease_expires_at = now() WHERE id = ANY(:ids)"), {"ids": dead}
                )
                log.warning("taking over %d deployment(s) of a deployer that died on this host", len(dead))

    async def stop(self) -> None:
        await cancel_and_wait(self._task)  # the loop; a deployment is cancelled once and given time to clean up
        running = list(self.running.values())
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)

    def poke(self) -> None:
        """A deployment was queued or finished: look at the queue now rather than at the next poll."""
        self.wake.set()

    async def _loop(self) -> None:
        while True:
            try:
                await self._claim_and_start()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the database may be briefly away; try again
                log.exception("queue poll failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=self.poll_seconds)
            self.wake.clear()

    async def _claim_and_start(self) -> None:
        free = self.max_parallel - len(self.running)
        if free <= 0:
            return
        async with self.db.transaction() as session:
            rows = await session.execute(_CLAIM, {"owner": self.owner, "lease": self.lease_seconds, "limit": free})
            ids = [row[0] for row in rows]
        for dep_id in ids:
            self.running[dep_id] = asyncio.create_task(self._execute(dep_id), name=f"deployment-{dep_id}")

    async def _execute(self, dep_id: uuid.UUID) -> None:
        heartbeat = asyncio.create_task(self._heartbeat(dep_id))
        try:
            async with self.db.transaction() as session:
                dep = await session.get(Deployment, dep_id)
                if dep is None:
                    return
                session.expunge(dep)
            runner: asyncio.Task[None] = asyncio.ensure_future(self.run(dep))
            done, _ = await asyncio.wait({runner, heartbeat}, return_when=asyncio.FIRST_COMPLETED)
            if heartbeat in done and not runner.done():
                log.warning("lost the lease of deployment %s; stopping here", dep_id)
                runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
            if runner.done() and not runner.cancelled() and runner.exception() is not None:
                log.error("deployment %s crashed: %r", dep_id, runner.exception())
                await self._fail(dep_id, f"internal error: {runner.exception()!r}")
        finally:
            await cancel_and_wait(heartbeat)
            self.running.pop(dep_id, None)
            self.poke()

    async def _heartbeat(self, dep_id: uuid.UUID) -> None:
        """Renews the lease; returns (ending the run) if another process took the deployment over."""
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                async with self.db.transaction() as session:
                    result = await session.execute(
                        _RENEW, {"id": dep_id, "owner": self.owner, "lease": self.lease_seconds}
                    )
                    if result.rowcount == 0:  # type: ignore[attr-defined]
                        return
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - keep running; the lease has slack for a missed renewal
                log.exception("lease renewal failed")

    async def _fail(self, dep_id: uuid.UUID, error: str) -> None:
        async with self.db.transaction() as session:
            await session.execute(
                text(
                    "UPDATE deployer.deployments SET phase='DONE', status='DEPLOYMENT_ERROR', error=:e, "
                    "finished_at=now(), lease_owner=NULL WHERE id=:id AND phase='RUNNING'"
                ),
                {"e": error, "id": dep_id},
            )
