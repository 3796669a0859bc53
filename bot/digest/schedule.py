"""When is a subscriber's digest due? Pure functions over the subscriber's settings and `now`.

A scheduled digest has an occurrence (a local wall-clock time in the subscriber's timezone) and a
period key naming it ("daily:2026-03-29", "weekly:2026-11-23"). The latest occurrence at or before
`now` is due unless the last digest already covered it. The key is unique per subscriber in the
database, so however often the tick runs, however many restarts, an occurrence is built once.

DST: a local time that does not exist on a spring-forward day (02:30 in Berlin on 2026-03-29) is
taken with the offset in force before the change, which lands one hour later on the clock (03:30);
a time that happens twice on a fall-back day is taken the first time. Either way the key is the
local date, so each day has one digest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.domain import Frequency


@dataclass(frozen=True, slots=True)
class Schedule:
    frequency: str
    timezone: str
    hour: int
    minute: int = 0
    weekday: int = 0  # 0 = Monday
    quiet_start: int | None = None  # minutes after local midnight
    quiet_end: int | None = None


@dataclass(frozen=True, slots=True)
class Occurrence:
    kind: str  # "daily" | "weekly"
    day: date  # the local date it is for
    at: datetime  # UTC

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.day.isoformat()}"


def local_occurrence(day: date, hour: int, minute: int, zone: ZoneInfo) -> datetime:
    """`day` at hour:minute local time, in UTC (see the module note on DST gaps and repeats)."""
    return datetime.combine(day, time(hour, minute), tzinfo=zone).astimezone(UTC)


def latest_occurrence(schedule: Schedule, now: datetime) -> Occurrence | None:
    """The most recent scheduled daily/weekly occurrence at or before `now`; None for instant."""
    zone = ZoneInfo(schedule.timezone)
    today = now.astimezone(zone).date()
    if schedule.frequency == Frequency.DAILY:
        for back in (0, 1, 2):
            day = today - timedelta(days=back)
            at = local_occurrence(day, schedule.hour, schedule.minute, zone)
            if at <= now:
                return Occurrence("daily", day, at)
    elif schedule.frequency == Frequency.WEEKLY:
        day = today - timedelta(days=(today.weekday() - schedule.weekday) % 7)
        for back in (0, 7, 14):
            at = local_occurrence(day - timedelta(days=back), schedule.hour, schedule.minute, zone)
            if at <= now:
                return Occurrence("weekly", day - timedelta(days=back), at)
    return None


def due_occurrence(
    schedule: Schedule, now: datetime, covered_until: datetime | None, last_day: date | None = None
) -> Occurrence | None:
    """The occurrence to build now, if any: the latest one, unless the last digest (which covered
    everything up to `covered_until`) came after it, or a scheduled digest was already built for its
    local date or a later one (`last_day`: a timezone change near midnight can make the same date
    come round again). After downtime this is still only the latest occurrence, so two missed days
    give one digest covering both."""
    occurrence = latest_occurrence(schedule, now)
    if occurrence is None:
        return None
    if covered_until is not None and covered_until >= occurrence.at:
        return None
    if last_day is not None and occurrence.day <= last_day:
        return None
    return occurrence


def day_of_key(period_key: str) -> date | None:
    """The local date of a scheduled digest's key ("daily:2026-03-29"); None for other keys."""
    kind, _, rest = period_key.partition(":")
    if kind not in ("daily", "weekly"):
        return None
    try:
        return date.fromisoformat(rest)
    except ValueError:
        return None


def in_quiet_hours(schedule: Schedule, now: datetime) -> bool:
    if schedule.quiet_start is None or schedule.quiet_end is None or schedule.quiet_start == schedule.quiet_end:
        return False
    local = now.astimezone(ZoneInfo(schedule.timezone))
    minute = local.hour * 60 + local.minute
    start, end = schedule.quiet_start, schedule.quiet_end
    return start <= minute < end if start < end else minute >= start or minute < end


def next_due(schedule: Schedule, covered_until: datetime, last_day: date | None = None) -> datetime | None:
    """The moment `due_occurrence` next returns an occurrence: the first one after `covered_until`
    whose local date is past `last_day`. None for a schedule without occurrences (instant). The
    scheduler stores it per subscriber (`next_due_at`) and selects only the subscribers it has reached;
    `due_occurrence` still decides, so a value that comes early costs a look, never a second digest."""
    step = {Frequency.DAILY.value: 1, Frequency.WEEKLY.value: 7}.get(schedule.frequency)
    if step is None:
        return None
    zone = ZoneInfo(schedule.timezone)
    day = covered_until.astimezone(zone).date() - timedelta(days=1)
    if last_day is not None and last_day >= day:
        day = last_day + timedelta(days=1)
    if step == 7:
        day += timedelta(days=(schedule.weekday - day.weekday()) % 7)
    for _ in range(64):  # a few steps at most: occurrences move on by a day or a week
        at = local_occurrence(day, schedule.hour, schedule.minute, zone)
        if at > covered_until and (last_day is None or day > last_day):
            return at
        day += timedelta(days=step)
    raise ValueError(f"no occurrence of {schedule} after {covered_until}")  # pragma: no cover
