"""builder application factory."""

from pathlib import Path

from fastapi import FastAPI

from builder.models import Base
from builder.settings import BuilderSettings
from slipway.app import ServiceSpec, create_service_app


def create_app(settings: BuilderSettings | None = None) -> FastAPI:
    return create_service_app(
        ServiceSpec(
            settings=settings or BuilderSettings(),
            metadata=Base.metadata,
            migrations_dir=Path(__file__).parent / "migrations",
        )
    )
