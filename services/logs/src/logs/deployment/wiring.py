"""Start and stop the deployment-log machinery inside the service's lifespan."""

from __future__ import annotations

from typing import Protocol

from fastapi import FastAPI

from logs.deployment.consumer import LineConsumer
from logs.deployment.hub import LineHub
from logs.deployment.retention import Pruner
from logs.deployment.status import StatusHub
from logs.deployment.upstream import Upstream
from logs.settings import LogsSettings


class Part(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


async def start(app: FastAPI) -> None:
    settings: LogsSettings = app.state.settings
    key = settings.internal_auth_key.get_secret_value()
    app.state.upstream = Upstream(app.state.http, settings.catalog_url, settings.deployer_url, key)
    parts: list[Part] = [
        LineConsumer(app.state.db, app.state.nats, max_chars=settings.max_line_chars),
        LineHub(app.state.nats, max_chars=settings.max_line_chars),
        StatusHub(app.state.nats),
        Pruner(app.state.db, settings.retain_deployments, settings.prune_interval_seconds),
    ]
    app.state.deployment_parts = parts
    app.state.deployment_consumer, app.state.deployment_hub, app.state.status_hub, app.state.pruner = parts
    for part in parts:
        await part.start()


async def stop(app: FastAPI) -> None:
    for part in reversed(getattr(app.state, "deployment_parts", [])):
        await part.stop()
