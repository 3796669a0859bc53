"""A restart finds its channels by the access hashes it kept: no username is resolved again.

Each "process" gets a fresh client whose session cache is empty, as with a TELEGRAM_SESSION string;
real TelethonSource, real Telethon objects, only the client calls faked (test_ingest_fakes.py).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from telethon import errors
from telethon.tl import functions, types

from bot.ingest.channels import add_channel
from bot.ingest.service import IngestService
from bot.storage import models as m
from bot.storage.database import Database
from bot.telegram.source import TelethonSource
from tests.integration.test_ingest_fakes import FakeClock, FakeTelegram, channel_entity, make_app, message

CHANNELS = {3001: "first", 3002: "second", 3003: "third"}


class StringSessionClient(FakeTelegram):
    """A new process: Telethon knows no channel by id until it resolves it; resolves are counted."""

    def __init__(self, world: FakeTelegram) -> None:
        super().__init__()
        self.entities, self.by_id, self.history = world.entities, world.by_id, world.history
        self.cached: set[int] = set()
        self.resolves: list[str] = []

    async def get_entity(self, target: Any) -> Any:
        if isinstance(target, types.PeerChannel) and target.channel_id not in self.cached:
            raise ValueError(f"Could not find the input entity for {target!r}")
        if not isinstance(target, types.PeerChannel):
            self.resolves.append(str(target))  # contacts.resolveUsername
        entity = await super().get_entity(target)
        self.cached.add(entity.id)
        return entity

    async def __call__(self, request: Any) -> Any:
        if isinstance(request, functions.messages.GetHistoryRequest | functions.channels.JoinChannelRequest):
            peer = getattr(request, "peer", None) or request.channel
            if peer.access_hash != self.by_id[peer.channel_id].access_hash:
                self.requests.append(request)
                raise errors.ChannelInvalidError(request=request)
        return await super().__call__(request)


def _world() -> FakeTelegram:
    world = FakeTelegram()
    for cid, name in CHANNELS.items():
        world.add_channel(channel_entity(cid, name, name.title()), [message(1, f"{name} 1", cid=cid)])
    return world


async def _process(db: Database, world: FakeTelegram) -> tuple[StringSessionClient, IngestService]:
    client = StringSessionClient(world)
    clock = FakeClock()
    return client, IngestService(await make_app(db, clock), TelethonSource(client, clock))


async def _stored(db: Database) -> set[tuple[int | None, int]]:
    async with db.uow(read_only=True) as session:
        return set((await session.execute(select(m.Channel.telegram_id, m.Post.message_id)
                                          .join(m.Channel, m.Channel.id == m.Post.channel_id))).all())


async def test_a_restart_resolves_no_username(db: Database) -> None:
    world = _world()
    adder = StringSessionClient(world)
    for name in CHANNELS.values():
        await add_channel(db, TelethonSource(adder, FakeClock()), f"@{name}")

    first, service = await _process(db, world)
    await service.start_pass()
    assert sorted(first.resolves) == sorted(CHANNELS.values())  # once each, the first time this account reads
    assert {(cid, 1) for cid in CHANNELS} <= await _stored(db)

    for cid, name in CHANNELS.items():
        world.publish(message(2, f"{name} 2", cid=cid))
    again, service = await _process(db, world)  # the restart
    await service.start_pass()
    assert again.resolves == []
    assert {(cid, 2) for cid in CHANNELS} <= await _stored(db)
    async with db.uow(read_only=True) as session:
        kept = (await session.execute(select(m.ChannelPeer.telegram_id, m.ChannelPeer.access_hash)
                                      .where(m.ChannelPeer.account == "main"))).all()
    assert sorted(kept) == sorted((cid, cid * 7) for cid in CHANNELS)


async def test_a_hash_telegram_no_longer_takes_is_looked_up_once_again(db: Database) -> None:
    world = _world()
    for name in CHANNELS.values():
        await add_channel(db, TelethonSource(StringSessionClient(world), FakeClock()), f"@{name}")
    _, service = await _process(db, world)
    await service.start_pass()

    world.by_id[3002].access_hash = 99  # e.g. the channel was re-created under the same id
    world.publish(message(2, "second 2", cid=3002))
    again, service = await _process(db, world)
    await service.start_pass()
    assert again.resolves == ["second"]  # CHANNEL_INVALID on the kept hash: resolved once, read on
    assert (3002, 2) in await _stored(db)
    async with db.uow(read_only=True) as session:
        assert await session.scalar(select(m.ChannelPeer.access_hash).where(m.ChannelPeer.telegram_id == 3002)) == 99
        assert await session.scalar(select(m.Channel.error).where(m.Channel.telegram_id == 3002)) is None


async def test_a_private_channel_goes_only_to_an_account_that_can_address_it(db: Database) -> None:
    from datetime import UTC, datetime, timedelta

    from bot.ingest.accounts import balance
    from bot.storage.peers import save_peer

    now, stale = datetime.now(UTC), timedelta(minutes=15)  # only ever compared with itself
    async with db.uow() as session:
        session.add(m.Channel(telegram_id=4001, username=None, title="Private, joined by invite"))
        session.add(m.Channel(telegram_id=4002, username="public", title="Public"))
        await session.flush()
        await save_peer(session, "main", 4001, 123, now)  # main joined it through the invite link

    await balance(db, "second", 1000, now, stale)  # main has not started: second takes what it can
    async with db.uow(read_only=True) as session:
        owners = dict((await session.execute(select(m.Channel.telegram_id, m.Channel.account))).all())
    assert owners == {4001: None, 4002: "second"}  # it has no way to read the private one

    await balance(db, "main", 1000, now, stale)
    async with db.uow(read_only=True) as session:
        owners = dict((await session.execute(select(m.Channel.telegram_id, m.Channel.account))).all())
    assert owners[4001] == "main"


async def test_a_private_channel_no_live_account_can_read_is_an_error_told_once(db: Database) -> None:
    from datetime import UTC, datetime

    from bot.config import Settings
    from bot.ingest.pipeline import Pipeline
    from bot.matching import compile_rules
    from bot.storage.peers import save_peer
    from tests.integration.test_ingest_fakes import TestApp

    async with db.uow() as session:
        session.add(m.Channel(telegram_id=4001, username=None, title="Закрытый"))
        session.add(m.Subscriber(chat_id=77, language="en"))
        await session.flush()
        await save_peer(session, "gone", 4001, 123, datetime.now(UTC))  # only an account that no longer runs
    clock = FakeClock()
    settings = Settings.model_validate({"ingest": {"default_channels_file": "/nonexistent/channels.toml"},
                                        "bot": {"admins": [77]}})
    service = IngestService(TestApp(settings, db, Pipeline(db, compile_rules), clock),
                            TelethonSource(StringSessionClient(_world()), clock))
    await service.refresh_channels()
    await service.refresh_channels()  # every pass finds it again; the admins hear of it once
    async with db.uow(read_only=True) as session:
        channel = await session.scalar(select(m.Channel).where(m.Channel.telegram_id == 4001))
        notices = list(await session.scalars(select(m.Outbox.text).where(m.Outbox.kind == "notice")))
    assert channel is not None and channel.account is None
    assert channel.error is not None and "no live monitoring account can read it" in channel.error
    assert len(notices) == 1 and "Закрытый" in notices[0]
