"""DigestScheduler.tick against a real database with a manual clock."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from bot.config import Settings
from bot.delivery.clock import ManualClock
from bot.delivery.limiter import RateLimiter
from bot.delivery.worker import deliver_due
from bot.digest.scheduler import DigestScheduler
from bot.storage import models as m
from tests.digest_support import (
    FakeSender,
    add_channel,
    add_post_match,
    add_rule,
    add_subscriber,
    digests,
    outbox_rows,
)

SETTINGS = Settings()


async def _run(scheduler: DigestScheduler, clock: ManualClock, until: datetime, step: timedelta) -> None:
    while clock.now() < until:
        await scheduler.tick()
        clock.advance(step.total_seconds())


@pytest.mark.parametrize(("zone", "day"), [("Europe/Berlin", "2026-03-29"), ("Europe/Berlin", "2026-10-25"),
                                           ("America/New_York", "2026-03-08"), ("America/New_York", "2026-11-01")])
async def test_one_digest_a_day_at_the_local_hour_on_dst_days(tmp_path, zone: str, day: str) -> None:
    from bot.storage.database import Database

    db = Database.from_url(f"sqlite:///{tmp_path / 'dst.db'}")
    await db.upgrade()
    tz = ZoneInfo(zone)
    dst_day = datetime.fromisoformat(day).date()
    start = datetime.combine(dst_day - timedelta(days=1), datetime.min.time(), tzinfo=tz).astimezone(UTC)
    early = await add_subscriber(db, chat_id=1, timezone=zone, digest_hour=2, digest_minute=30, created_at=start)
    late = await add_subscriber(db, chat_id=2, timezone=zone, digest_hour=8, created_at=start)
    channel = await add_channel(db)
    for sub in (early, late):
        rule = await add_rule(db, sub, "обстрел")
        for h in range(0, 72, 5):
            when = start + timedelta(hours=h)
            await add_post_match(db, channel, rule, f"обстрел номер {h} {sub}", date=when)
    clock = ManualClock(start)
    await _run(DigestScheduler(db, SETTINGS, clock), clock, start + timedelta(hours=72), timedelta(minutes=30))
    rows = await digests(db)
    for sub, expected in ((early, {(2, 30), (3, 30)}), (late, {(8, 0)})):
        mine = [d for d in rows if d.subscriber_id == sub]
        per_day = Counter(d.created_at.astimezone(tz).date() for d in mine)
        assert per_day[dst_day] == 1 and all(n == 1 for n in per_day.values()), per_day
        assert {(d.created_at.astimezone(tz).hour, d.created_at.astimezone(tz).minute) for d in mine} <= expected
        # every match went into exactly one digest
        assert sum(d.items for d in mine) == len([h for h in range(0, 72, 5) if start + timedelta(hours=h) <= mine[-1].period_end])
    await db.dispose()


async def test_timezone_change_near_midnight_gives_one_digest_that_day(db) -> None:
    start = datetime(2026, 6, 9, 21, 0, tzinfo=UTC)
    sub = await add_subscriber(db, chat_id=7, timezone="Europe/Moscow", digest_hour=9, created_at=start)
    clock = ManualClock(start)
    scheduler = DigestScheduler(db, SETTINGS, clock)
    await _run(scheduler, clock, datetime(2026, 6, 10, 20, 30, tzinfo=UTC), timedelta(minutes=30))  # 23:30 MSK
    async with db.uow() as session:
        await session.execute(update(m.Subscriber).where(m.Subscriber.id == sub).values(timezone="Etc/GMT+5"))
    await _run(scheduler, clock, datetime(2026, 6, 11, 20, 0, tzinfo=UTC), timedelta(minutes=30))
    keys = [d.period_key for d in await digests(db)]
    assert keys == ["daily:2026-06-10", "daily:2026-06-11"]
    assert (await digests(db))[1].created_at == datetime(2026, 6, 11, 14, 0, tzinfo=UTC)  # 09:00 at UTC-5


async def test_down_from_0700_to_1000_over_the_0800_digest_gives_one_digest_at_start(db) -> None:
    sub = await add_subscriber(db, chat_id=8, timezone="UTC", digest_hour=8, created_at=datetime(2026, 11, 19, 9, tzinfo=UTC))
    rule = await add_rule(db, sub, "обстрел")
    channel = await add_channel(db)
    day = datetime(2026, 11, 20, tzinfo=UTC)
    for h in (6, 7, 8, 9):  # matches before and during the downtime
        await add_post_match(db, channel, rule, f"обстрел в {h} часов", date=day + timedelta(hours=h, minutes=30))
    clock = ManualClock(day + timedelta(hours=5))
    scheduler = DigestScheduler(db, SETTINGS, clock)
    await _run(scheduler, clock, day + timedelta(hours=7), timedelta(minutes=10))
    assert await digests(db) == []
    clock.set(day + timedelta(hours=10))  # back up
    assert await scheduler.tick() == 1
    clock.advance(60)
    assert await scheduler.tick() == 0
    (digest,) = await digests(db)
    assert digest.created_at == day + timedelta(hours=10) and digest.items == 4  # 06:30 to 09:30: everything missed


async def test_paused_subscriber_gets_nothing_and_is_not_flooded_on_resume(db) -> None:
    day = datetime(2026, 11, 20, tzinfo=UTC)
    sub = await add_subscriber(db, chat_id=9, digest_hour=8, paused=True, created_at=day - timedelta(days=1))
    rule = await add_rule(db, sub, "обстрел")
    channel = await add_channel(db)
    clock = ManualClock(day)
    scheduler = DigestScheduler(db, SETTINGS, clock)
    for h in range(0, 30, 3):  # matches all through the pause, over the 08:00 digest
        await add_post_match(db, channel, rule, f"обстрел пока на паузе {h}", date=day + timedelta(hours=h))
    await _run(scheduler, clock, day + timedelta(hours=30), timedelta(minutes=30))
    assert await digests(db) == []
    async with db.uow() as session:  # resume at 06:00 on the 21st
        await session.execute(update(m.Subscriber).where(m.Subscriber.id == sub).values(paused=False))
    await add_post_match(db, channel, rule, "обстрел после паузы", date=day + timedelta(hours=31))
    await _run(scheduler, clock, day + timedelta(hours=33), timedelta(minutes=30))
    (digest,) = await digests(db)
    assert digest.period_key == "daily:2026-11-21" and digest.items == 1  # only what came after the resume


async def test_instant_batches_per_chat_and_holds_during_quiet_hours(db) -> None:
    night = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)  # 22:00 in Berlin
    sub = await add_subscriber(db, chat_id=10, frequency="instant", timezone="Europe/Berlin",
                               quiet_start=23 * 60, quiet_end=7 * 60, created_at=night - timedelta(hours=1))
    rule = await add_rule(db, sub, "обстрел")
    channel = await add_channel(db)
    clock = ManualClock(night)
    scheduler = DigestScheduler(db, SETTINGS, clock)
    for i in range(3):
        await add_post_match(db, channel, rule, f"обстрел вечером {i}", date=night + timedelta(seconds=10 * i))
    clock.advance(60)
    assert await scheduler.tick() == 1  # three matches, one message
    (first,) = await digests(db)
    assert first.kind == "instant" and first.items == 3
    await add_post_match(db, channel, rule, "обстрел ночью", date=night + timedelta(hours=1, minutes=30))  # 23:30
    await add_post_match(db, channel, rule, "обстрел под утро", date=night + timedelta(hours=8))  # 06:00
    clock.set(night + timedelta(hours=1, minutes=31))
    await _run(scheduler, clock, night + timedelta(hours=10), timedelta(minutes=30))
    rows = await digests(db)
    assert len(rows) == 2
    held = rows[1]
    assert held.items == 2 and held.created_at == datetime(2026, 11, 21, 6, 1, tzinfo=UTC)  # 07:01 in Berlin


async def test_weekly_digest_has_the_chart_and_is_sent(db) -> None:
    monday = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    sub = await add_subscriber(db, chat_id=11, frequency="weekly", digest_weekday=0, digest_hour=9,
                               created_at=monday - timedelta(days=7, hours=1))
    rule = await add_rule(db, sub, "обстрел")
    channel = await add_channel(db)
    for d in range(7):
        await add_post_match(db, channel, rule, f"обстрел день {d}", date=monday - timedelta(days=d, hours=2))
    clock = ManualClock(monday + timedelta(hours=1))
    assert await DigestScheduler(db, SETTINGS, clock).tick() == 1
    (row,) = await outbox_rows(db)
    assert row.attachment is not None and row.attachment[:4] == b"\x89PNG"
    sender = FakeSender(clock)
    assert await deliver_due(db, sender, RateLimiter(SETTINGS.delivery, clock), clock) == 1
    assert sender.sent[0].attachment == row.attachment
    (digest,) = await digests(db)
    assert digest.period_key == "weekly:2026-11-23" and digest.state == "sent" and digest.items == 7


async def test_a_subscriber_with_an_unknown_timezone_does_not_stop_the_others(db) -> None:
    created = datetime(2026, 11, 19, tzinfo=UTC)
    await add_subscriber(db, chat_id=20, timezone="Mars/Olympus", created_at=created)
    good = await add_subscriber(db, chat_id=21, timezone="UTC", created_at=created)
    clock = ManualClock(datetime(2026, 11, 20, 9, 0, tzinfo=UTC))
    assert await DigestScheduler(db, SETTINGS, clock).tick() == 1
    assert [d.subscriber_id for d in await digests(db)] == [good]


@pytest.mark.dates  # APScheduler and the scheduler on the real clock and the machine's time zone
async def test_run_ticks_through_apscheduler_and_stops(db) -> None:
    import asyncio

    from bot.delivery.clock import SystemClock

    await add_subscriber(db, chat_id=30, timezone="UTC", digest_hour=0, created_at=datetime(2020, 1, 1, tzinfo=UTC))
    stop = asyncio.Event()
    task = asyncio.create_task(DigestScheduler(db, SETTINGS, SystemClock()).run(stop))
    for _ in range(200):  # the job's first run is at start; wait for its digest (bounded, not timed)
        if await digests(db):
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 10)
    (digest,) = await digests(db)
    assert digest.kind == "daily" and digest.state == "empty"


async def test_stopping_mid_tick_stops_the_tick_without_an_error(db, caplog: pytest.LogCaptureFixture) -> None:
    """SIGTERM while a long tick builds: the tick is cancelled (its batch rolls back; the next tick
    builds it) and nothing logs an error or a traceback, APScheduler included."""
    import asyncio
    import logging

    from bot.delivery.clock import SystemClock

    scheduler = DigestScheduler(db, SETTINGS, SystemClock())
    started, ended = asyncio.Event(), asyncio.Event()

    async def long_tick(*args: object, **kwargs: object) -> int:
        started.set()
        try:
            await asyncio.sleep(3600)
        finally:
            ended.set()
        return 0

    scheduler.tick = long_tick  # type: ignore[method-assign]
    stop = asyncio.Event()
    with caplog.at_level(logging.INFO):
        task = asyncio.create_task(scheduler.run(stop))
        await asyncio.wait_for(started.wait(), 10)
        stop.set()
        await asyncio.wait_for(task, 10)
    assert ended.is_set()  # the tick was stopped, not left running past the scheduler
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    assert "digest tick stopped with the process" in caplog.text


async def test_each_subscriber_gets_digests_and_alerts_in_their_own_language(db) -> None:
    from telethon.extensions import html as tl_html

    created = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    ru = await add_subscriber(db, chat_id=30, language="ru", timezone="Europe/Moscow", created_at=created)
    en = await add_subscriber(db, chat_id=31, language="en", timezone="Europe/Moscow", created_at=created)
    unknown = await add_subscriber(db, chat_id=32, language="xx", timezone="Europe/Moscow", created_at=created)
    alert = await add_subscriber(db, chat_id=33, language="ru", frequency="instant", timezone="Europe/Moscow",
                                 created_at=datetime(2026, 11, 24, 5, 0, tzinfo=UTC))
    channel = await add_channel(db, title="Гладков <офиц.>")
    for sub in (ru, en, unknown):
        rule = await add_rule(db, sub, "обстрел")
        for i in range(22):
            await add_post_match(db, channel, rule, f"обстрел номер {i}", date=created + timedelta(hours=i))
    alert_rule = await add_rule(db, alert, "обстрел")
    for i in range(2):
        await add_post_match(db, channel, alert_rule, f"обстрел сейчас {i}", date=datetime(2026, 11, 24, 5, i, tzinfo=UTC))
    clock = ManualClock(datetime(2026, 11, 24, 6, 1, tzinfo=UTC))  # 09:01 in Moscow
    assert await DigestScheduler(db, SETTINGS, clock).tick() == 4
    first = {r.chat_id: tl_html.parse(r.text)[0] for r in await outbox_rows(db) if r.chunk_no == 1}
    assert first[30].startswith("Ежедневный дайджест, 24 ноября 2026: 22 публикации\n")
    # one summary line (the only channel named once), the default size, and how to see the rest
    assert "\nобстрел 22. Все из канала Гладков <офиц.>.\n\n🔎 обстрел (10 из 22)\n" in first[30]
    assert first[30].count("\n• ") == 10 and first[30].endswith("… и ещё 12 публикаций: /more")
    assert first[31].startswith("Daily digest, 24.11.2026: 22 items\n")
    assert first[32].startswith("Daily digest, 24.11.2026: 22 items\n")  # a language we do not have: English
    assert first[33].startswith("Новые совпадения: 2 публикации\n")
