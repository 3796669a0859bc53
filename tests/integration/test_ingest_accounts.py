"""Several monitoring accounts split the channels (bot/ingest/accounts.py), on SQLite and PostgreSQL.

Balancing runs against the real database; the ingest services run over the real TelethonSource with
only the client calls faked (tests/integration/test_ingest_fakes.py) and real Telethon messages.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from telethon import events
from telethon.tl import functions

from bot.ingest.accounts import Assignment, account_states, balance, heartbeat, share_level
from bot.ingest.channels import add_channel
from bot.ingest.service import IngestService
from bot.storage import models as m
from bot.storage.database import Database
from bot.telegram.source import TelethonSource
from tests.integration.test_ingest_fakes import T0, FakeClock, FakeTelegram, channel_entity, make_app, message

STALE = timedelta(minutes=15)  # three gap-fill periods of 5 minutes
NOW = T0 + timedelta(hours=12)


async def _channels(db: Database, n: int) -> None:
    async with db.uow() as session:
        session.add_all(m.Channel(telegram_id=5000 + i, username=f"chan{i:04d}", title=f"Channel {i}")
                        for i in range(1, n + 1))


async def _owners(db: Database) -> dict[str | None, int]:
    async with db.uow(read_only=True) as session:
        rows = await session.execute(select(m.Channel.account, func.count()).group_by(m.Channel.account))
    return {account: int(n) for account, n in rows}


def test_share_level_fills_every_account_evenly_within_its_cap() -> None:
    assert share_level([1000, 1000], 10) == 5
    assert share_level([1000, 1000], 11) == 6  # one of them takes the odd one
    assert share_level([2, 1000], 10) == 8  # the small cap leaves the rest to the other
    assert share_level([3, 3], 10) == 3  # not enough room: everyone full, 4 left over
    assert share_level([1000], 0) == 0 and share_level([], 5) == 0


async def test_two_live_accounts_get_half_each(db: Database) -> None:
    await _channels(db, 10)
    await heartbeat(db, "main", 1000, NOW)
    await heartbeat(db, "second", 1000, NOW)
    first = await balance(db, "main", 1000, NOW, STALE)
    second = await balance(db, "second", 1000, NOW, STALE)
    assert (first.claimed, first.owned, second.claimed, second.owned) == (5, 5, 5, 5)
    assert first.live == second.live == ("main", "second")
    assert await _owners(db) == {"main": 5, "second": 5}
    # a balanced state is stable: another pass of each changes nothing
    again = [await balance(db, name, 1000, NOW, STALE) for name in ("second", "main")]
    assert [(a.claimed, a.released) for a in again] == [(0, 0), (0, 0)]


async def test_the_first_process_does_not_keep_everything_once_another_is_live(db: Database) -> None:
    await _channels(db, 10)
    alone = await balance(db, "main", 1000, NOW, STALE)
    assert (alone.claimed, alone.live) == (10, ("main",))  # the only live account takes all
    later = NOW + timedelta(minutes=1)
    arriving = await balance(db, "second", 1000, later, STALE)
    assert (arriving.share, arriving.claimed) == (5, 0)  # every channel is held by a live account
    async with db.uow() as session:  # main had joined its first three
        await session.execute(update(m.Channel).where(m.Channel.telegram_id <= 5003).values(joined=True))
    releasing = await balance(db, "main", 1000, later, STALE)
    assert (releasing.share, releasing.released, releasing.owned) == (5, 5, 5)
    async with db.uow(read_only=True) as session:
        kept = set(await session.scalars(select(m.Channel.telegram_id).where(m.Channel.account == "main")))
    assert {5001, 5002, 5003} <= kept  # the joined ones stay; the newest unjoined ones go
    taking = await balance(db, "second", 1000, later, STALE)
    assert (taking.claimed, taking.owned) == (5, 5)
    assert await _owners(db) == {"main": 5, "second": 5}


async def test_cap_is_respected_and_the_rest_stays_unassigned(db: Database) -> None:
    await _channels(db, 10)
    await heartbeat(db, "second", 3, NOW)
    done = await balance(db, "main", 3, NOW, STALE)
    other = await balance(db, "second", 3, NOW, STALE)
    assert (done.owned, other.owned) == (3, 3)
    assert done.over_capacity == other.over_capacity == 4
    assert await _owners(db) == {"main": 3, "second": 3, None: 4}
    # an account whose cap is lowered releases down to it
    lowered = await balance(db, "main", 1, NOW, STALE)
    assert (lowered.released, lowered.owned) == (2, 1)
    assert await _owners(db) == {"main": 1, "second": 3, None: 6}


async def test_the_cap_warning_is_logged_once_and_the_list_shows_it(db: Database,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    await _channels(db, 5)
    clock = FakeClock(NOW)
    app = await make_app(db, clock)
    app.settings = app.settings.model_copy(update={"telegram": app.settings.telegram.model_copy(
        update={"channel_cap": 2})})
    service = IngestService(app, TelethonSource(FakeTelegram(), clock))
    with caplog.at_level(logging.WARNING, logger="bot.ingest.service"):
        rows = await service.refresh_channels()
        await service.refresh_channels()
    assert [r.telegram_id for r in rows] == [5001, 5002]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "3 active channels are watched by no monitoring account" in warnings[0]
    assert "TELEGRAM_ACCOUNT_CAP" in warnings[0]
    [state] = await account_states(db, NOW, STALE)
    assert (state.name, state.cap, state.live, state.channels) == ("main", 2, True, 2)


async def test_a_dead_accounts_channels_move_to_a_live_one(db: Database) -> None:
    await _channels(db, 10)
    await heartbeat(db, "second", 1000, NOW)
    await balance(db, "main", 1000, NOW, STALE)
    await balance(db, "second", 1000, NOW, STALE)
    async with db.uow() as session:
        await session.execute(update(m.Channel).values(joined=True))
    # second's process dies; main goes on beating; 16 minutes later second is stale
    later = NOW + timedelta(minutes=16)
    took = await balance(db, "main", 1000, later, STALE)
    assert (took.live, took.claimed, took.owned) == (("main",), 5, 10)
    assert await _owners(db) == {"main": 10}
    async with db.uow(read_only=True) as session:
        joined = dict((await session.execute(select(m.Channel.telegram_id, m.Channel.joined))).all())
    assert sum(joined.values()) == 5  # main has not joined the five it took over (yet)
    states = {s.name: s for s in await account_states(db, later, STALE)}
    assert (states["main"].live, states["second"].live, states["second"].channels) == (True, False, 0)
    # second comes back: it gets its half again within two passes
    back = later + timedelta(minutes=1)
    assert (await balance(db, "second", 1000, back, STALE)).claimed == 0
    assert (await balance(db, "main", 1000, back, STALE)).released == 5
    assert (await balance(db, "second", 1000, back, STALE)).claimed == 5


async def test_concurrent_claims_never_give_a_channel_twice(db: Database) -> None:
    """Six ingest processes (six engines, six connections) balance at the same moment, three rounds."""
    await _channels(db, 120)
    url = db.engine.url.render_as_string(hide_password=False)
    caps = {"acc0": 5, "acc1": 1000, "acc2": 1000, "acc3": 1000, "acc4": 1000, "acc5": 1000}
    processes = {name: Database.from_url(url) for name in caps}
    passes: list[Assignment] = []
    try:
        for round_no in range(3):
            now = NOW + timedelta(seconds=round_no)
            done = await asyncio.gather(*(balance(processes[name], name, cap, now, STALE)
                                          for name, cap in caps.items()))
            passes.extend(done)
            owners = await _owners(db)
            for result in done:  # what each process believes it holds is what the table says
                assert owners.get(result.account, 0) == result.owned
                assert result.owned <= caps[result.account]
            assigned = sum(n for owner, n in owners.items() if owner is not None)
            # a channel claimed by two processes would be counted twice here
            assert sum(p.claimed - p.released for p in passes) == assigned
    finally:
        for process in processes.values():
            await process.dispose()
    # after three rounds: water-filled shares, every channel assigned once
    assert await _owners(db) == {"acc0": 5, "acc1": 23, "acc2": 23, "acc3": 23, "acc4": 23, "acc5": 23}


# --- two ingest services over fake Telegram edges ----------------------------------------------------------

def _telegram(posts: dict[int, list[int]]) -> FakeTelegram:
    tg = FakeTelegram()
    for cid, ids in posts.items():
        tg.add_channel(channel_entity(cid, f"news{cid}", f"News {cid}"),
                       [message(i, f"Сводка {cid}: обстрел, выпуск {i}", cid=cid) for i in ids])
    return tg


def _read_channels(tg: FakeTelegram) -> set[int]:
    return {r.peer.channel_id for r in tg.requests if isinstance(r, functions.messages.GetHistoryRequest)}


async def test_two_services_ingest_only_their_channels_and_every_post_once(db: Database) -> None:
    posts = {cid: list(range(1, 6)) for cid in (2001, 2002, 2003, 2004)}
    tg_main, tg_second = _telegram(posts), _telegram(posts)  # each account sees the public channels
    clock = FakeClock(NOW)
    main = IngestService(await make_app(db, clock), TelethonSource(tg_main, clock))
    second = IngestService(await make_app(db, clock), TelethonSource(tg_second, clock), account="second")
    for cid in posts:
        await add_channel(db, main.source, f"@news{cid}")
    await heartbeat(db, "second", 1000, clock.now())  # both processes are up
    await main.start_pass()
    await second.start_pass()

    mine, theirs = set(main._watched), set(second._watched)
    assert len(mine) == len(theirs) == 2 and not mine & theirs
    assert _read_channels(tg_main) == mine and _read_channels(tg_second) == theirs
    assert set(tg_main.joined) == mine and set(tg_second.joined) == theirs
    async with db.uow(read_only=True) as session:
        stored = (await session.execute(select(m.Channel.telegram_id, m.Post.message_id)
                                        .join(m.Post, m.Post.channel_id == m.Channel.id))).all()
    assert sorted(stored) == sorted((cid, i) for cid, ids in posts.items() for i in ids)

    # new posts arrive live; each account is in every channel, so both clients see every event
    fresh = {cid: message(6, f"Новый пост {cid}", cid=cid) for cid in posts}
    for tg in (tg_main, tg_second):
        tg.publish(*fresh.values())
    their_cid = min(theirs)
    await tg_main.handler(events.NewMessage)(events.NewMessage.Event(fresh[their_cid]))
    async with db.uow(read_only=True) as session:  # main ignored a post of second's channel
        assert await session.scalar(select(func.count()).where(m.Post.message_id == 6)) == 0
    for tg in (tg_main, tg_second):
        for msg in fresh.values():
            await tg.handler(events.NewMessage)(events.NewMessage.Event(msg))
    await main.gap_fill_all()
    await second.gap_fill_all()
    async with db.uow(read_only=True) as session:
        rows = (await session.execute(select(m.Channel.telegram_id, m.Post.message_id)
                                      .join(m.Post, m.Post.channel_id == m.Channel.id))).all()
    assert sorted(rows) == sorted((cid, i) for cid in posts for i in range(1, 7))  # every post once
    assert _read_channels(tg_main) == mine and _read_channels(tg_second) == theirs


async def test_migration_gives_channels_joined_before_accounts_to_main(db: Database) -> None:
    from sqlalchemy import text

    from bot.storage.migrate import current, downgrade, upgrade

    await downgrade(db.engine, "0008_outbox_chat_active_index")
    async with db.engine.begin() as conn:
        await conn.execute(text(
            "INSERT INTO channels (telegram_id, username, title, last_message_id, history_id, status, joined, "
            "gaps_recovered, flood_wait_seconds, created_at, updated_at) VALUES "
            "(1, 'joinedone', 'J', 0, 0, 'active', :yes, 0, 0, :now, :now), "
            "(2, 'polledone', 'P', 0, 0, 'active', :no, 0, 0, :now, :now)"),
            {"yes": True, "no": False, "now": NOW.replace(tzinfo=None) if db.dialect == "sqlite" else NOW})
    await upgrade(db.engine, "0009_ingest_accounts")
    assert await current(db.engine) == "0009_ingest_accounts"
    async with db.uow(read_only=True) as session:
        owners = dict((await session.execute(select(m.Channel.username, m.Channel.account))).all())
    assert owners == {"joinedone": "main", "polledone": None}
    await upgrade(db.engine)  # and on to the newest schema
    done = await balance(db, "main", 1000, NOW, STALE)  # main keeps the joined one and takes the other
    assert (done.claimed, done.owned) == (1, 2)
    async with db.uow(read_only=True) as session:
        joined = dict((await session.execute(select(m.Channel.username, m.Channel.joined))).all())
    assert joined == {"joinedone": True, "polledone": False}
