"""Statuses of services, environments and stages, each computed with a fixed number of queries (no N+1):
drift compares what was deployed with catalog's sealed digest, so no secret is ever decrypted."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from deployer import repository
from deployer.queue import QUEUED_STATE
from deployer.status import views
from slipway.desired import DesiredState


async def service_statuses(session: AsyncSession, state: DesiredState, service_ids: list[str]) -> dict[str, Any]:
    """`Status` of each service (of this sealed state) by id."""
    env_id = uuid.UUID(state.environment_id)
    current = await repository.service_states(session, service_ids)
    latest = await repository.latest_deployment(session, env_id)
    queued = await repository.queued_count(session, env_id)
    executions = await repository.executions(
        session, [c.last_deployment_id for c in current.values() if c.last_deployment_id]
    )
    waiting = await repository.waiting(session, env_id) if len(current) < len(service_ids) else []
    out: dict[str, Any] = {}
    for sid in service_ids:
        spec = state.service(sid)
        desired = spec.spec_digest if spec is not None else None
        mine = current.get(sid)
        body = views.service_status(
            sid, mine, desired_spec=desired, latest=latest, queued=queued, execution_ids=executions
        )
        if mine is None:  # never ran an action: queued (or claimed) already, before the runner wrote a state?
            dep = next((d for d in waiting if d.service_ids is None or sid in d.service_ids), None)
            if dep is not None:
                body.update(
                    {
                        "state": QUEUED_STATE[dep.action],
                        "deployment_request_id": str(dep.id),
                        "execution_id": dep.execution_id,
                        "status_details": {"action": dep.action, "status": "QUEUED", "sub_action": "NONE"},
                    }
                )
        out[sid] = body
    return out


async def service_status(session: AsyncSession, state: DesiredState, service_id: str) -> dict[str, Any]:
    return (await service_statuses(session, state, [service_id]))[service_id]


async def environment_status(
    session: AsyncSession, state: DesiredState, statuses: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The environment's `EnvironmentStatus` (its drift from its services' statuses, computed once)."""
    env_id = uuid.UUID(state.environment_id)
    latest = await repository.latest_deployment(session, env_id)
    last_done = await repository.last_finished(session, env_id)
    if statuses is None:
        statuses = await service_statuses(session, state, [s.id for s in state.services])
    drifts = {s["service_deployment_status"] for s in statuses.values()}
    drift = "NEVER_DEPLOYED" if latest is None else ("OUT_OF_DATE" if drifts - {"UP_TO_DATE"} else "UP_TO_DATE")
    return views.environment_status(state.environment_id, latest, last_done, drift)


def grouped(state: DesiredState, statuses: dict[str, Any], service_ids: list[str]) -> dict[str, list[Any]]:
    """Statuses by Qovery's kind keys (applications, containers, …), in the order given."""
    out: dict[str, list[Any]] = {
        k: [] for k in ("applications", "containers", "jobs", "databases", "helms", "terraforms")
    }
    for sid in service_ids:
        spec = state.service(sid)
        if spec is not None and sid in statuses:
            out[views.KIND_KEYS[spec.kind]].append(statuses[sid])
    return out


def stage_status(states: set[str]) -> str:
    """StageStatusEnum from the states of the stage's services."""
    if any(s.endswith("ERROR") for s in states):
        return "ERROR"
    if states and states <= {"CANCELED"}:
        return "CANCELED"
    if states and all(s.endswith("QUEUED") for s in states):
        return "QUEUED"
    if states & {"BUILDING", "DEPLOYING", "STOPPING", "RESTARTING", "DELETING", "CANCELING"}:
        return "ONGOING"
    if not states or states <= {"READY"}:
        return "QUEUED"
    return "DONE"
