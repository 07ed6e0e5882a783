"""catalog application factory."""

from pathlib import Path

from fastapi import FastAPI

from catalog.events.handlers import subscriptions
from catalog.models import Base
from catalog.settings import CatalogSettings
from slipway.app import ServiceSpec, create_service_app


def create_app(settings: CatalogSettings | None = None) -> FastAPI:
    settings = settings or CatalogSettings()
    return create_service_app(
        ServiceSpec(
            settings=settings,
            metadata=Base.metadata,
            migrations_dir=Path(__file__).parent / "migrations",
            subscriptions=subscriptions(settings),
        )
    )
