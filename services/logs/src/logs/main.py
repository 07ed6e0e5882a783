"""logs application factory."""

from pathlib import Path

from fastapi import FastAPI

from logs.deployment import endpoints as deployment
from logs.deployment import wiring as deployment_wiring
from logs.models import Base
from logs.service_logs import wiring as service_logs
from logs.settings import LogsSettings
from slipway.app import ServiceSpec, create_service_app


def create_app(settings: LogsSettings | None = None) -> FastAPI:
    return create_service_app(
        ServiceSpec(
            settings=settings or LogsSettings(),
            metadata=Base.metadata,
            migrations_dir=Path(__file__).parent / "migrations",
            routers=[deployment.router, deployment.websockets, *service_logs.routers],
            on_startup=[deployment_wiring.start, service_logs.start],
            on_shutdown=[deployment_wiring.stop, service_logs.stop],
        )
    )
