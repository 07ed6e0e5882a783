"""Five-field cron expressions (minute hour day-of-month month day-of-week) and IANA time zones."""

from __future__ import annotations

import functools
import zoneinfo

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


def _item(item: str, field: str, low: int, high: int, names: dict[str, int]) -> None:
    base, slash, step = item.partition("/")
    if slash:
        if not step.isascii() or not step.isdigit() or not 1 <= int(step) <= high - low + 1:
            raise CronError(f"{field}: step '{step}' must be a number from 1 to {high - low + 1}")
    if base == "*":
        return
    start, dash, end = base.partition("-")
    first = _value(start, field, low, high, names)
    if dash and first > _value(end, field, low, high, names):
        raise CronError(f"{field}: range '{base}' goes backwards")


def check(expression: str) -> str:
    """The expression with single spaces; raises CronError naming the faulty field."""
    fields = expression.split()
    if len(fields) != len(FIELDS):
        raise CronError(f"expected 5 fields (minute hour day-of-month month day-of-week), got {len(fields)}")
    for text, (field, low, high, names) in zip(fields, FIELDS, strict=True):
        for item in text.split(","):
            if not item:
                raise CronError(f"{field}: empty list item in '{text}'")
            _item(item, field, low, high, names)
    return " ".join(fields)


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def known_timezone(name: str) -> bool:
    return name in _zones()
