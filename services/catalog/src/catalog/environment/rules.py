"""Environment deployment rules: preview behaviour and the start/stop schedule."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, field_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.models import DeploymentRule, Environment
from slipway.errors import NotFound
from slipway.timeutil import rfc3339, utcnow

Weekday = Literal["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"]
WORKDAYS = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"]


class DeploymentRuleEditRequest(BaseModel):
    on_demand_preview: bool = False
    auto_preview: bool = False
    auto_stop: bool = False
    timezone: str
    start_time: datetime  # Qovery sends a date-time on 1970-01-01; only the time of day counts
    stop_time: datetime
    weekdays: list[Weekday]

    @field_validator("timezone")
    @classmethod
    def known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone '{value}'") from None
        return value

    @field_validator("weekdays")
    @classmethod
    def distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("each weekday at most once")
        return value


class DeploymentRuleOut(BaseModel):
    id: str
    created_at: str
    updated_at: str
    on_demand_preview: bool
    auto_preview: bool
    auto_stop: bool
    timezone: str
    start_time: str
    stop_time: str
    weekdays: list[str]


def _as_datetime(hhmm: str) -> str:
    return f"1970-01-01T{hhmm}:00.000Z"


def _hhmm(value: datetime) -> str:
    return value.strftime("%H:%M")


def render(rule: DeploymentRule) -> DeploymentRuleOut:
    return DeploymentRuleOut(
        id=str(rule.id),
        created_at=rfc3339(rule.created_at),
        updated_at=rfc3339(rule.updated_at or rule.created_at),
        on_demand_preview=rule.on_demand_preview,
        auto_preview=rule.auto_preview,
        auto_stop=rule.auto_stop,
        timezone=rule.timezone,
        start_time=_as_datetime(rule.start_time),
        stop_time=_as_datetime(rule.stop_time),
        weekdays=list(rule.weekdays),
    )


async def rule_of(session: AsyncSession, env: Environment) -> DeploymentRule:
    """Every environment has one; created with defaults the first time it is asked for."""
    rule = (
        await session.execute(select(DeploymentRule).where(DeploymentRule.environment_id == env.id))
    ).scalar_one_or_none()
    if rule is None:
        rule = DeploymentRule(
            id=uuid.uuid4(),
            environment_id=env.id,
            timezone="UTC",
            start_time="08:00",
            stop_time="19:00",
            weekdays=list(WORKDAYS),
            auto_preview=False,
            on_demand_preview=False,
            auto_stop=False,
        )
        session.add(rule)
        await session.flush()
        await session.refresh(rule)
    return rule


async def edit(
    session: AsyncSession, env: Environment, rule_id: uuid.UUID, body: DeploymentRuleEditRequest
) -> DeploymentRule:
    rule = await rule_of(session, env)
    if rule.id != rule_id:
        raise NotFound("deployment rule not found")
    rule.on_demand_preview, rule.auto_preview, rule.auto_stop = (
        body.on_demand_preview,
        body.auto_preview,
        body.auto_stop,
    )
    rule.timezone, rule.weekdays = body.timezone, list(body.weekdays)
    rule.start_time, rule.stop_time = _hhmm(body.start_time), _hhmm(body.stop_time)
    rule.updated_at = utcnow()
    rule.schedule_checked_at = rule.updated_at  # the edited schedule counts from now (nothing fires retroactively)
    await session.flush()
    return rule


def copy_to(rule: DeploymentRule, environment_id: uuid.UUID) -> DeploymentRule:
    return DeploymentRule(
        id=uuid.uuid4(),
        environment_id=environment_id,
        auto_preview=rule.auto_preview,
        on_demand_preview=rule.on_demand_preview,
        auto_stop=rule.auto_stop,
        timezone=rule.timezone,
        start_time=rule.start_time,
        stop_time=rule.stop_time,
        weekdays=list(rule.weekdays),
    )
