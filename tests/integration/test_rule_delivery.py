"""Per-rule delivery in the scheduler (bot/digest/streams.py): each rule's matches go in its own
stream, exactly once, also when its delivery changes between ticks. Real database, manual clock."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from bot.config import Settings
from bot.delivery.clock import ManualClock
from bot.digest.scheduler import DigestScheduler
from bot.storage import models as m
from bot.storage.database import Database
from tests.digest_support import add_channel, add_post_match, add_rule, add_subscriber, digests, outbox_rows

SETTINGS = Settings()
MONDAY = datetime(2026, 11, 23, tzinfo=UTC)  # a Monday; the chat's digests are at 08:00 UTC


async def _set(db: Database, rule_id: int, delivery: str) -> None:
    async with db.uow() as session:  # made on the test's calendar, not the machine's
        await session.execute(update(m.Rule).where(m.Rule.id == rule_id).values(
            delivery=delivery, created_at=MONDAY - timedelta(days=3)))


async def _run(scheduler: DigestScheduler, clock: ManualClock, until: datetime, step: timedelta) -> None:
    while clock.now() < until:
        await scheduler.tick()
        clock.advance(step.total_seconds())


async def _sent(db: Database) -> dict[str, list[str]]:
    """Per digest kind, the texts of the posts it carried (one entry per chunk that holds one)."""
    kinds = {d.id: d.kind for d in await digests(db)}
    out: dict[str, list[str]] = {}
    for row in await outbox_rows(db):
        out.setdefault(kinds[row.digest_id or 0], []).append(row.text)
    return out


def _where(sent: dict[str, list[str]], marker: str) -> list[str]:
    """The kinds of digest whose text shows `marker` (once per digest that has it)."""
    return [kind for kind, texts in sent.items() for text in texts if marker in text]


async def test_each_rule_goes_in_its_own_stream_and_muted_in_none(db: Database) -> None:
    sub = await add_subscriber(db, chat_id=31, frequency="daily", digest_hour=8, digest_weekday=0,
                               created_at=MONDAY - timedelta(days=8))
    channel = await add_channel(db)
    rules = {kind: await add_rule(db, sub, f"слово{n}") for n, kind in enumerate(("", "instant", "weekly", "muted"))}
    for kind, rule in rules.items():
        await _set(db, rule, kind)
    clock = ManualClock(MONDAY + timedelta(hours=9))  # after Monday's digests: none due from the past
    scheduler = DigestScheduler(db, SETTINGS, clock)
    await scheduler.tick()
    start = len(await digests(db))
    for day in range(7):  # Monday 10:00 to Sunday 10:00, one post a day per rule
        for kind, rule in rules.items():
            await add_post_match(db, channel, rule, f"слово{list(rules).index(kind)} marker-{kind or 'default'}-{day}",
                                 date=MONDAY + timedelta(days=day, hours=10))
    await _run(scheduler, clock, MONDAY + timedelta(days=7, hours=9), timedelta(hours=1))
    made = (await digests(db))[start:]
    sent = await _sent(db)
    for day in range(7):
        assert _where(sent, f"marker-instant-{day}") == ["instant"]
        assert _where(sent, f"marker-weekly-{day}") == ["weekly"]
        assert _where(sent, f"marker-muted-{day}") == []
    # a day's default match goes in the next morning's daily digest, the last one on the next Monday's
    assert [d for d in range(7) if _where(sent, f"marker-default-{d}") == ["daily"]] == list(range(7))
    kinds = Counter(d.kind for d in made)
    assert kinds["weekly"] == 1 and kinds["daily"] == 7 and kinds["instant"] == 7, kinds
    weekly = next(d for d in made if d.kind == "weekly")
    assert weekly.period_key == "weekly:2026-11-30" and weekly.items == 7


async def test_a_change_of_delivery_between_ticks_sends_every_match_once(db: Database) -> None:
    sub = await add_subscriber(db, chat_id=32, frequency="daily", digest_hour=8, created_at=MONDAY - timedelta(days=2))
    channel = await add_channel(db)
    rule = await add_rule(db, sub, "обстрел")
    clock = ManualClock(MONDAY + timedelta(hours=9))
    scheduler = DigestScheduler(db, SETTINGS, clock)
    await scheduler.tick()
    # 10:00 a daily match, unsent; at 11:00 the rule becomes instant: the waiting match goes at once
    await add_post_match(db, channel, rule, "обстрел m1", date=MONDAY + timedelta(hours=10))
    clock.set(MONDAY + timedelta(hours=11))
    await scheduler.tick()
    await _set(db, rule, "instant")
    await add_post_match(db, channel, rule, "обстрел m2", date=MONDAY + timedelta(hours=11, minutes=5))
    clock.set(MONDAY + timedelta(hours=11, minutes=10))
    await scheduler.instant_tick()
    # back to the chat's default (daily) with a match found but not yet sent as an alert
    await add_post_match(db, channel, rule, "обстрел m3", date=MONDAY + timedelta(hours=12))
    await _set(db, rule, "")
    clock.set(MONDAY + timedelta(hours=12, minutes=30))
    await scheduler.instant_tick()  # nothing instant left
    await _run(scheduler, clock, MONDAY + timedelta(days=1, hours=9), timedelta(hours=1))  # daily Tue 08:00
    # weekly: the next Monday's digest
    await _set(db, rule, "weekly")
    await add_post_match(db, channel, rule, "обстрел m4", date=MONDAY + timedelta(days=1, hours=10))
    await _run(scheduler, clock, MONDAY + timedelta(days=7, hours=9), timedelta(hours=1))
    # muted: a match found while muted is never sent, not even after unmuting
    await _set(db, rule, "muted")
    await add_post_match(db, channel, rule, "обстрел m5", date=MONDAY + timedelta(days=7, hours=10))
    await _run(scheduler, clock, MONDAY + timedelta(days=8, hours=9), timedelta(hours=1))
    # unmuted as the bot does it (the rule's watermark moves to that moment): see test_commands_rule_edit
    async with db.uow() as session:
        await session.execute(update(m.Rule).where(m.Rule.id == rule).values(delivery="", delivered_until=clock.now()))
    await add_post_match(db, channel, rule, "обстрел m6", date=MONDAY + timedelta(days=8, hours=10))
    await _run(scheduler, clock, MONDAY + timedelta(days=9, hours=9), timedelta(hours=1))
    sent = await _sent(db)
    assert _where(sent, "m1") == ["instant"] and _where(sent, "m2") == ["instant"]
    assert _where(sent, "m3") == ["daily"]  # moved back before any alert took it
    assert _where(sent, "m4") == ["weekly"]
    assert _where(sent, "m5") == []
    assert _where(sent, "m6") == ["daily"]


async def test_a_paused_chat_moves_every_rule_watermark(db: Database) -> None:
    sub = await add_subscriber(db, chat_id=33, frequency="daily", digest_hour=8, paused=True,
                               created_at=MONDAY - timedelta(days=1))
    channel = await add_channel(db)
    instant = await add_rule(db, sub, "обстрел")
    await _set(db, instant, "instant")
    await add_post_match(db, channel, instant, "обстрел на паузе", date=MONDAY + timedelta(hours=1))
    clock = ManualClock(MONDAY + timedelta(hours=2))
    scheduler = DigestScheduler(db, SETTINGS, clock)
    await scheduler.tick()
    async with db.uow() as session:
        await session.execute(update(m.Subscriber).where(m.Subscriber.id == sub).values(paused=False))
    clock.advance(60)
    assert await scheduler.instant_tick() == (0, None)
    assert await outbox_rows(db) == []


async def test_an_instant_rule_in_a_weekly_chat_does_not_move_the_weekly_schedule(db: Database) -> None:
    sub = await add_subscriber(db, chat_id=34, frequency="weekly", digest_weekday=0, digest_hour=8,
                               created_at=MONDAY - timedelta(days=3))
    channel = await add_channel(db)
    loud = await add_rule(db, sub, "обстрел")
    quiet = await add_rule(db, sub, "погода")
    await _set(db, loud, "instant")
    await add_post_match(db, channel, quiet, "погода в выходные", date=MONDAY - timedelta(days=1))
    await add_post_match(db, channel, loud, "обстрел утром", date=MONDAY + timedelta(hours=7, minutes=59))
    clock = ManualClock(MONDAY + timedelta(hours=7, minutes=59, seconds=30))
    scheduler = DigestScheduler(db, SETTINGS, clock)
    assert (await scheduler.instant_tick())[0] == 1
    clock.set(MONDAY + timedelta(hours=8, minutes=1))
    await scheduler.tick()
    sent = await _sent(db)
    assert _where(sent, "утром") == ["instant"] and _where(sent, "в выходные") == ["weekly"]


async def test_the_migration_starts_each_rule_from_its_chats_watermark(db: Database) -> None:
    """Upgrading keeps what was sent sent: a rule's watermark starts at its chat's last digest."""
    from sqlalchemy import text

    from bot.storage.migrate import downgrade, upgrade

    sent_until = MONDAY + timedelta(hours=8)
    sub = await add_subscriber(db, chat_id=35, last_digest_at=sent_until, created_at=MONDAY - timedelta(days=1))
    fresh = await add_subscriber(db, chat_id=36, created_at=MONDAY - timedelta(days=1))
    await add_rule(db, sub, "обстрел")
    await add_rule(db, fresh, "обстрел")
    await downgrade(db.engine, "0020_web_access")
    await upgrade(db.engine)
    async with db.uow(read_only=True) as session:
        rows = (await session.execute(text("SELECT delivery, subscriber_id FROM rules ORDER BY id"))).all()
        marks = (await session.scalars(select(m.Rule.delivered_until).order_by(m.Rule.id))).all()
    assert [tuple(r) for r in rows] == [("", sub), ("", fresh)]
    assert marks == [sent_until, None]

