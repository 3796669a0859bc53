"""Delivery workers split the global rate: heartbeats in `delivery_workers`, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from bot.config import DeliverySettings, Settings
from bot.delivery.clock import ManualClock, SystemClock
from bot.delivery.share import STALE_AFTER, WorkerShare
from bot.delivery.worker import DeliveryWorker
from bot.storage import models as m
from bot.storage.database import Database
from tests.digest_support import FakeSender

START = datetime(2026, 11, 20, 9, tzinfo=UTC)


async def _rows(db: Database) -> int:
    async with db.uow(read_only=True) as session:
        return int(await session.scalar(select(func.count()).select_from(m.DeliveryWorker)) or 0)


async def test_live_workers_are_counted_and_a_dead_one_stops_counting(db: Database) -> None:
    clock = ManualClock(START)
    a, b = WorkerShare(db, clock, "a"), WorkerShare(db, clock, "b")
    assert await a.beat() == 1
    assert await b.beat() == 2
    assert await a.beat() == 2  # a second beat updates the row, it adds none
    assert await _rows(db) == 2
    clock.advance(STALE_AFTER.total_seconds() + 1)  # b died without a word
    assert await a.beat() == 1
    await b.beat()  # b is back
    assert await a.beat() == 2
    await b.leave()  # a clean stop removes the row at once
    assert await a.beat() == 1 and await _rows(db) == 1


@pytest.mark.dates  # heartbeats on the real clock
async def test_a_worker_paces_itself_at_its_share_and_leaves_on_stop(db: Database) -> None:
    clock = SystemClock()  # real time: the worker's loop sleeps on it
    other = WorkerShare(db, clock, "another-host:1:x")
    await other.beat()  # another worker is alive
    settings = Settings(delivery=DeliverySettings(global_per_second=30))
    worker = DeliveryWorker(db, FakeSender(clock), settings, clock)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    for _ in range(100):
        await asyncio.sleep(0.02)
        if worker.limiter.rate == 15:
            break
    assert worker.limiter.rate == 15  # half of 30: two workers
    assert await _rows(db) == 2
    stop.set()
    await asyncio.wait_for(task, 10)
    assert await _rows(db) == 1  # its own row went with it


async def test_a_joining_worker_takes_its_share_before_its_first_send(db: Database,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bot.delivery.worker.JOIN_SECONDS", 0.05)
    clock = SystemClock()
    await WorkerShare(db, clock, "another-host:1:x").beat()  # a worker already sending at the full rate
    worker = DeliveryWorker(db, FakeSender(clock), Settings(delivery=DeliverySettings(global_per_second=30)), clock)
    sending: list[float] = []

    async def deliver(stop: asyncio.Event) -> None:
        sending.append(worker.limiter.rate)
        stop.set()

    worker._deliver = deliver  # type: ignore[method-assign]
    await asyncio.wait_for(worker.run(asyncio.Event()), 10)
    assert sending == [15]  # its half from the start: never 30 while the other still sends at 30


async def test_the_next_message_to_a_chat_waits_its_gap_whichever_worker_sends_it(db: Database) -> None:
    """Each worker's limiter knows only its own sends: the per-chat spacing is kept in the outbox."""
    from bot.delivery.limiter import RateLimiter
    from bot.delivery.worker import deliver_due
    from tests.digest_support import add_subscriber

    clock = ManualClock(START)
    private = await add_subscriber(db, chat_id=501)
    group = await add_subscriber(db, chat_id=-1001)
    async with db.uow() as session:
        for sub, chat in ((private, 501), (group, -1001)):
            for n in (1, 2):
                session.add(m.Outbox(subscriber_id=sub, chat_id=chat, kind="digest", chunk_no=n, chunk_total=2,
                                     text=f"part {n}", random_id=chat * 10 + n, state="pending", attempts=0,
                                     not_before=START, created_at=START))
    settings = DeliverySettings()
    first, second = FakeSender(clock), FakeSender(clock)
    assert await deliver_due(db, first, RateLimiter(settings, clock), clock) == 2  # part 1 of each chat
    clock.advance(0.5)
    assert await deliver_due(db, second, RateLimiter(settings, clock), clock) == 0  # another worker: not yet
    clock.advance(0.6)
    assert await deliver_due(db, second, RateLimiter(settings, clock), clock) == 1  # the private chat, 1.1 s on
    clock.advance(2)
    assert await deliver_due(db, second, RateLimiter(settings, clock), clock) == 1  # the group, 3 s after its part 1
