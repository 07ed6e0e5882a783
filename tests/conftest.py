"""Cross-service fixtures: iam and the gateway served for real, with a stand-in for services not built yet."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from gateway.main import create_app as create_gateway
from gateway.settings import GatewaySettings
from iam.main import create_app as create_iam
from iam.settings import IamSettings
from slipway.errors import NotFound, install_error_handlers
from slipway.principal import HEADER, service_principal, sign
from slipway_stack.testing import serve

KEY = "platform-test-internal-key"
PASSWORD = "correct horse battery staple"


def stand_in(scopes: dict[str, dict[str, str]]) -> FastAPI:
    """Answers `/internal/scope/{kind}/{id}` from `scopes`; any other route is "not built" (gateway: 501)."""
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/internal/scope/{kind}/{ident}")
    async def scope(kind: str, ident: str) -> dict[str, str]:
        found = scopes.get(f"{kind}:{ident}")
        if found is None:
            raise NotFound(f"{kind} not found")
        return found

    return app


@dataclass
class Platform:
    api: httpx.AsyncClient
    url: str
    iam_app: Any
    iam_url: str
    scopes: dict[str, dict[str, str]]
    catalog_url: str | None = None

    async def bootstrap_token(self, email: str = "admin@slipway.test") -> str:
        async with httpx.AsyncClient(base_url=self.iam_url) as iam:
            r = await iam.post(
                "/internal/bootstrap", json={"email": email}, headers={HEADER: sign(service_principal("test"), KEY)}
            )
            assert r.status_code == 201, r.text
            return str(r.json()["token"])

    async def signup(self, email: str, password: str = PASSWORD) -> dict[str, Any]:
        r = await self.api.post("/auth/signup", json={"email": email, "password": password})
        assert r.status_code == 201, r.text
        return r.json()  # type: ignore[no-any-return]


@pytest.fixture
async def platform(database_url: str, nats_server) -> AsyncIterator[Platform]:  # type: ignore[no-untyped-def]
    async with run_platform(database_url, nats_server.url) as p:
        yield p


def run_platform(  # type: ignore[no-untyped-def]
    database_url: str,
    nats_url: str,
    decision_cache_seconds: float = 0.5,
    with_catalog: bool = False,
    **iam_settings: Any,
):
    """iam + gateway (+ the real catalog when `with_catalog`); a stand-in answers for the other services."""
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def _run() -> AsyncIterator[Platform]:
        scopes: dict[str, dict[str, str]] = {}
        async with AsyncExitStack() as stack:
            settings = IamSettings(
                database_url=database_url,
                nats_url=nats_url,
                internal_auth_key=KEY,
                **{"signup_enabled": True, **iam_settings},
            )
            iam_app = create_iam(settings)
            iam_url = await stack.enter_async_context(serve(iam_app))
            other = await stack.enter_async_context(serve(stand_in(scopes)))
            catalog_url = other
            if with_catalog:
                from catalog.main import create_app as create_catalog
                from catalog.settings import CatalogSettings

                catalog_settings = CatalogSettings(database_url=database_url, nats_url=nats_url, internal_auth_key=KEY)
                catalog_url = await stack.enter_async_context(serve(create_catalog(catalog_settings)))
            gw = GatewaySettings(
                nats_url=nats_url,
                internal_auth_key=KEY,
                iam_url=iam_url,
                catalog_url=catalog_url,
                builder_url=other,
                deployer_url=other,
                logs_url=other,
                token_cache_seconds=0.5,
                decision_cache_seconds=decision_cache_seconds,
            )
            url = await stack.enter_async_context(serve(create_gateway(gw)))
            api = await stack.enter_async_context(httpx.AsyncClient(base_url=url, timeout=30))
            yield Platform(api, url, iam_app, iam_url, scopes, catalog_url if with_catalog else None)

    return _run()
