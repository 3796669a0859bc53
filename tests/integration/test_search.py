"""Archive search on SQLite (FTS5) and PostgreSQL (GIN): index candidates, matcher confirmation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from bot import domain
from bot.ingest.pipeline import Pipeline
from bot.matching import RuleError, compile_rules, index_text
from bot.search import search_posts
from bot.storage import models as m
from bot.storage.database import Database

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
GLADKOV = domain.ChannelRef(1001, "vvgladkov", "Вячеслав Гладков")
OTHER = domain.ChannelRef(1002, "otherchan", "Other")

TEXTS = [
    (GLADKOV, 1, 1, "Формируем батальоны территориальной\nобороны"),
    (GLADKOV, 2, 2, "Товарный оборот вырос на 5%"),
    (GLADKOV, 3, 3, "Батальон «Белгород» вышел на учения"),
    (OTHER, 4, 4, "Обстрел Шебекино: повреждены дома 🔥"),
    (OTHER, 5, 20, "Третий батальон получил технику"),
    (GLADKOV, 6, 5, "ВСУ обстреляли Белгородский район"),
    (GLADKOV, 7, 6, "Отряды само-обороны патрулируют улицы"),
]


async def _store(db: Database, *, indexed: bool = True) -> None:
    """Store TEXTS; ``indexed=False`` leaves them where ingestion leaves them, before the search
    indexer has run (search must give the same answers)."""
    pipeline = Pipeline(db, compile_rules)
    posts = [
        domain.Post(channel=ch, message_id=mid, date=NOW - timedelta(days=days), text=text)
        for ch, mid, days, text in TEXTS
    ]
    await pipeline.ingest(posts)
    await pipeline.close()
    if indexed:
        assert await pipeline.flush_index() == len(TEXTS)


async def _fts_intact(db: Database) -> None:
    """SQLite: FTS5's own check that the index agrees with posts.lemma_text (raises when not)."""
    if db.dialect == "sqlite":
        async with db.engine.begin() as conn:
            await conn.exec_driver_sql("INSERT INTO posts_fts(posts_fts, rank) VALUES ('integrity-check', 1)")


both = pytest.mark.parametrize("indexed", [True, False], ids=["indexed", "pending"])


@both
async def test_search_finds_forms_and_confirms(db: Database, indexed: bool) -> None:
    await _store(db, indexed=indexed)
    result = await search_posts(db, "батальон")
    assert result.total == 3 and result.exact
    assert [p.message_id for p in result.posts] == [1, 3, 5]  # newest first
    first = result.posts[0]
    assert [first.text[a:b] for a, b in first.highlights] == ["батальоны"]
    assert first.link == "https://t.me/vvgladkov/1"
    assert first.channel_title == "Вячеслав Гладков"


@both
async def test_search_window_scope_and_exclusions(db: Database, indexed: bool) -> None:
    await _store(db, indexed=indexed)
    recent = await search_posts(db, "батальон", since=NOW - timedelta(days=7))
    assert [p.message_id for p in recent.posts] == [1, 3]
    scoped = await search_posts(db, "батальон", channels=["@otherchan"])
    assert [p.message_id for p in scoped.posts] == [5]
    assert (await search_posts(db, "батальон in:@otherchan")).total == 1
    excluded = await search_posts(db, "батальон -учения")
    assert [p.message_id for p in excluded.posts] == [1, 5]
    assert (await search_posts(db, "оборона")).total == 2  # not "оборот"; "само-обороны" has it
    assert (await search_posts(db, '"территориальная оборона"')).total == 1
    assert (await search_posts(db, "обстрел*")).total == 2
    assert (await search_posts(db, "самооборона")).total == 1
    assert (await search_posts(db, "/шебекин[оа]/")).total == 1
    assert (await search_posts(db, "батальон", limit=1)).total == 3


async def test_bad_rule_raises_rule_error(db: Database) -> None:
    with pytest.raises(RuleError):
        await search_posts(db, "(батальон")


@both
async def test_edits_and_deletes_keep_the_index_right(db: Database, indexed: bool) -> None:
    await _store(db, indexed=indexed)
    pipeline = Pipeline(db, compile_rules)
    edited = domain.Post(channel=OTHER, message_id=4, date=NOW, text="Тишина, без происшествий",
                         edit_date=NOW)
    await pipeline.ingest([edited])
    await pipeline.close()
    for _ in range(2):  # the edit pending, then indexed
        assert (await search_posts(db, "обстрел")).total == 0
        assert (await search_posts(db, "тишина")).total == 1
        await _fts_intact(db)
        assert await pipeline.flush_index() in (0, 1 if indexed else len(TEXTS))
    async with db.uow() as session:
        await session.execute(sa.delete(m.Post).where(m.Post.message_id == 4))
    assert (await search_posts(db, "тишина")).total == 0
    await _fts_intact(db)


async def test_indexed_lemma_text_is_index_text(db: Database) -> None:
    await _store(db)
    async with db.uow(read_only=True) as session:
        rows = (await session.execute(sa.select(m.Post.text, m.Post.lemma_text))).all()
    assert rows and all(r.lemma_text == index_text(r.text) for r in rows)


async def test_index_migrations_keep_every_search_answer(db: Database) -> None:
    """0011 re-creates the SQLite index with FTS5's `ascii` tokenizer, 0012 without positions and
    sizes and with posts left for the indexer: the same posts are found at every step (Cyrillic
    keys, prefixes, exclusions), and going back below 0012 first indexes what was pending."""
    from alembic.script import ScriptDirectory

    from bot.search import pending_count
    from bot.storage.migrate import alembic_config, current, downgrade, upgrade

    def alembic_head() -> str | None:
        return ScriptDirectory.from_config(alembic_config()).get_current_head()

    await _store(db, indexed=False)
    queries = ["батальон", "оборон*", "обстрел", "батальон -учения", '"территориальная оборона"', "=Белгород"]

    async def answers() -> list[list[int]]:
        return [sorted(p.message_id for p in (await search_posts(db, q)).posts) for q in queries]

    async def index_sql() -> str:
        async with db.engine.connect() as conn:
            sql = (await conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = 'posts_fts'")).scalar()
        return str(sql)

    after = await answers()
    assert after[0] == [1, 3, 5] and after[3] == [1, 5] and after[1] == [1, 7]
    assert await pending_count(db) == len(TEXTS)
    await downgrade(db.engine, "0011_fts_ascii_tokenizer")
    assert await pending_count(db) == 0  # the older schema indexes every post at once
    # today's queries read PostgreSQL's stored tsvector (0019): below it only SQLite's index is asked
    if db.dialect == "sqlite":
        assert "'ascii'" in await index_sql() and "detail" not in await index_sql()
        assert await answers() == after
    await downgrade(db.engine, "0010_delivery_workers")
    if db.dialect == "sqlite":
        assert "unicode61" in await index_sql()
        assert await answers() == after
    await upgrade(db.engine)
    assert await current(db.engine) == alembic_head()
    if db.dialect == "sqlite":
        assert "'ascii'" in await index_sql() and "detail=none, columnsize=0" in await index_sql()
    assert await answers() == after
    await _fts_intact(db)
