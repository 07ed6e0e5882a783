"""Job rules: one source (an image of the organization or a Git repository), a valid schedule, probes on its port."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from catalog.job.schemas import (
    EVENTS,
    CommandOut,
    CronOut,
    DockerSourceOut,
    ImageSourceOut,
    JobRequest,
    JobSchedule,
    JobSource,
    ScheduleOut,
    SourceOut,
)
from catalog.job.schemas import Job as JobOut
from catalog.models import Environment, Service
from catalog.workload import git, restrictions, rules, store
from catalog.workload.rules import MAXIMUM_CPU, MAXIMUM_GPU, MAXIMUM_MEMORY
from catalog.workload.schemas import Healthcheck, Reference
from slipway import cron
from slipway.crypto import Keyring
from slipway.errors import BadRequest
from slipway.timeutil import rfc3339

KIND = "JOB"
DEFAULT_STAGE = "JOB DEFAULT"
DEFAULT_ICON = "app://qovery-console/job"
DEFAULT_TIMEZONE = "Etc/UTC"
REQUIRED_ON_EDIT = ("name", "healthchecks")  # JobRequest's required keys (editJob takes a JobRequest)


async def get(session: AsyncSession, job_id: uuid.UUID) -> Service:
    return await store.get(session, job_id, KIND)


async def listing(session: AsyncSession, environment_id: uuid.UUID) -> list[Service]:
    return await store.listing(session, environment_id, KIND)


def _command(arguments: list[str] | None, entrypoint: str | None) -> dict[str, Any]:
    return {"arguments": arguments or [], "entrypoint": entrypoint}


def _schedule(schedule: JobSchedule) -> tuple[str, dict[str, Any]]:
    """(job_type, the schedule as stored): a cronjob alone, or at least one environment event."""
    events = [e for e in EVENTS if getattr(schedule, e) is not None]
    job = schedule.cronjob
    if job is not None:
        if events:
            raise BadRequest(f"schedule.{events[0]}: a CRON job (cronjob) takes no on_start, on_stop or on_delete")
        try:
            expression = cron.check(job.scheduled_at)
        except cron.CronError as exc:
            raise BadRequest(f"schedule.cronjob.scheduled_at: {exc}") from None
        timezone = job.timezone if job.timezone is not None else DEFAULT_TIMEZONE
        if not cron.known_timezone(timezone):
            raise BadRequest(f"schedule.cronjob.timezone: '{timezone}' is not an IANA time zone (e.g. Europe/Paris)")
        return "CRON", {
            "cronjob": {"scheduled_at": expression, "timezone": timezone, **_command(job.arguments, job.entrypoint)}
        }
    if not events:
        raise BadRequest("schedule: needs a cronjob, or at least one of on_start, on_stop, on_delete")
    stored: dict[str, Any] = {"lifecycle_type": schedule.lifecycle_type or "GENERIC"}
    for event in events:
        command = getattr(schedule, event)
        stored[event] = _command(command.arguments, command.entrypoint)
    return "LIFECYCLE", stored


async def _source(session: AsyncSession, env: Environment, source: JobSource) -> dict[str, Any]:
    if source.image is not None:
        image = source.image
        await rules.registry(session, env.organization_id, image.registry_id, "source.image.registry_id")
        return {"image": {"image_name": image.image_name, "tag": image.tag, "registry_id": str(image.registry_id)}}
    assert source.docker is not None  # JobSource holds exactly one
    docker = source.docker
    if docker.dockerfile_raw is not None:
        raise BadRequest("source.docker.dockerfile_raw: not supported; keep the Dockerfile in the repository")
    if docker.docker_target_build_stage is not None:
        raise BadRequest("source.docker.docker_target_build_stage: not supported; the last stage is built")
    repository = await git.repository(
        session, env.organization_id, docker.git_repository, "source.docker.git_repository"
    )
    dockerfile = git.check_dockerfile_path(docker.dockerfile_path, "source.docker.dockerfile_path")
    return {"docker": {"git_repository": repository, "dockerfile_path": dockerfile}}


def _check_probes(healthchecks: Healthcheck, port: int | None) -> None:
    rules.check_probe_ports(healthchecks, {port} if port is not None else set(), "job")
    for name in rules.PROBES:
        probe = getattr(healthchecks, name)
        if probe is not None and port is None and probe.type.needs_port() and probe.type.port() is None:
            raise BadRequest(f"healthchecks.{name}.type: probes a port, but the job has no port")


def _pinned(previous: dict[str, Any], source: dict[str, Any]) -> str | None:
    """A pinned commit only survives an edit that keeps the same repository and branch."""
    before = previous.get("source", {}).get("docker")
    after = source.get("docker")
    if before is None or after is None:
        return None
    same = git.same_source(before["git_repository"], after["git_repository"])
    return previous.get("git_commit_id") if same else None


async def _config(
    session: AsyncSession, env: Environment, body: JobRequest, previous: dict[str, Any]
) -> dict[str, Any]:
    source = await _source(session, env, body.source)
    job_type, schedule = _schedule(body.schedule)
    if previous and previous["job_type"] != job_type:
        raise BadRequest(f"schedule: a {previous['job_type']} job cannot become a {job_type} job")
    rules.check_resources(body.cpu, body.memory, body.gpu)
    _check_probes(body.healthchecks, body.port)
    return {
        "job_type": job_type,
        "source": source,
        "git_commit_id": _pinned(previous, source),
        "schedule": schedule,
        "cpu": body.cpu,
        "memory": body.memory,
        "max_nb_restart": body.max_nb_restart,
        "max_duration_seconds": body.max_duration_seconds,
        "port": body.port,
        "healthchecks": body.healthchecks.model_dump(mode="json", exclude_none=True),
        "auto_preview": await rules.auto_preview(session, env, body.auto_preview),
        "auto_deploy": bool(body.auto_deploy),
    }


def _as_request(svc: Service) -> dict[str, Any]:
    """The stored job in JobRequest's shape (source and schedule are stored in it): what an edit's omitted keys keep."""
    config = svc.config
    kept = ("cpu", "memory", "max_nb_restart", "max_duration_seconds", "auto_preview", "port", "auto_deploy")
    return {
        "name": svc.name,
        "description": svc.description,
        **{key: config[key] for key in kept},
        "source": config["source"],
        "healthchecks": config["healthchecks"],
        "schedule": config["schedule"],
    }


async def create(session: AsyncSession, env: Environment, body: JobRequest) -> Service:
    config = await _config(session, env, body, {})
    return await store.create(
        session, env, kind=KIND, stage=DEFAULT_STAGE, name=body.name, description=body.description, config=config
    )


async def edit(session: AsyncSession, svc: Service, sent: dict[str, Any]) -> None:
    """`name` and `healthchecks` are required; other omitted keys keep their value; `source`/`schedule` are whole."""
    for key in REQUIRED_ON_EDIT:
        if key not in sent:
            raise BadRequest(f"{key}: Field required")
    await restrictions.lock(session, svc)  # its restrictions are kept: none may be added meanwhile
    body = rules.parse(JobRequest, rules.overlay(_as_request(svc), sent))
    env = await store.environment_of(session, svc)
    config = {**await _config(session, env, body, svc.config), **restrictions.carried(svc.config)}
    await store.update(
        session, svc, name=body.name, config=config, description=body.description, sent="description" in sent
    )


async def delete(session: AsyncSession, svc: Service, keys: Keyring) -> None:
    await store.delete(session, svc, keys)


async def _render_source(session: AsyncSession, source: dict[str, Any]) -> SourceOut:
    if "image" in source:
        image = source["image"]
        registry = await rules.registry_details(session, image["registry_id"])
        return SourceOut(image=ImageSourceOut(**image, registry=registry))
    docker = source["docker"]
    repository = await git.render(session, docker["git_repository"])
    return SourceOut(docker=DockerSourceOut(git_repository=repository, dockerfile_path=docker["dockerfile_path"]))


def _render_schedule(schedule: dict[str, Any]) -> ScheduleOut:
    if "cronjob" in schedule:
        return ScheduleOut(cronjob=CronOut(**schedule["cronjob"]))
    events = {e: CommandOut(**schedule[e]) if e in schedule else None for e in EVENTS}
    return ScheduleOut(
        lifecycle_type=schedule["lifecycle_type"],
        on_start=events["on_start"],
        on_stop=events["on_stop"],
        on_delete=events["on_delete"],
    )


async def render(session: AsyncSession, svc: Service) -> JobOut:
    config = svc.config
    return JobOut(
        id=str(svc.id),
        created_at=rfc3339(svc.created_at),
        updated_at=rfc3339(svc.updated_at or svc.created_at),
        environment=Reference(id=str(svc.environment_id)),
        maximum_cpu=MAXIMUM_CPU,
        maximum_memory=MAXIMUM_MEMORY,
        maximum_gpu=MAXIMUM_GPU,
        name=svc.name,
        description=svc.description,
        cpu=config["cpu"],
        memory=config["memory"],
        gpu=0,  # jobs get no GPU on Slipway (MAXIMUM_GPU)
        max_nb_restart=config["max_nb_restart"],
        max_duration_seconds=config["max_duration_seconds"],
        auto_preview=config["auto_preview"],
        port=config["port"],
        source=await _render_source(session, config["source"]),
        healthchecks=Healthcheck.model_validate(config["healthchecks"]),
        auto_deploy=config["auto_deploy"],
        icon_uri=DEFAULT_ICON,
        job_type=config["job_type"],
        schedule=_render_schedule(config["schedule"]),
        annotations_groups=[],
        labels_groups=[],
    )
