"""Qovery's status and deployment-history bodies, rendered from the deployer's tables."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from deployer.models import Deployment, DeploymentService, ServiceState
from deployer.store import action_of
from slipway.timeutil import rfc3339, utcnow

KIND_KEYS = {
    "APPLICATION": "applications",
    "CONTAINER": "containers",
    "DATABASE": "databases",
    "JOB": "jobs",
    "HELM": "helms",
}
ICONS = {
    "APPLICATION": "app://qovery-console/application",
    "CONTAINER": "app://qovery-console/container",
    "DATABASE": "app://qovery-console/database",
    "JOB": "app://qovery-console/lifecycle-job",
    "HELM": "app://qovery-console/helm",
}
STAGE_STATUS = {"DEPLOYED": "DONE", "STOPPED": "DONE", "RESTARTED": "DONE", "DELETED": "DONE", "CANCELED": "CANCELED"}
ACTION_TRIGGER = {"DEPLOY": "DEPLOY", "STOP": "STOP", "RESTART": "RESTART", "DELETE": "UNINSTALL"}


def duration(start: datetime | None, end: datetime | None) -> str:
    if start is None:
        return "PT0S"
    seconds = max(0.0, ((end or utcnow()) - start).total_seconds())
    return f"PT{seconds:.1f}S"


async def queued_count(session: AsyncSession, environment_id: uuid.UUID) -> int:
    return int(
        await session.scalar(
            select(func.count()).where(Deployment.environment_id == environment_id, Deployment.phase == "QUEUED")
        )
        or 0
    )


async def latest_deployment(session: AsyncSession, environment_id: uuid.UUID) -> Deployment | None:
    return await session.scalar(
        select(Deployment)
        .where(Deployment.environment_id == environment_id)
        .order_by(Deployment.number.desc())
        .limit(1)
    )


def service_status(
    service_id: str,
    current: ServiceState | None,
    *,
    desired_spec: str | None,
    latest: Deployment | None,
    queued: int,
    execution_ids: dict[uuid.UUID, str],
) -> dict[str, Any]:
    """Qovery's `Status` of one service (READY / NEVER_DEPLOYED when it never ran an action)."""
    if current is None:
        return {
            "id": service_id,
            "state": "READY",
            "service_deployment_status": "NEVER_DEPLOYED",
            "is_part_last_deployment": False,
            "status_details": {"action": "DEPLOY", "status": "NEVER", "sub_action": "NONE"},
            "deployment_request_id": None,
            "deployment_requests_count": queued,
        }
    action, status = action_of(current.state)
    if current.deployed_spec_version is None:
        drift = "NEVER_DEPLOYED"
    elif desired_spec is not None and desired_spec != current.deployed_spec_version:
        drift = "OUT_OF_DATE"
    else:
        drift = "UP_TO_DATE"
    body: dict[str, Any] = {
        "id": service_id,
        "state": current.state,
        "service_deployment_status": drift,
        "is_part_last_deployment": latest is not None and current.last_deployment_id == latest.id,
        "status_details": {"action": action, "status": status, "sub_action": "NONE"},
        "deployment_request_id": str(current.last_deployment_id) if current.last_deployment_id else None,
        "deployment_requests_count": queued,
    }
    if current.last_deployment_date is not None:
        body["last_deployment_date"] = rfc3339(current.last_deployment_date)
    if current.last_deployment_id in execution_ids:
        body["execution_id"] = execution_ids[current.last_deployment_id]  # type: ignore[index]
    return body


def environment_status(
    environment_id: str, latest: Deployment | None, last_done: Deployment | None, drift: str
) -> dict[str, Any]:
    if latest is None:
        return {
            "id": environment_id,
            "state": "READY",
            "last_deployment_state": "READY",
            "last_deployment_date": None,
            "last_deployment_id": None,
            "deployment_status": "NEVER_DEPLOYED",
            "deployment_request_id": None,
            "origin": "API",
            "triggered_by": None,
            "total_deployment_duration_in_seconds": None,
        }
    shown = last_done or latest
    total = None
    if shown.started_at and shown.finished_at:
        total = int((shown.finished_at - shown.started_at).total_seconds())
    return {
        "id": environment_id,
        "state": latest.status,
        "last_deployment_state": shown.status,
        "last_deployment_date": rfc3339(shown.finished_at or shown.created_at),
        "last_deployment_id": shown.execution_id,
        "total_deployment_duration_in_seconds": total,
        "origin": latest.origin,
        "triggered_by": latest.triggered_by,
        "deployment_status": drift,
        "deployment_request_id": str(latest.id),
    }


