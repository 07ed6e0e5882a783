"""Deployment log lines: what builder and deployer publish on `deploylogs.<execution_id>` and logs stores.

One JetStream message per line (stream SLIPWAY_DEPLOYLOGS), `Nats-Msg-Id` = `<execution_id>:<source>:<seq>`
so a re-sent line is dropped by the stream. Messages are masked before they leave the producer: every
known secret value (variables marked secret, Git tokens, registry passwords) is replaced by `***`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel

from slipway.jsonlog import mask_secrets

SUBJECT_PREFIX = "deploylogs"
# Qovery's step names (INDEX §6.13)
Step = Literal[
    "PreCheck",
    "Build",
    "Built",
    "BuildError",
    "Deploy",
    "Deployed",
    "DeployedError",
    "Delete",
    "Deleted",
    "Stop",
    "Stopped",
    "Restart",
    "Restarted",
    "Recap",
]


class DeployLogLine(BaseModel):
    execution_id: str  # <environment_id>-<n>
    organization_id: str
    project_id: str
    environment_id: str
    cluster_id: str | None = None
    service_id: str | None = None  # None: an environment-level line (transmitter Environment)
    service_kind: str | None = None  # APPLICATION | CONTAINER | DATABASE | JOB
    service_name: str | None = None
    stage_id: str | None = None
    step: Step
    level: Literal["INFO", "WARNING", "ERROR", "DEBUG"] = "INFO"
    source: str  # builder | deployer
    seq: int  # per (execution_id, source), increasing
    timestamp_ms: int
    message: str

    @property
    def subject(self) -> str:
        return f"{SUBJECT_PREFIX}.{self.execution_id}"

    @property
    def msg_id(self) -> str:
        return f"{self.execution_id}:{self.source}:{self.seq}"


def now_ms() -> int:
    return int(time.time() * 1000)


class Masker:
    """Replaces every known secret value (longest first) then the generic credential patterns."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = sorted({s for s in secrets if s and len(s) >= 3}, key=len, reverse=True)

    def add(self, *values: str | None) -> None:
        self.secrets = sorted({*self.secrets, *(v for v in values if v and len(v) >= 3)}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return mask_secrets(text)


async def publish(js: Any, line: DeployLogLine) -> None:
    """Publish one line on JetStream (`js` is a nats JetStreamContext); de-duplicated by msg id."""
    await js.publish(line.subject, line.model_dump_json().encode(), headers={"Nats-Msg-Id": line.msg_id})
