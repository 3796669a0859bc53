"""The search indexer: posts stored by ingestion reach the full-text index behind it, none lost."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from bot import domain
from bot.ingest.pipeline import Pipeline
from bot.matching import compile_rules, index_text
from bot.search import indexer as indexer_module
from bot.search import search_posts
from bot.search.indexer import SearchIndexer, index_pending, pending_count
from bot.storage import models as m
from bot.storage.database import Database

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
CHANNEL = domain.ChannelRef(1001, "vvgladkov", "Гладков")


def _posts(n: int, start: int = 1, text: str = "Обстрел Шебекино, батальон {i}") -> list[domain.Post]:
    return [
        domain.Post(channel=CHANNEL, message_id=i, date=NOW + timedelta(minutes=i), text=text.format(i=i))
        for i in range(start, start + n)
    ]


async def _lemmas(db: Database) -> dict[int, str | None]:
    async with db.uow(read_only=True) as session:
        return {r.message_id: r.lemma_text for r in await session.execute(sa.select(m.Post.message_id, m.Post.lemma_text))}


async def test_ingestion_leaves_posts_pending_and_catch_up_indexes_every_one(db: Database) -> None:
    pipeline = Pipeline(db, compile_rules)
    media_only = domain.Post(channel=CHANNEL, message_id=999, date=NOW, text="", media_type="photo")
    await pipeline.ingest([*_posts(600), media_only])
    await pipeline.close()  # no background pass: what ingestion alone leaves
    lemmas = await _lemmas(db)
    assert lemmas[999] == ""  # no text: nothing to index, never pending
    assert await pending_count(db) == 600
    assert await pipeline.indexer.catch_up() == 600  # in batches of 250, oldest first
    lemmas = await _lemmas(db)
    assert all(lemmas[i] == index_text(f"Обстрел Шебекино, батальон {i}") for i in range(1, 601))
    assert await pending_count(db) == 0 and pipeline.indexer.indexed == 600
    assert (await search_posts(db, "батальон")).total == 600


async def test_the_background_indexer_waits_for_a_quiet_moment_then_catches_up(db: Database) -> None:
    pipeline = Pipeline(db, compile_rules, SearchIndexer(db, batch=100, idle_seconds=0.05))
    for start in range(1, 301, 50):  # bursts back to back: ingestion keeps the indexer back
        await pipeline.ingest(_posts(50, start))
    assert await pending_count(db) == 300
    for _ in range(200):  # then it runs on its own, within a second or so
        if await pending_count(db) == 0:
            break
        await asyncio.sleep(0.02)
    assert await pending_count(db) == 0
    await pipeline.close()


def test_ingestion_comes_first_but_cannot_starve_the_index() -> None:
    now = [100.0]
    idx = SearchIndexer(None, idle_seconds=0.2, max_wait_seconds=5.0, clock=lambda: now[0])  # type: ignore[arg-type]
    with idx.ingesting():
        assert idx._hold_back(last_batch=100.0) == pytest.approx(0.2)  # a batch being stored: wait
        now[0] = 104.9
        assert idx._hold_back(last_batch=100.0) == pytest.approx(0.1)  # never past the longest wait
        now[0] = 105.0
        assert idx._hold_back(last_batch=100.0) == 0.0  # 5 s of back-to-back ingestion: index a batch
    now[0] = 105.05
    assert idx._hold_back(last_batch=105.0) == pytest.approx(0.15)  # quiet for 0.05 s of the 0.2 needed
    now[0] = 105.2
    assert idx._hold_back(last_batch=105.0) == 0.0


@pytest.mark.parametrize("step", ["pending", "indexed"])
async def test_an_edit_is_indexed_with_its_new_text_only(db: Database, step: str) -> None:
    pipeline = Pipeline(db, compile_rules)
    await pipeline.ingest(_posts(1, text="Обстрел Шебекино"))
    if step == "indexed":
        await pipeline.flush_index()
    edit = domain.Post(channel=CHANNEL, message_id=1, date=NOW, text="Тишина в городе", edit_date=NOW)
    result = await pipeline.ingest([edit])
    assert result.updated == 1
    assert (await _lemmas(db))[1] is None  # the new text waits for the indexer
    assert (await search_posts(db, "тишина")).total == 1 and (await search_posts(db, "обстрел")).total == 0
    await pipeline.flush_index()
    assert (await _lemmas(db))[1] == index_text("Тишина в городе")
    assert (await search_posts(db, "тишина")).total == 1 and (await search_posts(db, "обстрел")).total == 0
    if db.dialect == "sqlite":
        async with db.engine.begin() as conn:
            await conn.exec_driver_sql("INSERT INTO posts_fts(posts_fts, rank) VALUES ('integrity-check', 1)")


async def test_a_text_changed_after_it_was_read_is_not_indexed_with_the_old_one(db: Database) -> None:
    """The fill is guarded by the text hash that was read: an edit committed in between (possible
    on PostgreSQL) leaves the row pending for its own pass, never indexed under the old text."""
    pipeline = Pipeline(db, compile_rules)
    await pipeline.ingest(_posts(1, text="Обстрел"))
    await pipeline.close()
    async with db.uow() as session:
        await session.execute(indexer_module.fill_statement(session),
                              [{"pid": 1, "hash": "stale", "lemmas": "обстрел", "vector": None, "pairs": None}])
    assert await pending_count(db) == 1
    async with db.uow() as session:
        assert await index_pending(session, 10) == 1
    assert await pending_count(db) == 0


async def test_a_failing_batch_loses_nothing_and_is_retried(
    db: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    pipeline = Pipeline(db, compile_rules, SearchIndexer(db, idle_seconds=0.0, retry_seconds=0.05))
    real = indexer_module.entries
    monkeypatch.setattr(indexer_module, "entries", lambda text, dialect: 1 / 0)
    with caplog.at_level(logging.WARNING, logger="bot.search.indexer"):
        await pipeline.ingest(_posts(3))
        for _ in range(100):
            if "search indexing failed (ZeroDivisionError" in caplog.text:
                break
            await asyncio.sleep(0.01)
    assert "search indexing failed (ZeroDivisionError: division by zero); retrying in 0 s" in caplog.text
    assert await pending_count(db) == 3  # the failed batch rolled back whole
    monkeypatch.setattr(indexer_module, "entries", real)  # the cause goes away: the retry finishes
    task = pipeline.indexer._task
    assert task is not None
    await asyncio.wait_for(task, 5)
    assert await pending_count(db) == 0


async def test_posts_stored_during_the_last_pass_are_not_left_behind(db: Database) -> None:
    """A wake that comes while the indexer reads its last (empty) batch keeps it going."""
    indexer = SearchIndexer(db, idle_seconds=0.0)
    pipeline = Pipeline(db, compile_rules, indexer)
    real = indexer.run_batch
    calls = 0

    async def run_batch() -> int:
        nonlocal calls
        calls += 1
        done = await real()
        if calls == 1:  # posts stored (and a wake) after this pass read nothing
            await pipeline.ingest(_posts(2, start=10))
        return done

    indexer.run_batch = run_batch  # type: ignore[method-assign]
    indexer.wake()
    task = indexer._task
    assert task is not None
    await asyncio.wait_for(task, 5)
    assert await pending_count(db) == 0 and calls >= 2


async def test_one_shot_close_flushes_and_a_service_close_leaves_pending(db: Database) -> None:
    from bot.app import App
    from bot.config import Settings

    service = App(Settings(), db, Pipeline(db, compile_rules))
    await service.pipeline.ingest(_posts(5))
    await service.pipeline.close()
    assert await pending_count(db) == 5  # a stopped service leaves them for the next run
    other = Database.from_url(str(db.engine.url.render_as_string(hide_password=False)))
    one_shot = App(Settings(), other, Pipeline(other, compile_rules))
    await one_shot.pipeline.ingest(_posts(5, start=6))
    await one_shot.pipeline.flush_index()  # what a one-shot command does before it exits
    await one_shot.close()
    assert await pending_count(db) == 0


async def test_the_monitor_reports_the_backlog(db: Database) -> None:
    from bot import metrics
    from bot.runtime.health import Health
    from bot.runtime.monitor import probe

    pipeline = Pipeline(db, compile_rules)
    await pipeline.ingest(_posts(4))
    await pipeline.close()
    await probe(db, Health(60))
    assert metrics.value("tgmon_search_index_pending") == 4
    await pipeline.flush_index()
    await probe(db, Health(60))
    assert metrics.value("tgmon_search_index_pending") == 0


async def test_a_backlog_larger_than_search_reads_makes_the_total_inexact(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.search import query as search

    monkeypatch.setattr(search, "MAX_PENDING", 5)
    pipeline = Pipeline(db, compile_rules)
    await pipeline.ingest(_posts(8))
    await pipeline.close()
    result = await search_posts(db, "батальон")
    assert (result.total, result.exact) == (5, False)  # the newest 5 pending read, and said so
    assert [p.message_id for p in result.posts] == [8, 7, 6, 5, 4]
    await pipeline.flush_index()
    result = await search_posts(db, "батальон")
    assert (result.total, result.exact) == (8, True)


async def test_only_the_leader_reports_the_whole_database_gauges(db: Database) -> None:
    """Every process probes; a sum over processes must count each outbox row and pending post once."""
    from bot import metrics
    from bot.runtime.health import Health
    from bot.runtime.monitor import probe

    pipeline = Pipeline(db, compile_rules)
    await pipeline.ingest(_posts(3))
    await pipeline.close()
    await probe(db, Health(60), report_database=True)
    assert metrics.value("tgmon_search_index_pending") == 3
    await probe(db, Health(60), report_database=False)  # a process that does not lead
    assert metrics.value("tgmon_search_index_pending") == 0
