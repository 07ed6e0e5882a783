"""cloneEnvironment: a new environment (any mode, PREVIEW included) with the source's stages and rule.

Services and variables join the copy once they exist in the catalog; custom domains and database
data are never copied (Qovery's rule).
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from catalog.environment import rules
from catalog.environment.schemas import CloneEnvironmentRequest
from catalog.environment.service import _cluster_for, _flush, stages
from catalog.events.publish import emit
from catalog.models import DeploymentStage, Environment, Project
from slipway.contracts import Subjects
from slipway.errors import BadRequest
from slipway.principal import Principal


async def clone(
    session: AsyncSession, principal: Principal, source: Environment, body: CloneEnvironmentRequest
) -> Environment:
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
    for stage in await stages(session, source.id):
        session.add(
            DeploymentStage(
                id=uuid.uuid4(),
                environment_id=env.id,
                name=stage.name,
                description=stage.description,
                deployment_order=stage.deployment_order,
            )
        )
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
    return env
