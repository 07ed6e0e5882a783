"""The deployment rules' auto start/stop schedules: on the rule's weekdays, in its time zone, the environment is
deployed at `start_time` and stopped at `stop_time`.

`moments(rule, since, now)` (pure: tests give the clock) lists the start and stop times that passed in
`(since, now]`; `tick` looks at every rule with `auto_stop` and asks the deployer for the latest one that passed
since the rule's checkpoint (`schedule_checked_at`, moved to `now` in the same transaction, so each fires once
even with several catalogs). A rule seen for the first time (or just edited) starts from `now`: nothing fires
retroactively.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.events.publish import emit_action_requested
from catalog.models import DeploymentRule, Environment
from slipway.db import Database
from slipway.timeutil import utcnow

log = logging.getLogger("catalog.schedule")
DAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
LOOKBACK = timedelta(days=8)  # a catalog down longer than a week acts on the latest moment only anyway


def _at(day: date, hhmm: str, zone: ZoneInfo) -> datetime:
    hours, minutes = (int(x) for x in hhmm.split(":")[:2])
    return datetime.combine(day, time(hours, minutes), tzinfo=zone)


def moments(
    timezone: str, start_time: str, stop_time: str, weekdays: list[str], since: datetime, now: datetime
) -> list[tuple[datetime, str]]:
    """(moment, DEPLOY | STOP) of every scheduled start and stop in `(since, now]`, oldest first."""
    zone = ZoneInfo(timezone)
    since = max(since, now - LOOKBACK)
    found = []
    day, last = since.astimezone(zone).date(), now.astimezone(zone).date()
    while day <= last:
        if DAYS[day.weekday()] in weekdays:
            for hhmm, action in ((start_time, "DEPLOY"), (stop_time, "STOP")):
                moment = _at(day, hhmm, zone)
                if since < moment <= now:
                    found.append((moment, action))
        day += timedelta(days=1)
    return sorted(found)


async def tick(session: AsyncSession, now: datetime | None = None) -> list[tuple[str, str]]:
    """Fire the schedules due since each rule's checkpoint; (environment id, action) of each request made."""
    moment = now or utcnow()
    rows = await session.execute(
        select(DeploymentRule, Environment)
        .join(Environment, Environment.id == DeploymentRule.environment_id)
        .where(DeploymentRule.auto_stop.is_(True))
        .order_by(DeploymentRule.id)
        .with_for_update(of=DeploymentRule, skip_locked=True)
    )
    fired = []
    for rule, env in rows:
        since = rule.schedule_checked_at
        rule.schedule_checked_at = moment
        if since is None or since >= moment:
            continue
        due = moments(rule.timezone, rule.start_time, rule.stop_time, list(rule.weekdays or []), since, moment)
        if not due:
            continue
        when, action = due[-1]  # only the latest counts: a stop after a start means stopped
        who = f"schedule: {action.lower()} at {when.strftime('%H:%M')} {rule.timezone}"
        await emit_action_requested(session, env, action, None, {}, "QOVERY_INTERNAL", who)
        fired.append((str(env.id), action))
    return fired


async def run_tick(db: Database) -> None:
    async with db.transaction() as session:
        fired = await tick(session)
    if fired:
        log.info("schedules fired: %s", fired)
