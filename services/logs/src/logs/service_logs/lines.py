"""One line of service output as the deployer publishes it, its severity, LogQL labels and websocket frame."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from logs.logql import normalize_level

# severity_text values (OpenTelemetry short names) and the lower-case `level` label derived from them
_WORDS = {
    "TRACE": "TRACE",
    "DEBUG": "DEBUG",
    "DBG": "DEBUG",
    "INFO": "INFO",
    "NOTICE": "INFO",
    "WARN": "WARN",
    "WARNING": "WARN",
    "ERROR": "ERROR",
    "ERR": "ERROR",
    "FATAL": "FATAL",
    "CRITICAL": "FATAL",
    "CRIT": "FATAL",
    "PANIC": "FATAL",
    "EMERG": "FATAL",
    "ALERT": "FATAL",
}
_ALT = "|".join(sorted(_WORDS, key=len, reverse=True))
_KEY_VALUE = re.compile(rf"(?i)\b(?:level|lvl|severity|loglevel)[\"']?\s*[:=]\s*[\"']?({_ALT})\b")
_UPPER_WORD = re.compile(rf"(?:^|[\s\[(|<-])({_ALT})(?:[\])|>:,\s-]|$)")
_BRACKETED = re.compile(rf"(?i)[\[(<]({_ALT})[\])>]")


def severity(stream: str, message: str) -> str:
    """The line's own level word when it has one (`level=warn`, `WARN`, `[info]`), else stderr → ERROR."""
    head = message[:200]
    found = _KEY_VALUE.search(head) or _UPPER_WORD.search(head[:64]) or _BRACKETED.search(head[:64])
    if found is not None:
        return _WORDS[found.group(1).upper()]
    return "ERROR" if stream == "stderr" else "INFO"


@dataclass
class Line:
    environment_id: str
    service_id: str
    pod_name: str
    container_name: str
    deployment_id: str | None
    stream: str
    timestamp_ms: int
    message: str
    severity_text: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    frame: str = ""

    @property
    def key(self) -> tuple[int, str, str, str]:
        """Identity for de-duplication (history replies overlap the live stream)."""
        return (self.timestamp_ms, self.pod_name, self.stream, self.message)


def from_json(environment_id: str, body: dict[str, Any]) -> Line:
    """Build a line from the deployer's JSON (raises KeyError/ValueError/TypeError on a malformed one)."""
    stream = str(body.get("stream") or "stdout")
    message = str(body["message"])
    service_id = str(body["service_id"])
    deployment = body.get("deployment_id")
    line = Line(
        environment_id=environment_id,
        service_id=service_id,
        pod_name=str(body.get("pod_name") or ""),
        container_name=str(body.get("container_name") or body.get("pod_name") or ""),
        deployment_id=str(deployment) if deployment else None,
        stream=stream,
        timestamp_ms=int(body["timestamp_ms"]),
        message=message,
        severity_text=severity(stream, message),
    )
    line.labels = {
        "qovery_com_service_id": service_id,
        "qovery_com_environment_id": environment_id,
        "pod": line.pod_name,
        "container": line.container_name,
        "level": normalize_level(line.severity_text),
        "app": service_id,
        "stream": stream,
    }
    if line.deployment_id:
        line.labels["qovery_com_deployment_id"] = line.deployment_id
    line.frame = json.dumps(
        {
            "created_at": line.timestamp_ms,
            "pod_name": line.pod_name,
            "container_name": line.container_name,
            "message": message,
            "version": line.deployment_id or "",
            "severity_text": line.severity_text,
            "labels": line.labels,
            "from_kube": False,
        },
        separators=(",", ":"),
    )
    return line
