"""Qovery's status routes: a service's, an environment's (with its services, by stage), a project's."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request

from deployer import lookup
from deployer.clients import UpstreamError
from deployer.status import service
from slipway.db import SessionDep
from slipway.errors import NotFound, ServiceUnavailable
from slipway.principal import require_principal

router = APIRouter(dependencies=[Depends(require_principal)])
KINDS = {"application": "APPLICATION", "container": "CONTAINER", "database": "DATABASE", "job": "JOB"}


def _status_route(kind: str) -> Any:
    async def status(service_id: uuid.UUID, request: Request, session: SessionDep) -> dict[str, Any]:
        state = await lookup.service(request, kind, service_id)
        return await service.service_status(session, state, str(service_id))

    return status


for _segment, _kind in KINDS.items():
    router.add_api_route(
        f"/{_segment}/{{service_id}}/status", _status_route(_kind), methods=["GET"], name=f"status_{_segment}"
    )


@router.get("/project/{project_id}/environment/status")
async def project_environments_status(project_id: uuid.UUID, request: Request, session: SessionDep) -> dict[str, Any]:
    try:
        ids = await lookup.catalog(request).project_environments(str(project_id))
    except UpstreamError as exc:
        if exc.status == 404:
            raise NotFound("project not found") from None
        raise ServiceUnavailable(f"catalog: {exc.detail}") from None
    results = []
    for environment_id in ids:
        try:
            results.append(await service.environment_status(session, await lookup.environment(request, environment_id)))
        except NotFound:
            continue  # deleted meanwhile
    return {"results": results}


@router.get("/environment/{environment_id}/status")
async def environment_status(environment_id: uuid.UUID, request: Request, session: SessionDep) -> dict[str, Any]:
    return await service.environment_status(session, await lookup.environment(request, str(environment_id)))


@router.get("/environment/{environment_id}/statuses")
async def environment_statuses(environment_id: uuid.UUID, request: Request, session: SessionDep) -> dict[str, Any]:
    state = await lookup.environment(request, str(environment_id))
    ids = [s.id for s in state.services]
    statuses = await service.service_statuses(session, state, ids)
    return {
        "environment": await service.environment_status(session, state, statuses),
        **service.grouped(state, statuses, ids),
    }


@router.get("/environment/{environment_id}/statusesWithStages")
async def environment_statuses_with_stages(
    environment_id: uuid.UUID, request: Request, session: SessionDep
) -> dict[str, Any]:
    state = await lookup.environment(request, str(environment_id))
    statuses = await service.service_statuses(session, state, [s.id for s in state.services])
    stages = []
    for stage in sorted(state.stages, key=lambda s: s.deployment_order):
        by_kind = service.grouped(state, statuses, stage.service_ids)
        states = {st["state"] for group in by_kind.values() for st in group}
        info = {"id": stage.id, "name": stage.name, "description": "", "status": service.stage_status(states)}
        stages.append({"stage": info, **by_kind})
    return {
        "environment": await service.environment_status(session, state, statuses),
        "stages": stages,
        "pre_check_stage": {"status": "SUCCESS", "total_duration_sec": 0},
    }
