"""Qovery's deploy/stop/restart/uninstall/cancel actions, statuses and deployment history (gateway-authorized)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Body, Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from deployer import views
from deployer.clients import Catalog, UpstreamError
from deployer.images import database_image, image_ref
from deployer.models import Deployment, DeploymentService, ServiceState
from deployer.queue import QUEUED_STATE, enqueue, running
from deployer.runner import spec_version
from slipway.db import SessionDep
from slipway.desired import DesiredState
from slipway.errors import BadRequest, Conflict, NotFound, ServiceUnavailable
from slipway.principal import Principal, PrincipalDep, require_principal

router = APIRouter(dependencies=[Depends(require_principal)])

KINDS = {"application": "APPLICATION", "container": "CONTAINER", "database": "DATABASE", "job": "JOB"}
ACTIONS = {
    "deploy": "DEPLOY",
    "redeploy": "DEPLOY",
    "stop": "STOP",
    "restart-service": "RESTART",
    "uninstall": "DELETE",
}


class DeployRequest(BaseModel):
    git_commit_id: str = Field(min_length=1, max_length=64)


class ContainerDeployRequest(BaseModel):
    image_tag: str = Field(min_length=1, max_length=128)


class JobDeployRequest(BaseModel):
    image_tag: str | None = Field(default=None, max_length=128)
    git_commit_id: str | None = Field(default=None, max_length=64)


class AppVersion(BaseModel):
    application_id: uuid.UUID
    git_commit_id: str | None = Field(default=None, max_length=64)


class ContainerVersion(BaseModel):
    id: uuid.UUID
    image_tag: str | None = Field(default=None, max_length=128)


class JobVersion(BaseModel):
    id: uuid.UUID
    image_tag: str | None = Field(default=None, max_length=128)
    git_commit_id: str | None = Field(default=None, max_length=64)


class DeployAllRequest(BaseModel):
    applications: list[AppVersion] = Field(default_factory=list)
    containers: list[ContainerVersion] = Field(default_factory=list)
    databases: list[uuid.UUID] = Field(default_factory=list)
    jobs: list[JobVersion] = Field(default_factory=list)
    helms: list[dict[str, Any]] = Field(default_factory=list)
    terraforms: list[dict[str, Any]] = Field(default_factory=list)


class RebootServicesRequest(BaseModel):
    application_ids: list[uuid.UUID] = Field(default_factory=list)
    container_ids: list[uuid.UUID] = Field(default_factory=list)
    database_ids: list[uuid.UUID] = Field(default_factory=list)


class CancelRequest(BaseModel):
    force_cancel: bool | None = None


def catalog(request: Request) -> Catalog:
    return request.app.state.catalog  # type: ignore[no-any-return]


def poke(request: Request) -> None:
    request.app.state.worker.poke()


def who(principal: Principal) -> str | None:
    return str(principal.user_id) if principal.user_id else principal.subject


async def _state(request: Request, environment_id: str) -> DesiredState:
    try:
        return await catalog(request).desired_state(environment_id)
    except UpstreamError as exc:
        if exc.status == 404:
            raise NotFound("environment not found") from None
        raise ServiceUnavailable(f"catalog: {exc.detail}") from None


async def _service(request: Request, kind: str, service_id: uuid.UUID) -> tuple[dict[str, Any], DesiredState]:
    """The service's scope (from catalog) and its environment's desired state; 404 unless of `kind`."""
    try:
        scope = await catalog(request).scope(str(service_id))
    except UpstreamError as exc:
        if exc.status == 404:
            raise NotFound(f"{kind.lower()} not found") from None
        raise ServiceUnavailable(f"catalog: {exc.detail}") from None
    state = await _state(request, scope["environment_id"])
    spec = state.service(str(service_id))
    if spec is None or spec.kind != kind:
        raise NotFound(f"{kind.lower()} not found")
    return scope, state


def _scope_of(state: DesiredState) -> dict[str, Any]:
    return {
        "organization_id": state.organization_id,
        "project_id": state.project_id,
        "environment_id": state.environment_id,
    }


async def _set_version(
    request: Request, service_id: str, *, git_commit_id: str | None = None, image_tag: str | None = None
) -> None:
    if not git_commit_id and not image_tag:
        return
    try:
        await catalog(request).set_version(service_id, git_commit_id=git_commit_id, image_tag=image_tag)
    except UpstreamError as exc:
        if exc.status in (400, 404, 409):
            raise BadRequest(exc.detail) from None
        raise ServiceUnavailable(f"catalog: {exc.detail}") from None


async def _status_of(session: AsyncSession, state: DesiredState, service_id: str) -> dict[str, Any]:
    env_id = uuid.UUID(state.environment_id)
    current = await session.get(ServiceState, uuid.UUID(service_id))
    latest = await views.latest_deployment(session, env_id)
    spec = state.service(service_id)
    desired = None
    if spec is not None and current is not None and current.deployed_image is not None:
        desired = spec_version(spec, current.deployed_image) if spec.git is not None else None
        if spec.git is None:
            desired = spec_version(spec, image_ref(spec) if spec.database is None else database_image(spec))
    executions = await _executions(
        session, [current.last_deployment_id] if current and current.last_deployment_id else []
    )
    return views.service_status(
        service_id,
        current,
        desired_spec=desired,
        latest=latest,
        queued=await views.queued_count(session, env_id),
        execution_ids=executions,
    )


async def _executions(session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    rows = await session.scalars(select(Deployment).where(Deployment.id.in_(ids)))
    return {d.id: d.execution_id for d in rows}


# -- service actions --------------------------------------------------------------------------------------


async def _service_action(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    background: BackgroundTasks,
    kind: str,
    service_id: uuid.UUID,
    action: str,
    versions: dict[str, Any] | None = None,
) -> dict[str, Any]:
    scope, state = await _service(request, kind, service_id)
    if versions:
        await _set_version(request, str(service_id), **versions)
    dep = await enqueue(
        session,
        _scope_of(state),
        action,
        [str(service_id)],
        versions=versions,
        origin=principal.origin,
        triggered_by=who(principal),
    )
    background.add_task(poke, request)
    status = await _status_of(session, state, str(service_id))
    status.update(
        {"state": QUEUED_STATE[action], "deployment_request_id": str(dep.id), "execution_id": dep.execution_id}
    )
    status["status_details"] = {
        "action": "DELETE" if action == "DELETE" else action,
        "status": "QUEUED",
        "sub_action": "NONE",
    }
    return status


@router.post("/application/{service_id}/deploy", status_code=202)
async def deploy_application(
    service_id: uuid.UUID,
    body: DeployRequest,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    background: BackgroundTasks,
) -> dict[str, Any]:
    return await _service_action(
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
    return await _service_action(
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
    if force_event not in (None, "START"):
        raise BadRequest(
            f"forceEvent: running a job's {force_event} event on demand is not supported yet; a deploy runs its START "
            "event (lifecycle jobs) or schedules it (cron jobs)"
        )
    versions = {k: v for k, v in (body.model_dump() if body else {}).items() if v}
    return await _service_action(request, session, principal, background, "JOB", service_id, "DEPLOY", versions or None)


@router.post("/database/{service_id}/deploy", status_code=202)
async def deploy_database(
    service_id: uuid.UUID, request: Request, session: SessionDep, principal: PrincipalDep, background: BackgroundTasks
) -> dict[str, Any]:
    return await _service_action(request, session, principal, background, "DATABASE", service_id, "DEPLOY")


def _action_route(kind: str, action: str) -> Any:
    """A service action handler bound to its kind and action (closed over, never request parameters)."""

    async def handler(
        service_id: uuid.UUID,
        request: Request,
        session: SessionDep,
        principal: PrincipalDep,
        background: BackgroundTasks,
    ) -> dict[str, Any]:
        return await _service_action(request, session, principal, background, kind, service_id, action)

    return handler


def _status_route(kind: str) -> Any:
    async def status(service_id: uuid.UUID, request: Request, session: SessionDep) -> dict[str, Any]:
        _, state = await _service(request, kind, service_id)
        return await _status_of(session, state, str(service_id))

    return status


def _history_route(kind: str) -> Any:
    async def history(
        service_id: uuid.UUID,
        request: Request,
        session: SessionDep,
        page_size: Annotated[int, Query(alias="pageSize", ge=1, le=100)] = 20,
    ) -> dict[str, Any]:
        await _service(request, kind, service_id)
        rows = await session.execute(
            select(Deployment, DeploymentService)
            .join(DeploymentService, DeploymentService.deployment_id == Deployment.id)
            .where(DeploymentService.service_id == service_id)
            .order_by(Deployment.number.desc())
            .limit(page_size)
        )
        return {"page": 1, "page_size": page_size, "results": [views.service_history(d, p) for d, p in rows]}

    return history


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
        router.add_api_route(
            f"/{segment}/{{service_id}}/status", _status_route(kind), methods=["GET"], name=f"status_{segment}"
        )
        router.add_api_route(
            f"/{segment}/{{service_id}}/deploymentHistoryV2",
            _history_route(kind),
            methods=["GET"],
            name=f"history_{segment}",
        )


_register_simple_actions()


# -- environment actions ----------------------------------------------------------------------------------


async def _env_action(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    background: BackgroundTasks,
    environment_id: uuid.UUID,
    action: str,
    service_ids: list[str] | None = None,
    versions: dict[str, Any] | None = None,
) -> tuple[Deployment, DesiredState]:
    state = await _state(request, str(environment_id))
    dep = await enqueue(
        session,
        _scope_of(state),
        action,
        service_ids,
        versions=versions,
        origin=principal.origin,
        triggered_by=who(principal),
    )
    background.add_task(poke, request)
    return dep, state


async def _env_status(session: AsyncSession, state: DesiredState) -> dict[str, Any]:
    env_id = uuid.UUID(state.environment_id)
    latest = await views.latest_deployment(session, env_id)
    last_done = await session.scalar(
        select(Deployment)
        .where(Deployment.environment_id == env_id, Deployment.phase == "DONE")
        .order_by(Deployment.number.desc())
        .limit(1)
    )
    statuses = [await _status_of(session, state, s.id) for s in state.services]
    drifts = {s["service_deployment_status"] for s in statuses}
    drift = "NEVER_DEPLOYED" if latest is None else ("OUT_OF_DATE" if drifts - {"UP_TO_DATE"} else "UP_TO_DATE")
    return views.environment_status(state.environment_id, latest, last_done, drift)


@router.post("/environment/{environment_id}/deploy", status_code=202)
async def deploy_environment(
    environment_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    background: BackgroundTasks,
) -> dict[str, Any]:
    dep, state = await _env_action(request, session, principal, background, environment_id, "DEPLOY")
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


async def _env_status_after(session: AsyncSession, state: DesiredState, dep: Deployment) -> dict[str, Any]:
    body = await _env_status(session, state)
    body.update({"state": dep.status, "deployment_request_id": str(dep.id)})
    return body


def _env_action_route(action: str) -> Any:
    """redeploy / stop an environment: queue the action, answer the environment's status (Qovery's body)."""

    async def handler(
        environment_id: uuid.UUID,
        request: Request,
        session: SessionDep,
        principal: PrincipalDep,
        background: BackgroundTasks,
    ) -> dict[str, Any]:
        dep, state = await _env_action(request, session, principal, background, environment_id, action)
        return await _env_status_after(session, state, dep)

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
    await _env_action(request, session, principal, background, environment_id, "DELETE")
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
    state = await _state(request, str(environment_id))
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
    for sid, _, version in wanted:
        chosen = {k: v for k, v in version.items() if v}
        if chosen:
            await _set_version(request, sid, **chosen)
            versions[sid] = chosen
    dep = await enqueue(
        session,
        _scope_of(state),
        "DEPLOY",
        [w[0] for w in wanted],
        versions=versions,
        origin=principal.origin,
        triggered_by=who(principal),
    )
    background.add_task(poke, request)
    return await _env_status_after(session, state, dep)


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
    state = await _state(request, str(environment_id))
    for sid in ids:
        if state.service(sid) is None:
            raise BadRequest(f"{sid} is not a service of this environment")
    dep = await enqueue(session, _scope_of(state), "RESTART", ids, origin=principal.origin, triggered_by=who(principal))
    background.add_task(poke, request)
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
    state = await _state(request, str(environment_id))
    current = await running(session, environment_id)
    if current is None:
        raise Conflict("no deployment is running in this environment")
    current.cancel_requested = True
    await session.flush()
    background.add_task(poke, request)
    body_out = await _env_status(session, state)
    body_out.update({"state": "CANCELING", "deployment_request_id": str(current.id)})
    return body_out


@router.get("/project/{project_id}/environment/status")
async def project_environments_status(project_id: uuid.UUID, request: Request, session: SessionDep) -> dict[str, Any]:
    try:
        ids = await catalog(request).project_environments(str(project_id))
    except UpstreamError as exc:
        if exc.status == 404:
            raise NotFound("project not found") from None
        raise ServiceUnavailable(f"catalog: {exc.detail}") from None
    results = []
    for environment_id in ids:
        try:
            results.append(await _env_status(session, await _state(request, environment_id)))
        except NotFound:
            continue  # deleted meanwhile
    return {"results": results}


@router.get("/environment/{environment_id}/status")
async def environment_status(environment_id: uuid.UUID, request: Request, session: SessionDep) -> dict[str, Any]:
    return await _env_status(session, await _state(request, str(environment_id)))


async def _statuses(session: AsyncSession, state: DesiredState, service_ids: list[str]) -> dict[str, list[Any]]:
    grouped: dict[str, list[Any]] = {
        k: [] for k in ("applications", "containers", "jobs", "databases", "helms", "terraforms")
    }
    for sid in service_ids:
        spec = state.service(sid)
        if spec is not None:
            grouped[views.KIND_KEYS[spec.kind]].append(await _status_of(session, state, sid))
    return grouped


@router.get("/environment/{environment_id}/statuses")
async def environment_statuses(environment_id: uuid.UUID, request: Request, session: SessionDep) -> dict[str, Any]:
    state = await _state(request, str(environment_id))
    return {
        "environment": await _env_status(session, state),
        **await _statuses(session, state, [s.id for s in state.services]),
    }


def _stage_status(states: set[str]) -> str:
    """StageStatusEnum from the states of the stage's services."""
    if any(s.endswith("ERROR") for s in states):
        return "ERROR"
    if states and states <= {"CANCELED"}:
        return "CANCELED"
    if states and all(s.endswith("QUEUED") for s in states):
        return "QUEUED"
    if states & {"BUILDING", "DEPLOYING", "STOPPING", "RESTARTING", "DELETING", "CANCELING"}:
        return "ONGOING"
    if not states or states <= {"READY"}:
        return "QUEUED"
    return "DONE"


