"""`GET /environment/{id}/logs` (listEnvironmentLogs) and the `/deployment/logs`, `/deployment/status` websockets."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, WebSocket
from fastapi.responses import JSONResponse
from nats.errors import Error as NatsError
from sqlalchemy.exc import DBAPIError
from starlette.websockets import WebSocketDisconnect, WebSocketState

from logs.deployment import store
from logs.deployment.access import DENIED, RETRY, Refused, Scope, accept, authorize
from logs.deployment.render import environment_log
from logs.deployment.session import LogSession
from logs.deployment.status import stream_statuses
from logs.deployment.upstream import Upstream, UpstreamError
from logs.settings import LogsSettings
from slipway.errors import BadRequest, ServiceUnavailable
from slipway.principal import require_principal

log = logging.getLogger("logs.deployment")

router = APIRouter(dependencies=[Depends(require_principal)])
websockets = APIRouter()
EXECUTION_ID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}-[0-9]{1,12}")
REST_LIMIT = 1000  # listEnvironmentLogs: the last 1,000 lines


@router.get("/environment/{environment_id}/logs")
async def list_environment_logs(
    environment_id: uuid.UUID, request: Request, version: Annotated[str | None, Query(max_length=128)] = None
) -> JSONResponse:
    if version is not None and not EXECUTION_ID.fullmatch(version):
        raise BadRequest("version: an execution id (<environment id>-<number>), as deploymentHistoryV2 lists")
    db = request.app.state.db
    # every line already in the stream is stored first: a deployment's lines are published before it ends, so
    # whoever saw it end (deploymentHistoryV2) finds all of them here; without NATS, what is stored is answered
    with contextlib.suppress(TimeoutError, NatsError):
        await request.app.state.deployment_hub.caught_up(request.app.state.settings.catch_up_seconds)
    try:
        execution = version or await store.latest_execution(db, str(environment_id))
        lines = await store.last_lines(db, str(environment_id), execution, REST_LIMIT) if execution else []
    except (DBAPIError, OSError, TimeoutError) as exc:
        raise ServiceUnavailable("the log store is unavailable, retry later") from exc
    return JSONResponse([environment_log(line) for line in lines])


def parse_start(value: str | None) -> int | None:
    """A resume point (Slipway extension `start`): RFC 3339 (as sent in `timestamp`) or epoch ms → epoch µs."""
    if not value:
        return None
    if value.isdigit():
        return int(value) * 1000
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest("start: not an RFC 3339 timestamp nor epoch milliseconds") from None
    if moment.tzinfo is None:
        raise BadRequest("start: a timestamp needs a zone")
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


async def _serve(
    websocket: WebSocket,
    need_environment: bool,
    run: Callable[[Scope, Callable[[str], Awaitable[None]]], Coroutine[Any, Any, None]],
) -> None:
    """Accept, authorize, then run the stream until it ends or the client leaves; close with Qovery's codes."""
    await accept(websocket)
    code, reason = 1000, ""
    try:
        scope = await authorize(websocket, websocket.app.state.upstream, need_environment=need_environment)
        stream = asyncio.create_task(run(scope, websocket.send_text))
        leaving = asyncio.create_task(_until_disconnect(websocket))
        try:
            done, _ = await asyncio.wait({stream, leaving}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (stream, leaving):
                task.cancel()
            await asyncio.gather(stream, leaving, return_exceptions=True)
        if leaving in done:
            return
        stream.result()
    except Refused as exc:
        code, reason = exc.code, exc.reason
    except UpstreamError as exc:
        code, reason = (DENIED, "not found") if exc.status == 404 else (RETRY, "upstream unavailable")
    except BadRequest as exc:
        code, reason = DENIED, exc.detail
    except (WebSocketDisconnect, RuntimeError, OSError):
        return
    except TimeoutError:
        code, reason = RETRY, "event bus unavailable"
    except Exception:  # noqa: BLE001 - never leave a client hanging: 1011 is retried by clients
        log.exception("websocket stream failed")
        code, reason = RETRY, "internal error"
    if websocket.application_state == WebSocketState.CONNECTED:
        with contextlib.suppress(Exception):
            await websocket.close(code=code, reason=reason[:120])


async def _until_disconnect(websocket: WebSocket) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return


@websockets.websocket("/deployment/logs")
async def deployment_logs(websocket: WebSocket) -> None:
    settings: LogsSettings = websocket.app.state.settings

    async def run(scope: Scope, send: Callable[[str], Awaitable[None]]) -> None:
        assert scope.environment_id is not None
        q = websocket.query_params
        version = q.get("version") or None
        if version is not None and len(version) > 128:
            raise Refused(DENIED, "version: no such deployment")
        session = LogSession(
            websocket.app.state.db,
            websocket.app.state.deployment_hub,
            send,
            scope.environment_id,
            version=version,
            since_us=parse_start(q.get("start")),
            buffer=settings.client_buffer,
            catch_up_seconds=settings.catch_up_seconds,
        )
        await session.run()

    await _serve(websocket, True, run)


@websockets.websocket("/deployment/status")
async def deployment_status(websocket: WebSocket) -> None:
    settings: LogsSettings = websocket.app.state.settings

    async def run(scope: Scope, send: Callable[[str], Awaitable[None]]) -> None:
        upstream: Upstream = websocket.app.state.upstream
        environment_id, project_id = scope.environment_id, scope.project_id

        async def fetch() -> dict[str, Any]:
            if environment_id is not None:
                return await upstream.statuses_with_stages(environment_id)
            return await upstream.project_statuses(project_id)

        def environments(body: dict[str, Any]) -> set[str]:
            if environment_id is not None:
                return {environment_id}
            return {str(s.get("id")) for s in body.get("results", [])}

        await stream_statuses(
            websocket.app.state.status_hub,
            fetch,
            send,
            environments,
            coalesce=settings.status_coalesce_seconds,
            refresh=settings.status_refresh_seconds,
        )

    await _serve(websocket, False, run)
