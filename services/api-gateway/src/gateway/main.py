"""Gateway application factory."""

from __future__ import annotations

from fastapi import FastAPI

from gateway.auth import Authenticator
from gateway.authz import Authorizer
from gateway.endpoints import router
from gateway.jwks import JwksVerifier
from gateway.settings import GatewaySettings
from slipway.app import ServiceSpec, create_service_app
from slipway.principal import service_principal, sign


async def _start(app: FastAPI) -> None:
    settings: GatewaySettings = app.state.settings
    key = settings.internal_auth_key.get_secret_value()
    jwks = JwksVerifier(
        app.state.http, settings.upstream("iam") + "/auth/jwks", settings.jwt_issuer, settings.jwt_audience
    )
    app.state.authenticator = Authenticator(
        app.state.http, settings.upstream("iam"), key, settings.token_cache_seconds, jwks
    )
    app.state.authorizer = Authorizer(
        app.state.http,
        settings.upstream,
        lambda: sign(service_principal("api-gateway"), key),
        settings.decision_cache_seconds,
    )

    async def iam_reachable() -> None:
        response = await app.state.http.get(settings.upstream("iam") + "/healthz", timeout=2)
        response.raise_for_status()

    app.state.readiness_checks["iam"] = iam_reachable


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    return create_service_app(
        ServiceSpec(
            settings=settings or GatewaySettings(),
            routers=[router],
            body_types=[(r"/kubeconfig$", {"application/x-yaml", "text/yaml", "application/yaml"})],
            on_startup=[_start],
        )
    )
