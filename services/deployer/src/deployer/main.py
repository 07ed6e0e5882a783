"""deployer application factory."""

from pathlib import Path

from fastapi import FastAPI

from deployer.models import Base
from deployer.settings import DeployerSettings
from slipway.app import ServiceSpec, create_service_app


def create_app(settings: DeployerSettings | None = None) -> FastAPI:
    return create_service_app(
        ServiceSpec(
            settings=settings or DeployerSettings(),
            metadata=Base.metadata,
            migrations_dir=Path(__file__).parent / "migrations",
        )
    )
