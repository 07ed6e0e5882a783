"""Qovery's `Status` bodies of services and environments, rendered from the deployer's tables."""

from __future__ import annotations

import uuid
from typing import Any

from deployer.models import Deployment, ServiceState
from deployer.states import action_of
from slipway.timeutil import rfc3339

KIND_KEYS = {
    "APPLICATION": "applications",
    "CONTAINER": "containers",
    "DATABASE": "databases",
    "JOB": "jobs",
    "HELM": "helms",
}


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
