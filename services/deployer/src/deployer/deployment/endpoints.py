"""Qovery's deploy/stop/restart/uninstall/cancel routes for services and environments (gateway-authorized)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Body, Depends, Query, Request

from deployer import lookup, queue
from deployer.deployment import service as actions
from deployer.deployment.schemas import (
    CancelRequest,
    ContainerDeployRequest,
    DeployAllRequest,
    DeployRequest,
    JobDeployRequest,
    RebootServicesRequest,
)
from deployer.status import service as status
from deployer.status.endpoints import KINDS
from slipway.db import SessionDep
from slipway.errors import BadRequest, Conflict
from slipway.principal import PrincipalDep, require_principal

router = APIRouter(dependencies=[Depends(require_principal)])

ACTIONS = {
    "deploy": "DEPLOY",
    "redeploy": "DEPLOY",
    "stop": "STOP",
    "restart-service": "RESTART",
    "uninstall": "DELETE",
}


@router.post("/application/{service_id}/deploy", status_code=202)
async def deploy_application(
    service_id: uuid.UUID,
    body: DeployRequest,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    background: BackgroundTasks,
) -> dict[str, Any]:
    return await actions.service_action(
        request,
        session,
        principal,
        background,
        "APPLICATION",
        service_id,
        "DEPLOY",
        {"git_commit_id": body.git_commit_id},
    )


@router.post("/container/{service_id}/deploy", status_code=202)
async def deploy_container(
    service_id: uuid.UUID,
    body: ContainerDeployRequest,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    background: BackgroundTasks,
) -> dict[str, Any]:
    return await actions.service_action(
        request, session, principal, background, "CONTAINER", service_id, "DEPLOY", {"image_tag": body.image_tag}
    )


@router.post("/job/{service_id}/deploy", status_code=202)
async def deploy_job(
    service_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    background: BackgroundTasks,
    body: Annotated[JobDeployRequest | None, Body()] = None,
    force_event: Annotated[Literal["START", "STOP", "DELETE", "CRON"] | None, Query(alias="forceEvent")] = None,
) -> dict[str, Any]:
    versions = {k: v for k, v in (body.model_dump() if body else {}).items() if v}
    return await actions.service_action(
        request, session, principal, background, "JOB", service_id, "DEPLOY", versions or None, force_event
    )


@router.post("/database/{service_id}/deploy", status_code=202)
async def deploy_database(
    service_id: uuid.UUID, request: Request, session: SessionDep, principal: PrincipalDep, background: BackgroundTasks
) -> dict[str, Any]:
    return await actions.service_action(request, session, principal, background, "DATABASE", service_id, "DEPLOY")


def _action_route(kind: str, action: str) -> Any:
    """A service action handler bound to its kind and action (closed over, never request parameters)."""

    async def handler(
        service_id: uuid.UUID,
        request: Request,
        session: SessionDep,
        principal: PrincipalDep,
        background: BackgroundTasks,
    ) -> dict[str, Any]:
        return await actions.service_action(request, session, principal, background, kind, service_id, action)

    return handler


def _register_simple_actions() -> None:
    for segment, kind in KINDS.items():
        for verb, action in ACTIONS.items():
            if verb != "deploy":
                router.add_api_route(
                    f"/{segment}/{{service_id}}/{verb}",
                    _action_route(kind, action),
                    methods=["POST"],
                    status_code=202,
                    name=f"{verb}_{segment}",
                )


_register_simple_actions()


@router.post("/environment/{environment_id}/deploy", status_code=202)
async def deploy_environment(
    environment_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    background: BackgroundTasks,
) -> dict[str, Any]:
    dep, state = await actions.env_action(request, session, principal, background, environment_id, "DEPLOY")
    return {
        "id": str(environment_id),
        "state": "DEPLOYMENT_QUEUED",
        "service_deployment_status": "OUT_OF_DATE",
        "is_part_last_deployment": True,
        "execution_id": dep.execution_id,
        "status_details": {"action": "DEPLOY", "status": "QUEUED", "sub_action": "NONE"},
        "deployment_request_id": str(dep.id),
        "deployment_requests_count": 1,
    }


def _env_action_route(action: str) -> Any:
    """redeploy / stop an environment: queue the action, answer the environment's status (Qovery's body)."""

    async def handler(
        environment_id: uuid.UUID,
        request: Request,
        session: SessionDep,
        principal: PrincipalDep,
        background: BackgroundTasks,
    ) -> dict[str, Any]:
        dep, state = await actions.env_action(request, session, principal, background, environment_id, action)
        return await actions.env_status_after(session, state, dep)

    return handler


for _verb, _action in (("redeploy", "DEPLOY"), ("stop", "STOP")):
    router.add_api_route(
        f"/environment/{{environment_id}}/{_verb}",
        _env_action_route(_action),
        methods=["POST"],
        status_code=202,
        name=f"{_verb}_environment",
    )


@router.post("/environment/{environment_id}/uninstall", status_code=202)
async def uninstall_environment(
    environment_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    background: BackgroundTasks,
) -> dict[str, Any]:
    await actions.env_action(request, session, principal, background, environment_id, "DELETE")
    return {}


@router.post("/environment/{environment_id}/service/deploy", status_code=202)
async def deploy_all_services(
    environment_id: uuid.UUID,
    body: DeployAllRequest,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    background: BackgroundTasks,
) -> dict[str, Any]:
    state = await lookup.environment(request, str(environment_id))
    if body.helms or body.terraforms:
        raise BadRequest("helms/terraforms: Slipway does not deploy Helm or Terraform services yet")
    wanted: list[tuple[str, str, dict[str, Any]]] = (
        [(str(a.application_id), "APPLICATION", {"git_commit_id": a.git_commit_id}) for a in body.applications]
        + [(str(c.id), "CONTAINER", {"image_tag": c.image_tag}) for c in body.containers]
        + [(str(d), "DATABASE", {}) for d in body.databases]
        + [(str(j.id), "JOB", {"image_tag": j.image_tag, "git_commit_id": j.git_commit_id}) for j in body.jobs]
    )
    if not wanted:
        raise BadRequest("no service to deploy: list at least one application, container, database or job")
    for i, (sid, kind, _) in enumerate(wanted):
        spec = state.service(sid)
        if spec is None or spec.kind != kind:
            raise BadRequest(f"{KIND_FIELD[kind]}.{i}: {sid} is not a {kind.lower()} of this environment")
    versions = {}
    for sid, kind, version in wanted:
        chosen = {k: v for k, v in version.items() if v}
        if chosen:
            await lookup.set_version(request, sid, kind, **chosen)
            versions[sid] = chosen
    dep = await queue.enqueue(
        session,
        lookup.scope_of(state),
        "DEPLOY",
        [w[0] for w in wanted],
        versions=versions,
        origin=principal.origin,
        triggered_by=lookup.who(principal),
    )
    background.add_task(lookup.poke, request)
    return await actions.env_status_after(session, state, dep)


KIND_FIELD = {"APPLICATION": "applications", "CONTAINER": "containers", "DATABASE": "databases", "JOB": "jobs"}


@router.post("/environment/{environment_id}/service/restart-service", status_code=202)
async def reboot_services(
    environment_id: uuid.UUID,
    body: RebootServicesRequest,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    background: BackgroundTasks,
) -> dict[str, Any]:
    ids = [str(i) for i in [*body.application_ids, *body.container_ids, *body.database_ids]]
    if not ids:
        raise BadRequest("no service to restart")
    state = await lookup.environment(request, str(environment_id))
    for sid in ids:
        if state.service(sid) is None:
            raise BadRequest(f"{sid} is not a service of this environment")
    dep = await queue.enqueue(
        session, lookup.scope_of(state), "RESTART", ids, origin=principal.origin, triggered_by=lookup.who(principal)
    )
    background.add_task(lookup.poke, request)
    return {
        "id": str(environment_id),
        "state": dep.status,
        "service_deployment_status": "UP_TO_DATE",
        "is_part_last_deployment": True,
        "execution_id": dep.execution_id,
        "status_details": {"action": "RESTART", "status": "QUEUED", "sub_action": "NONE"},
        "deployment_request_id": str(dep.id),
        "deployment_requests_count": 1,
    }


@router.post("/environment/{environment_id}/cancelDeployment", status_code=202)
async def cancel_deployment(
    environment_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    background: BackgroundTasks,
    body: Annotated[CancelRequest | None, Body()] = None,
) -> dict[str, Any]:
    state = await lookup.environment(request, str(environment_id))
    current = await queue.running(session, environment_id)
    if current is None:
        raise Conflict("no deployment is running in this environment")
    current.cancel_requested = True
    await session.flush()
    background.add_task(lookup.poke, request)
    body_out = await status.environment_status(session, state)
    body_out.update({"state": "CANCELING", "deployment_request_id": str(current.id)})
    return body_out
