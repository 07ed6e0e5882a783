"""builder application factory."""

from pathlib import Path

from fastapi import FastAPI

from builder.builds.endpoints import router as builds_router
from builder.builds.runner import BuildRunner
from builder.engine import Engine
from builder.models import Base
from builder.settings import BuilderSettings
from slipway.app import ServiceSpec, create_service_app


async def _start_builds(app: FastAPI) -> None:
    settings: BuilderSettings = app.state.settings
    app.state.engine = Engine(settings.docker_host)
    runner = BuildRunner(settings, app.state.db, app.state.outbox, app.state.engine, app.state.nats, app.state.http)
    app.state.builds = runner
    await runner.start()


async def _stop_builds(app: FastAPI) -> None:
    await app.state.builds.stop()
    await app.state.engine.close()


def create_app(settings: BuilderSettings | None = None) -> FastAPI:
    return create_service_app(
        ServiceSpec(
            settings=settings or BuilderSettings(),
            routers=[builds_router],
            metadata=Base.metadata,
            migrations_dir=Path(__file__).parent / "migrations",
            on_startup=[_start_builds],
            on_shutdown=[_stop_builds],
        )
    )
