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
