"""State writes of a running deployment, each committed at once (status endpoints read them) with an event."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from deployer.models import CronSchedule, Deployment, DeploymentService, ServiceState, outbox
from deployer.queue import enqueue
from deployer.states import TERMINAL, action_of
from slipway.contracts import Subjects
from slipway.db import Database
from slipway.events import Envelope, add_event
from slipway.timeutil import utcnow

STATUS_CHANGED = Subjects.DEPLOYER_STATUS_CHANGED


class Store:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def _event(self, session: Any, dep: Deployment, payload: dict[str, Any]) -> None:
        envelope = Envelope(
            type=STATUS_CHANGED,
            source="deployer",
            organization_id=dep.organization_id,
            resource_id=str(dep.environment_id),
            payload={"environment_id": str(dep.environment_id), "execution_id": dep.execution_id, **payload},
        )
        await add_event(session, outbox, envelope)

    async def service_state(
        self,
        dep: Deployment,
        service_id: str,
        kind: str,
        name: str,
        state: str,
        *,
        stage_id: str | None = None,
        error: str | None = None,
        deployed: dict[str, Any] | None = None,
    ) -> None:
        """Record `state` for a service in this deployment and as its current state."""
        async with self.db.transaction() as session:
            await self._record(session, dep, service_id, kind, name, state, stage_id, error, deployed)

    async def _record(
        self,
        session: AsyncSession,
        dep: Deployment,
        service_id: str,
        kind: str,
        name: str,
        state: str,
        stage_id: str | None = None,
        error: str | None = None,
        deployed: dict[str, Any] | None = None,
    ) -> None:
        now = utcnow()
        sid = uuid.UUID(service_id)
        action, status = action_of(state)
        part = await session.get(DeploymentService, (dep.id, sid))
        if part is None:
            part = DeploymentService(deployment_id=dep.id, service_id=sid, kind=kind, name=name, state=state)
            session.add(part)
        part.state, part.stage_id = state, stage_id or part.stage_id
        if part.started_at is None and state not in ("DEPLOYMENT_QUEUED", "STOP_QUEUED", "RESTART_QUEUED"):
            part.started_at = now
        if state in TERMINAL or state.endswith("ERROR"):
            part.finished_at = now
        if error is not None:
            part.error = error
        if deployed:
            part.git_commit_id = deployed.get("commit") or part.git_commit_id
            part.image = deployed.get("image") or part.image
            part.image_tag = deployed.get("image_tag") or part.image_tag
            part.spec_version = deployed.get("spec_version") or part.spec_version
        current = await session.get(ServiceState, sid)
        if current is None:
            current = ServiceState(service_id=sid, environment_id=dep.environment_id, kind=kind, state=state)
            session.add(current)
        current.state, current.action, current.action_status = state, action, status
        current.last_deployment_id = dep.id
        current.updated_at = now
        if state in TERMINAL or state.endswith("ERROR"):
            current.last_deployment_date = now
        if deployed is not None:
            current.deployed_spec_version = deployed.get("spec_version")
            current.deployed_commit = deployed.get("commit")
            current.deployed_image = deployed.get("image")
        fact = {"service_id": service_id, "kind": kind, "state": state}
        if part.git_commit_id:  # the commit this deployment runs: catalog reports its status to the Git provider
            fact["commit"] = part.git_commit_id
        await self._event(session, dep, fact)

    async def finished_in(
        self, session: AsyncSession, dep: Deployment, service: tuple[str, str, str], state: str, error: str | None
    ) -> None:
        """A deployment written already over (a Kubernetes CronJob's run), in the caller's transaction: its service's
        state `(id, kind, name)` and its own terminal status at once, so it is never seen half-written."""
        service_id, kind, name = service
        dep.phase, dep.status, dep.error = "DONE", state, error
        dep.started_at = dep.finished_at = utcnow()
        await self._record(session, dep, service_id, kind, name, state, error=error)
        await self._event(session, dep, {"state": state})

    async def begin(
        self, dep: Deployment, status: str, queued: Sequence[tuple[str, str, str, str, str | None]], **fields: Any
    ) -> None:
        """The deployment's status and each target's queued state `(id, kind, name, state, stage_id)`, at once."""
        async with self.db.transaction() as session:
            await session.execute(update(Deployment).where(Deployment.id == dep.id).values(status=status, **fields))
            await self._event(session, dep, {"state": status})
            for service_id, kind, name, state, stage_id in queued:
                await self._record(session, dep, service_id, kind, name, state, stage_id)
        dep.status = status
        for key, value in fields.items():
            setattr(dep, key, value)

    async def deployment(self, dep: Deployment, status: str, **fields: Any) -> None:
        async with self.db.transaction() as session:
            values: dict[str, Any] = {"status": status, **fields}
            await session.execute(update(Deployment).where(Deployment.id == dep.id).values(**values))
            await self._event(session, dep, {"state": status})
        dep.status = status
        for key, value in fields.items():
            setattr(dep, key, value)

    async def finish(self, dep: Deployment, status: str, error: str | None = None) -> None:
        finished: datetime = utcnow()
        await self.deployment(dep, status, phase="DONE", finished_at=finished, error=error, lease_owner=None)

    async def retry_uninstall(self, dep: Deployment, base_seconds: float, max_seconds: float = 3600.0) -> float:
        """Queue the deletion's uninstall again after a delay doubling with each failed attempt; the delay."""
        async with self.db.transaction() as session:
            failed = await session.scalar(
                select(func.count()).select_from(Deployment).where(Deployment.tombstone_id == dep.tombstone_id)
            )
            delay = min(base_seconds * 2 ** min(int(failed or 1) - 1, 16), max_seconds)
            scope = {
                "organization_id": str(dep.organization_id),
                "project_id": str(dep.project_id),
                "environment_id": str(dep.environment_id),
            }
            await enqueue(
                session,
                scope,
                "DELETE",
                dep.service_ids,
                origin="QOVERY_INTERNAL",
                triggered_by=dep.triggered_by,
                tombstone_id=dep.tombstone_id,
                not_before=utcnow() + timedelta(seconds=delay),
            )
        return delay

    async def forget(self, dep: Deployment, service_ids: list[str], *, whole: bool = False) -> None:
        """An uninstalled deletion: its services' current states and cron schedules go (all of the
        environment's when `whole`), and the services are announced forgotten."""
        async with self.db.transaction() as session:
            await forget_services(session, dep.organization_id, dep.environment_id, service_ids, whole=whole)

    async def deployed_image(self, service_id: str) -> str | None:
        async with self.db.transaction() as session:
            current = await session.get(ServiceState, uuid.UUID(service_id))
            return current.deployed_image if current is not None else None

    async def cancel_requested(self, dep: Deployment) -> bool:
        async with self.db.transaction() as session:
            flag = await session.scalar(
                Deployment.__table__.select()
                .with_only_columns(Deployment.cancel_requested)
                .where(Deployment.id == dep.id)
            )
            return bool(flag)


async def forget_services(
    session: AsyncSession,
    organization_id: uuid.UUID | None,
    environment_id: uuid.UUID,
    service_ids: list[str],
    *,
    whole: bool = False,
) -> None:
    """Nothing of these services runs any more (of the whole environment with `whole`): their states and cron
    schedules go, and `evt.deployer.services.forgotten` tells the builder their images may go too."""
    ids = {uuid.UUID(s) for s in service_ids}
    if whole:
        ids.update(
            await session.scalars(select(ServiceState.service_id).where(ServiceState.environment_id == environment_id))
        )
    for model in (ServiceState, CronSchedule):
        where = model.environment_id == environment_id if whole else model.service_id.in_(ids)
        await session.execute(delete(model).where(where))
    if ids:
        envelope = Envelope(
            type=Subjects.DEPLOYER_SERVICES_FORGOTTEN,
            source="deployer",
            organization_id=organization_id,
            resource_id=str(environment_id),
            payload={"environment_id": str(environment_id), "service_ids": sorted(str(i) for i in ids)},
        )
        await add_event(session, outbox, envelope)
