"""Job outputs: a job's run reports what it wrote to /qovery-output/qovery-output.json; every service of its
environment then sees `QOVERY_OUTPUT_JOB_Z<short id>_<KEY>` (sensitive values encrypted at rest, shown as secrets)."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.models import JobOutput, Service
from slipway.crypto import Keyring
from slipway.joboutput import OutputValue, output_head


def output_context(job_id: uuid.UUID, key: str) -> str:
    return f"job:{job_id}:output:{key}"


def variable_key(job_id: uuid.UUID, key: str) -> str:
    return f"QOVERY_OUTPUT_JOB_{output_head(str(job_id))}_{key}"


async def replace(
    session: AsyncSession, job: Service, execution_id: str, outputs: dict[str, OutputValue], keys: Keyring
) -> None:
    """The job's outputs become exactly these (a run's file is the whole truth: keys it no longer writes go)."""
    await session.execute(delete(JobOutput).where(JobOutput.job_id == job.id))
    for key, out in sorted(outputs.items()):
        session.add(
            JobOutput(
                job_id=job.id,
                key=key,
                environment_id=job.environment_id,
                value=None if out.sensitive else out.value,
                value_encrypted=keys.encrypt(out.value, output_context(job.id, key)) if out.sensitive else None,
                sensitive=out.sensitive,
                execution_id=execution_id[:160],
            )
        )
    await session.flush()


async def of_environment(session: AsyncSession, environment_id: uuid.UUID) -> list[JobOutput]:
    rows = await session.scalars(
        select(JobOutput).where(JobOutput.environment_id == environment_id).order_by(JobOutput.job_id, JobOutput.key)
    )
    return list(rows)


def reveal(row: JobOutput, keys: Keyring) -> str:
    if row.value_encrypted is None:
        return row.value or ""
    return keys.decrypt(row.value_encrypted, output_context(row.job_id, row.key))
