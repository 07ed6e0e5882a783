"""`/service/status`: one `ServiceStatusDto` at connect and whenever it changes (the deployer polled while watched).

One poller per environment, shared by every client watching it, asks the deployer (`logsctl.status`) every
`status_poll_seconds`; a client gets a new frame only when one of its environments changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from fastapi import APIRouter, WebSocket

from logs.fanout import pump
from logs.service_logs.common import (
    INTERNAL,
    REFUSED,
    Refused,
    accept,
    check_organization,
    close,
    principal_of,
    required,
)
from logs.service_logs.scope import CatalogUnavailable, Scopes
from logs.settings import LogsSettings
from slipway.contracts import Subjects
from slipway.natsconn import NatsConnection
from slipway.tasks import cancel_and_wait

log = logging.getLogger("logs.status")
router = APIRouter()

STATUS_SUBJECT = Subjects.LOGSCTL_STATUS
BUCKETS = {
    "APPLICATION": "applications",
    "CONTAINER": "containers",
    "DATABASE": "databases",
    "JOB": "jobs",
    "HELM": "helms",
    "TERRAFORM": "terraform",
}
ALL_BUCKETS = (*BUCKETS.values(), "argocd_apps", "agentic_workflows")


def environment_state(states: list[str]) -> str:
    """The environment's running state from its services' (ServiceStateDto)."""
    distinct = set(states)
    if not distinct:
        return "STOPPED"
    if len(distinct) == 1:
        return states[0]
    if "RUNNING" in distinct:
        return "WARNING" if distinct & {"ERROR", "WARNING"} else "RUNNING"
    for state in ("ERROR", "WARNING", "STARTING", "STOPPING", "COMPLETED"):
        if state in distinct:
            return state
    return "STOPPED"


def pod_dto(instance: dict[str, Any]) -> dict[str, Any]:
    started = int(instance.get("started_at_ms") or 0)
    reason = str(instance.get("state_reason") or "")
    state = str(instance.get("state") or "STOPPED")
    restarts = int(instance.get("restart_count") or 0)
    return {
        "name": instance["name"],
        "state": state,
        "state_reason": reason,
        "state_message": reason,
        "restart_count": restarts,
        "started_at": started,
        "service_version": str(instance.get("deployment_id") or ""),
        "containers": [
            {
                "name": instance["name"],
                "image": "",
                "restart_count": restarts,
                "current_state": {
                    "state": state,
                    "started_at": started,
                    "state_reason": reason or None,
                    "state_message": reason or None,
                },
                "last_terminated_state": None,
            }
        ],
        "last_events": [],
    }


def service_dto(service: dict[str, Any], bucket: str) -> dict[str, Any]:
    dto: dict[str, Any] = {
        "id": service["service_id"],
        "state": service["state"],
        "pods": [pod_dto(i) for i in service.get("instances") or []],
    }
    if bucket not in ("databases", "argocd_apps"):
        dto["certificates"] = []
    if bucket == "terraform":
        dto["triggered_action"] = {"action": "DEPLOY", "sub_action": "NONE"}
    return dto


class EnvironmentPoller:
    def __init__(self, owner: StatusPollers, environment_id: str, project_id: str) -> None:
        self.owner = owner
        self.environment_id = environment_id
        self.project_id = project_id
        self.dto: dict[str, Any] | None = None
        self.error: str | None = None
        self.first = asyncio.Event()
        self.watchers: set[asyncio.Event] = set()
        self.clients = 0
        self.polls = 0
        self.retired = False  # ends the loop even when a cancellation was swallowed (see slipway.tasks)
        self.task: asyncio.Task[None] = asyncio.create_task(self._run())
        self.linger: asyncio.TimerHandle | None = None

    async def _run(self) -> None:
        while not self.retired:
            try:
                services = await self.owner.request_status(self.environment_id)
                dto = await self.owner.environment_dto(self.environment_id, self.project_id, services)
                self.error = None
                if dto != self.dto:
                    self.dto = dto
                    for event in self.watchers:
                        event.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - keep the last frame; retry at the next poll
                self.error = str(exc) or exc.__class__.__name__
                log.warning("status of environment %s unavailable: %s", self.environment_id, self.error)
            finally:
                self.polls += 1
                self.first.set()
            await asyncio.sleep(self.owner.settings.status_poll_seconds)


class StatusPollers:
    def __init__(self, nats: NatsConnection, scopes: Scopes, settings: LogsSettings) -> None:
        self.nats = nats
        self.scopes = scopes
        self.settings = settings
        self.pollers: dict[str, EnvironmentPoller] = {}
        self.kinds: dict[str, str | None] = {}

    async def request_status(self, environment_id: str) -> list[dict[str, Any]]:
        await self.nats.wait_connected(timeout=self.settings.tail_request_timeout)
        assert self.nats.nc is not None
        msg = await self.nats.nc.request(
            STATUS_SUBJECT,
            json.dumps({"environment_id": environment_id}).encode(),
            timeout=self.settings.tail_request_timeout,
        )
        reply = json.loads(msg.data)
        if not reply.get("ok"):
            raise RuntimeError(str(reply.get("error") or "deployer refused the status request"))
        return list(reply.get("services") or [])

    async def kind(self, service_id: str) -> str | None:
        if service_id not in self.kinds:  # a service's kind never changes
            scope = await self.scopes.service(service_id)
            self.kinds[service_id] = None if scope is None else str(scope.get("kind") or "").upper()
        return self.kinds[service_id]

    async def environment_dto(self, environment_id: str, project_id: str, services: list[dict[str, Any]]) -> dict:
        dto: dict[str, Any] = {"id": environment_id, "project_id": project_id, "state": "STOPPED"}
        dto.update({bucket: [] for bucket in ALL_BUCKETS})
        states = []
        for service in services:
            bucket = BUCKETS.get(await self.kind(str(service["service_id"])) or "")
            if bucket is None:  # unknown to catalog (being deleted): not part of the environment any more
                continue
            dto[bucket].append(service_dto(service, bucket))
            states.append(str(service["state"]))
        dto["state"] = environment_state(states)
        return dto

    def acquire(self, environment_id: str, project_id: str) -> EnvironmentPoller:
        poller = self.pollers.get(environment_id)
        if poller is None:
            poller = self.pollers[environment_id] = EnvironmentPoller(self, environment_id, project_id)
        poller.clients += 1
        if poller.linger is not None:
            poller.linger.cancel()
            poller.linger = None
        return poller

    def release(self, poller: EnvironmentPoller) -> None:
        poller.clients -= 1
        if poller.clients == 0:
            poller.linger = asyncio.get_running_loop().call_later(
                self.settings.upstream_linger_seconds, self._retire, poller
            )

    def _retire(self, poller: EnvironmentPoller) -> None:
        if poller.clients == 0 and self.pollers.get(poller.environment_id) is poller:
            del self.pollers[poller.environment_id]
            poller.retired = True
            poller.task.cancel()

    async def close(self) -> None:
        pollers, self.pollers = list(self.pollers.values()), {}
        for poller in pollers:
            poller.retired = True
            if poller.linger is not None:
                poller.linger.cancel()
        await cancel_and_wait(p.task for p in pollers)


async def resolve_environments(
    scopes: Scopes, organization: str, project: str | None, environment: str | None
) -> list[tuple[str, str]]:
    """The (environment_id, project_id) pairs the query names, checked against the organization/project."""
    if environment:
        scope = await scopes.environment(environment)
        if scope is None:
            raise Refused(REFUSED, "environment not found")
        if str(scope["organization_id"]) != organization or (project and str(scope["project_id"]) != project):
            raise Refused(REFUSED, "environment is not in this organization/project")
        return [(environment, str(scope["project_id"]))]
    projects = [project] if project else await scopes.organization_projects(organization)
    found = []
    for project_id in projects:
        scope = await scopes.project(project_id)
        if scope is None or str(scope["organization_id"]) != organization:
            raise Refused(REFUSED, "project is not in this organization")
        found += [(env, project_id) for env in await scopes.project_environments(project_id)]
    return found


@router.websocket("/service/status")
async def service_status(websocket: WebSocket) -> None:
    await accept(websocket)
    pollers: StatusPollers = websocket.app.state.status_pollers
    try:
        principal = principal_of(websocket)
        organization = required(websocket, "organization")["organization"].lower()
        check_organization(principal, organization)
        q = websocket.query_params
        project, environment = (q.get("project") or "").lower(), (q.get("environment") or "").lower()
        envs = await resolve_environments(pollers.scopes, organization, project or None, environment or None)
    except Refused as exc:
        await close(websocket, exc.code, exc.reason)
        return
    except CatalogUnavailable as exc:
        await close(websocket, INTERNAL, str(exc))
        return
    watching = [pollers.acquire(env, project_id) for env, project_id in envs]
    changed = asyncio.Event()
    for poller in watching:
        poller.watchers.add(changed)
    try:
        await asyncio.gather(*(p.first.wait() for p in watching))
        if watching and all(p.dto is None for p in watching):
            await close(websocket, INTERNAL, f"status unavailable: {watching[0].error}")
            return

        async def write() -> None:
            last = None
            while True:
                changed.clear()
                frame = {"environments": [p.dto for p in watching if p.dto is not None]}
                if frame != last:
                    await websocket.send_text(json.dumps(frame, separators=(",", ":")))
                    last = frame
                await changed.wait()

        async def read() -> None:
            while (await websocket.receive())["type"] != "websocket.disconnect":
                pass

        await pump(websocket, write, read, asyncio.Event())
    finally:
        for poller in watching:
            poller.watchers.discard(changed)
            pollers.release(poller)
        with contextlib.suppress(Exception):
            await close(websocket, 1000, "")
