"""Service application factory: one lifespan owning every client, error handlers, health, tracing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import APIRouter, FastAPI
from sqlalchemy import MetaData

from slipway.bodyguard import BodyGuard
from slipway.db import Database
from slipway.errors import install_error_handlers
from slipway.events import Consumer, OutboxRelay, Subscription, event_tables
from slipway.health import health_router
from slipway.jsonlog import setup_logging
from slipway.migrations import upgrade_async
from slipway.natsconn import NatsConnection
from slipway.settings import ServiceSettings
from slipway.tracing import TracingMiddleware, setup_tracing, traced_client

Hook = Callable[[FastAPI], Awaitable[None]]


@dataclass
class ServiceSpec:
    """Everything a service declares; `create_service_app` wires the rest the same way for all."""

    settings: ServiceSettings
    routers: list[APIRouter] = field(default_factory=list)
    metadata: MetaData | None = None  # the service's tables (schema = metadata.schema); None: no database
    migrations_dir: Path | None = None
    subscriptions: list[Subscription] = field(default_factory=list)
    consumer_stream: str = "SLIPWAY_EVENTS"
    body_types: list[tuple[str, set[str]]] = field(default_factory=list)
    on_startup: list[Hook] = field(default_factory=list)
    on_shutdown: list[Hook] = field(default_factory=list)


def create_service_app(spec: ServiceSpec) -> FastAPI:
    settings = spec.settings
    name = settings.service_name

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        setup_logging(name, settings.log_level)
        setup_tracing(name, settings.otel_exporter)
        app.state.readiness_checks = {}
        app.state.http = traced_client(timeout=30)
        nats = NatsConnection(settings.nats_url, name)
        app.state.nats = nats
        app.state.readiness_checks["nats"] = nats.ping
        background: list[OutboxRelay | Consumer] = []
        db: Database | None = None
        if spec.metadata is not None:
            if settings.run_migrations and spec.migrations_dir is not None:
                await upgrade_async(spec.migrations_dir, settings.database_url, str(spec.metadata.schema))
            db = Database(settings.database_url)
            app.state.db = db
            app.state.readiness_checks["database"] = db.ping
            outbox, processed = event_tables(spec.metadata)
            app.state.outbox = outbox
            background.append(OutboxRelay(db, nats, outbox, poll_seconds=settings.outbox_poll_seconds))
            if spec.subscriptions:
                background.append(Consumer(name, spec.consumer_stream, spec.subscriptions, db, nats, processed))
        await nats.start()
        for task in background:
            await task.start()
        for hook in spec.on_startup:
            await hook(app)
        try:
            yield
        finally:
            for hook in reversed(spec.on_shutdown):
                await hook(app)
            for task in reversed(background):
                await task.stop()
            await nats.close()
            await app.state.http.aclose()
            if db is not None:
                await db.dispose()

    app = FastAPI(title=f"Slipway {name}", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.settings = settings
    install_error_handlers(app)
    app.include_router(health_router())
    for router in spec.routers:
        app.include_router(router)
    app.add_middleware(BodyGuard, max_body_bytes=settings.max_body_bytes, other_types=spec.body_types)
    app.add_middleware(TracingMiddleware)
    return app


def serve(app_factory: str, settings: ServiceSettings) -> None:
    """Run a service with uvicorn (used by each service's `python -m <service>`)."""
    import uvicorn

    uvicorn.run(
        app_factory,
        factory=True,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=True,
        ws_max_size=1 << 20,
        # no permessage-deflate: compressing every frame once per client dominates log fan-out cost
        # (bench/logs_fanout.py), and a slow client's CPU must not be paid by the others
        ws_per_message_deflate=False,
    )
