"""Ingestion through the real TelethonSource, real Telethon messages and events, on SQLite and PostgreSQL.

Only the client calls are faked (tests/integration/test_ingest_fakes.py).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select
from telethon import errors, events
from telethon.tl import types

from bot import domain
from bot.ingest.channels import add_channel
from bot.ingest.service import IngestService
from bot.storage import models as m
from bot.storage.database import Database
from bot.storage.repos import count
from bot.telegram.source import TelethonSource
from tests.integration.test_ingest_fakes import (
    GLADKOV_ID,
    T0,
    FakeClock,
    FakeTelegram,
    add_rule,
    album,
    channel_entity,
    make_app,
    message,
    photo,
)


async def _setup(db: Database, posts: list, **ingest: object) -> tuple[FakeTelegram, FakeClock, IngestService]:
    tg = FakeTelegram()
    tg.add_channel(channel_entity(), posts)
    clock = FakeClock()
    app = await make_app(db, clock, **ingest)
    source = TelethonSource(tg, clock)
    service = IngestService(app, source)
    source.subscribe(service.on_posts, service.on_deleted)
    await add_channel(db, source, "https://t.me/vvgladkov")
    await service.refresh_channels()
    return tg, clock, service


async def _posts(db: Database) -> list[m.Post]:
    async with db.uow(read_only=True) as s:
        return list(await s.scalars(select(m.Post).order_by(m.Post.message_id)))


async def _channel(db: Database) -> m.Channel:
    async with db.uow(read_only=True) as s:
        row = await s.scalar(select(m.Channel))
    assert row is not None
    return row


async def _matched_posts(db: Database) -> set[int]:
    async with db.uow(read_only=True) as s:
        rows = await s.execute(select(m.Post.message_id).join(m.Match, m.Match.post_id == m.Post.id))
    return {r[0] for r in rows}


async def test_one_post_via_live_backfill_and_gap_fill_is_one_row_and_edits_update_it(db: Database) -> None:
    rule = await add_rule(db, "обстрел")
    post = message(1, "Обстрел Шебекино, пострадавших нет", views=10)
    tg, _, service = await _setup(db, [post])
    await service.backfill(domain.ChannelRef(GLADKOV_ID))  # the first backfill
    await tg.handler(events.NewMessage)(events.NewMessage.Event(post))  # the live update, late
    await service.gap_fill_all()  # and gap fill reads it once more
    [row] = await _posts(db)
    assert (row.message_id, row.text, row.deleted) == (1, "Обстрел Шебекино, пострадавших нет", False)
    async with db.uow(read_only=True) as s:
        assert await count(s, m.Match) == 1
        assert (await s.scalar(select(m.Match.rule_id))) == rule

    # a reaction / view change arrives as an edit: nothing changes, no version recorded
    bumped = message(1, "Обстрел Шебекино, пострадавших нет", views=999, edit_date=None)
    await tg.handler(events.MessageEdited)(events.MessageEdited.Event(bumped))
    [same] = await _posts(db)
    assert (same.text_hash, same.edit_date) == (row.text_hash, None)
    async with db.uow(read_only=True) as s:
        assert await count(s, m.PostVersion) == 0

    # a real edit: the one row updated, the old text kept as a version
    edited = message(1, "Обстрел Шебекино: ранен один человек", edit_date=T0 + timedelta(hours=1))
    await tg.handler(events.MessageEdited)(events.MessageEdited.Event(edited))
    [after] = await _posts(db)
    assert (after.id, after.text, after.edit_date) == (row.id, "Обстрел Шебекино: ранен один человек",
                                                       T0 + timedelta(hours=1))
    async with db.uow(read_only=True) as s:
        assert await count(s, m.PostVersion) == 1
        assert await count(s, m.Post) == 1


async def test_deletion_marks_the_post_and_keeps_it(db: Database) -> None:
    tg, _, service = await _setup(db, [message(1, "a"), message(2, "b")])
    await service.backfill(domain.ChannelRef(GLADKOV_ID))
    await tg.handler(events.MessageDeleted)(events.MessageDeleted.Event([2], types.PeerChannel(GLADKOV_ID)))
    rows = await _posts(db)
    assert [(r.message_id, r.deleted) for r in rows] == [(1, False), (2, True)]


async def test_150_posts_published_while_down_are_all_stored_and_matched(db: Database) -> None:
    await add_rule(db, "самооборона")
    tg, clock, service = await _setup(db, [message(i, f"пост {i}") for i in range(1, 11)])
    await service.start_pass()
    assert len(await _posts(db)) == 10

    # the service is down; the channel posts 150 times (some are service messages it must skip)
    tg.publish(*(message(i, f"Новости самообороны, выпуск {i}") for i in range(11, 161)))
    tg.publish(types.MessageService(id=161, peer_id=types.PeerChannel(GLADKOV_ID), date=T0,
                                    action=types.MessageActionPinMessage()))

    # restart: a new source and service over the same database
    source = TelethonSource(tg, clock)
    restarted = IngestService(await make_app(db, clock), source)
    await restarted.start_pass()
    rows = await _posts(db)
    assert len(rows) == 160
    assert await _matched_posts(db) == set(range(11, 161))
    channel = await _channel(db)
    assert (channel.last_message_id, channel.history_id, channel.joined) == (160, 161, True)
    assert channel.gaps_recovered == 150


async def test_a_post_missed_behind_a_live_one_is_found_by_gap_fill(db: Database) -> None:
    tg, _, service = await _setup(db, [message(i, f"p{i}") for i in range(1, 4)])
    await service.start_pass()
    tg.publish(message(4, "missed by live"), message(5, "arrived live"))
    await tg.handler(events.NewMessage)(events.NewMessage.Event(message(5, "arrived live")))
    assert [r.message_id for r in await _posts(db)] == [1, 2, 3, 5]
    await service.gap_fill_all()
    assert [r.message_id for r in await _posts(db)] == [1, 2, 3, 4, 5]


async def test_album_of_five_with_caption_on_the_third_is_one_post_matched_by_caption(db: Database) -> None:
    await add_rule(db, "батальон")
    items = album(20, ["", "", "Награждение бойцов батальона «Белгород»", "", ""])
    tg, _, service = await _setup(db, [message(19, "до альбома"), *items, message(25, "после")])
    await service.backfill(domain.ChannelRef(GLADKOV_ID))
    rows = await _posts(db)
    assert [(r.message_id, r.media_type) for r in rows] == [(19, None), (20, "album"), (25, None)]
    assert rows[1].text == "Награждение бойцов батальона «Белгород»"
    assert await _matched_posts(db) == {20}

    # live: Telethon's Album event and the NewMessage events of its items add nothing
    for item in items:
        await tg.handler(events.NewMessage)(events.NewMessage.Event(item))
    await tg.handler(events.Album)(events.Album.Event(items))
    # and an Album event split in two (items 1-2, then 3-5) folds into the same row
    await tg.handler(events.Album)(events.Album.Event(items[:2]))
    await tg.handler(events.Album)(events.Album.Event(items[2:]))
    assert [r.message_id for r in await _posts(db)] == [19, 20, 25]
    assert await _matched_posts(db) == {20}


async def test_live_album_split_first_then_gap_fill_is_one_post(db: Database) -> None:
    await add_rule(db, "батальон")
    tg, _, service = await _setup(db, [message(1, "старт")])
    await service.start_pass()
    items = album(2, ["", "", "Батальон на учениях", "", ""], grouped_id=99)
    tg.publish(*items)
    await tg.handler(events.Album)(events.Album.Event(items[3:]))  # the part without the caption first
    await tg.handler(events.Album)(events.Album.Event(items[:3]))
    await service.gap_fill_all()
    rows = await _posts(db)
    assert [(r.message_id, r.text) for r in rows] == [(1, "старт"), (5, "Батальон на учениях")]
    assert await _matched_posts(db) == {5}


async def test_flood_wait_mid_backfill_waits_and_skips_no_page(db: Database) -> None:
    tg, clock, service = await _setup(db, [message(i, f"p{i}") for i in range(1, 351)], backfill_posts=1000)
    # page 1, page 2, then FloodWait 30 s on page 3, then page 3 again, page 4
    tg.history_errors = [None, None, errors.FloodWaitError(request=None, capture=30)]
    await service.backfill(domain.ChannelRef(GLADKOV_ID))
    assert clock.sleeps == [30]
    assert [r.message_id for r in await _posts(db)] == list(range(1, 351))
    offsets = tg.history_offsets()
    assert offsets == [(0, 0), (251, 0), (151, 0), (151, 0), (51, 0)]  # page 3 asked again, none skipped
    channel = await _channel(db)
    assert channel.flood_wait_seconds == 30


async def test_flood_wait_during_gap_fill_resumes_at_the_same_page(db: Database) -> None:
    tg, clock, service = await _setup(db, [message(1, "p1")])
    await service.backfill(domain.ChannelRef(GLADKOV_ID))
    tg.publish(*(message(i, f"p{i}") for i in range(2, 252)))
    tg.history_errors = [None, errors.FloodWaitError(request=None, capture=30)]
    await service.backfill(domain.ChannelRef(GLADKOV_ID))
    assert clock.sleeps == [30]
    assert len(await _posts(db)) == 251
    gap_pages = tg.history_offsets()[1:]
    assert gap_pages[:3] == [(2, -100), (102, -100), (102, -100)]


async def test_backfill_on_add_is_bounded_by_days_and_posts(db: Database) -> None:
    old = [message(i, f"old {i}", date=T0 - timedelta(days=30, minutes=-i)) for i in range(1, 6)]
    recent = [message(i, f"new {i}") for i in range(6, 56)]
    _, _, service = await _setup(db, [*old, *recent], backfill_days=7, backfill_posts=20)
    await service.backfill(domain.ChannelRef(GLADKOV_ID))
    assert [r.message_id for r in await _posts(db)] == list(range(36, 56))  # the newest 20


async def test_backfill_on_add_stops_at_the_days_bound(db: Database) -> None:
    old = [message(i, f"old {i}", date=T0 - timedelta(days=30, minutes=-i)) for i in range(1, 6)]
    recent = [message(i, f"new {i}") for i in range(6, 56)]
    _, _, service = await _setup(db, [*old, *recent], backfill_days=7, backfill_posts=1000)
    await service.backfill(domain.ChannelRef(GLADKOV_ID))
    assert [r.message_id for r in await _posts(db)] == list(range(6, 56))  # nothing older than 7 days


async def test_join_cap_joins_up_to_the_cap_and_polls_the_rest(db: Database) -> None:
    tg = FakeTelegram()
    clock = FakeClock()
    app = await make_app(db, clock)
    app.settings = app.settings.model_copy(update={"telegram": app.settings.telegram.model_copy(update={"join_cap": 2})})
    source = TelethonSource(tg, clock)
    service = IngestService(app, source)
    for i, name in enumerate(["chanone", "chantwo", "chanthree"], start=1):
        tg.add_channel(channel_entity(1000 + i, name, name), [message(1, f"{name} post", cid=1000 + i)])
        await add_channel(db, source, name)
    await service.start_pass()
    assert tg.joined == [1001, 1002]
    async with db.uow(read_only=True) as s:
        joined = dict((await s.execute(select(m.Channel.username, m.Channel.joined))).all())
        assert await count(s, m.Post) == 3  # the unjoined channel is polled all the same
    assert joined == {"chanone": True, "chantwo": True, "chanthree": False}


async def test_media_only_and_forwarded_posts(db: Database) -> None:
    fwd = types.MessageFwdHeader(date=T0, from_id=types.PeerChannel(555), channel_post=42)
    _, _, service = await _setup(db, [message(1, "", media=photo()), message(2, "перепост", fwd_from=fwd)])
    await service.backfill(domain.ChannelRef(GLADKOV_ID))
    first, second = await _posts(db)
    assert (first.text, first.media_type) == ("", "photo")
    assert (second.forward_channel_id, second.forward_message_id) == (555, 42)


async def test_unwatched_chats_are_ignored(db: Database) -> None:
    tg, _, _service = await _setup(db, [])
    other = message(1, "from a chat nobody watches", cid=999)
    await tg.handler(events.NewMessage)(events.NewMessage.Event(other))
    assert await _posts(db) == []
    async with db.uow(read_only=True) as s:
        assert await count(s, m.Channel) == 1


async def test_a_burst_of_live_posts_on_many_channels_is_stored_in_a_few_batches(db: Database) -> None:
    """Each post its own update, all at once (Telethon dispatches each on a task of its own): the
    posts that arrive while a batch is stored go together in the next one, and every caller returns
    once its post is stored and matched."""
    await add_rule(db, "обстрел")
    tg, _, service = await _setup(db, [])
    for n in range(1, 20):
        tg.add_channel(channel_entity(3000 + n, f"burst{n}", f"Канал {n}"), [])
        await add_channel(db, TelethonSource(tg, FakeClock()), f"@burst{n}")
    await service.refresh_channels()
    batches: list[int] = []
    ingest = service.pipeline.ingest

    async def counted(posts: list[domain.Post]) -> domain.IngestResult:
        batches.append(len(posts))
        return await ingest(posts)

    service.pipeline.ingest = counted  # type: ignore[method-assign]
    handler = tg.handler(events.NewMessage)
    updates = [message(1, f"Обстрел, сводка {n}", cid=GLADKOV_ID if n == 0 else 3000 + n) for n in range(20)]
    await asyncio.gather(*(handler(events.NewMessage.Event(u)) for u in updates))
    assert sum(batches) == 20 and len(batches) < 20, batches  # the first alone, the others waiting behind it
    async with db.uow(read_only=True) as s:
        assert await count(s, m.Post) == 20
        assert await count(s, m.Match) == 20


@pytest.mark.parametrize("exc", [errors.ChannelPrivateError(request=None)])
async def test_a_channel_gone_private_is_skipped_by_gap_fill(db: Database, exc: Exception) -> None:
    tg, _, service = await _setup(db, [message(1, "x")])
    tg.history_errors = [exc]
    result = await service.gap_fill_all()  # logged, not raised
    assert result.stored == 0


async def test_a_channel_added_while_running_gets_its_live_posts(db: Database) -> None:
    tg, _, service = await _setup(db, [message(1, "x")])
    await service.start_pass()
    tg.add_channel(channel_entity(2002, "newchan", "Новый"), [])
    await add_channel(db, TelethonSource(tg, FakeClock()), "@newchan")  # e.g. by the bot, meanwhile
    await tg.handler(events.NewMessage)(events.NewMessage.Event(message(7, "первый пост", cid=2002)))
    async with db.uow(read_only=True) as s:
        rows = (await s.execute(select(m.Channel.username, m.Post.message_id)
                                .join(m.Post, m.Post.channel_id == m.Channel.id))).all()
    assert sorted(rows) == [("newchan", 7), ("vvgladkov", 1)]


async def test_a_quiet_channel_is_marked_read_and_its_next_posts_are_found(db: Database) -> None:
    old = [message(i, f"old {i}", date=T0 - timedelta(days=30)) for i in range(1, 4)]
    tg, _, service = await _setup(db, old, backfill_days=7)
    await service.backfill(domain.ChannelRef(GLADKOV_ID))
    assert await _posts(db) == []  # nothing in the last 7 days
    assert (await _channel(db)).history_id == 3  # but the history up to 3 was looked at
    tg.publish(message(4, "new"))
    await service.gap_fill_all()
    assert [r.message_id for r in await _posts(db)] == [4]


async def test_a_long_flood_wait_on_join_pauses_joining_and_polls_meanwhile(db: Database) -> None:
    tg, clock, service = await _setup(db, [message(1, "x")])
    tg.add_channel(channel_entity(2002, "second", "Второй"), [message(1, "y", cid=2002)])
    await add_channel(db, TelethonSource(tg, FakeClock()), "@second")
    tg.join_errors[2002] = errors.FloodWaitError(request=None, capture=600)
    await service.start_pass()
    assert tg.joined == [GLADKOV_ID]
    assert len(await _posts(db)) == 2  # the unjoined one is polled
    assert clock.sleeps == []  # a 10-minute wait is not sat out at start
    del tg.join_errors[2002]
    await service.join_up_to_cap()
    assert tg.joined == [GLADKOV_ID]  # still paused
    clock.current += timedelta(seconds=601)
    await service.join_up_to_cap()
    assert tg.joined == [GLADKOV_ID, 2002]


async def test_a_first_backfill_cut_short_goes_on_where_it_stopped(db: Database) -> None:
    tg, _, service = await _setup(db, [message(i, f"p{i}") for i in range(1, 351)], backfill_posts=1000)
    tg.history_errors = [None, None, ConnectionError("the process died here")]  # page 3 of 4
    with pytest.raises(ConnectionError):
        await service.backfill(domain.ChannelRef(GLADKOV_ID))
    assert [p.message_id for p in await _posts(db)] == list(range(151, 351))  # pages 1 and 2 were kept
    channel = await _channel(db)
    assert (channel.backfill_below, channel.history_id) == (151, 350)

    tg.requests.clear()
    seen: list[tuple[int, int | None]] = []
    result = await service.backfill(domain.ChannelRef(GLADKOV_ID), progress=lambda n, of: seen.append((n, of)))
    assert tg.history_offsets()[0] == (151, 0)  # below what was stored, not from the newest again
    assert result.stored == 150
    assert [p.message_id for p in await _posts(db)] == list(range(1, 351))
    assert (await _channel(db)).backfill_below is None
    assert seen[-1][0] == 150

    tg.publish(message(351, "new"))
    await service.gap_fill_all()  # and from then on the gap fill reads on from the newest
    assert [p.message_id for p in await _posts(db)][-1] == 351


async def test_edits_and_deletions_made_while_down_are_found_at_start(db: Database) -> None:
    tg, clock, service = await _setup(db, [message(1, "тихое утро"), message(2, "пост, который удалят"),
                                           message(3, "ещё пост")])
    rule = await add_rule(db, "обстрел*")
    await service.start_pass()
    assert [p.message_id for p in await _posts(db)] == [1, 2, 3]

    # tgmon is down: post 1 is edited to mention shelling, post 2 is deleted; no update reaches anyone
    tg.history[GLADKOV_ID] = [message(1, "обстрел посёлка утром", edit_date=clock.now()), message(3, "ещё пост")]
    restarted = IngestService(service.app, TelethonSource(tg, clock))
    await restarted.start_pass()

    posts = {p.message_id: p for p in await _posts(db)}
    assert posts[1].text == "обстрел посёлка утром"
    assert posts[2].deleted and not posts[1].deleted and not posts[3].deleted
    async with db.uow(read_only=True) as s:
        matched = list(await s.scalars(select(m.Match.post_id).where(m.Match.rule_id == rule)))
        versions = list(await s.scalars(select(m.PostVersion.text)))
    assert matched == [posts[1].id]  # the edit made a match, which digests and alerts pick up
    assert versions == ["тихое утро"]

    pages = len(tg.history_offsets())
    await restarted.gap_fill_all()
    assert len(tg.history_offsets()) == pages + 1  # a gap-fill pass reads only above the newest id
