"""Runs one deployment: stages in order, the services of a stage in parallel, each through Qovery's states."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from zoneinfo import ZoneInfoNotFoundError

from deployer import schedules
from deployer.buildwatch import BuildWatch
from deployer.clients import Builder, Catalog, UpstreamError
from deployer.deploylogs import DeploymentLog
from deployer.images import database_image, image_ref
from deployer.models import Deployment
from deployer.runtime.base import RolloutFailed, RuntimeDriver
from deployer.scheduler import cron_command
from deployer.states import DONE, FAILED, ONGOING, QUEUED
from deployer.store import Store
from slipway import cron
from slipway.desired import DesiredState, ServiceSpec, content_version
from slipway.joboutput import OutputValue, output_head
from slipway.timeutil import rfc3339, utcnow

log = logging.getLogger("deployer.runner")
PREFETCH_SECONDS = 2.0


class Canceled(Exception):
    pass


def event_command(service: ServiceSpec, event: str) -> ServiceSpec:
    """A lifecycle job as it runs for `event`: that event's arguments and entrypoint when it has them."""
    command = service.job.events.get(event) if service.job is not None else None
    if command is None:
        return service
    return service.model_copy(
        update={
            "arguments": command.arguments or service.arguments,
            "entrypoint": command.entrypoint or service.entrypoint,
        }
    )


def job_run(service: ServiceSpec, forced: str | None) -> ServiceSpec:
    """A job as a deployment runs it: its START event, or the event forced (CRON: its schedule's command), which
    runs once now on any engine (a cron job forced is run as a one-off job, its schedule untouched)."""
    if forced == "CRON":
        spec = cron_command(service)
    else:
        spec = event_command(service, (forced or "START").lower())
    if forced is not None and spec.job is not None and spec.job.kind == "CRON":
        spec = spec.model_copy(update={"job": spec.job.model_copy(update={"kind": "LIFECYCLE"})})
    return spec


def spec_version(service: ServiceSpec, image: str | None) -> str:
    return content_version({"service": service.model_dump(mode="json"), "image": image})


