"""Live posts the updates skipped are read within seconds, not at the next 5-minute pass.

The running service (`IngestService.run`) on a clock the test steps; real TelethonSource and
Telethon events; only the client calls are faked (test_ingest_fakes.py).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from sqlalchemy import select
from telethon import events

from bot.ingest.channels import add_channel
from bot.ingest.service import IngestService
from bot.storage import models as m
from bot.storage.database import Database
from bot.telegram.source import TelethonSource
from tests.integration.test_ingest_fakes import (
    GLADKOV_ID,
    FakeClock,
    FakeTelegram,
    channel_entity,
    make_app,
    message,
)


class SteppedClock(FakeClock):
    """A sleep blocks until the test steps the clock, then moves it by what was slept."""

    def __init__(self) -> None:
        super().__init__()
        self.step = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await self.step.wait()
        self.step.clear()
        self.current += timedelta(seconds=seconds)


async def _until(predicate: object) -> None:
    for _ in range(500):
        if predicate():  # type: ignore[operator]
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


async def _stored_ids(db: Database) -> list[int]:
    async with db.uow(read_only=True) as session:
        return list(await session.scalars(select(m.Post.message_id).order_by(m.Post.message_id)))


async def test_a_post_the_live_updates_skipped_is_read_within_seconds(db: Database) -> None:
    tg = FakeTelegram()
    tg.add_channel(channel_entity(), [message(i, f"пост {i}") for i in (1, 2, 3)])
    clock = SteppedClock()
    await add_channel(db, TelethonSource(tg, FakeClock()), "@vvgladkov")
    service = IngestService(await make_app(db, clock), TelethonSource(tg, clock))
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop))
    await _until(lambda: clock.sleeps == [300.0])  # started, read 1-3, waiting for the next full pass
    assert await _stored_ids(db) == [1, 2, 3]

    published: datetime = clock.now()
    tg.publish(message(4, "обстрел, пост 4"), message(5, "пост 5"))
    await tg.handler(events.NewMessage)(events.NewMessage.Event(message(5, "пост 5")))  # 4's update is lost
    await _until(lambda: clock.sleeps[-1] == service.LIVE_GAP_SECONDS)  # woken by the gap, not the timer
    clock.step.set()
    await _until(lambda: len(clock.sleeps) == 3)
    assert await _stored_ids(db) == [1, 2, 3, 4, 5]
    assert clock.now() - published == timedelta(seconds=service.LIVE_GAP_SECONDS)  # not 5 minutes

    # the channel is active now: a post whose update is lost with nothing after it waits a minute at most
    assert clock.sleeps[-1] == service.ACTIVE_POLL_SECONDS
    published = clock.now()
    tg.publish(message(6, "пост 6"))
    clock.step.set()
    await _until(lambda: len(clock.sleeps) == 4)
    assert 6 in await _stored_ids(db)
    assert clock.now() - published == timedelta(seconds=service.ACTIVE_POLL_SECONDS)

    stop.set()
    clock.step.set()
    await asyncio.wait_for(task, 5)
    assert GLADKOV_ID in service._watched
