"""`/healthz` (process alive) and `/readyz` (database and NATS reachable) for every service."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

Check = Callable[[], Awaitable[None]]


def health_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/healthz")
    async def healthz(request: Request) -> dict[str, str]:
        return {"status": "ok", "service": request.app.state.settings.service_name}

    @router.get("/readyz")
    async def readyz(request: Request) -> JSONResponse:
        checks: dict[str, Check] = request.app.state.readiness_checks
        results = await asyncio.gather(*(check() for check in checks.values()), return_exceptions=True)
        report = {
            name: ("ok" if not isinstance(result, BaseException) else f"error: {type(result).__name__}: {result}")
            for name, result in zip(checks, results, strict=True)
        }
        ready = all(v == "ok" for v in report.values())
        body = {"status": "ready" if ready else "not ready", "checks": report}
        return JSONResponse(body, status_code=200 if ready else 503)

    return router
