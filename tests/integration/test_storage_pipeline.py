from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy import text as sql_text

from bot.domain import ChannelRef, ForwardOrigin, Post
from bot.ingest.pipeline import Pipeline
from bot.matching import compile_rules
from bot.storage import models as m
from bot.storage.database import Database

CHANNEL = ChannelRef(-1001234567890, "vvgladkov", "Гладков")  # a 64-bit id must round-trip
T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


async def _subscriber_with_rules(db: Database, *sources: str) -> int:
    async with db.uow() as session:
        sub = m.Subscriber(chat_id=-1009876543210, title="t")
        session.add(sub)
        await session.flush()
        for source in sources:
            session.add(m.Rule(subscriber_id=sub.id, source=source, channels=[]))
        return sub.id


async def _count(db: Database, model: type[m.Base]) -> int:
    async with db.uow(read_only=True) as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_same_post_twice_is_one_row_and_one_match(db: Database) -> None:
    await _subscriber_with_rules(db, "батальон")
    pipeline = Pipeline(db, compile_rules)
    post = Post(CHANNEL, 10, T0, "Формируем два батальона самообороны", views=5)
    first = await pipeline.ingest([post])
    again = await pipeline.ingest([post, Post(CHANNEL, 10, T0, post.text, views=9)])
    assert (first.stored, first.matches) == (1, 1)
    assert (again.stored, again.updated, again.unchanged, again.matches) == (0, 0, 1, 0)
    assert await _count(db, m.Post) == 1
    assert await _count(db, m.Match) == 1
    async with db.uow(read_only=True) as session:
        channel = await session.scalar(select(m.Channel))
        stored = await session.scalar(select(m.Post))
    assert channel is not None and channel.telegram_id == -1001234567890
    assert channel.last_message_id == 10
    assert stored is not None and stored.views == 9 and stored.date == T0  # a view change is no edit
    assert stored.edit_date is None


async def test_edit_updates_row_and_keeps_text_history(db: Database) -> None:
    await _subscriber_with_rules(db, "обстрел")
    pipeline = Pipeline(db, compile_rules)
    await pipeline.ingest([Post(CHANNEL, 11, T0, "Спокойное утро")])
    edited = await pipeline.ingest([Post(CHANNEL, 11, T0, "Обстрел Шебекино", edit_date=T0 + timedelta(hours=1))])
    assert (edited.stored, edited.updated, edited.matches) == (0, 1, 1)
    async with db.uow(read_only=True) as session:
        versions = list(await session.scalars(select(m.PostVersion.text)))
        post = await session.scalar(select(m.Post))
    assert versions == ["Спокойное утро"]
    assert post is not None and post.text == "Обстрел Шебекино" and post.edit_date == T0 + timedelta(hours=1)


async def test_deletion_is_kept_as_a_flag(db: Database) -> None:
    pipeline = Pipeline(db, compile_rules)
    await pipeline.ingest([Post(CHANNEL, 12, T0, "text", forward=ForwardOrigin(-100777, 5, "РИА"))])
    result = await pipeline.ingest([Post(CHANNEL, 12, T0, "text", deleted=True)])
    assert result.updated == 1
    async with db.uow(read_only=True) as session:
        post = await session.scalar(select(m.Post))
    assert post is not None and post.deleted and post.forward_channel_id == -100777


async def test_failed_batch_leaves_nothing(db: Database) -> None:
    pipeline = Pipeline(db, compile_rules)

    class Boom(Exception):
        pass

    def exploding_factory(rules):  # type: ignore[no-untyped-def]
        class M:
            def match(self, text, channel=None):  # type: ignore[no-untyped-def]
                raise Boom

            def match_tokens(self, toks, channel=None):  # type: ignore[no-untyped-def]
                raise Boom

            def warm_from(self, other):  # type: ignore[no-untyped-def]
                return 0

            def rule_ids(self):  # type: ignore[no-untyped-def]
                return frozenset()

        return M()

    await _subscriber_with_rules(db, "x")
    broken = Pipeline(db, exploding_factory)
    with contextlib.suppress(Boom):
        await broken.ingest([Post(CHANNEL, 1, T0, "a"), Post(CHANNEL, 2, T0, "b")])
    assert await _count(db, m.Post) == 0
    assert await _count(db, m.Channel) == 0
    assert (await pipeline.ingest([Post(CHANNEL, 1, T0, "a")])).stored == 1


