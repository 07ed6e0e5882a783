"""A deployment log line as Qovery's `EnvironmentLogs` (REST `listEnvironmentLogs` and `/deployment/logs` frames)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from slipway.deploylog import DeployLogLine

# Qovery engine transmitters (console filters on `Environment` and on the service id)
TRANSMITTERS = {
    "APPLICATION": "Application",
    "CONTAINER": "Container",
    "DATABASE": "Database",
    "JOB": "Job",
    "HELM": "Helm",
    "TERRAFORM": "Terraform",
}
# stage.name groups the steps of one action (the console always shows lines whose stage name is "delete")
STAGE_NAMES = {
    "PreCheck": "pre-check",
    "Build": "build",
    "Built": "build",
    "BuildError": "build",
    "Deploy": "deploy",
    "Deployed": "deploy",
    "DeployedError": "deploy",
    "Delete": "delete",
    "Deleted": "delete",
    "Stop": "stop",
    "Stopped": "stop",
    "Restart": "restart",
    "Restarted": "restart",
    "Recap": "recap",
}
HINTS = {
    "BuildError": "The build failed: check the build output above (Dockerfile, build context, build arguments).",
    "DeployedError": "The service did not become healthy: check its logs, ports and health checks.",
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FRAME_LINES = 500
FRAME_BYTES = 256 * 1024


def timestamp(line: DeployLogLine) -> str:
    """RFC 3339 in UTC with microseconds: the line's millisecond plus `seq mod 1000` µs, so lines of one
    millisecond keep distinct, stable timestamps (the console de-duplicates lines by `timestamp`)."""
    moment = _EPOCH + timedelta(milliseconds=line.timestamp_ms, microseconds=line.seq % 1000)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def timestamp_us(line: DeployLogLine) -> int:
    return line.timestamp_ms * 1000 + line.seq % 1000


def environment_log(line: DeployLogLine) -> dict[str, Any]:
    if line.service_id:
        transmitter = {
            "type": TRANSMITTERS.get(line.service_kind or "", "Application"),
            "id": line.service_id,
            "name": line.service_name or "",
        }
    else:
        transmitter = {"type": "Environment", "id": line.environment_id, "name": "environment"}
    details: dict[str, Any] = {
        "organization_id": line.organization_id,
        "project_id": line.project_id,
        "environment_id": line.environment_id,
        "execution_id": line.execution_id,
        "transmitter": transmitter,
        "stage": {"step": line.step, "id": line.stage_id, "name": STAGE_NAMES.get(line.step)},
    }
    if line.cluster_id:
        details["cluster_id"] = line.cluster_id
    body: dict[str, Any] = {
        "type": line.level.lower(),
        "timestamp": timestamp(line),
        "details": details,
        "message": {"safe_message": line.message},
    }
    if line.level == "ERROR":
        body["error"] = {
            "tag": line.step,
            "user_log_message": line.message,
            "hint_message": HINTS.get(line.step, "See the lines above for what went wrong."),
        }
    return body


def frames(lines: Iterable[DeployLogLine]) -> Iterator[str]:
    """Text frames (JSON arrays of EnvironmentLogs), each at most FRAME_LINES lines or about FRAME_BYTES."""
    batch: list[str] = []
    size = 0
    for line in lines:
        item = json.dumps(environment_log(line), separators=(",", ":"))
        if batch and (len(batch) >= FRAME_LINES or size + len(item) > FRAME_BYTES):
            yield "[" + ",".join(batch) + "]"
            batch, size = [], 0
        batch.append(item)
        size += len(item) + 1
    if batch:
        yield "[" + ",".join(batch) + "]"
