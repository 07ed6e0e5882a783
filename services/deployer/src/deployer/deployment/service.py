"""Queuing Qovery's actions: the state they start from (sealed, from catalog), the deployment, the body."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import BackgroundTasks, Request
from sqlalchemy.ext.asyncio import AsyncSession

from deployer import lookup, queue
from deployer.models import Deployment
from deployer.status import service as statuses
from slipway.desired import DesiredState
from slipway.errors import BadRequest
from slipway.principal import Principal


async def service_action(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    background: BackgroundTasks,
    kind: str,
    service_id: uuid.UUID,
    action: str,
    versions: dict[str, Any] | None = None,
    force_event: str | None = None,
) -> dict[str, Any]:
    if versions and any(versions.values()):
        if force_event is not None:  # checked before the version is written
            check_event(await lookup.service(request, kind, service_id), str(service_id), force_event)
        state = await lookup.set_version(request, str(service_id), kind, **versions)
    else:
        state = await lookup.service(request, kind, service_id)
        if force_event is not None:  # checked before the deployment is queued
            check_event(state, str(service_id), force_event)
    dep = await queue.enqueue(
        session,
        lookup.scope_of(state),
        action,
        [str(service_id)],
        versions=versions,
        origin=principal.origin,
        triggered_by=lookup.who(principal),
        force_event=force_event,
    )
    lookup.prefetch(request, dep.id, dep.environment_id)
    background.add_task(lookup.poke, request)
    status = await statuses.service_status(session, state, str(service_id))
    status.update(
        {"state": queue.QUEUED_STATE[action], "deployment_request_id": str(dep.id), "execution_id": dep.execution_id}
    )
    status["status_details"] = {
        "action": "DELETE" if action == "DELETE" else action,
        "status": "QUEUED",
        "sub_action": "NONE",
    }
    return status


def check_event(state: DesiredState, service_id: str, event: str) -> None:
    """A job's forceEvent must be one it has: CRON for a cron job, START, STOP or DELETE for a lifecycle job that
    runs on that event."""
    svc = state.service(service_id)
    job = svc.job if svc is not None else None
    if job is None:
        raise BadRequest("forceEvent applies to jobs only")
    if job.kind == "CRON" and event != "CRON":
        raise BadRequest(f"forceEvent={event}: a cron job runs its schedule's command with forceEvent=CRON")
    if job.kind == "LIFECYCLE":
        if event == "CRON":
            raise BadRequest("forceEvent=CRON: this is a lifecycle job; force START, STOP or DELETE")
        if not getattr(job, f"on_{event.lower()}"):
            raise BadRequest(
                f"forceEvent={event}: this lifecycle job does not run on {event} (schedule.on_{event.lower()})"
            )


async def env_action(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    background: BackgroundTasks,
    environment_id: uuid.UUID,
    action: str,
    service_ids: list[str] | None = None,
    versions: dict[str, Any] | None = None,
) -> tuple[Deployment, DesiredState]:
    state = await lookup.environment(request, str(environment_id))
    dep = await queue.enqueue(
        session,
        lookup.scope_of(state),
        action,
        service_ids,
        versions=versions,
        origin=principal.origin,
        triggered_by=lookup.who(principal),
    )
    lookup.prefetch(request, dep.id, dep.environment_id)
    background.add_task(lookup.poke, request)
    return dep, state


async def env_status_after(session: AsyncSession, state: DesiredState, dep: Deployment) -> dict[str, Any]:
    body = await statuses.environment_status(session, state)
    body.update({"state": dep.status, "deployment_request_id": str(dep.id)})
    return body
