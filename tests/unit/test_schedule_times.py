"""The pure schedule: one digest a local day, at the right local hour, across DST changes."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.digest.schedule import Schedule, due_occurrence, in_quiet_hours, next_due


def simulate(schedule: Schedule, start: datetime, hours: int, step_minutes: int = 1) -> list[datetime]:
    """Tick every `step_minutes`; return when a digest was built (the watermark moves to the tick)."""
    covered, fired, t, last_day = start, [], start, None
    while t < start + timedelta(hours=hours):
        occurrence = due_occurrence(schedule, t, covered, last_day)
        if occurrence is not None:
            fired.append(t)
            covered, last_day = t, occurrence.day
        t += timedelta(minutes=step_minutes)
    return fired


@pytest.mark.parametrize(
    ("zone", "day", "hour", "minute", "expected_local"),
    [
        ("Europe/Berlin", "2026-03-29", 8, 0, (8, 0)),
        ("Europe/Berlin", "2026-10-25", 8, 0, (8, 0)),
        ("Europe/Berlin", "2026-03-29", 2, 30, (3, 30)),  # 02:30 does not exist that night: one hour later
        ("Europe/Berlin", "2026-10-25", 2, 30, (2, 30)),  # 02:30 happens twice: the first one only
        ("America/New_York", "2026-03-08", 8, 0, (8, 0)),
        ("America/New_York", "2026-11-01", 8, 0, (8, 0)),
        ("America/New_York", "2026-03-08", 2, 30, (3, 30)),
        ("America/New_York", "2026-11-01", 1, 30, (1, 30)),  # 01:30 happens twice in New York
    ],
)
def test_one_digest_each_day_at_the_local_hour_across_dst(zone: str, day: str, hour: int, minute: int,
                                                         expected_local: tuple[int, int]) -> None:
    tz = ZoneInfo(zone)
    dst_day = datetime.fromisoformat(day).date()
    start = datetime.combine(dst_day - timedelta(days=1), datetime.min.time(), tzinfo=tz).astimezone(UTC)
    fired = simulate(Schedule("daily", zone, hour, minute), start, hours=72)
    per_day = Counter(t.astimezone(tz).date() for t in fired)
    assert per_day[dst_day] == 1
    assert all(n == 1 for n in per_day.values()), per_day
    (on_dst_day,) = [t.astimezone(tz) for t in fired if t.astimezone(tz).date() == dst_day]
    assert (on_dst_day.hour, on_dst_day.minute) == expected_local
    assert on_dst_day.fold == 0


def test_timezone_change_from_utc_plus_3_to_utc_minus_5_at_2330_gives_one_digest_that_day() -> None:
    day = datetime(2026, 6, 10).date()
    plus3, minus5 = "Europe/Moscow", "Etc/GMT+5"  # Etc/GMT+5 is UTC-5
    start = datetime(2026, 6, 9, 21, 0, tzinfo=UTC)  # midnight in Moscow
    change = datetime(2026, 6, 10, 20, 30, tzinfo=UTC)  # 23:30 in Moscow, 15:30 at UTC-5
    covered, fired, t, last_day = start, [], start, None
    while t < start + timedelta(hours=48):
        zone = plus3 if t < change else minus5
        occurrence = due_occurrence(Schedule("daily", zone, 9), t, covered, last_day)
        if occurrence is not None:
            fired.append((t, occurrence.key))
            covered, last_day = t, occurrence.day
        t += timedelta(minutes=1)
    keys = [k for _, k in fired]
    assert keys.count(f"daily:{day}") == 1
    assert len(keys) == len(set(keys))
    # the next one is at 09:00 at UTC-5 the day after, not a second one on the 10th
    assert fired[1][0] == datetime(2026, 6, 11, 14, 0, tzinfo=UTC)


def test_downtime_over_the_digest_time_gives_one_digest_at_start() -> None:
    schedule = Schedule("daily", "Europe/Berlin", 8)
    covered = datetime(2026, 11, 19, 7, 0, tzinfo=UTC)  # yesterday's digest (08:00 CET)
    back = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)  # down 07:00-10:00 local over the 08:00 digest
    assert due_occurrence(schedule, back, covered) is not None
    assert due_occurrence(schedule, back + timedelta(minutes=1), back) is None
    two_days = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)  # two days down: one digest, not two
    assert due_occurrence(schedule, two_days, covered) is not None
    assert due_occurrence(schedule, two_days + timedelta(minutes=1), two_days) is None


def test_weekly_on_the_chosen_weekday() -> None:
    fired = simulate(Schedule("weekly", "Europe/Berlin", 9, weekday=2), datetime(2026, 11, 1, tzinfo=UTC),
                     hours=24 * 21, step_minutes=10)
    local = [t.astimezone(ZoneInfo("Europe/Berlin")) for t in fired]
    assert len(local) == 3
    assert all(t.weekday() == 2 and (t.hour, t.minute) == (9, 0) for t in local)


def test_quiet_hours_wrap_midnight() -> None:
    s = Schedule("instant", "Europe/Berlin", 0, quiet_start=22 * 60, quiet_end=7 * 60)
    assert in_quiet_hours(s, datetime(2026, 11, 20, 22, 30, tzinfo=UTC))  # 23:30 local
    assert in_quiet_hours(s, datetime(2026, 11, 20, 5, 30, tzinfo=UTC))  # 06:30 local
    assert not in_quiet_hours(s, datetime(2026, 11, 20, 6, 0, tzinfo=UTC))  # 07:00 local
    assert not in_quiet_hours(Schedule("instant", "UTC", 0), datetime(2026, 11, 20, tzinfo=UTC))


ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "Pacific/Apia"]


@settings(max_examples=300, deadline=None)
@given(
    zone=st.sampled_from(ZONES), frequency=st.sampled_from(["daily", "weekly"]), hour=st.integers(0, 23),
    minute=st.sampled_from([0, 15, 30, 59]), weekday=st.integers(0, 6),
    covered=st.datetimes(datetime(2026, 1, 1), datetime(2027, 12, 31), timezones=st.just(UTC)),
    last_back=st.one_of(st.none(), st.integers(-1, 3)), probe=st.floats(0, 1),
)
def test_next_due_is_the_first_moment_a_digest_is_due(zone: str, frequency: str, hour: int, minute: int,
                                                      weekday: int, covered: datetime, last_back: int | None,
                                                      probe: float) -> None:
    """What the scheduler stores as `next_due_at`: due there, and at no moment between the
    watermark and it (a later value would delay a digest; an earlier one only costs a look)."""
    schedule = Schedule(frequency, zone, hour, minute, weekday)
    local_day = covered.astimezone(ZoneInfo(zone)).date()
    last_day = None if last_back is None else local_day - timedelta(days=last_back)
    at = next_due(schedule, covered, last_day)
    assert at is not None and at > covered
    assert due_occurrence(schedule, at, covered, last_day) is not None
    assert due_occurrence(schedule, at - timedelta(microseconds=1), covered, last_day) is None
    before = covered + (at - covered) * probe
    assert before == at or due_occurrence(schedule, before, covered, last_day) is None


def test_next_due_of_an_instant_subscriber_is_none() -> None:
    assert next_due(Schedule("instant", "UTC", 9), datetime(2026, 3, 1, tzinfo=UTC)) is None
