"""Five-field cron expressions (minute hour day-of-month month day-of-week), IANA time zones, next fire times."""

from __future__ import annotations

import functools
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

MONTHS = {name: i + 1 for i, name in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split())}
DAYS = {name: i for i, name in enumerate("SUN MON TUE WED THU FRI SAT".split())}
# (name, lowest, highest, names allowed); day-of-week 7 is Sunday too
FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, MONTHS),
    ("day of week", 0, 7, DAYS),
)
# how far ahead next_after looks (a 29 February on a given weekday comes back within 28 years)
HORIZON_DAYS = 366 * 29


class CronError(ValueError):
    """Why an expression is not a five-field cron expression."""


def _value(token: str, field: str, low: int, high: int, names: dict[str, int]) -> int:
    if token.upper() in names:
        return names[token.upper()]
    if not token.isascii() or not token.isdigit():
        raise CronError(f"{field}: '{token}' is not a number" + (" or a name" if names else ""))
    value = int(token)
    if not low <= value <= high:
        raise CronError(f"{field}: {value} is outside {low}-{high}")
    return value


def _item(item: str, field: str, low: int, high: int, names: dict[str, int]) -> set[int]:
    """The values one list item stands for: `*`, `n`, `a-b`, each optionally `/step`."""
    base, slash, step_text = item.partition("/")
    step = 1
    if slash:
        if not step_text.isascii() or not step_text.isdigit() or not 1 <= int(step_text) <= high - low + 1:
            raise CronError(f"{field}: step '{step_text}' must be a number from 1 to {high - low + 1}")
        step = int(step_text)
    if base == "*":
        return set(range(low, high + 1, step))
    start, dash, end = base.partition("-")
    first = _value(start, field, low, high, names)
    if dash:
        last = _value(end, field, low, high, names)
        if first > last:
            raise CronError(f"{field}: range '{base}' goes backwards")
    else:
        last = high if slash else first  # `a/n`: from a to the end, every n
    return set(range(first, last + 1, step))


def _fields(expression: str) -> list[str]:
    fields = expression.split()
    if len(fields) != len(FIELDS):
        raise CronError(f"expected 5 fields (minute hour day-of-month month day-of-week), got {len(fields)}")
    return fields


def _values(text: str, field: str, low: int, high: int, names: dict[str, int]) -> set[int]:
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise CronError(f"{field}: empty list item in '{text}'")
        values |= _item(item, field, low, high, names)
    return values


def check(expression: str) -> str:
    """The expression with single spaces; raises CronError naming the faulty field."""
    fields = _fields(expression)
    for text, spec in zip(fields, FIELDS, strict=True):
        _values(text, *spec)
    return " ".join(fields)


@dataclass(frozen=True)
class Schedule:
    """A parsed expression: the allowed values of each field (day-of-week 0-6, Sunday 0)."""

    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    days_restricted: bool  # the field does not start with `*`
    weekdays_restricted: bool

    def matches_day(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        in_days = day.day in self.days
        in_weekdays = (day.weekday() + 1) % 7 in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return in_days or in_weekdays  # standard cron: either one when both are restricted
        return in_days and in_weekdays


@functools.lru_cache(maxsize=256)
def parse(expression: str) -> Schedule:
    fields = _fields(expression)
    minute, hour, dom, month, dow = (_values(text, *spec) for text, spec in zip(fields, FIELDS, strict=True))
    return Schedule(
        minutes=tuple(sorted(minute)),
        hours=tuple(sorted(hour)),
        days=frozenset(dom),
        months=frozenset(month),
        weekdays=frozenset(d % 7 for d in dow),
        days_restricted=not fields[2].startswith("*"),
        weekdays_restricted=not fields[4].startswith("*"),
    )


def _instant(day: date, hour: int, minute: int, zone: zoneinfo.ZoneInfo) -> datetime | None:
    """The UTC instant of a wall time in `zone`; None when that wall time does not exist (a DST gap). An
    ambiguous wall time (clocks set back) is its first occurrence only."""
    wall = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
    instant = wall.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != wall.replace(tzinfo=None):
        return None
    return instant


def next_after(expression: str, after: datetime, timezone: str) -> datetime:
    """The next fire time strictly after `after` (aware), as an aware UTC datetime, evaluated in `timezone`."""
    if after.tzinfo is None:
        raise ValueError("after must be timezone-aware")
    schedule = parse(expression)
    zone = zoneinfo.ZoneInfo(timezone)
    after = after.astimezone(UTC)
    # a day before the local date: an ambiguous first occurrence may precede `after`'s wall date
    start = after.astimezone(zone).date() - timedelta(days=1)
    for offset in range(HORIZON_DAYS):
        day = start + timedelta(days=offset)
        if not schedule.matches_day(day):
            continue
        for hour in schedule.hours:
            for minute in schedule.minutes:
                instant = _instant(day, hour, minute, zone)
                if instant is not None and instant > after:
                    return instant
    raise CronError(f"'{expression}' never fires")


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def known_timezone(name: str) -> bool:
    return name in _zones()