@router.get("/environment/{environment_id}/statusesWithStages")
async def environment_statuses_with_stages(
    environment_id: uuid.UUID, request: Request, session: SessionDep
) -> dict[str, Any]:
    state = await _state(request, str(environment_id))
    stages = []
    for stage in sorted(state.stages, key=lambda s: s.deployment_order):
        grouped = await _statuses(session, state, stage.service_ids)
        states = {st["state"] for group in grouped.values() for st in group}
        stage_info = {"id": stage.id, "name": stage.name, "description": "", "status": _stage_status(states)}
        stages.append({"stage": stage_info, **grouped})
    return {
        "environment": await _env_status(session, state),
        "stages": stages,
        "pre_check_stage": {"status": "SUCCESS", "total_duration_sec": 0},
    }


@router.get("/environment/{environment_id}/deploymentHistory")
async def environment_history(
    environment_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    start_id: Annotated[uuid.UUID | None, Query(alias="startId")] = None,
) -> dict[str, Any]:
    await _state(request, str(environment_id))
    query = select(Deployment).where(Deployment.environment_id == environment_id)
    if start_id is not None:
        anchor = await session.get(Deployment, start_id)
        if anchor is None or anchor.environment_id != environment_id:
            raise BadRequest("startId: no such deployment in this environment")
        query = query.where(Deployment.number < anchor.number)
    deps = list(await session.scalars(query.order_by(Deployment.number.desc()).limit(20)))
    parts = await _parts(session, [d.id for d in deps])
    return {"page": 1, "page_size": 20, "results": [views.history_v1(d, parts.get(d.id, [])) for d in deps]}


async def _parts(session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, list[DeploymentService]]:
    out: dict[uuid.UUID, list[DeploymentService]] = {}
    if ids:
        for part in await session.scalars(select(DeploymentService).where(DeploymentService.deployment_id.in_(ids))):
            out.setdefault(part.deployment_id, []).append(part)
    return out


@router.get("/environment/{environment_id}/deploymentHistoryV2")
async def environment_history_v2(
    environment_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    page_size: Annotated[int, Query(alias="pageSize", ge=1, le=100)] = 20,
) -> dict[str, Any]:
    state = await _state(request, str(environment_id))
    names = {s.id: s.name for s in state.stages}
    deps = list(
        await session.scalars(
            select(Deployment)
            .where(Deployment.environment_id == environment_id)
            .order_by(Deployment.number.desc())
            .limit(page_size)
        )
    )
    parts = await _parts(session, [d.id for d in deps])
    return {
        "page": 1,
        "page_size": page_size,
        "results": [views.environment_history_v2(d, parts.get(d.id, []), names) for d in deps],
    }
