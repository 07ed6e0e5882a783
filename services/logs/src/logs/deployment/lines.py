"""Deployment log lines as received: validated, cut to size and masked once more, ordered per execution."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from pydantic import ValidationError

from slipway.deploylog import DeployLogLine
from slipway.jsonlog import mask_secrets

log = logging.getLogger("logs.deployment")

TRUNCATED = " …[truncated]"
MAX_TIMESTAMP_MS = 253_402_300_799_000  # 9999-12-31T23:59:59Z: anything later cannot be rendered
_UUID_FIELDS = ("organization_id", "project_id", "environment_id", "cluster_id", "service_id", "stage_id")


def parse_line(data: bytes, max_chars: int) -> DeployLogLine | None:
    """The line carried by a `deploylogs.*` message, masked; None when it can never be stored."""
    try:
        line = DeployLogLine.model_validate_json(data)
    except ValidationError as exc:
        log.warning("malformed deployment log line dropped: %s", exc.errors()[:1])
        return None
    try:
        for name in _UUID_FIELDS:
            value = getattr(line, name)
            if value is not None:
                setattr(line, name, str(uuid.UUID(value)))
    except ValueError:
        log.warning("deployment log line with a non-UUID id dropped (execution %s)", line.execution_id[:128])
        return None
    if not (
        0 < len(line.execution_id) <= 128
        and 0 < len(line.source) <= 32
        and 0 <= line.seq < 2**63
        and 0 <= line.timestamp_ms < MAX_TIMESTAMP_MS
    ):
        log.warning("deployment log line with an unusable key dropped (execution %s)", line.execution_id[:128])
        return None
    message = line.message if len(line.message) <= max_chars else line.message[:max_chars] + TRUNCATED
    line.message = mask_secrets(message)
    if line.service_name is not None:
        line.service_name = line.service_name[:255]
    if line.service_kind is not None:
        line.service_kind = line.service_kind[:16]
    return line


def execution_number(execution_id: str) -> int:
    """The deployment's number: what follows the last `-` (`<environment_id>-<n>`, INDEX §6.3), else 0."""
    tail = execution_id.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() and len(tail) < 18 else 0


def is_newer(candidate: str, current: str | None) -> bool:
    return current is None or execution_number(candidate) > execution_number(current)


def line_from_row(row: Any) -> DeployLogLine:
    """A stored row (already validated and masked) as a line, without validating it again."""
    return DeployLogLine.model_construct(
        execution_id=row.execution_id,
        organization_id=str(row.organization_id),
        project_id=str(row.project_id),
        environment_id=str(row.environment_id),
        cluster_id=str(row.cluster_id) if row.cluster_id else None,
        service_id=str(row.service_id) if row.service_id else None,
        service_kind=row.service_kind,
        service_name=row.service_name,
        stage_id=str(row.stage_id) if row.stage_id else None,
        step=row.step,
        level=row.level,
        source=row.source,
        seq=row.seq,
        timestamp_ms=row.timestamp_ms,
        message=row.message,
    )
