"""iam application factory."""

from pathlib import Path

from fastapi import FastAPI

from iam.models import Base
from iam.settings import IamSettings
from iam.tokens.endpoints import router as tokens_router
from slipway.app import ServiceSpec, create_service_app


def create_app(settings: IamSettings | None = None) -> FastAPI:
    return create_service_app(
        ServiceSpec(
            settings=settings or IamSettings(),
            routers=[tokens_router],
            metadata=Base.metadata,
            migrations_dir=Path(__file__).parent / "migrations",
        )
    )
