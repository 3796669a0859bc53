"""An instant alert is claimed before a daily tick's backlog of digests, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, text

from bot.config import Settings
from bot.delivery import outbox
from bot.delivery.clock import ManualClock
from bot.delivery.limiter import RateLimiter
from bot.delivery.worker import deliver_due
from bot.digest.scheduler import DigestScheduler
from bot.domain import SendResult
from bot.storage import models as m
from bot.storage.database import Database
from tests.digest_support import (
    T0,
    FakeSender,
    add_channel,
    add_post_match,
    add_rule,
    add_subscriber,
    outbox_rows,
)

BACKLOG = 3000
ALERT_CHAT = 555


async def _backlog(db: Database) -> int:
    """BACKLOG due digest rows to as many chats, queued before now; then one alert. The alert's id."""
    sub = await add_subscriber(db)
    async with db.uow() as session:
        await session.execute(insert(m.Outbox), [
            {"subscriber_id": sub, "chat_id": 10_000 + n, "kind": "digest", "text": f"digest {n}",
             "random_id": 1_000 + n, "state": "pending", "attempts": 0,
             "not_before": T0 - timedelta(minutes=10) + timedelta(milliseconds=n), "created_at": T0}
            for n in range(BACKLOG)])
        alert = m.Outbox(subscriber_id=sub, chat_id=ALERT_CHAT, kind="alert", text="alert", random_id=7,
                         not_before=T0, created_at=T0)
        session.add(alert)
        await session.flush()
        alert_id = alert.id
    if db.dialect == "postgresql":
        async with db.engine.connect() as conn:
            await conn.execute(text("ANALYZE outbox"))
            await conn.commit()
    return alert_id


async def test_the_first_claim_takes_the_alert_before_the_older_digests(db: Database) -> None:
    alert = await _backlog(db)
    claimed, _ = await outbox.claim_heads(db, T0 + timedelta(seconds=1), limit=8)
    assert [j.id for j in claimed][:1] == [alert]
    assert len(claimed) == 8 and all(j.chat_id != ALERT_CHAT for j in claimed[1:])  # the room left: oldest digests
    assert [j.random_id for j in claimed[1:]] == list(range(1_000, 1_007))


async def test_a_worker_sends_the_alert_in_its_first_batch(db: Database) -> None:
    await _backlog(db)
    clock = ManualClock(T0 + timedelta(seconds=1))
    stop = asyncio.Event()

    class StopOnFirstSend(FakeSender):
        async def send_html(self, chat_id: int, html: str, **kwargs: Any) -> SendResult:
            stop.set()  # nothing is claimed after the first batch
            return await super().send_html(chat_id, html, **kwargs)

    sender = StopOnFirstSend(clock)
    await deliver_due(db, sender, RateLimiter(Settings().delivery, clock), clock, stop)
    chats = [s.chat_id for s in sender.sent]
    assert ALERT_CHAT in chats and len(chats) <= 30  # in the first batch, ahead of 3,000 older digests


async def test_an_alert_still_waits_behind_the_earlier_rows_of_its_own_chat(db: Database) -> None:
    sub = await add_subscriber(db)
    async with db.uow() as session:
        session.add(m.Outbox(subscriber_id=sub, chat_id=ALERT_CHAT, kind="digest", chunk_no=2, chunk_total=2,
                             text="digest 2/2", random_id=1, not_before=T0 - timedelta(minutes=5), created_at=T0))
        session.add(m.Outbox(subscriber_id=sub, chat_id=ALERT_CHAT, kind="alert", text="alert", random_id=2,
                             not_before=T0, created_at=T0))
    claimed, _ = await outbox.claim_heads(db, T0 + timedelta(seconds=1), limit=8)
    assert [j.random_id for j in claimed] == [1]  # the chat's head: its order holds
    async with db.uow(read_only=True) as session:
        assert (await session.scalar(select(m.Outbox.state).where(m.Outbox.random_id == 2))) == "pending"


async def test_an_alert_the_scheduler_builds_in_a_tick_is_claimed_before_the_tick_digests(db: Database) -> None:
    created = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    channel = await add_channel(db)
    for n in range(6):  # five daily digests due at 08:00, and one instant subscriber, built in one tick
        sub = await add_subscriber(db, chat_id=40 + n, created_at=created, timezone="UTC", digest_hour=8,
                                   frequency="instant" if n == 5 else "daily")
        rule = await add_rule(db, sub, "обстрел")
        await add_post_match(db, channel, rule, f"обстрел утром {n}", date=created + timedelta(hours=20))
    clock = ManualClock(datetime(2026, 11, 24, 8, 1, tzinfo=UTC))
    assert await DigestScheduler(db, Settings(), clock).tick() == 6
    assert {r.chat_id: r.kind for r in await outbox_rows(db)} == {**dict.fromkeys(range(40, 45), "digest"), 45: "alert"}
    claimed, _ = await outbox.claim_heads(db, clock.now(), limit=1)
    assert [j.chat_id for j in claimed] == [45]  # queued last in the tick, claimed first