class Runner:
    def __init__(
        self,
        store: Store,
        catalog: Catalog,
        builder: Builder,
        driver_for: Callable[[DesiredState], RuntimeDriver],
        nats: Any,
        build_poll_seconds: float = 0.5,
        uninstall_retry_seconds: float = 30.0,
        builds: BuildWatch | None = None,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.builder = builder
        self.driver_for = driver_for
        self.nats = nats
        self.build_poll_seconds = build_poll_seconds  # with a BuildWatch: how often to ask without an event
        self.builds = builds  # build outcome events (evt.builder.build.*): no polling while a build runs
        self.uninstall_retry_seconds = uninstall_retry_seconds
        self._digests: dict[uuid.UUID, asyncio.Future[DesiredState]] = {}  # deployment → its sealed state
        # deployment → (when, its environment's desired state being read): asked for while the request that queued
        # it is answered, so a deployment picked up at once does not wait for catalog again
        self._prefetched: dict[uuid.UUID, tuple[float, asyncio.Future[DesiredState]]] = {}
        self._outputs_changed: set[uuid.UUID] = set()  # deployments whose jobs recorded outputs in the last stage

    def prefetch(self, deployment_id: uuid.UUID, environment_id: uuid.UUID) -> None:
        """Start reading the environment's desired state for a deployment just queued (used if it starts within
        PREFETCH_SECONDS, else read again: a deployment that waited must see what changed meanwhile)."""
        self._drop_stale()
        future = asyncio.ensure_future(self.catalog.desired_state(str(environment_id)))
        future.add_done_callback(lambda f: f.cancelled() or f.exception())  # a failure is read again at start
        self._prefetched[deployment_id] = (time.monotonic(), future)

    def _drop_stale(self) -> None:
        """Forget what no run took in time (secrets are not kept in memory longer than that)."""
        now = time.monotonic()
        for key, (when, future) in list(self._prefetched.items()):
            if now - when > PREFETCH_SECONDS:
                del self._prefetched[key]
                future.cancel()

    async def _desired_state(self, dep: Deployment) -> DesiredState:
        found = self._prefetched.pop(dep.id, None)
        self._drop_stale()
        if found is not None and time.monotonic() - found[0] <= PREFETCH_SECONDS:
            with contextlib.suppress(UpstreamError):
                return await found[1]
        elif found is not None:
            found[1].cancel()
        return await self.catalog.desired_state(str(dep.environment_id))

    async def run(self, dep: Deployment) -> None:
        try:
            await self._start(dep)
        finally:
            pending = self._digests.pop(dep.id, None)
            if pending is not None and not pending.done():
                pending.cancel()
            self._outputs_changed.discard(dep.id)

    async def _start(self, dep: Deployment) -> None:
        try:
            if dep.tombstone_id is not None:  # a deleted environment or service: what it ran, from catalog
                state = await self.catalog.tombstone(str(dep.tombstone_id))
            else:
                state = await self._desired_state(dep)
        except UpstreamError as exc:
            if exc.status == 404 and dep.action == "DELETE":
                # gone (an earlier attempt finished this uninstall, or nothing was ever recorded)
                await schedules.drop_environment(self.store.db, str(dep.environment_id))
                await self.store.finish(dep, "DELETED")
                return
            await self.store.finish(dep, FAILED[dep.action], error=f"could not read the environment: {exc.detail}")
            return
        if dep.action == "DEPLOY" and dep.tombstone_id is None:
            # the sealed digests of this configuration (what statuses compare later), read while the stages run
            self._digests[dep.id] = asyncio.ensure_future(self.catalog.sealed_state(str(dep.environment_id)))
        await self._run(dep, state)

    async def _run(self, dep: Deployment, state: DesiredState) -> None:
        journal = DeploymentLog(self.nats, dep.execution_id, state, attempt=dep.attempts or 1)
        try:
            await self._stages(dep, state, journal)
        finally:
            await journal.flush()  # whatever ended the run, its lines go out

    async def _stages(self, dep: Deployment, state: DesiredState, journal: DeploymentLog) -> None:
        targets = self._targets(dep, state)
        queued = [(s.id, s.kind, s.name, QUEUED[dep.action], s.stage_id) for s in targets]
        status = ONGOING[dep.action] if dep.action != "DEPLOY" else "DEPLOYING"
        await self.store.begin(dep, status, queued, desired_version=state.version)
        await journal.line(
            "PreCheck",
            f"{dep.action.lower()} of {len(targets)} service(s) of environment "
            f"{state.environment_name} (execution {dep.execution_id}, attempt {dep.attempts})",
        )
        try:
            driver = self.driver_for(state)
        except Exception as exc:  # noqa: BLE001 - an unusable cluster fails the deployment cleanly
            if dep.tombstone_id is not None:  # no runtime for that engine: nothing of it ever ran there
                await journal.line("Recap", f"nothing to uninstall: {exc}")
                await self.store.forget(dep, dep.service_ids or [], whole=dep.service_ids is None)
                await self._drop_tombstone(dep)
                await self.store.finish(dep, "DELETED")
                return
            for svc in targets:
                await self.store.service_state(dep, svc.id, svc.kind, svc.name, FAILED[dep.action], error=str(exc))
            await journal.line("Recap", f"cluster unusable: {exc}", level="ERROR")
            await self.store.finish(dep, FAILED[dep.action], error=str(exc))
            return
        results: dict[str, str] = {}
        stages = sorted(state.stages, key=lambda s: s.deployment_order)
        if dep.action in ("STOP", "DELETE"):
            stages = list(reversed(stages))  # stop dependents before what they depend on
        wanted = {s.id for s in targets}
        # ON_DELETE jobs run before anything of the environment goes (its network, the services they clean up)
        refused = await self._delete_jobs_first(dep, state, targets, stages, driver, journal)
        if refused:  # what a failed ON_DELETE job should have saved or cleaned up is not removed
            for svc in [s for s in targets if s.id not in refused]:
                await self.store.service_state(dep, svc.id, svc.kind, svc.name, "CANCELED")
            await journal.line(
                "Recap", "uninstall stopped: an ON_DELETE job failed; nothing was removed", level="ERROR"
            )
            await self.store.finish(dep, FAILED[dep.action], error="an ON_DELETE lifecycle job failed")
            return
        canceled = False
        failed = False
        for stage in stages:
            members = [s for s in targets if s.id in stage.service_ids and s.id in wanted]
            if not members:
                continue
            if canceled or failed or await self.store.cancel_requested(dep):
                canceled = canceled or not failed
                for svc in members:
                    results[svc.id] = "CANCELED"
                    await self.store.service_state(dep, svc.id, svc.kind, svc.name, "CANCELED")
                continue
            runnable = [svc for svc in members if svc.id not in refused]
            ran = await asyncio.gather(*(self._one(dep, state, svc, driver, journal) for svc in runnable))
            done = dict(zip((svc.id for svc in runnable), ran, strict=True))
            outcomes = [done.get(svc.id, FAILED[dep.action]) for svc in members]
            for svc, outcome in zip(members, outcomes, strict=True):
                results[svc.id] = outcome
            if "CANCELED" in outcomes:
                canceled = True
            elif any(o.endswith("ERROR") for o in outcomes):
                failed = True
            if dep.id in self._outputs_changed:  # the next stages run with the outputs' variables
                self._outputs_changed.discard(dep.id)
                state, targets = await self._with_outputs(dep, state, targets, journal)
        # services in no stage (should not happen) run last
        staged = {sid for st in state.stages for sid in st.service_ids}
        for svc in [s for s in targets if s.id not in staged]:
            results[svc.id] = await self._one(dep, state, svc, driver, journal)
        final = self._final(dep.action, results, canceled)
        if dep.tombstone_id is not None and final == "DELETED":
            final = await self._forget(dep, state, driver, journal)
        names = {s.id: s.name for s in state.services}
        await journal.line(
            "Recap",
            f"{dep.action.lower()} finished: {final} "
            + ", ".join(f"{names.get(k, k)}={v}" for k, v in results.items()),
        )
        await journal.flush()
        await self.store.finish(dep, final)
        if dep.tombstone_id is not None and final != "DELETED":
            # what a deleted tenant ran must not keep running: try again, later each time
            delay = await self.store.retry_uninstall(dep, self.uninstall_retry_seconds)
            await journal.line("Recap", f"the uninstall did not finish: it is retried in {delay:g}s", level="WARNING")

    async def _forget(self, dep: Deployment, state: DesiredState, driver: RuntimeDriver, journal: DeploymentLog) -> str:
        """A deleted environment's or service's uninstall is done: remove what is left of the environment
        (its network), forget its states and schedules, and let catalog drop the tombstone."""
        whole = dep.service_ids is None
        try:
            if whole:
                await driver.delete_environment(state.environment_id)
        except Exception as exc:  # noqa: BLE001 - reported; the tombstone stays for another attempt
            await journal.line("Recap", f"could not remove the environment's resources: {exc}", level="ERROR")
            return "DELETE_ERROR"
        await self.store.forget(dep, [s.id for s in state.services], whole=whole)
        await self._drop_tombstone(dep)
        return "DELETED"

    async def _drop_tombstone(self, dep: Deployment) -> None:
        try:
            await self.catalog.drop_tombstone(str(dep.tombstone_id))
        except UpstreamError as exc:
            log.warning("could not drop tombstone %s: %s", dep.tombstone_id, exc.detail)

    def _targets(self, dep: Deployment, state: DesiredState) -> list[ServiceSpec]:
        if dep.service_ids is None:
            return [s for s in state.services if not (s.is_skipped and dep.action == "DEPLOY")]
        ids = set(dep.service_ids)
        return [s for s in state.services if s.id in ids]

    @staticmethod
    def _final(action: str, results: dict[str, str], canceled: bool) -> str:
        if canceled:
            return "CANCELED"
        if any(r == "BUILD_ERROR" for r in results.values()):
            return "BUILD_ERROR"
        if any(r.endswith("ERROR") for r in results.values()):
            return FAILED[action]
        return DONE[action]

    async def _one(
        self, dep: Deployment, state: DesiredState, svc: ServiceSpec, driver: RuntimeDriver, journal: DeploymentLog
    ) -> str:
        try:
            if dep.action == "DEPLOY":
                return await self._deploy(dep, state, svc, driver, journal)
            step = {"STOP": "Stop", "RESTART": "Restart", "DELETE": "Delete"}[dep.action]
            await self.store.service_state(dep, svc.id, svc.kind, svc.name, ONGOING[dep.action])
            sink = journal.sink(step, svc)  # type: ignore[arg-type]
            if dep.action in ("STOP", "DELETE"):
                await schedules.drop(self.store.db, svc.id)  # a stopped or uninstalled CRON job runs no more
            if dep.action == "STOP":
                await self._lifecycle_event(dep, state, svc, driver, sink)  # (DELETE ran them first)
                await driver.stop(state, svc, sink)
            elif dep.action == "RESTART":
                await driver.restart(state, svc, sink)
            else:
                await driver.delete(state.environment_id, svc.id, sink)
            done = DONE[dep.action]
            await journal.line(
                {"STOP": "Stopped", "RESTART": "Restarted", "DELETE": "Deleted"}[dep.action],  # type: ignore[arg-type]
                f"{svc.name}: {done.lower()}",
                svc,
            )
            # stop/restart keep what was deployed (status drift, lifecycle images); uninstall forgets it
            await self.store.service_state(
                dep, svc.id, svc.kind, svc.name, done, deployed={} if dep.action == "DELETE" else None
            )
            return done
        except Canceled:
            await self.store.service_state(dep, svc.id, svc.kind, svc.name, "CANCELED")
            return "CANCELED"
        except Exception as exc:  # noqa: BLE001 - one service's failure is reported, never raised
            log.exception("service action failed", extra={"service_id": svc.id, "execution_id": dep.execution_id})
            failed = FAILED[dep.action]
            await journal.line(
                "DeployedError" if dep.action == "DEPLOY" else "Recap", f"{svc.name}: {exc}", svc, level="ERROR"
            )
            await self.store.service_state(dep, svc.id, svc.kind, svc.name, failed, error=journal.mask(str(exc)))
            return failed

    async def _delete_jobs_first(
        self,
        dep: Deployment,
        state: DesiredState,
        targets: list[ServiceSpec],
        stages: list[Any],
        driver: RuntimeDriver,
        journal: DeploymentLog,
    ) -> dict[str, str]:
        """An uninstall first runs every ON_DELETE lifecycle job (in the uninstall's stage order), while all the
        environment still runs. A failed one keeps its service (DELETE_ERROR: returned, with the reason), unless
        what it belonged to is already deleted (a tombstone): then the uninstall goes on, since nothing may stay."""
        if dep.action != "DELETE":
            return {}
        order = {sid: n for n, stage in enumerate(stages) for sid in stage.service_ids}
        jobs = [s for s in targets if s.job is not None and s.job.on_delete]
        refused: dict[str, str] = {}
        for svc in sorted(jobs, key=lambda s: order.get(s.id, len(order))):
            await self.store.service_state(dep, svc.id, svc.kind, svc.name, ONGOING[dep.action])
            try:
                await self._lifecycle_event(dep, state, svc, driver, journal.sink("Delete", svc))
            except Exception as exc:  # noqa: BLE001 - reported on the job, never raised
                if dep.tombstone_id is not None:
                    await journal.line(
                        "Delete", f"{svc.name}: the delete lifecycle job failed ({exc}); uninstalling anyway", svc,
                        level="WARNING",
                    )  # fmt: skip
                    continue
                refused[svc.id] = journal.mask(str(exc))
                await journal.line("Recap", f"{svc.name}: {exc}", svc, level="ERROR")
                await self.store.service_state(dep, svc.id, svc.kind, svc.name, "DELETE_ERROR", error=refused[svc.id])
        return refused

    async def _lifecycle_event(
        self, dep: Deployment, state: DesiredState, svc: ServiceSpec, driver: RuntimeDriver, sink: Any
    ) -> None:
        """Stopping or deleting an environment runs its lifecycle jobs that asked for that event."""
        job = svc.job
        wanted = job is not None and (
            (dep.action == "STOP" and job.on_stop) or (dep.action == "DELETE" and job.on_delete)
        )
        if not wanted:
            return
        image = await self.store.deployed_image(svc.id)
        if image is None:
            await sink(f"{svc.name}: never deployed, nothing to run on {dep.action.lower()}")
            return
        await sink(f"{svc.name}: running the {dep.action.lower()} lifecycle job")
        await driver.apply(
            state, event_command(svc, "stop" if dep.action == "STOP" else "delete"), image, dep.execution_id, sink
        )

    async def _deploy(
        self, dep: Deployment, state: DesiredState, svc: ServiceSpec, driver: RuntimeDriver, journal: DeploymentLog
    ) -> str:
        image: str | None
        commit: str | None = svc.git.commit if svc.git else None
        if svc.git is not None:
            await self.store.service_state(dep, svc.id, svc.kind, svc.name, "BUILDING", stage_id=svc.stage_id)
            build = await self._build(dep, state, svc, driver, journal)
            if build["status"] != "SUCCEEDED":
                if build["status"] == "CANCELED":
                    raise Canceled()
                reason = build.get("error") or "build failed"
                if build.get("failing_step"):
                    reason = f"{reason} (step: {build['failing_step']})"
                await journal.line("BuildError", f"{svc.name}: {reason}", svc, level="ERROR")
                await self.store.service_state(dep, svc.id, svc.kind, svc.name, "BUILD_ERROR", error=reason)
                return "BUILD_ERROR"
            image, commit = build["image"], build.get("commit") or commit
        elif svc.database is not None:
            image = database_image(svc)
        else:
            image = image_ref(svc)
        if svc.git is not None and await self.store.cancel_requested(dep):  # asked for while it built
            raise Canceled()
        forced = dep.force_event if svc.job is not None else None
        if forced is None and svc.job is not None and svc.job.kind == "CRON" and not driver.schedules_cron:
            return await self._schedule(dep, svc, image, commit, journal)
        if forced is None and svc.job is not None and svc.job.kind == "LIFECYCLE" and not svc.job.on_start:
            # a lifecycle job runs on its events only: deploying it makes its image ready for them
            await journal.line("Deployed", f"{svc.name}: ready to run on its lifecycle events", svc)
            await journal.flush()  # its lines before its state: whoever sees DEPLOYED finds them
            return await self._deployed(dep, svc, image, commit)
        if forced is not None:
            await journal.line("Deploy", f"{svc.name}: running its {forced} event now ({image})", svc)
        else:
            await journal.line("Deploy", f"{svc.name}: deploying {image}", svc)
        target = job_run(svc, forced) if svc.job is not None else svc
        task = asyncio.create_task(driver.apply(state, target, image, dep.execution_id, journal.sink("Deploy", svc)))
        try:  # written while the engine starts: an apply takes far longer than this write
            await self.store.service_state(dep, svc.id, svc.kind, svc.name, "DEPLOYING", stage_id=svc.stage_id)
        except BaseException:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            raise
        try:
            while not task.done():
                await asyncio.wait({task}, timeout=1.0)
                if not task.done() and await self.store.cancel_requested(dep):
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
                    await journal.line(
                        "Deploy", f"{svc.name}: rollout canceled; the previous version keeps serving", svc
                    )
                    raise Canceled()
            applied = task.result()
        except RolloutFailed as exc:
            await journal.line(
                "DeployedError", f"{svc.name}: {exc}; the previous version keeps serving", svc, level="ERROR"
            )
            await self.store.service_state(
                dep, svc.id, svc.kind, svc.name, "DEPLOYMENT_ERROR", error=journal.mask(str(exc))
            )
            return "DEPLOYMENT_ERROR"
        if applied.outputs is not None:  # first: its sensitive values are masked in the job's output
            await self._record_outputs(dep, svc, applied.outputs, journal)
        if applied.output:
            await journal.line("Deploy", applied.output, svc)
        if forced is not None:
            await journal.line("Deployed", f"{svc.name}: its {forced} event ran to completion", svc)
            if forced == "CRON" and not driver.schedules_cron:  # and it stays scheduled (or is, from now on)
                return await self._schedule(dep, svc, image, commit, journal)
            await journal.flush()
            return await self._deployed(dep, svc, image, commit)
        note = "deployed" if applied.changed else "already running this version: nothing to change"
        urls = f" at {', '.join(applied.urls)}" if applied.urls else ""
        await journal.line("Deployed", f"{svc.name}: {note}{urls}", svc)
        await journal.flush()  # its lines before its state: whoever sees DEPLOYED finds them
        return await self._deployed(dep, svc, image, commit)

    async def _with_outputs(
        self, dep: Deployment, state: DesiredState, targets: list[ServiceSpec], journal: DeploymentLog
    ) -> tuple[DesiredState, list[ServiceSpec]]:
        """The environment read again after a job recorded outputs (the same services targeted), its sealed
        digests too; unreadable: the deployment goes on with what it had (the next one injects them)."""
        try:
            fresh = await self.catalog.desired_state(str(dep.environment_id))
        except UpstreamError as exc:
            await journal.line("Deploy", f"outputs not injected in this deployment: {exc.detail}", level="WARNING")
            return state, targets
        ids = {s.id for s in targets}
        self._digests[dep.id] = asyncio.ensure_future(self.catalog.sealed_state(str(dep.environment_id)))
        return fresh, [s for s in fresh.services if s.id in ids]

    async def _record_outputs(
        self, dep: Deployment, svc: ServiceSpec, outputs: dict[str, OutputValue], journal: DeploymentLog
    ) -> None:
        """A job's outputs become variables of its environment; the stages after this one are deployed with them."""
        journal.add_secrets([v.value for v in outputs.values() if v.sensitive])
        await self.catalog.job_outputs(svc.id, dep.execution_id, outputs)
        names = ", ".join(f"QOVERY_OUTPUT_JOB_{output_head(svc.id)}_{k}" for k in sorted(outputs)) or "none"
        await journal.line("Deploy", f"{svc.name}: {len(outputs)} output(s) recorded as variables: {names}", svc)
        self._outputs_changed.add(dep.id)

    async def _schedule(
        self, dep: Deployment, svc: ServiceSpec, image: str | None, commit: str | None, journal: DeploymentLog
    ) -> str:
        """A CRON job's deployment makes its image ready (built like a lifecycle job's) and (re)schedules it:
        the scheduler (scheduler.py) runs it at each fire time."""
        assert svc.job is not None
        timezone = svc.job.timezone
        try:
            if image is None:
                raise ValueError("no image to run")
            expression = cron.check(svc.job.cron or "")
            next_run = cron.next_after(expression, utcnow(), timezone)
        except (ValueError, ZoneInfoNotFoundError) as exc:
            reason = f"cannot schedule: {exc}"
            await journal.line("DeployedError", f"{svc.name}: {reason}", svc, level="ERROR")
            await self.store.service_state(dep, svc.id, svc.kind, svc.name, "DEPLOYMENT_ERROR", error=reason)
            return "DEPLOYMENT_ERROR"
        await schedules.upsert(self.store.db, dep, svc.id, svc.name, expression, timezone, image, next_run)
        await journal.line(
            "Deployed", f'{svc.name}: scheduled "{expression}" ({timezone}), next run at {rfc3339(next_run)}', svc
        )
        await journal.flush()  # its lines before its state: whoever sees DEPLOYED finds them
        return await self._deployed(dep, svc, image, commit)

    async def _deployed(self, dep: Deployment, svc: ServiceSpec, image: str | None, commit: str | None) -> str:
        """Record what now runs (or is ready to run) for the service: DEPLOYED."""
        tag = svc.image.tag if svc.image else None
        # catalog's sealed digest of this configuration: what statuses compare without decrypting anything
        version = await self._sealed_digest(dep, svc) or spec_version(svc, image)
        deployed = {"commit": commit, "image": image, "image_tag": tag, "spec_version": version}
        await self.store.service_state(dep, svc.id, svc.kind, svc.name, "DEPLOYED", deployed=deployed)
        return "DEPLOYED"

    async def _sealed_digest(self, dep: Deployment, svc: ServiceSpec) -> str | None:
        pending = self._digests.get(dep.id)
        if pending is None:
            return svc.spec_digest
        try:
            sealed = await pending
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the status then compares the full configuration's digest
            log.warning("sealed state of %s unavailable: %s", dep.environment_id, exc)
            return None
        spec = sealed.service(svc.id)
        return spec.spec_digest if spec is not None else None

    async def _build(
        self, dep: Deployment, state: DesiredState, svc: ServiceSpec, driver: RuntimeDriver, journal: DeploymentLog
    ) -> dict[str, Any]:
        assert svc.git is not None
        target = driver.image_target(state, svc)
        await journal.line("Build", f"{svc.name}: building {svc.git.url} at {svc.git.commit or svc.git.branch}", svc)
        secret_values = [v for k, v in svc.env.items() if k in svc.secret_keys]
        body = {
            "deployment_id": dep.execution_id,
            "organization_id": state.organization_id,
            "project_id": state.project_id,
            "environment_id": state.environment_id,
            "service_id": svc.id,
            "service_name": svc.name,
            "stage_id": svc.stage_id,
            "git": svc.git.model_dump(mode="json"),
            "build_args": svc.build_args,
            "secret_values": secret_values,
            "image_repository": target.repository,
            "registry": target.registry.model_dump(mode="json") if target.registry else None,
        }
        try:
            build = await self.builder.start(body)
        except UpstreamError as exc:
            return {"status": "FAILED", "error": f"builder: {exc.detail}"}
        loop = asyncio.get_running_loop()
        asked = loop.time()
        while build["status"] in ("QUEUED", "RUNNING"):
            ended = await self._build_moved(build["id"])
            if await self.store.cancel_requested(dep):
                await journal.line("Build", f"{svc.name}: canceling the build", svc)
                try:
                    await self.builder.cancel(build["id"])
                except UpstreamError as exc:
                    log.warning("build cancel failed: %s", exc.detail)
                await self._wait_terminal(build)
                raise Canceled()
            if not ended and loop.time() - asked < self.build_poll_seconds:
                continue  # no event yet: ask the builder itself only every build_poll_seconds
            asked = loop.time()
            try:
                build = await self.builder.get(build["id"])
            except UpstreamError as exc:
                if exc.status == 0:
                    continue  # builder restarting: keep polling
                return {"status": "FAILED", "error": f"builder: {exc.detail}"}
        if self.builds is not None:
            self.builds.forget(build["id"])
        if build["status"] == "SUCCEEDED":
            await journal.line(
                "Built",
                f"{svc.name}: image {build['image']}"
                + (" (unchanged inputs: build skipped)" if build.get("skipped") else ""),
                svc,
            )
        return build

    async def _build_moved(self, build_id: str) -> bool:
        """Wait (at most a second: cancel is checked between waits) for the build's outcome event; True when it
        came. Without a watch, every wait lasts build_poll_seconds and counts as news."""
        if self.builds is None:
            await asyncio.sleep(self.build_poll_seconds)
            return True
        return await self.builds.wait(build_id, timeout=min(1.0, self.build_poll_seconds))

    async def _wait_terminal(self, build: dict[str, Any], timeout: float = 60.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            try:
                current = await self.builder.get(build["id"])
            except UpstreamError:
                return
            if current["status"] not in ("QUEUED", "RUNNING"):
                return
            await asyncio.sleep(self.build_poll_seconds)


Waiter = Callable[[], Awaitable[None]]
