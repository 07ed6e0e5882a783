"""builder application factory."""

from pathlib import Path

from fastapi import FastAPI

from builder.builds.endpoints import router as builds_router
from builder.builds.runner import BuildRunner
from builder.engine import Engine
from builder.models import Base
from builder.settings import BuilderSettings
from builder.sweeps import ImageSweeper
from slipway.app import ServiceSpec, create_service_app


def create_app(settings: BuilderSettings | None = None) -> FastAPI:
    settings = settings or BuilderSettings()
    engine = Engine(settings.docker_host)
    sweeper = ImageSweeper(engine, settings.image_sweep_seconds)

    async def _start_builds(app: FastAPI) -> None:
        app.state.engine = engine
        app.state.sweeper = sweeper
        runner = BuildRunner(settings, app.state.db, app.state.outbox, engine, app.state.nats, app.state.http)
        app.state.builds = runner
        await runner.start()
        await sweeper.start(app.state.db)

    async def _stop_builds(app: FastAPI) -> None:
        await sweeper.stop()
        await app.state.builds.stop()
        await engine.close()

    return create_service_app(
        ServiceSpec(
            settings=settings,
            routers=[builds_router],
            subscriptions=sweeper.subscriptions(),
            metadata=Base.metadata,
            migrations_dir=Path(__file__).parent / "migrations",
            on_startup=[_start_builds],
            on_shutdown=[_stop_builds],
        )
    )
