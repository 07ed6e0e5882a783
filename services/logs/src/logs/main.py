"""logs application factory."""

from pathlib import Path

from fastapi import FastAPI

from logs.models import Base
from logs.settings import LogsSettings
from slipway.app import ServiceSpec, create_service_app


def create_app(settings: LogsSettings | None = None) -> FastAPI:
    return create_service_app(
        ServiceSpec(
            settings=settings or LogsSettings(),
            metadata=Base.metadata,
            migrations_dir=Path(__file__).parent / "migrations",
        )
    )
