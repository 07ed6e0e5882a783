"""Five-field cron expressions: validation and next fire times (time zones, DST, day-of-month OR day-of-week)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from slipway.cron import CronError, check, known_timezone, next_after


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def test_check_normalises_and_names_the_faulty_field() -> None:
    assert check("  */5   * * * MON-FRI ") == "*/5 * * * MON-FRI"
    for expression, field in [
        ("60 * * * *", "minute"),
        ("* 24 * * *", "hour"),
        ("* * 0 * *", "day of month"),
        ("* * * FOO *", "month"),
        ("* * * * 8", "day of week"),
        ("5-1 * * * *", "minute"),
        ("*/0 * * * *", "minute"),
        ("1,,2 * * * *", "minute"),
    ]:
        with pytest.raises(CronError, match=field):
            check(expression)
    with pytest.raises(CronError, match="expected 5 fields"):
        check("* * * *")


def test_known_timezone() -> None:
    assert known_timezone("Europe/Paris") and known_timezone("Etc/UTC")
    assert not known_timezone("Mars/Olympus")


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("* * * * *", utc(2026, 3, 1, 10, 0), utc(2026, 3, 1, 10, 1)),  # strictly after
        ("* * * * *", utc(2026, 3, 1, 10, 0, 30), utc(2026, 3, 1, 10, 1)),
        ("*/15 * * * *", utc(2026, 3, 1, 10, 7), utc(2026, 3, 1, 10, 15)),
        ("*/15 * * * *", utc(2026, 3, 1, 10, 45), utc(2026, 3, 1, 11, 0)),
        ("10-20/5 * * * *", utc(2026, 3, 1, 10, 16), utc(2026, 3, 1, 10, 20)),
        ("10-20/5 * * * *", utc(2026, 3, 1, 10, 21), utc(2026, 3, 1, 11, 10)),
        ("0 9,17 * * *", utc(2026, 3, 1, 9, 0), utc(2026, 3, 1, 17, 0)),
        ("30 2 * * *", utc(2026, 12, 31, 3, 0), utc(2027, 1, 1, 2, 30)),
        ("0 0 1 JAN,JUL *", utc(2026, 3, 1), utc(2026, 7, 1)),
        # 2026-03-01 is a Sunday: MON-FRI first fires on Monday the 2nd
        ("0 8 * * MON-FRI", utc(2026, 2, 28, 12), utc(2026, 3, 2, 8)),
        ("0 8 * * 7", utc(2026, 3, 2), utc(2026, 3, 8, 8)),  # 7 is Sunday
        ("0 8 * * 0", utc(2026, 3, 2), utc(2026, 3, 8, 8)),
        ("0 0 29 2 *", utc(2026, 3, 1), utc(2028, 2, 29)),
        # day-of-month and day-of-week both restricted: either one (the 13th, or any Friday)
        ("0 12 13 * FRI", utc(2026, 3, 1), utc(2026, 3, 6, 12)),  # Friday 6 March
        ("0 12 13 * FRI", utc(2026, 3, 6, 12), utc(2026, 3, 13, 12)),  # Friday 13 March
        ("0 12 13 * FRI", utc(2026, 4, 10, 12), utc(2026, 4, 13, 12)),  # Monday 13 April, before Friday 17
        # `*/2` in day-of-month counts as unrestricted: both must match (odd days that are Mondays)
        ("0 0 */2 * MON", utc(2026, 3, 1), utc(2026, 3, 9)),
    ],
)
def test_next_after_in_utc(expression: str, after: datetime, expected: datetime) -> None:
    assert next_after(expression, after, "Etc/UTC") == expected


def test_next_after_in_a_time_zone() -> None:
    # 09:00 in New York (UTC-5 in January) is 14:00 UTC
    assert next_after("0 9 * * *", utc(2026, 1, 10, 15), "America/New_York") == utc(2026, 1, 11, 14)
    # the answer is UTC whatever the input's offset
    paris_noon = datetime(2026, 1, 10, 12, tzinfo=timezone(timedelta(hours=1)))
    result = next_after("30 11 * * *", paris_noon, "Europe/Paris")
    assert result == utc(2026, 1, 11, 10, 30) and result.tzinfo == UTC


def test_dst_gap_in_paris_is_skipped() -> None:
    # 29 March 2026: Paris clocks jump from 02:00 to 03:00 (UTC+1 → UTC+2); 02:30 does not exist that day
    assert next_after("30 2 * * *", utc(2026, 3, 28, 2), "Europe/Paris") == utc(2026, 3, 30, 0, 30)
    # every 30 minutes across the gap: 01:30 CET (00:30 UTC), then 03:00 CEST (01:00 UTC)
    assert next_after("*/30 * * * *", utc(2026, 3, 29, 0, 30), "Europe/Paris") == utc(2026, 3, 29, 1, 0)


def test_dst_overlap_in_paris_fires_once() -> None:
    # 25 October 2026: Paris clocks go back from 03:00 CEST to 02:00 CET; 02:30 happens twice
    first = next_after("30 2 * * *", utc(2026, 10, 24, 12), "Europe/Paris")
    assert first == utc(2026, 10, 25, 0, 30)  # 02:30 CEST
    assert next_after("30 2 * * *", first, "Europe/Paris") == utc(2026, 10, 26, 1, 30)  # not 02:30 CET again


def test_an_expression_that_never_fires() -> None:
    with pytest.raises(CronError, match="never fires"):
        next_after("0 0 31 2 *", utc(2026, 1, 1), "Etc/UTC")
