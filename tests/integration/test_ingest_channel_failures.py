"""One channel that cannot be read stops only itself: backoff, a reason on its row, admins told once.

Real TelethonSource, real Telethon objects; only the client calls are faked (test_ingest_fakes.py).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from telethon.tl import types

from bot.config import Settings
from bot.ingest.channels import add_channel
from bot.ingest.pipeline import Pipeline
from bot.ingest.service import IngestService
from bot.matching import compile_rules
from bot.storage import models as m
from bot.storage.database import Database
from bot.telegram.source import TelethonSource
from tests.integration.test_ingest_fakes import (
    GLADKOV_ID,
    FakeClock,
    FakeTelegram,
    TestApp,
    channel_entity,
    message,
)

BROKEN_ID = 2002
ADMIN = 4242


class LookupBreaks(FakeTelegram):
    """Telethon's `get_input_entity` raising what nobody expected, for one channel only."""

    def __init__(self) -> None:
        super().__init__()
        self.broken = True
        self.lookups = 0

    async def get_input_entity(self, target: Any) -> types.InputPeerChannel:
        entity = await self.get_entity(target)
        if entity.id == BROKEN_ID:
            self.lookups += 1
            if self.broken:
                raise IndexError("list index out of range")
        return types.InputPeerChannel(entity.id, entity.access_hash)


async def _setup(db: Database) -> tuple[LookupBreaks, FakeClock, IngestService]:
    tg = LookupBreaks()
    tg.add_channel(channel_entity(BROKEN_ID, "broken", "Сломанный"), [message(1, "не прочитать", cid=BROKEN_ID)])
    tg.add_channel(channel_entity(), [message(1, "обстрел Белгорода"), message(2, "ещё пост")])
    clock = FakeClock()
    settings = Settings.model_validate({"ingest": {"default_channels_file": "/nonexistent/channels.toml"},
                                        "bot": {"admins": [ADMIN]}})
    app = TestApp(settings, db, Pipeline(db, compile_rules), clock)
    adder = TelethonSource(tg, clock)  # another process (`tgmon channels add`): the service looks each up itself
    await add_channel(db, adder, "@broken")
    await add_channel(db, adder, "@vvgladkov")
    source = TelethonSource(tg, clock)
    async with db.uow() as session:
        session.add(m.Subscriber(chat_id=ADMIN, language="ru"))
    return tg, clock, IngestService(app, source)


async def _channels(db: Database) -> dict[str, m.Channel]:
    async with db.uow(read_only=True) as session:
        return {c.username or "": c for c in await session.scalars(select(m.Channel))}


async def _stored(db: Database) -> list[tuple[int | None, int]]:
    async with db.uow(read_only=True) as session:
        return sorted((await session.execute(
            select(m.Channel.telegram_id, m.Post.message_id).join(m.Channel, m.Channel.id == m.Post.channel_id))).all())


async def _notices(db: Database) -> list[m.Outbox]:
    async with db.uow(read_only=True) as session:
        return list(await session.scalars(select(m.Outbox).where(m.Outbox.kind == "notice")))


async def test_a_channel_whose_lookup_breaks_stops_only_itself(db: Database) -> None:
    tg, clock, service = await _setup(db)
    await service.start_pass()  # joins and gap fill: raised IndexError before, for every channel

    assert await _stored(db) == [(GLADKOV_ID, 1), (GLADKOV_ID, 2)]  # the good channel was read
    broken = (await _channels(db))["broken"]
    assert broken.error is not None and "IndexError" in broken.error
    assert broken.error_since == clock.now()
    assert (await _channels(db))["vvgladkov"].error is None
    notices = await _notices(db)
    assert [n.chat_id for n in notices] == [ADMIN]
    assert "@broken" in notices[0].text and "не читается" in notices[0].text  # the admin's language
    began, lookups = clock.now(), tg.lookups

    await service.gap_fill_all()  # within the backoff: the broken channel is not asked again
    assert tg.lookups == lookups
    tg.publish(message(3, "новый пост"))
    clock.current += timedelta(seconds=61)
    await service.gap_fill_all()  # retried after a minute, fails again; the good channel goes on
    assert tg.lookups == lookups + 1
    assert (GLADKOV_ID, 3) in await _stored(db)
    assert len(await _notices(db)) == 1  # told once, not at every retry
    assert (await _channels(db))["broken"].error_since == began

    clock.current += timedelta(seconds=61)
    await service.gap_fill_all()
    assert tg.lookups == lookups + 1  # the second wait is two minutes

    tg.broken = False
    clock.current += timedelta(minutes=2)
    await service.gap_fill_all()
    assert (BROKEN_ID, 1) in await _stored(db)
    recovered = (await _channels(db))["broken"]
    assert (recovered.error, recovered.error_since) == (None, None)


async def test_a_lost_connection_is_not_blamed_on_one_channel(db: Database) -> None:
    tg, _, service = await _setup(db)

    tg.broken = False
    tg.history_errors = [ConnectionError("connection lost")] * 4
    try:
        await service.gap_fill_all()
    except ConnectionError:
        pass
    else:
        raise AssertionError("a lost connection must reach the reconnect loop")
    assert all(c.error is None for c in (await _channels(db)).values())
    assert await _notices(db) == []


async def test_a_long_flood_wait_holds_back_only_the_requests_it_covers(db: Database) -> None:
    from telethon import errors

    tg, clock, service = await _setup(db)
    tg.broken = False
    await service.start_pass()
    tg.publish(message(3, "новый пост"), message(2, "второй", cid=BROKEN_ID))
    tg.requests.clear()
    tg.history_errors = [errors.FloodWaitError(request=None, capture=600)]
    started = clock.now()
    await service.gap_fill_all()  # the first history request earns 10 minutes of FloodWait
    assert clock.now() - started < timedelta(seconds=60)  # not sat out: the pass goes on
    assert len(tg.history_offsets()) == 1  # the other channel's read is held back without asking Telegram
    assert all(c.error is None for c in (await _channels(db)).values())  # a FloodWait is no broken channel
    assert await _notices(db) == []

    clock.current += timedelta(seconds=601)
    await service.gap_fill_all()
    assert {(GLADKOV_ID, 3), (BROKEN_ID, 2)} <= set(await _stored(db))
