"""Qovery's deployment-history bodies (v1, v2, per service), rendered from deployments and their parts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from deployer.models import Deployment, DeploymentService
from deployer.states import action_of
from deployer.status.views import KIND_KEYS
from slipway.timeutil import rfc3339, utcnow

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
