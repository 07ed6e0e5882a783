"""iam application factory."""

from pathlib import Path

from fastapi import FastAPI

from iam.account import keys
from iam.account.endpoints import router as account_router
from iam.account.oidc import router as oidc_router
from iam.audit import retention
from iam.audit.endpoints import router as audit_router
from iam.members.endpoints import router as members_router
from iam.models import Base
from iam.organization.endpoints import router as organization_router
from iam.roles.endpoints import router as roles_router
from iam.settings import IamSettings
from iam.tokens.endpoints import router as tokens_router
from iam.tokens.org_endpoints import router as org_tokens_router
from slipway.app import ServiceSpec, create_service_app


async def _load_keys(app: FastAPI) -> None:
    settings: IamSettings = app.state.settings
    async with app.state.db.transaction() as session:
        app.state.keys = await keys.load_or_create(
            session,
            settings.internal_auth_key.get_secret_value(),
            settings.jwt_issuer,
            settings.jwt_audience,
            settings.access_token_ttl_seconds,
        )


def create_app(settings: IamSettings | None = None) -> FastAPI:
    return create_service_app(
        ServiceSpec(
            settings=settings or IamSettings(),
            routers=[
                tokens_router,
                account_router,
                oidc_router,
                organization_router,
                org_tokens_router,
                roles_router,
                members_router,
                audit_router,
            ],
            metadata=Base.metadata,
            migrations_dir=Path(__file__).parent / "migrations",
            on_startup=[_load_keys, retention.start],
            on_shutdown=[retention.stop],
        )
    )
