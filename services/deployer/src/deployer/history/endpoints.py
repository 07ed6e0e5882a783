"""Qovery's deployment-history routes: per service (v2) and per environment (v1 and v2)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from deployer import lookup, repository
from deployer.history import views
from deployer.models import Deployment
from deployer.status.endpoints import KINDS
from slipway.db import SessionDep
from slipway.errors import BadRequest
from slipway.principal import require_principal

router = APIRouter(dependencies=[Depends(require_principal)])
PageSize = Annotated[int, Query(alias="pageSize", ge=1, le=100)]


def _history_route(kind: str) -> Any:
    async def history(
        service_id: uuid.UUID, request: Request, session: SessionDep, page_size: PageSize = 20
    ) -> dict[str, Any]:
        await lookup.service(request, kind, service_id)
        rows = await repository.service_history(session, service_id, page_size)
        return {"page": 1, "page_size": page_size, "results": [views.service_history(d, p) for d, p in rows]}

    return history


for _segment, _kind in KINDS.items():
    router.add_api_route(
        f"/{_segment}/{{service_id}}/deploymentHistoryV2",
        _history_route(_kind),
        methods=["GET"],
        name=f"history_{_segment}",
    )


@router.get("/environment/{environment_id}/deploymentHistory")
async def environment_history(
    environment_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    start_id: Annotated[uuid.UUID | None, Query(alias="startId")] = None,
) -> dict[str, Any]:
    await lookup.environment(request, str(environment_id))
    before = None
    if start_id is not None:
        anchor = await session.get(Deployment, start_id)
        if anchor is None or anchor.environment_id != environment_id:
            raise BadRequest("startId: no such deployment in this environment")
        before = anchor.number
    deps = await repository.environment_deployments(session, environment_id, 20, before)
    parts = await repository.parts(session, [d.id for d in deps])
    return {"page": 1, "page_size": 20, "results": [views.history_v1(d, parts.get(d.id, [])) for d in deps]}


@router.get("/environment/{environment_id}/deploymentHistoryV2")
async def environment_history_v2(
    environment_id: uuid.UUID, request: Request, session: SessionDep, page_size: PageSize = 20
) -> dict[str, Any]:
    state = await lookup.environment(request, str(environment_id))
    names = {s.id: s.name for s in state.stages}
    deps = await repository.environment_deployments(session, environment_id, page_size)
    parts = await repository.parts(session, [d.id for d in deps])
    return {
        "page": 1,
        "page_size": page_size,
        "results": [views.environment_history_v2(d, parts.get(d.id, []), names) for d in deps],
    }