def history_v1(dep: Deployment, parts: list[DeploymentService]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": str(dep.id),
        "created_at": rfc3339(dep.created_at),
        "updated_at": rfc3339(dep.finished_at or dep.started_at or dep.created_at),
        "status": dep.status,
        "origin": dep.origin,
        "triggered_by": dep.triggered_by or "",
        "applications": [],
        "containers": [],
        "databases": [],
        "jobs": [],
        "helms": [],
    }
    for part in parts:
        item: dict[str, Any] = {
            "id": str(part.service_id),
            "created_at": rfc3339(part.started_at or dep.created_at),
            "name": part.name,
            "status": part.state,
        }
        if part.kind == "CONTAINER" and part.image:
            item["image_name"], _, item["tag"] = part.image.rpartition(":")
        if part.kind == "APPLICATION":
            item["commit"] = commit(part)
        body[KIND_KEYS.get(part.kind, "applications")].append(item)
    return body


def commit(part: DeploymentService) -> dict[str, Any] | None:
    if not part.git_commit_id:
        return None
    return {
        "git_commit_id": part.git_commit_id,
        "created_at": rfc3339(part.started_at or utcnow()),
        "author_name": "",
        "message": "",
        "tag": "",
    }


def service_history(dep: Deployment, part: DeploymentService) -> dict[str, Any]:
    action, status = action_of(part.state)
    details: dict[str, Any]
    if part.kind == "APPLICATION":
        details = {"commit": commit(part), "build_pod_name": f"build-{dep.execution_id}-0"}
    else:
        name, _, tag = (part.image or ":").rpartition(":")
        details = {"image_name": name, "tag": part.image_tag or tag, "arguments": []}
        if part.kind == "JOB":
            details["job_type"] = "LIFECYCLE"
    return {
        "identifier": {
            "name": part.name,
            "service_id": str(part.service_id),
            "service_type": part.kind,
            "execution_id": dep.execution_id,
        },
        "status": part.state,
        "auditing_data": {
            "created_at": rfc3339(dep.created_at),
            "updated_at": rfc3339(part.finished_at or part.started_at or dep.created_at),
            "triggered_by": dep.triggered_by or "",
            "origin": dep.origin,
        },
        "details": details,
        "status_details": {"action": action, "status": status, "sub_action": "NONE"},
        "icon_uri": ICONS.get(part.kind, ICONS["APPLICATION"]),
        "total_duration": duration(part.started_at, part.finished_at),
    }


def environment_history_v2(
    dep: Deployment, parts: list[DeploymentService], stage_names: dict[str, str]
) -> dict[str, Any]:
    stages: dict[str, list[DeploymentService]] = {}
    for part in parts:
        stages.setdefault(part.stage_id or "", []).append(part)
    rendered = []
    for stage_id, members in stages.items():
        states = {p.state for p in members}
        if any(s.endswith("ERROR") for s in states):
            stage_status = "ERROR"
        elif states <= set(STAGE_STATUS):
            stage_status = STAGE_STATUS[next(iter(states))] if len(states) == 1 else "DONE"
        elif any(s.endswith("QUEUED") for s in states) and len(states) == 1:
            stage_status = "QUEUED"
        else:
            stage_status = "ONGOING"
        starts = [p.started_at for p in members if p.started_at]
        ends = [p.finished_at for p in members if p.finished_at]
        rendered.append(
            {
                "name": stage_names.get(stage_id, "DEFAULT"),
                "status": stage_status,
                "duration": duration(min(starts) if starts else None, max(ends) if ends else None),
                "services": [service_history(dep, p) for p in members],
            }
        )
    action_status = {"QUEUED": "QUEUED", "RUNNING": "ONGOING"}.get(dep.phase)
    if action_status is None:
        action_status = (
            "CANCELED" if dep.status == "CANCELED" else ("ERROR" if dep.status.endswith("ERROR") else "SUCCESS")
        )
    return {
        "identifier": {"execution_id": dep.execution_id, "environment_id": str(dep.environment_id)},
        "auditing_data": {
            "created_at": rfc3339(dep.created_at),
            "updated_at": rfc3339(dep.finished_at or dep.started_at or dep.created_at),
            "triggered_by": dep.triggered_by or "",
            "origin": dep.origin,
        },
        "status": dep.status,
        "trigger_action": ACTION_TRIGGER.get(dep.action, "UNKNOWN"),
        "total_duration": duration(dep.started_at, dep.finished_at),
        "stages": rendered,
        "action_status": action_status,
    }
