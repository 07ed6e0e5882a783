"""Environment rules: modes, the cluster it runs on, default stages; deletion tells the deployer."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.environment.schemas import (
    CloudProvider,
    CreateEnvironmentRequest,
    DeploymentStageService,
    EnvironmentEditRequest,
    Reference,
)
from catalog.environment.schemas import DeploymentStage as StageOut
from catalog.environment.schemas import Environment as EnvironmentOut
from catalog.events.publish import emit, emit_environment_deleted
from catalog.models import Cluster, DeploymentStage, Environment, Project, Service
from slipway.contracts import Subjects
from slipway.crypto import Keyring
from slipway.db import flush_or_conflict
from slipway.errors import BadRequest, NotFound
from slipway.principal import Principal
from slipway.timeutil import rfc3339, utcnow

# Qovery's default stages, deployed in this order (ARCHITECTURE §2).
DEFAULT_STAGES = ["DATABASE DEFAULT", "JOB DEFAULT", "CONTAINER DEFAULT", "APPLICATION DEFAULT"]


async def render(session: AsyncSession, env: Environment) -> EnvironmentOut:
    cluster = await session.get(Cluster, env.cluster_id)
    return EnvironmentOut(
        id=str(env.id),
        created_at=rfc3339(env.created_at),
        updated_at=rfc3339(env.updated_at or env.created_at),
        name=env.name,
        organization=Reference(id=str(env.organization_id)),
        project=Reference(id=str(env.project_id)),
        last_updated_by=str(env.last_updated_by) if env.last_updated_by else None,
        cloud_provider=CloudProvider(
            provider=cluster.cloud_provider if cluster else "ON_PREMISE", cluster=cluster.region if cluster else ""
        ),
        mode=env.mode,
        cluster_id=str(env.cluster_id),
        cluster_name=cluster.name if cluster else "",
        expires_at=rfc3339(env.expires_at) if env.expires_at else None,
    )


async def get(session: AsyncSession, environment_id: uuid.UUID) -> Environment:
    env = await session.get(Environment, environment_id)
    if env is None:
        raise NotFound("environment not found")
    return env


async def listing(session: AsyncSession, project_id: uuid.UUID) -> list[Environment]:
    rows = await session.execute(
        select(Environment).where(Environment.project_id == project_id).order_by(Environment.created_at)
    )
    return list(rows.scalars())


async def _cluster_for(session: AsyncSession, organization_id: uuid.UUID, cluster_id: uuid.UUID | None) -> Cluster:
    if cluster_id is None:
        default = (
            await session.execute(
                select(Cluster).where(Cluster.organization_id == organization_id, Cluster.is_default.is_(True))
            )
        ).scalar_one_or_none()
        if default is None:
            raise BadRequest("cluster: the organization has no default cluster; name one")
        return default
    cluster = await session.get(Cluster, cluster_id)
    if cluster is None or cluster.organization_id != organization_id:
        raise BadRequest("cluster: no such cluster in this organization")
    return cluster


async def _flush(session: AsyncSession, name: str) -> None:
    await flush_or_conflict(session, f"name '{name}' is already taken by another environment of this project")


async def create(
    session: AsyncSession, principal: Principal, project: Project, body: CreateEnvironmentRequest
) -> Environment:
    cluster = await _cluster_for(session, project.organization_id, body.cluster)
    env = Environment(
        id=uuid.uuid4(),
        project_id=project.id,
        organization_id=project.organization_id,
        cluster_id=cluster.id,
        name=body.name,
        mode=body.mode,
        last_updated_by=principal.user_id,
    )
    session.add(env)
    await _flush(session, body.name)
    for order, name in enumerate(DEFAULT_STAGES, start=1):
        session.add(
            DeploymentStage(id=uuid.uuid4(), environment_id=env.id, name=name, deployment_order=order, description="")
        )
    await session.flush()
    await emit(
        session,
        Subjects.ENVIRONMENT_CREATED,
        env.organization_id,
        env.id,
        {"environment_id": str(env.id), "project_id": str(project.id), "mode": env.mode},
    )
    return env


async def edit(session: AsyncSession, principal: Principal, env: Environment, body: EnvironmentEditRequest) -> None:
    if body.name is not None:
        env.name = body.name
    if body.mode is not None:
        if env.mode == "PREVIEW":
            raise BadRequest("mode: a preview environment keeps its mode")
        env.mode = body.mode
    env.last_updated_by = principal.user_id
    env.updated_at = utcnow()
    await _flush(session, env.name)
    await emit(
        session,
        Subjects.ENVIRONMENT_UPDATED,
        env.organization_id,
        env.id,
        {"environment_id": str(env.id), "mode": env.mode},
    )


async def delete(session: AsyncSession, env: Environment, keys: Keyring) -> None:
    await emit_environment_deleted(session, env, keys)
    await session.delete(env)


def render_stage(stage: DeploymentStage, services: Sequence[Service] = ()) -> StageOut:
    return StageOut(
        id=str(stage.id),
        created_at=rfc3339(stage.created_at),
        updated_at=rfc3339(stage.updated_at or stage.created_at),
        environment=Reference(id=str(stage.environment_id)),
        name=stage.name,
        description=stage.description or "",
        deployment_order=stage.deployment_order,
        services=[
            DeploymentStageService(
                id=str(s.id),
                created_at=rfc3339(s.created_at),
                updated_at=rfc3339(s.updated_at or s.created_at),
                service_id=str(s.id),
                service_type=s.kind,
                is_skipped=s.is_skipped,
            )
            for s in services
        ],
    )


async def render_stages(session: AsyncSession, ordered: Sequence[DeploymentStage]) -> list[StageOut]:
    """The stages with the services attached to each (in creation order)."""
    attached: dict[uuid.UUID, list[Service]] = {s.id: [] for s in ordered}
    if attached:
        rows = await session.execute(
            select(Service)
            .where(Service.deployment_stage_id.in_(list(attached)))
            .order_by(Service.created_at, Service.id)
        )
        for svc in rows.scalars():
            if svc.deployment_stage_id is not None:
                attached[svc.deployment_stage_id].append(svc)
    return [render_stage(s, attached[s.id]) for s in ordered]


async def stages(session: AsyncSession, environment_id: uuid.UUID) -> list[DeploymentStage]:
    rows = await session.execute(
        select(DeploymentStage)
        .where(DeploymentStage.environment_id == environment_id)
        .order_by(DeploymentStage.deployment_order)
    )
    return list(rows.scalars())


async def add_stage(session: AsyncSession, env: Environment, name: str, description: str | None) -> DeploymentStage:
    last = (
        await session.execute(
            select(func.max(DeploymentStage.deployment_order)).where(DeploymentStage.environment_id == env.id)
        )
    ).scalar_one()
    stage = DeploymentStage(
        id=uuid.uuid4(), environment_id=env.id, name=name, description=description, deployment_order=(last or 0) + 1
    )
    session.add(stage)
    await flush_or_conflict(session, f"a deployment stage named '{name}' already exists in this environment")
    return stage
