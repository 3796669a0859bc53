"""A huge post never poisons the search index: what is indexed per post is bounded, and a post the
database still refuses is marked and skipped, never blocking the others (SQLite and PostgreSQL)."""

from __future__ import annotations

import itertools
import logging
import string
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from bot import domain
from bot.ingest.pipeline import Pipeline
from bot.matching import compile_rules
from bot.matching.index import MAX_INDEX_BYTES, index_text
from bot.search import indexer as indexer_module
from bot.search import search_posts
from bot.search.indexer import pending_count
from bot.storage import models as m
from bot.storage.database import Database

DAY = datetime(2026, 11, 20, 12, tzinfo=UTC)
CHANNEL = domain.ChannelRef(1001, "vvgladkov", "Гладков")


def _distinct_words(n: int) -> str:
    words = ("".join(p) for p in itertools.product(string.ascii_lowercase, repeat=4))
    return " ".join(itertools.islice(words, n))


def _post(i: int, text: str) -> domain.Post:
    return domain.Post(channel=CHANNEL, message_id=i, date=DAY + timedelta(minutes=i), text=text)


async def _lemmas(db: Database) -> dict[int, str | None]:
    async with db.uow(read_only=True) as session:
        rows = await session.execute(sa.select(m.Post.message_id, m.Post.lemma_text))
        return {r.message_id: r.lemma_text for r in rows}


def test_index_text_is_bounded() -> None:
    huge = _distinct_words(300_000)  # 1.5 MB, 300,000 distinct words
    lemmas = index_text(huge)
    assert 0 < len(lemmas.encode()) <= MAX_INDEX_BYTES
    assert lemmas.startswith("aaaa aaab")


async def test_a_huge_post_is_indexed_within_bounds_and_the_others_too(db: Database) -> None:
    pipeline = Pipeline(db, compile_rules)
    await pipeline.ingest([_post(1, "обстрел Шебекино"), _post(2, _distinct_words(300_000)), _post(3, "батальон")])
    await pipeline.flush_index()
    assert await pending_count(db) == 0
    lemmas = await _lemmas(db)
    assert lemmas[2] and len(lemmas[2].encode()) <= MAX_INDEX_BYTES
    assert (await search_posts(db, "батальон")).total == 1
    assert (await search_posts(db, "aaab")).total == 1  # the huge post, by one of its first words
    await pipeline.ingest([_post(4, "батальон снова")])  # and indexing goes on afterwards
    await pipeline.flush_index()
    assert (await search_posts(db, "батальон")).total == 2


async def test_a_post_the_database_refuses_is_marked_and_skipped(
    db: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "секретный"
    unbounded = _distinct_words(150_000)  # 750 KB of keys: over PostgreSQL's 1 MB tsvector limit

    real = indexer_module.entries

    def entries_unbounded(text: str, dialect: str) -> dict[str, str | None]:
        found = real(text, dialect)
        return {**found, "lemmas": unbounded} if text.startswith("poison") else found

    pipeline = Pipeline(db, compile_rules)
    monkeypatch.setattr(indexer_module, "entries", entries_unbounded)
    await pipeline.ingest([_post(1, "батальон 1"), _post(2, f"poison {secret}"), _post(3, "батальон 3")])
    with caplog.at_level(logging.WARNING):
        await pipeline.flush_index()
        assert await pending_count(db) == 0
        lemmas = await _lemmas(db)
        assert lemmas[1] and lemmas[3]
        if db.dialect == "postgresql":
            assert lemmas[2] == indexer_module.UNINDEXABLE
            assert any("post " in r.getMessage() and "cannot be indexed" in r.getMessage() for r in caplog.records)
        await pipeline.ingest([_post(4, "батальон 4")])  # indexing goes on afterwards
        await pipeline.flush_index()
    assert await pending_count(db) == 0
    assert (await search_posts(db, "батальон")).total == 3
    assert not [r for r in caplog.records if secret in r.getMessage()]  # no post text in the log
