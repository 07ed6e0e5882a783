"""Containers as the engine reports them, grouped by service, and the helpers that read them."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from deployer.runtime import spec as S

log = logging.getLogger("deployer.runtime.docker")

STOPPED_EXIT_CODES = {0, 143, 137}  # exit codes of a container stopped on purpose (SIGTERM, then SIGKILL)
TAIL_LINES = 20
EDGE_REFRESH = "1s"  # how often Caddy re-resolves a service's edge alias
DNS_CONVERGE_SECONDS = 15.0  # aardvark-dns reloads after each connect/disconnect; slower under load
EDGE_SETTLE_SECONDS = 1.5  # > EDGE_REFRESH: after it, Caddy has resolved newly connected instances


@dataclass
class Instance:
    """One container of a service, as the engine reports it."""

    id: str
    name: str
    labels: dict[str, str]
    state: str  # created running paused restarting exited dead
    ip: str | None = None  # on the environment's internal network (else any)
    networks: dict[str, str] = field(default_factory=dict)  # network name → IP address
    macs: dict[str, str] = field(default_factory=dict)  # network name → MAC address
    aliases: dict[str, list[str]] = field(default_factory=dict)  # network name → DNS aliases
    exit_code: int = 0
    restart_count: int = 0
    started_at_ms: int | None = None
    error: str = ""

    @property
    def service_id(self) -> str:
        return self.labels.get(S.L_SERVICE, "")

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def pod_name(self) -> str:
        """The name the instance was created with (a retired one is renamed)."""
        return S.parse_retired(self.name)[0]

    @property
    def retired_at_ms(self) -> int | None:
        return S.parse_retired(self.name)[1]


@dataclass
class RunningService:
    """What runs for one service, rebuilt from labels (crash recovery, edge reconciliation)."""

    service_id: str
    environment_id: str
    deployment_id: str | None
    spec_hash: str | None
    image: str | None
    kind: str | None
    routes: list[S.PublicRoute] = field(default_factory=list)
    instances: list[Instance] = field(default_factory=list)  # live ones (running or stopped), not retired
    retired: list[Instance] = field(default_factory=list)


def instance_from(info: dict[str, Any]) -> Instance:
    state = info.get("State") or {}
    labels = (info.get("Config") or {}).get("Labels") or {}
    attached = (info.get("NetworkSettings") or {}).get("Networks") or {}
    networks = {str(name): str(n.get("IPAddress") or "") for name, n in attached.items()}
    macs = {str(name): str(n["MacAddress"]) for name, n in attached.items() if n.get("MacAddress")}
    aliases = {str(name): [str(a) for a in n.get("Aliases") or []] for name, n in attached.items()}
    internal = S.network_name(labels.get(S.L_ENV, ""))
    ip = networks.get(internal) or next((a for a in networks.values() if a), None)
    return Instance(
        id=info["Id"],
        name=str(info.get("Name", "")).lstrip("/"),
        labels=labels,
        state=str(state.get("Status", "unknown")),
        ip=ip,
        networks=networks,
        macs=macs,
        aliases=aliases,
        exit_code=int(state.get("ExitCode") or 0),
        restart_count=int(info.get("RestartCount") or 0),
        started_at_ms=parse_ms(state.get("StartedAt")),
        error=str(state.get("Error") or ""),
    )


_TS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?$")


def parse_ms(value: Any) -> int | None:
    """RFC 3339 (nanosecond precision allowed) → epoch milliseconds; None for the zero time."""
    match = _TS.match(str(value or ""))
    if not match or match.group(1).startswith("0001"):
        return None
    fraction = (match.group(2) or ".0")[:7]
    zone = match.group(3) or "Z"
    parsed = datetime.fromisoformat(match.group(1) + fraction + ("+00:00" if zone == "Z" else zone))
    return int(parsed.timestamp() * 1000)


def live_only(instances: list[Instance]) -> list[Instance]:
    """The instances that count (running or stopped), not the retired ones kept for their logs."""
    return [i for i in instances if i.retired_at_ms is None]


def shown_since(inst: Instance, since_ms: int | None) -> bool:
    """Whether a log read from `since_ms` includes the instance: a retired one only if it lived after it."""
    retired = inst.retired_at_ms
    return retired is None or (since_ms is not None and since_ms <= retired)


def failure_reason(inst: Instance) -> str | None:
    if inst.error:
        return inst.error
    if inst.state == "exited" and inst.exit_code not in STOPPED_EXIT_CODES:
        return f"exited with code {inst.exit_code}"
    if inst.state == "restarting":
        return f"restarting after exit code {inst.exit_code} ({inst.restart_count} restarts)"
    return None


def service_state(states: list[str]) -> str:
    if not states:
        return "STOPPED"
    distinct = set(states)
    if len(distinct) == 1:
        return states[0]
    if "RUNNING" in distinct:
        return "WARNING" if "ERROR" in distinct else "RUNNING"  # e.g. old and new instances during a rollout
    for state in ("ERROR", "STARTING", "STOPPING", "COMPLETED"):
        if state in distinct:
            return state
    return "STOPPED"


async def all_or_none(waits: list[Awaitable[None]]) -> None:
    """Await all; on the first failure cancel the rest and raise it."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            if (exc := task.exception()) is not None:
                raise exc
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
