"""Every error is a Qovery-style body with the right status, never a 500 or a stack trace."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, Field

from slipway.bodyguard import BodyGuard
from slipway.errors import Conflict, install_error_handlers

KEYS = {"status", "error", "detail", "message", "timestamp", "path"}


class Thing(BaseModel):
    name: str = Field(min_length=1)
    size: int


def make_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/things", status_code=201)
    async def create(thing: Thing) -> Thing:
        if thing.name == "taken":
            raise Conflict("name 'taken' is already taken")
        return thing

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals qov_abcdefghijklmnop")

    app.add_middleware(BodyGuard, max_body_bytes=1000, other_types=[(r"/yaml$", {"application/x-yaml"})])
    return app


@pytest.fixture
async def client():  # type: ignore[no-untyped-def]
    transport = httpx.ASGITransport(app=make_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c


def assert_error(response: httpx.Response, status: int) -> dict:  # type: ignore[type-arg]
    assert response.status_code == status, response.text
    body = response.json()
    assert KEYS <= body.keys()
    assert body["status"] == status
    assert body["message"] == body["detail"]
    assert body["timestamp"].endswith("Z")
    return body


async def test_success_passes_through(client: httpx.AsyncClient) -> None:
    r = await client.post("/things", json={"name": "a", "size": 1})
    assert r.status_code == 201 and r.json() == {"name": "a", "size": 1}


async def test_unknown_route_is_404(client: httpx.AsyncClient) -> None:
    body = assert_error(await client.get("/nope"), 404)
    assert body["error"] == "Not Found" and body["path"] == "/nope"


async def test_wrong_method_is_405(client: httpx.AsyncClient) -> None:
    assert_error(await client.delete("/things"), 405)


async def test_validation_error_is_400_with_field(client: httpx.AsyncClient) -> None:
    body = assert_error(await client.post("/things", json={"name": "", "size": "big"}), 400)
    assert "name" in body["detail"] and "size" in body["detail"]


async def test_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    r = await client.post("/things", content=b'{"name": ', headers={"content-type": "application/json"})
    body = assert_error(r, 400)
    assert "JSON" in body["detail"]


async def test_wrong_content_type_is_415(client: httpx.AsyncClient) -> None:
    r = await client.post("/things", content=b"name=a", headers={"content-type": "application/x-www-form-urlencoded"})
    assert_error(r, 415)


async def test_extra_media_type_is_accepted_where_declared(client: httpx.AsyncClient) -> None:
    r = await client.post("/yaml", content=b"a: 1", headers={"content-type": "application/x-yaml"})
    assert_error(r, 404)  # passed the guard, no such route


async def test_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    r = await client.post("/things", content=b"x" * 2000, headers={"content-type": "application/json"})
    assert_error(r, 413)


async def test_oversized_chunked_body_is_413(client: httpx.AsyncClient) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(10):
            yield b"x" * 200

    r = await client.post("/things", content=chunks(), headers={"content-type": "application/json"})
    assert_error(r, 413)


async def test_chunked_body_under_limit_reaches_handler(client: httpx.AsyncClient) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        yield b'{"name": "a",'
        yield b' "size": 3}'

    r = await client.post("/things", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 201 and r.json()["size"] == 3


async def test_domain_error_carries_its_status(client: httpx.AsyncClient) -> None:
    body = assert_error(await client.post("/things", json={"name": "taken", "size": 1}), 409)
    assert "already taken" in body["detail"]


async def test_unexpected_error_is_500_without_internals(client: httpx.AsyncClient) -> None:
    r = await client.get("/boom")
    body = assert_error(r, 500)
    assert "qov_" not in r.text and "RuntimeError" not in r.text and "Traceback" not in r.text
    assert body["detail"] == "internal error; see the service log"


async def test_unique_race_is_409_not_500() -> None:
    from sqlalchemy.exc import IntegrityError

    app = FastAPI()
    install_error_handlers(app)

    @app.post("/race")
    async def race() -> None:
        raise IntegrityError("INSERT ...", {}, Exception("duplicate key value violates unique constraint"))

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        body = assert_error(await c.post("/race"), 409)
    assert "retry" in body["detail"] and "duplicate key" not in body["detail"]