async def test_interrupted_import_keeps_whole_batches_and_resumes(db: Database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    from bot.ingest.export import read_export

    messages = [{"id": i, "type": "message", "date_unixtime": str(1793520000 + i), "text": f"обстрел {i}"}
                for i in range(1, 1001)]
    path = tmp_path / "result.json"
    path.write_text(json.dumps({"name": "C", "type": "public_channel", "id": 5, "messages": messages}), "utf-8")
    await _subscriber_with_rules(db, "обстрел")
    pipeline = Pipeline(db, compile_rules)

    async def interrupted():  # type: ignore[no-untyped-def]
        for n, post in enumerate(read_export(path), 1):
            if n == 650:
                raise KeyboardInterrupt  # Ctrl-C in the middle of the third batch
            yield post

    with pytest.raises(KeyboardInterrupt):
        await pipeline.ingest_stream(interrupted(), batch_size=300)
    assert await _count(db, m.Post) == 600  # two whole batches, nothing of the third
    assert await _count(db, m.Match) == 600

    async def whole():  # type: ignore[no-untyped-def]
        for post in read_export(path):
            yield post

    result = await pipeline.ingest_stream(whole(), batch_size=300)
    assert (result.stored, result.unchanged, result.matches) == (400, 600, 400)
    assert await _count(db, m.Post) == 1000
    assert await _count(db, m.Match) == 1000


async def test_a_rule_change_rebuilds_the_matcher_warm_and_the_new_rule_matches(db: Database) -> None:
    sub = await _subscriber_with_rules(db, "обстрел")
    pipeline = Pipeline(db, compile_rules)
    pipeline.INCREMENTAL_CHANGES = 0  # every change rebuilds (many changes at once do)
    first = await pipeline.ingest([Post(CHANNEL, 1, T0, "Обстрел Шебекино, два батальона")])
    assert first.matches == 1
    async with db.uow() as session:
        session.add(m.Rule(subscriber_id=sub, source="батальон", channels=[]))
    old = await pipeline.matcher()
    new = await pipeline.reload_rules()
    assert new is not old
    assert set(old._word_cache.young) <= set(new._word_cache.young)  # type: ignore[attr-defined]  # warmed: no word starts cold
    second = await pipeline.ingest([Post(CHANNEL, 2, T0 + timedelta(minutes=1), "Ещё два батальона у Шебекино")])
    assert second.matches == 1  # "батальона" was in no rule when the old matcher cached it


async def test_every_column_of_a_post_round_trips(db: Database) -> None:
    """The SQLite insert goes to the driver itself: every column `new_row` fills must come back as the
    ORM stored it elsewhere (dates tz-aware UTC, forward origin, album, media, reply), and the
    column list must be `new_row`'s."""
    from bot.storage.posts import COLUMNS, new_row

    edited = T0 + timedelta(minutes=5)
    post = Post(CHANNEL, 77, T0, "Обстрел", edit_date=edited, views=12, grouped_id=555, media_type="photo",
                reply_to=70, forward=ForwardOrigin(channel_id=1001, message_id=9, name="Другой канал"))
    assert tuple(new_row(1, post)) == COLUMNS
    await Pipeline(db, compile_rules).ingest([post, Post(CHANNEL, 78, T0, "")])
    async with db.uow(read_only=True) as session:
        rows = {p.message_id: p for p in await session.scalars(select(m.Post))}
    got = rows[77]
    assert (got.date, got.edit_date, got.text, got.text_hash, got.views, got.grouped_id, got.media_type,
            got.reply_to) == (T0, edited, "Обстрел", post.text_hash, 12, 555, "photo", 70)
    assert (got.forward_channel_id, got.forward_message_id, got.forward_name) == (1001, 9, "Другой канал")
    assert got.date.tzinfo is not None and got.stored_at.tzinfo is not None and got.deleted is False
    assert got.lemma_text is None and rows[78].lemma_text == ""  # pending for the indexer; nothing to index
    if db.dialect == "sqlite":  # stored as SQLAlchemy stores it, so date comparisons in SQL hold
        async with db.uow(read_only=True) as session:
            raw = (await session.execute(sql_text("SELECT date, edit_date FROM posts WHERE message_id = 77"))).one()
            ours = await session.scalar(select(func.count()).where(m.Post.date >= T0, m.Post.date <= T0))
        assert tuple(raw) == ("2026-11-20 08:00:00.000000", "2026-11-20 08:05:00.000000")
        assert ours == 2


async def test_a_batch_over_one_insert_statement_stores_every_post_and_matches_the_right_ones(db: Database) -> None:
    """2,500 posts in one call: SQLite's direct insert takes them 1,000 a statement; every post is
    stored once and each match points at the post that has the word."""
    await _subscriber_with_rules(db, "батальон")
    posts = [Post(CHANNEL, i, T0 + timedelta(seconds=i), f"Пост {i}: два батальона" if i % 7 == 0 else f"Пост {i}")
             for i in range(1, 2501)]
    result = await Pipeline(db, compile_rules).ingest(posts)
    assert (result.stored, result.matches) == (2500, 2500 // 7)
    async with db.uow(read_only=True) as session:
        matched = list(await session.execute(select(m.Post.message_id, m.Post.text).join(m.Match)))
        stored = await session.scalar(select(func.count(func.distinct(m.Post.message_id))))
    assert stored == 2500
    assert sorted(mid for mid, _ in matched) == list(range(7, 2501, 7))
    assert all(text == f"Пост {mid}: два батальона" for mid, text in matched)
