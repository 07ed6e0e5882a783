"""Kubernetes CronJobs' runs, written to the deployment history as they end (forceEvent CRON, as on docker)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select

from deployer import queue
from deployer.clients import UpstreamError
from deployer.deploylogs import DeploymentLog, secrets_of
from deployer.lookup import scope_of
from deployer.models import Deployment
from deployer.store import Store
from slipway.db import Database
from slipway.deploylog import Masker
from slipway.desired import DesiredState

log = logging.getLogger("deployer.cronruns")


class CronRuns:
    """Each pass: every Kubernetes driver's finished CronJob runs become deployments of their job (origin
    QOVERY_INTERNAL, forceEvent CRON, DEPLOYED or DEPLOYMENT_ERROR, the run's output in the deployment log and
    the job's status), then the run is labelled recorded. A run is written once: the deployment names it
    (`triggered_by`), checked under the environment's queue lock, so two deployers or two registrations of one
    cluster never write it twice; a pass that fails leaves it for the next one."""

    def __init__(
        self, db: Database, store: Store, nats: Any, desired_state: Callable[[str], Awaitable[DesiredState]]
    ) -> None:
        self.db, self.store, self.nats, self.desired_state = db, store, nats, desired_state

    async def record(self, drivers: list[Any]) -> list[str]:
        """One pass over `drivers`; answers the execution ids written."""
        written: list[str] = []
        for driver in drivers:
            try:
                runs = await driver.finished_cron_runs()
            except Exception as exc:  # noqa: BLE001 - an unreachable cluster is tried again next pass
                log.warning("cron runs of a cluster not read: %s", exc)
                continue
            for run in runs:
                try:
                    execution = await self._write(run)
                    await driver.mark_cron_run_recorded(run)
                except UpstreamError as exc:
                    if exc.status != 404:  # catalog away: next pass
                        log.warning("cron run %s not recorded yet: %s", run.job, exc.detail)
                        continue
                    await driver.mark_cron_run_recorded(run)  # its environment is gone: nothing to write
                    continue
                except Exception as exc:  # noqa: BLE001 - tried again next pass
                    log.warning("cron run %s not recorded yet: %s", run.job, exc)
                    continue
                if execution is not None:
                    written.append(execution)
        return written

    async def _write(self, run: Any) -> str | None:
        state = await self.desired_state(run.environment_id)
        svc = state.service(run.service_id)
        if svc is None:
            return None  # no longer a service of its environment
        trigger = f"CronJob run {run.job}"[:255]
        environment_id = uuid.UUID(state.environment_id)
        final = "DEPLOYED" if run.succeeded else "DEPLOYMENT_ERROR"
        error = None if run.succeeded else Masker(secrets_of(state))(run.reason)
        async with self.db.transaction() as session:
            await queue.lock_environment(session, environment_id)  # the check and the write are atomic
            seen = await session.scalar(
                select(Deployment.id).where(
                    Deployment.environment_id == environment_id, Deployment.triggered_by == trigger
                )
            )
            if seen is not None:
                return None
            dep = await queue.enqueue(
                session, scope_of(state), "DEPLOY", [svc.id], origin="QOVERY_INTERNAL", triggered_by=trigger,
                force_event="CRON",
            )  # fmt: skip
            # written over at once (never claimed by a worker), and its log lines before it is visible, as a
            # deployment's are before its end: the history never shows it half-way. Lines of a pass that fails
            # after them come again under the same execution id, dropped by JetStream's de-duplication.
            await self.store.finished_in(session, dep, (svc.id, svc.kind, svc.name), final, error)
            journal = DeploymentLog(self.nats, dep.execution_id, state)
            await journal.line("Deploy", f"{svc.name}: its CronJob ran (Job {run.job})", svc)
            if run.output:
                await journal.line("Deploy", run.output, svc)
            if run.succeeded:
                await journal.line("Deployed", f"{svc.name}: cron run {run.job} succeeded", svc)
            else:
                message = f"{svc.name}: cron run {run.job} failed: {run.reason}"
                await journal.line("DeployedError", message, svc, "ERROR")
            await journal.flush()
        log.info("%s: cron run %s recorded as %s (%s)", svc.name, run.job, dep.execution_id, final)
        return dep.execution_id
