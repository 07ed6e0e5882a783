"""cloneEnvironment: a new environment (any mode, PREVIEW included) with the source's stages, services, variables.

Services get new ids, their stage by name, new host slugs and (databases) a fresh master password;
ENVIRONMENT- and service-scoped variables are copied with their secrets re-encrypted and their
aliases and overrides pointing inside the clone. Custom domains and database data are never copied
(Qovery's rule). Everything is written in the request's transaction: a failure leaves nothing behind.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from catalog.environment import rules
from catalog.environment.clone_services import clone_services
from catalog.environment.clone_variables import clone_variables
from catalog.environment.schemas import CloneEnvironmentRequest
from catalog.environment.service import _cluster_for, _flush, stages
from catalog.events.publish import emit
from catalog.models import DeploymentStage, Environment, Project, Service
from catalog.settings import CatalogSettings
from slipway.contracts import Subjects
from slipway.crypto import Keyring, keyring_from
from slipway.errors import BadRequest
from slipway.principal import Principal


async def clone(
    session: AsyncSession,
    principal: Principal,
    source: Environment,
    body: CloneEnvironmentRequest,
    keys: Keyring | None = None,
) -> Environment:
    """`keys` defaults to the catalog's configured key ring (SLIPWAY_ENCRYPTION_KEYS)."""
    env, _ = await clone_with_services(session, principal, source, body, keys)
    return env


async def clone_with_services(
    session: AsyncSession,
    principal: Principal,
    source: Environment,
    body: CloneEnvironmentRequest,
    keys: Keyring | None = None,
) -> tuple[Environment, dict[uuid.UUID, Service]]:
    """The clone and its services by the id of the service each copies."""
    ring = keys if keys is not None else keyring_from(CatalogSettings())
    project = await session.get(Project, body.project_id or source.project_id)
    if project is None or project.organization_id != source.organization_id:
        raise BadRequest("project_id: no such project in this organization")
    cluster = await _cluster_for(session, source.organization_id, body.cluster_id or source.cluster_id)
    env = Environment(
        id=uuid.uuid4(),
        project_id=project.id,
        organization_id=source.organization_id,
        cluster_id=cluster.id,
        name=body.name,
        mode=body.mode or source.mode,
        last_updated_by=principal.user_id,
    )
    session.add(env)
    await _flush(session, body.name)
    stage_of: dict[uuid.UUID, DeploymentStage] = {}
    for stage in await stages(session, source.id):
        stage_of[stage.id] = DeploymentStage(
            id=uuid.uuid4(),
            environment_id=env.id,
            name=stage.name,
            description=stage.description,
            deployment_order=stage.deployment_order,
        )
        session.add(stage_of[stage.id])
    if body.apply_deployment_rule:
        session.add(rules.copy_to(await rules.rule_of(session, source), env.id))
    await session.flush()
    await emit(
        session,
        Subjects.ENVIRONMENT_CREATED,
        env.organization_id,
        env.id,
        {
            "environment_id": str(env.id),
            "project_id": str(project.id),
            "mode": env.mode,
            "cloned_from": str(source.id),
        },
    )
    services = await clone_services(session, source, env, stage_of, ring)
    await clone_variables(session, source, env, services, ring)
    return env, services
