"""What the logs app adds for service logs and status: the two websocket routes and their start/stop hooks."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from logs.fanout import Fanout
from logs.service_logs.logs_ws import router as logs_router
from logs.service_logs.scope import Scopes
from logs.service_logs.status import StatusPollers
from logs.service_logs.status import router as status_router
from logs.settings import LogsSettings

routers: list[APIRouter] = [logs_router, status_router]


async def start(app: FastAPI) -> None:
    settings: LogsSettings = app.state.settings
    key = settings.internal_auth_key.get_secret_value()
    app.state.scopes = Scopes(app.state.http, settings.catalog_url, key, ttl=settings.scope_cache_seconds)
    app.state.fanout = Fanout(app.state.nats, settings)
    app.state.status_pollers = StatusPollers(app.state.nats, app.state.scopes, settings)


async def stop(app: FastAPI) -> None:
    await app.state.fanout.close()
    await app.state.status_pollers.close()
