"""One error model for every service, rendered as Qovery-style JSON error bodies.

Exception tree:

    SlipwayError (500)
      ├── BadRequest (400)      invalid input; `detail` names the field
      ├── Unauthorized (401)    missing or invalid credentials
      ├── Forbidden (403)       authenticated but not allowed
      ├── NotFound (404)        unknown resource or route
      ├── Conflict (409)        name taken, or another action in progress
      ├── PayloadTooLarge (413)
      ├── UnsupportedMediaType (415)
      ├── TooManyRequests (429)  carries `retry_after` seconds
      └── ServiceUnavailable (503)
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from slipway.timeutil import rfc3339, utcnow

log = logging.getLogger("slipway.errors")


class SlipwayError(Exception):
    status_code = 500

    def __init__(self, detail: str = "", *, status_code: int | None = None) -> None:
        if status_code is not None:
            self.status_code = status_code
        self.detail = detail or HTTPStatus(self.status_code).phrase
        super().__init__(self.detail)


class BadRequest(SlipwayError):
    status_code = 400


class Unauthorized(SlipwayError):
    status_code = 401


class Forbidden(SlipwayError):
    status_code = 403


class NotFound(SlipwayError):
    status_code = 404


class Conflict(SlipwayError):
    status_code = 409


class PayloadTooLarge(SlipwayError):
    status_code = 413


class UnsupportedMediaType(SlipwayError):
    status_code = 415


class TooManyRequests(SlipwayError):
    status_code = 429

    def __init__(self, detail: str = "", *, retry_after: int = 1) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class ServiceUnavailable(SlipwayError):
    status_code = 503


def error_body(status: int, detail: str, path: str) -> dict[str, Any]:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return {
        "status": status,
        "error": phrase,
        "detail": detail,
        "message": detail,
        "timestamp": rfc3339(utcnow()),
        "path": path,
    }


def error_response(status: int, detail: str, path: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(status, detail, path), status_code=status, headers=headers)


def _describe_validation_error(err: dict[str, Any]) -> str:
    loc = [str(p) for p in err.get("loc", ()) if p not in ("body",)]
    where = ".".join(loc) if loc else "body"
    if err.get("type") == "json_invalid":
        return f"malformed JSON body: {err.get('ctx', {}).get('error', 'cannot be parsed')}"
    return f"{where}: {err.get('msg', 'invalid value')}"


def validation_detail(errors: list[dict[str, Any]]) -> str:
    return "; ".join(_describe_validation_error(e) for e in errors) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    """Render every error (ours, FastAPI's, Starlette's, unexpected) as a Qovery error body."""

    @app.exception_handler(SlipwayError)
    async def _slipway(request: Request, exc: SlipwayError) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyRequests) else None
        return error_response(exc.status_code, exc.detail, request.url.path, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(400, validation_detail(list(exc.errors())), request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no route matches {request.method} {request.url.path}"
            headers["X-Slipway-No-Route"] = "1"  # lets the gateway tell "not built yet" from "no such thing"
        elif exc.status_code == 405:
            detail = f"method {request.method} is not allowed on {request.url.path}"
        return error_response(exc.status_code, detail, request.url.path, headers or None)

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> JSONResponse:
        # Two concurrent writers raced on a unique key: the loser's transaction rolled back entirely.
        log.info("conflicting write on %s %s: %s", request.method, request.url.path, exc.orig)
        return error_response(409, "a conflicting change was made at the same time; retry", request.url.path)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal error; see the service log", request.url.path)
