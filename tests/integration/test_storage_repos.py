"""The repositories of the channels, posts and accounts aggregates, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import select, text

from bot import domain
from bot.ingest.pipeline import Pipeline
from bot.matching import compile_rules
from bot.search import vectors
from bot.storage import accounts, channels, migrate, posts
from bot.storage import models as m
from bot.storage.database import Database

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CHAN = domain.ChannelRef(1001, "vvgladkov", "Гладков")


async def _channel(db: Database, telegram_id: int, username: str | None, **values: object) -> int:
    async with db.uow() as session:
        row = m.Channel(telegram_id=telegram_id, username=username, title=username or "", **values)
        session.add(row)
        await session.flush()
        return row.id


async def _get(db: Database, row_id: int) -> m.Channel:
    async with db.uow(read_only=True) as session:
        row = await session.get(m.Channel, row_id)
    assert row is not None
    return row


async def test_find_by_id_then_username_and_a_username_moves(db: Database) -> None:
    old = await _channel(db, 1, "belgorod")
    new = await _channel(db, 2, None)
    async with db.uow() as session:
        assert (await channels.find(session, 2, "belgorod")).id == new  # type: ignore[union-attr]
        assert (await channels.find(session, None, "BelGorod")).id == old  # type: ignore[union-attr]
        assert await channels.find(session, 3, None) is None
        await channels.release_username(session, "belgorod", keep_id=new)
    assert (await _get(db, old)).username is None


async def test_history_mark_never_moves_back_and_backfill_pages_move_it_up(db: Database) -> None:
    row = await _channel(db, 1, "c")
    async with db.uow() as session:
        await channels.advance_history(session, row, 50)
        await channels.advance_history(session, row, 40)
    assert (await _get(db, row)).history_id == 50
    async with db.uow() as session:
        await channels.backfill_page_stored(session, row, oldest=10, newest=30)
    got = await _get(db, row)
    assert (got.history_id, got.backfill_below) == (50, 10)
    async with db.uow() as session:
        await channels.backfill_page_stored(session, row, oldest=60, newest=80)
        await channels.add_recovered(session, row, 3)
        await channels.add_recovered(session, row, 2)
        await channels.add_flood_wait(session, 1, 7)
    got = await _get(db, row)
    assert (got.history_id, got.backfill_below, got.gaps_recovered, got.flood_wait_seconds) == (80, 60, 5, 7)
    async with db.uow() as session:
        await channels.backfill_done(session, row)
    assert (await _get(db, row)).backfill_below is None


async def test_an_error_begins_once_and_clears(db: Database) -> None:
    row = await _channel(db, 1, "c")
    async with db.uow() as session:
        assert await channels.set_error(session, row, "private", T0) is True
        assert await channels.set_error(session, row, "still private", T0 + timedelta(hours=1)) is False
    got = await _get(db, row)
    assert (got.error, got.error_since) == ("still private", T0)
    async with db.uow() as session:
        assert await channels.clear_error(session, row) is True
        assert await channels.clear_error(session, row) is False


async def test_posts_missing_from_a_page_are_deleted_albums_and_purge(db: Database) -> None:
    pipeline = Pipeline(db, compile_rules)
    await pipeline.ingest([domain.Post(CHAN, i, T0 + timedelta(minutes=i), f"пост {i}", grouped_id=7 if i > 3 else None)
                           for i in range(1, 6)])
    async with db.uow() as session:
        row = await channels.by_telegram_id(session, 1001)
        assert row is not None
        assert await posts.mark_missing_deleted(session, row.id, 1, 3, [1, 3]) == 1
        assert await posts.mark_missing_deleted(session, row.id, 1, 3, [1, 3]) == 0  # already marked
        await posts.mark_deleted(session, 1001, [5])
        heads = await posts.album_heads(session, {(1001, 7)})
        assert heads == {(1001, 7): (4, "пост 4")}
        deleted = list(await session.scalars(select(m.Post.message_id).where(m.Post.deleted.is_(True))
                                             .order_by(m.Post.message_id)))
        assert deleted == [2, 5]
        assert await channels.posts_from(session, row.id, 3) == 3
        overview = await channels.overview(session, since=T0 + timedelta(minutes=4))
        assert [(c.id, n, recent) for c, n, recent in overview] == [(row.id, 5, 2)]
        assert await posts.purge_channel(session, row.id) == 5
        assert await channels.posts_from(session, row.id, 0) == 0


async def test_accounts_claim_only_free_or_dead_channels_and_release_their_own(db: Database) -> None:
    a = await _channel(db, 1, "a")
    b = await _channel(db, 2, None, account="dead")
    c = await _channel(db, 3, None, account="other")
    async with db.uow() as session:
        await accounts.lock_assignments(session)
        await accounts.beat(session, "main", 10, T0)
        await accounts.beat(session, "other", 10, T0)
        await accounts.beat(session, "dead", 10, T0 - timedelta(hours=5))
        await accounts.beat(session, "main", 20, T0)  # an upsert: the cap changes, one row
        live = await accounts.live_caps(session, T0 - timedelta(minutes=30))
        assert live == {"main": 20, "other": 10}
        reach = {row_id: reachable for row_id, _, _, reachable in await accounts.assignable(session, "main")}
        assert reach == {a: True, b: False, c: False}  # only a has a username; main keeps no hash
        assert await accounts.claim(session, "main", [a, b, c], list(live)) == 2  # not other's
        assert await accounts.release(session, "other", [a, b]) == 0  # not its own
        assert await accounts.release(session, "main", [b]) == 1
        counts = {name: (cap, n) for name, cap, _, n in await accounts.with_channel_counts(session)}
        assert counts == {"dead": (10, 0), "main": (20, 1), "other": (10, 1)}
        lost = await accounts.unreachable(session, ["main", "other"])
        assert [row_id for row_id, _ in lost] == [b]


async def test_new_posts_inserted_once_their_sightings_and_an_edits_old_text(db: Database) -> None:
    row = await _channel(db, 1001, "vvgladkov")
    first = [domain.Post(CHAN, i, T0 + timedelta(minutes=i), f"пост {i}") for i in (1, 2)]
    async with db.uow() as session:
        inserted = await posts.insert_new(session, row, first)
        assert sorted(message_id for _, message_id in inserted) == [1, 2]
        again = await posts.insert_new(session, row, [first[1], domain.Post(CHAN, 3, T0, "")])
        assert [message_id for _, message_id in again] == [3]  # 2 is there: not inserted twice
    async with db.uow() as session:
        seen = await posts.sightings(session, row, [1, 3, 4])
        assert sorted(seen) == [1, 3]
        assert (seen[1].text_hash, seen[1].deleted) == (first[0].text_hash, False)
        stored = await session.scalar(select(m.Post).where(m.Post.channel_id == row, m.Post.message_id == 1))
        assert stored is not None and stored.date == T0 + timedelta(minutes=1) and stored.lemma_text is None
        posts.keep_version(session, stored)
    async with db.uow(read_only=True) as session:
        versions = [(v.post_id, v.text) for v in await session.scalars(select(m.PostVersion))]
    assert versions == [(stored.id, "пост 1")]


async def test_a_channel_watched_anew_or_again_stopped_and_deleted(db: Database) -> None:
    async with db.uow() as session:
        fresh = await channels.watch(session, None, CHAN, added_by=7)
        assert (fresh.status, fresh.added_by, fresh.username) == ("active", 7, "vvgladkov")
        removed = m.Channel(telegram_id=None, username="belgorod", title="Белгород", status="removed", added_by=5)
        renamed = m.Channel(telegram_id=3, username="oldname", title="Old", status="active")
        session.add_all([removed, renamed])
        await session.flush()
        # watched again under a username another row held: that row lets go; its first asker stays
        again = await channels.watch(session, removed, domain.ChannelRef(2, "oldname", ""), added_by=9)
        assert (again.id, again.telegram_id, again.username, again.title, again.added_by, again.status) == (
            removed.id, 2, "oldname", "Белгород", 5, "active")
    assert (await _get(db, renamed.id)).username is None
    async with db.uow() as session:
        row = await session.get(m.Channel, fresh.id)
        assert row is not None
        row.joined, row.account = True, "main"
        channels.stop_watching(row)
    got = await _get(db, fresh.id)
    assert (got.status, got.joined, got.account) == ("removed", False, None)
    async with db.uow() as session:
        await channels.delete(session, await channels.by_id(session, fresh.id))  # type: ignore[arg-type]
    async with db.uow(read_only=True) as session:
        assert await channels.by_id(session, fresh.id) is None


async def test_the_newest_post_and_the_channel_keys_of_posts(db: Database) -> None:
    async with db.uow(read_only=True) as session:
        assert await posts.newest_id(session) == 0
    pipeline = Pipeline(db, compile_rules)
    await pipeline.ingest([domain.Post(CHAN, 1, T0, "пост"), domain.Post(domain.ChannelRef(1500, None, "Закрытый"), 9, T0, "x")])
    async with db.uow(read_only=True) as session:
        ids = {message_id: post_id for post_id, message_id in (await session.execute(
            select(m.Post.id, m.Post.message_id))).all()}
        assert await posts.newest_id(session) == max(ids.values())
        assert await posts.channel_keys(session, [ids[1], ids[9], 10_000]) == {ids[1]: "vvgladkov", ids[9]: "1500"}
        assert await posts.channel_keys(session, []) == {}


async def test_vectors_texts_of_edited_posts_and_vectors_of_another_model(db: Database) -> None:
    np = pytest.importorskip("numpy", reason="vectors need the semantic extra's numpy")
    pipeline = Pipeline(db, compile_rules)
    await pipeline.ingest([domain.Post(CHAN, 1, T0, "пост"), domain.Post(CHAN, 2, T0, ""),
                           domain.Post(CHAN, 3, T0, "удалён", deleted=True)])
    async with db.uow() as session:
        ids = {message_id: post_id for post_id, message_id in (await session.execute(
            select(m.Post.id, m.Post.message_id))).all()}
        texts = await vectors.texts(session, [ids[1], ids[2], ids[3]])
        assert texts == [(ids[1], "пост", domain.Post(CHAN, 1, T0, "пост").text_hash)]  # not empty, not deleted
        assert await vectors.count_other_model(session, "e5") == 0
        await vectors.store(session, [(ids[1], "h", np.zeros(4)), (ids[2], "h", np.ones(4))], "e5")
        await vectors.store(session, [(ids[3], "h", np.ones(4))], "older")
        assert await vectors.count_other_model(session, "e5") == 1
        assert await vectors.count_other_model(session, "older") == 2


async def test_a_starting_process_migrates_in_turns(db_url: str) -> None:
    """On PostgreSQL a process waits for the one already migrating (the advisory lock), then finds
    the schema at head; on SQLite it just migrates."""
    head = ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()
    db = Database.from_url(db_url)
    try:
        if db.dialect != "postgresql":
            await db.upgrade_in_turns()
        else:
            async with db.engine.connect() as other:  # another process is migrating
                await other.execute(text("SELECT pg_advisory_lock(:key)"), {"key": migrate.MIGRATION_LOCK_KEY})
                await other.commit()
                starting = asyncio.create_task(db.upgrade_in_turns())
                waiting = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                               "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")
                while not await other.scalar(waiting):
                    assert not starting.done()
                    await asyncio.sleep(0.05)
                assert await migrate.current(db.engine) is None  # it waits its turn: nothing migrated yet
                await other.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": migrate.MIGRATION_LOCK_KEY})
                await other.commit()
                await asyncio.wait_for(starting, 300)
        assert await migrate.current(db.engine) == head
        await db.upgrade_in_turns()  # again: nothing to do
        assert await migrate.current(db.engine) == head
    finally:
        await db.dispose()
