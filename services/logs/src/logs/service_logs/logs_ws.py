"""`/service/logs`: one `ServiceLogResponseDto` per frame, history (`start`, `limit`) then live lines."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, WebSocket

from logs.fanout import Fanout, UpstreamUnavailable, serve_client
from logs.logql import LogQLError, Query, parse
from logs.service_logs.common import (
    INTERNAL,
    REFUSED,
    Refused,
    accept,
    check_organization,
    close,
    parse_limit,
    parse_start,
    principal_of,
    required,
)
from logs.service_logs.lines import Line
from logs.service_logs.scope import CatalogUnavailable, Scopes

router = APIRouter()


def line_filter(
    since_ms: int | None, pod_name: str | None, deployment_id: str | None, query: Query
) -> Callable[[Line], bool] | None:
    """The client's filter, or None when it takes every line (the common case: no per-line call)."""
    if since_ms is None and not pod_name and not deployment_id and not query.matchers and not query.filters:
        return None

    def accept_line(line: Line) -> bool:
        return (
            (since_ms is None or line.timestamp_ms >= since_ms)
            and (not pod_name or line.pod_name == pod_name)
            and (not deployment_id or line.deployment_id == deployment_id)
            and query.matches(line.labels, line.message)
        )

    return accept_line


@router.websocket("/service/logs")
async def service_logs(websocket: WebSocket) -> None:
    await accept(websocket)
    fanout: Fanout = websocket.app.state.fanout
    try:
        principal = principal_of(websocket)
        ids = required(websocket, "organization", "project", "environment", "service")
        check_organization(principal, ids["organization"])
        q = websocket.query_params
        since_ms = parse_start(q.get("start"))
        limit = parse_limit(q.get("limit"))
        try:
            query = parse(q.get("query"))
        except LogQLError as exc:
            raise Refused(REFUSED, str(exc)) from None
        await check_scope(websocket.app.state.scopes, ids, q.get("cluster"))
        accept_line = line_filter(since_ms, q.get("pod_name"), q.get("deployment_id"), query)
        hub, frames, subscriber = await fanout.watch(
            ids["environment"], ids["service"], since_ms=since_ms, limit=limit, accept=accept_line
        )
    except Refused as exc:
        await close(websocket, exc.code, exc.reason)
        return
    except (CatalogUnavailable, UpstreamUnavailable) as exc:
        await close(websocket, INTERNAL, str(exc))
        return
    try:
        await serve_client(websocket, frames, subscriber)
    finally:
        hub.release(subscriber)


async def check_scope(scopes: Scopes, ids: dict[str, str], cluster: str | None) -> None:
    """The service must be in the environment, and the organization/project (and cluster, when given) match."""
    scope = await scopes.service(ids["service"])
    if scope is None:
        raise Refused(REFUSED, "service not found")
    expected = {
        "environment_id": ids["environment"],
        "project_id": ids["project"],
        "organization_id": ids["organization"],
    }
    if cluster and scope.get("cluster_id"):
        expected["cluster_id"] = cluster
    for field, value in expected.items():
        if str(scope.get(field, "")).lower() != value.lower():
            raise Refused(REFUSED, f"service {ids['service']} is not in this {field.removesuffix('_id')}")
