"""Deployment log lines in Postgres: idempotent writes, replay pages, the latest execution, retention."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import delete, func, select, tuple_
from sqlalchemy.dialects.postgresql import insert

from logs.deployment.lines import execution_number, line_from_row
from logs.models import DeploymentExecution, DeploymentLogLine
from slipway.db import Database
from slipway.deploylog import DeployLogLine

Line = DeploymentLogLine
Execution = DeploymentExecution
Cursor = tuple[int, str, int]  # (timestamp_ms, source, seq): the order of lines within an execution
PAGE = 1000


async def save(db: Database, lines: Sequence[DeployLogLine]) -> None:
    """Store lines and their executions in one transaction; a line already stored is skipped."""
    executions: dict[str, DeployLogLine] = {}
    for line in lines:
        first = executions.get(line.execution_id)
        if first is None or line.timestamp_ms < first.timestamp_ms:
            executions[line.execution_id] = line
    async with db.transaction() as session:
        await session.execute(
            insert(Execution)
            .values(
                [
                    {
                        "execution_id": e.execution_id,
                        "environment_id": uuid.UUID(e.environment_id),
                        "organization_id": uuid.UUID(e.organization_id),
                        "project_id": uuid.UUID(e.project_id),
                        "number": execution_number(e.execution_id),
                        "first_timestamp_ms": e.timestamp_ms,
                    }
                    for e in executions.values()
                ]
            )
            .on_conflict_do_nothing(index_elements=["execution_id"])
        )
        await session.execute(
            insert(Line)
            .values([_row(line) for line in lines])
            .on_conflict_do_nothing(constraint="uq_deployment_log_lines_line")
        )


def _uuid(value: str | None) -> uuid.UUID | None:
    return uuid.UUID(value) if value else None


def _row(line: DeployLogLine) -> dict[str, object]:
    return {
        "execution_id": line.execution_id,
        "source": line.source,
        "seq": line.seq,
        "environment_id": uuid.UUID(line.environment_id),
        "organization_id": uuid.UUID(line.organization_id),
        "project_id": uuid.UUID(line.project_id),
        "cluster_id": _uuid(line.cluster_id),
        "service_id": _uuid(line.service_id),
        "service_kind": line.service_kind,
        "service_name": line.service_name,
        "stage_id": _uuid(line.stage_id),
        "step": line.step,
        "level": line.level,
        "timestamp_ms": line.timestamp_ms,
        "message": line.message,
    }


async def latest_execution(db: Database, environment_id: str) -> str | None:
    async with db.transaction() as session:
        return await session.scalar(
            select(Execution.execution_id)
            .where(Execution.environment_id == uuid.UUID(environment_id))
            .order_by(Execution.number.desc(), Execution.first_timestamp_ms.desc())
            .limit(1)
        )


async def page(
    db: Database, environment_id: str, execution_id: str, after: Cursor | None, since_ms: int | None = None
) -> list[DeployLogLine]:
    """Up to PAGE lines of an execution of this environment, in order, after `after`."""
    order = (Line.timestamp_ms, Line.source, Line.seq)
    query = select(Line).where(Line.execution_id == execution_id, Line.environment_id == uuid.UUID(environment_id))
    if after is not None:
        query = query.where(tuple_(*order) > tuple_(*after))
    if since_ms is not None:
        query = query.where(Line.timestamp_ms >= since_ms)
    async with db.transaction() as session:
        rows = await session.scalars(query.order_by(*order).limit(PAGE))
        return [line_from_row(row) for row in rows]


async def last_lines(db: Database, environment_id: str, execution_id: str, limit: int) -> list[DeployLogLine]:
    """The last `limit` lines of an execution of this environment, oldest first."""
    query = (
        select(Line)
        .where(Line.execution_id == execution_id, Line.environment_id == uuid.UUID(environment_id))
        .order_by(Line.timestamp_ms.desc(), Line.source.desc(), Line.seq.desc())
        .limit(limit)
    )
    async with db.transaction() as session:
        rows = list(await session.scalars(query))
    return [line_from_row(row) for row in reversed(rows)]


async def prune(db: Database, keep: int) -> int:
    """Delete the lines of every execution older than the newest `keep` of its environment; returns how many
    executions were removed."""
    rank = (
        func.row_number()
        .over(
            partition_by=Execution.environment_id,
            order_by=(Execution.number.desc(), Execution.first_timestamp_ms.desc()),
        )
        .label("rank")
    )
    ranked = select(Execution.execution_id, rank).subquery()
    async with db.transaction() as session:
        old = list(await session.scalars(select(ranked.c.execution_id).where(ranked.c.rank > keep)))
        for start in range(0, len(old), 500):
            chunk = old[start : start + 500]
            await session.execute(delete(Line).where(Line.execution_id.in_(chunk)))
            await session.execute(delete(Execution).where(Execution.execution_id.in_(chunk)))
    return len(old)
