"""The build queue of this process: bounded concurrency, per-build timeout, cancellation, crash recovery."""

from __future__ import annotations

import asyncio
import logging
import uuid

import httpx
from sqlalchemy import Table

from builder.builds import repository, service
from builder.builds.job import BuildError, Job
from builder.builds.logs import BuildLog
from builder.builds.schemas import BuildRequest
from builder.engine import Engine, EngineFailure
from builder.models import CANCELED, FAILED, QUEUED, RUNNING, SUCCEEDED
from builder.settings import BuilderSettings
from slipway.db import Database
from slipway.deploylog import Masker
from slipway.natsconn import NatsConnection
from slipway.timeutil import utcnow

log = logging.getLogger("builder.runner")
RESTARTED = "builder restarted during the build"
STOPPED = "builder stopped during the build"


class BuildRunner:
    """Runs submitted builds as tasks; at most `max_concurrent_builds` at once, the others wait QUEUED.

    A build's request (Git token, build args, secrets) lives only in its task: a build this process did not
    finish cannot be resumed, so at start-up builds left unfinished are marked FAILED.
    """

    def __init__(
        self,
        settings: BuilderSettings,
        db: Database,
        outbox: Table,
        engine: Engine,
        nats: NatsConnection,
        http: httpx.AsyncClient,
    ) -> None:
        self.settings = settings
        self.db = db
        self.outbox = outbox
        self.engine = engine
        self.nats = nats
        self.http = http
        self._slots = asyncio.Semaphore(settings.max_concurrent_builds)
        self._tasks: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._stopping = False
        # builds asked to stop: checked between steps too, since on Python 3.11 `asyncio.wait_for` (inside
        # nats-py's publish) can swallow a cancellation that lands as its inner call completes
        self._canceled: set[uuid.UUID] = set()

    async def start(self) -> None:
        """Fail the builds a dead process left QUEUED or RUNNING (their requests died with it)."""
        async with self.db.transaction() as session:
            for build in await repository.unfinished(session):
                if build.id in self._tasks:
                    continue
                log.warning("build %s was %s when the builder stopped; marked FAILED", build.id, build.status)
                await service.finish(session, self.outbox, build, FAILED, error=RESTARTED, failing_step=build.status)

    def _forget(self, build_id: uuid.UUID) -> None:
        self._tasks.pop(build_id, None)
        self._canceled.discard(build_id)

    def _check(self, build_id: uuid.UUID) -> None:
        """Raise CancelledError when the build was asked to stop, even if a cancellation was swallowed."""
        if self._stopping or build_id in self._canceled:
            raise asyncio.CancelledError()

    async def stop(self) -> None:
        self._stopping = True
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=30)

    def running(self, build_id: uuid.UUID) -> bool:
        return build_id in self._tasks

    def submit(self, build_id: uuid.UUID, request: BuildRequest) -> None:
        task = asyncio.create_task(self._run(build_id, request), name=f"build-{build_id}")
        self._tasks[build_id] = task
        task.add_done_callback(lambda _: self._forget(build_id))

    async def cancel(self, build_id: uuid.UUID, wait: float = 5.0) -> None:
        """Cancel a build of this process; wait a little for its clean-up (the caller records CANCELED)."""
        task = self._tasks.get(build_id)
        if task is None:
            return
        self._canceled.add(build_id)
        task.cancel()
        await asyncio.wait({task}, timeout=wait)
        if task.done():  # its done-callback may not have run yet: a canceled task is no longer running
            self._tasks.pop(build_id, None)

    async def _run(self, build_id: uuid.UUID, request: BuildRequest) -> None:
        masker = Masker(request.secrets())
        build_log = BuildLog(self.nats, str(build_id), request, masker, stopped=lambda: self._check(build_id))
        job = Job(
            build_id,
            request,
            settings=self.settings,
            engine=self.engine,
            http=self.http,
            db=self.db,
            log=build_log,
            mask=masker,
        )
        started = False
        try:
            await build_log(f"Build queued for {request.service_name}")
            self._check(build_id)
            async with self._slots:
                self._check(build_id)
                started = True
                await self._set(build_id, status=RUNNING, started_at=utcnow())
                timeout = self.settings.build_timeout_seconds
                try:
                    async with asyncio.timeout(timeout):
                        outcome = await job.run()
                except TimeoutError:
                    await self._leftovers(job)
                    await self._fail(job, build_log, f"timed out after {timeout:g}s", job.progress.step or "timeout")
                    return
                except BuildError as exc:
                    await self._leftovers(job)
                    await self._fail(job, build_log, exc.message, exc.step)
                    return
                except EngineFailure as exc:
                    await self._fail(job, build_log, masker(exc.message), exc.step or "build")
                    return
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - unexpected: the build fails, the service lives on
                    log.exception("build %s crashed", build_id)
                    await self._leftovers(job)
                    await self._fail(job, build_log, masker(f"internal error: {exc}"), job.progress.step or "build")
                    return
            await self._finish(
                build_id,
                SUCCEEDED,
                image=outcome.image,
                local_image=outcome.local_image,
                commit=outcome.commit,
                content_hash=outcome.content_hash,
                skipped=outcome.skipped,
            )
            verb = "skipped, image reused" if outcome.skipped else "succeeded"
            await build_log(f"Build {verb}: {outcome.image}", "Built")
        except asyncio.CancelledError:
            if started:  # a build canceled while queued created nothing in the engine (and must not wait on it)
                await self._leftovers(job)
            if self._stopping:
                await self._fail(job, build_log, STOPPED, job.progress.step or "build")
            else:
                await self._finish(build_id, CANCELED, error="build canceled", failing_step=job.progress.step)
                await build_log("Build canceled", "BuildError", "WARNING")

    async def _leftovers(self, job: Job) -> None:
        try:
            removed = await self.engine.remove_leftovers(str(job.build_id), job.progress.layers)
            if removed:
                log.info("build %s: removed %d leftover build containers", job.build_id, len(removed))
        except Exception as exc:  # noqa: BLE001 - cleanup is best effort; the status must still be written
            log.warning("build %s: leftover cleanup failed: %s", job.build_id, exc)

    async def _fail(self, job: Job, build_log: BuildLog, message: str, step: str) -> None:
        await self._finish(job.build_id, FAILED, error=message, failing_step=step)
        await build_log(f"Build failed at {step}: {message}", "BuildError", "ERROR")

    async def _set(self, build_id: uuid.UUID, **values: object) -> None:
        async with self.db.transaction() as session:
            await repository.set_fields(session, build_id, **values)

    async def _finish(self, build_id: uuid.UUID, status: str, **fields: object) -> None:
        async with self.db.transaction() as session:
            build = await repository.get(session, build_id, lock=True)
            if build is None or build.status not in (QUEUED, RUNNING):
                return
            await service.finish(session, self.outbox, build, status, **fields)  # type: ignore[arg-type]
