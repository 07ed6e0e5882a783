"""The gateway authenticates at a real iam, then forwards HTTP and websockets with a signed principal."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass

import httpx
import pytest
import websockets
from fastapi import FastAPI, Request, WebSocket
from websockets.exceptions import ConnectionClosed, InvalidStatus

from gateway.main import create_app as create_gateway
from gateway.settings import GatewaySettings
from iam.main import create_app as create_iam
from iam.settings import IamSettings
from slipway.errors import install_error_handlers
from slipway.principal import HEADER, service_principal, sign, verify
from slipway_stack.procs import free_port
from slipway_stack.testing import serve

KEY = "gateway-test-internal-key"
PROJECTS: dict[str, str] = {}  # project id -> organization id, served by the stand-in's scope endpoint
KEYS = {"status", "error", "detail", "message", "timestamp", "path"}


def upstream_app() -> FastAPI:
    """Stands in for a service whose public routes are not built yet: echoes what the gateway sent."""
    app = FastAPI()
    install_error_handlers(app)

    @app.api_route("/organization/{org}/project", methods=["GET", "POST"])
    async def echo(request: Request) -> dict:  # type: ignore[type-arg]
        principal = verify(request.headers[HEADER], KEY)
        return {
            "principal": principal.model_dump(mode="json"),
            "authorization": request.headers.get("authorization"),
            "query": str(request.url.query),
            "body": (await request.body()).decode(),
            "traceparent": request.headers.get("traceparent"),
        }

    @app.get("/internal/scope/project/{pid}")
    async def scope(pid: str) -> dict:  # type: ignore[type-arg]
        from slipway.errors import NotFound

        if pid not in PROJECTS:
            raise NotFound("project not found")
        return {"organization_id": PROJECTS[pid], "project_id": pid}

    @app.get("/project/{pid}")
    async def teapot() -> None:
        from slipway.errors import Conflict

        raise Conflict("busy")

    @app.websocket("/service/logs")
    async def logs(ws: WebSocket) -> None:
        principal = verify(ws.headers[HEADER], KEY)
        await ws.accept()
        await ws.send_text(json.dumps({"subject": principal.subject, "query": str(ws.url.query)}))
        while True:
            text = await ws.receive_text()
            if text == "bye":
                await ws.close(code=4001, reason="upstream says bye")
                return
            await ws.send_text(text.upper())

    return app


@dataclass
class Env:
    api: httpx.AsyncClient
    url: str
    token: str
    org: str


@pytest.fixture
async def env(database_url: str, nats_server) -> AsyncIterator[Env]:  # type: ignore[no-untyped-def]
    async with AsyncExitStack() as stack:
        iam_settings = IamSettings(database_url=database_url, nats_url=nats_server.url, internal_auth_key=KEY)
        iam_url = await stack.enter_async_context(serve(create_iam(iam_settings)))
        upstream_url = await stack.enter_async_context(serve(upstream_app()))
        down_url = f"http://127.0.0.1:{free_port()}"  # nothing listens here
        gw_settings = GatewaySettings(
            nats_url=nats_server.url,
            internal_auth_key=KEY,
            iam_url=iam_url,
            catalog_url=upstream_url,
            logs_url=upstream_url,
            deployer_url=down_url,
            token_cache_seconds=0.5,
        )
        url = await stack.enter_async_context(serve(create_gateway(gw_settings)))
        async with httpx.AsyncClient(base_url=iam_url) as iam:
            r = await iam.post(
                "/internal/bootstrap",
                json={"email": "admin@x.io"},
                headers={HEADER: sign(service_principal("test"), KEY)},
            )
            token = r.json()["token"]
        api = await stack.enter_async_context(httpx.AsyncClient(base_url=url, timeout=15))
        r = await api.post("/organization", json={"name": "acme", "plan": "FREE"}, headers=auth(token))
        assert r.status_code == 201, r.text
        yield Env(api, url, token, r.json()["id"])


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Token {token}"}


def assert_error(r: httpx.Response, status: int) -> dict:  # type: ignore[type-arg]
    assert r.status_code == status, r.text
    body = r.json()
    assert KEYS <= body.keys() and body["status"] == status
    return body


ORG = "7f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"


async def test_forwards_with_signed_principal_and_without_credentials(env: Env) -> None:
    r = await env.api.post(
        f"/organization/{env.org}/project?x=1&x=2",
        json={"name": "p"},
        headers={
            **auth(env.token),
            "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            HEADER: "forged-by-the-caller",
        },
    )
    assert r.status_code == 200, r.text
    echoed = r.json()
    assert echoed["principal"]["kind"] == "api_token" and echoed["principal"]["is_admin"] is True
    assert echoed["authorization"] is None  # the caller's secret never travels inside
    assert echoed["query"] == "x=1&x=2" and json.loads(echoed["body"]) == {"name": "p"}
    assert "4bf92f3577b34da6a3ce929d0e0e4736" in echoed["traceparent"]


async def test_missing_bad_and_unsupported_credentials_are_401(env: Env) -> None:
    for headers in (
        {},
        {"Authorization": "Token qov_wrong"},
        {"Authorization": "Basic abc"},
        {"Authorization": "Token"},
        {"Authorization": "Bearer a.b.c"},
    ):
        body = assert_error(await env.api.get(f"/organization/{env.org}/project", headers=headers), 401)
        assert body["path"] == f"/organization/{env.org}/project"


async def test_unknown_route_404_and_wrong_method_405(env: Env) -> None:
    assert_error(await env.api.get("/no/such/thing", headers=auth(env.token)), 404)
    assert_error(await env.api.get("/internal/introspect", headers=auth(env.token)), 404)
    r = await env.api.patch(f"/organization/{env.org}/project", headers=auth(env.token))
    assert_error(r, 405)
    assert "GET" in r.headers["allow"]


async def test_bad_bodies(env: Env) -> None:
    h = auth(env.token)
    ORG = env.org  # noqa: N806
    body = assert_error(
        await env.api.post(
            f"/organization/{ORG}/project", content=b"{oops", headers={**h, "content-type": "application/json"}
        ),
        400,
    )
    assert "malformed JSON" in body["detail"]
    assert_error(
        await env.api.post(
            f"/organization/{ORG}/project", content=b"<x/>", headers={**h, "content-type": "application/xml"}
        ),
        415,
    )
    assert_error(
        await env.api.post(
            f"/organization/{ORG}/project",
            content=b"[" + b"1," * 600_000 + b"1]",
            headers={**h, "content-type": "application/json"},
        ),
        413,
    )


async def test_upstream_errors_pass_through_and_unbuilt_routes_are_501(env: Env) -> None:
    project = "5d9a1f7e-2b3c-4d5e-8f90-1a2b3c4d5e6f"
    PROJECTS[project] = env.org
    assert_error(await env.api.get(f"/project/{project}", headers=auth(env.token)), 409)
    body = assert_error(await env.api.get(f"/organization/{env.org}/cluster", headers=auth(env.token)), 501)
    assert "/organization/{id}/cluster" in body["detail"]


async def test_unreachable_service_is_503(env: Env) -> None:
    body = assert_error(await env.api.get(f"/organization/{env.org}/cluster/status", headers=auth(env.token)), 503)
    assert "unavailable" in body["detail"]


async def test_revoked_token_stops_working_within_the_cache_window(env: Env, database_url: str) -> None:
    assert (await env.api.get(f"/organization/{env.org}/project", headers=auth(env.token))).status_code == 200
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from slipway.db import async_url
    from slipway_stack.testing import wait_until

    engine = create_async_engine(async_url(database_url))
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE iam.api_tokens SET revoked_at = now()"))
    await engine.dispose()

    async def rejected() -> bool:
        return (await env.api.get("/organization", headers=auth(env.token))).status_code == 401

    await wait_until(rejected, timeout=5, message="revoked token still accepted")


async def test_websocket_proxy_with_token_header(env: Env) -> None:
    ws_url = env.url.replace("http://", "ws://") + f"/service/logs?organization={env.org}&service=s1"
    async with websockets.connect(ws_url, additional_headers=auth(env.token), subprotocols=["v1"]) as ws:
        assert ws.subprotocol == "v1"
        hello = json.loads(await ws.recv())
        assert hello["query"] == f"organization={env.org}&service=s1" and hello["subject"]
        await ws.send("ping")
        assert await ws.recv() == "PING"
        await ws.send("bye")
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4001


async def test_websocket_bad_credentials_close_1008(env: Env) -> None:
    ws_url = env.url.replace("http://", "ws://") + "/service/logs?organization=o"
    for kwargs in (
        {},
        {"additional_headers": {"Authorization": "Token qov_bad"}},
        {"subprotocols": ["v1", "auth.bearer.not-a-jwt"]},
    ):
        async with websockets.connect(ws_url, **kwargs) as ws:  # type: ignore[arg-type]
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


async def test_unknown_websocket_endpoint_is_refused(env: Env) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with websockets.connect(
            env.url.replace("http://", "ws://") + "/nope", additional_headers=auth(env.token)
        ):
            pass
    assert refused.value.response.status_code == 403
