"""Project rules: case-insensitive unique names per organization; deleting removes the environments below."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.events.publish import emit, emit_project_deleted
from catalog.models import Environment, Project
from catalog.project.schemas import Project as ProjectOut
from catalog.project.schemas import ProjectRequest, Reference
from slipway.contracts import Subjects
from slipway.crypto import Keyring
from slipway.db import flush_or_conflict
from slipway.errors import NotFound
from slipway.timeutil import rfc3339, utcnow


async def render(session: AsyncSession, project: Project) -> ProjectOut:
    count = (
        await session.execute(select(func.count()).select_from(Environment).where(Environment.project_id == project.id))
    ).scalar_one()
    return ProjectOut(
        id=str(project.id),
        created_at=rfc3339(project.created_at),
        updated_at=rfc3339(project.updated_at or project.created_at),
        name=project.name,
        description=project.description,
        associated_environments_count=int(count),
        organization=Reference(id=str(project.organization_id)),
    )


async def get(session: AsyncSession, project_id: uuid.UUID) -> Project:
    project = await session.get(Project, project_id)
    if project is None:
        raise NotFound("project not found")
    return project


async def listing(session: AsyncSession, organization_id: uuid.UUID) -> list[Project]:
    rows = await session.execute(
        select(Project).where(Project.organization_id == organization_id).order_by(Project.created_at)
    )
    return list(rows.scalars())


async def _flush(session: AsyncSession, name: str) -> None:
    await flush_or_conflict(session, f"name '{name}' is already taken by another project of this organization")


async def create(session: AsyncSession, organization_id: uuid.UUID, body: ProjectRequest) -> Project:
    project = Project(id=uuid.uuid4(), organization_id=organization_id, name=body.name, description=body.description)
    session.add(project)
    await _flush(session, body.name)
    await emit(
        session,
        Subjects.PROJECT_CREATED,
        organization_id,
        project.id,
        {"project_id": str(project.id), "name": project.name},
    )
    return project


async def edit(session: AsyncSession, project: Project, body: ProjectRequest) -> None:
    project.name = body.name
    if "description" in body.model_fields_set:
        project.description = body.description
    project.updated_at = utcnow()
    await _flush(session, body.name)


async def delete(session: AsyncSession, project: Project, keys: Keyring) -> None:
    await emit_project_deleted(session, project, keys)
    await session.delete(project)
