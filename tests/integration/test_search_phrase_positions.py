"""PostgreSQL finds a phrase's words in a row from the posts' keys by position (``posts.phrase_tsv``)
and never rules out a post the matcher accepts; the indexer, an edit and `tgmon reindex` keep the
positions right, and a post without them stays a candidate."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import domain
from bot.domain import Rule
from bot.ingest.pipeline import Pipeline
from bot.matching import compile_rules, parse_rule
from bot.matching.index import MAX_LEXEME_POSITIONS, MAX_POSITION, index_entries, phrase_vector
from bot.matching.text import tokenize
from bot.search import search_posts
from bot.search.conditions import phrase_tsquery
from bot.search.reindex import reindex
from bot.storage.database import Database
from tests.unit.test_search_forms import phrase_rule, planted, text

NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)  # relative: the test runs on any date
CHANNEL = domain.ChannelRef(1001, "vvgladkov", "Гладков")


def test_each_word_s_keys_stand_at_its_position() -> None:
    vector = phrase_vector(tokenize("Обстрелы батальона, обстрел."))
    assert vector is not None
    entries = dict(part.split(":") for part in vector.split(" "))
    assert entries["'обстрел'"] == "1,4"  # the lemma of both forms, at both words; the comma counts one
    assert entries["'обстрелы'"] == "1"  # the form itself, at its word
    assert entries["'батальон'"] == "2" and entries["'батальона'"] == "2"


def test_a_post_whose_positions_would_not_fit_has_none() -> None:
    assert phrase_vector(tokenize(" ".join(["обстрел"] * (MAX_LEXEME_POSITIONS + 1)))) is None
    assert phrase_vector(tokenize(" ".join(["обстрел"] * MAX_LEXEME_POSITIONS))) is not None
    many = " ".join(f"w{i}" for i in range(MAX_POSITION + 1))
    assert phrase_vector(tokenize(many)) is None
    assert index_entries("") == ("", None)


def test_a_rule_s_required_phrases_become_words_in_a_row() -> None:
    assert phrase_tsquery(parse_rule('"обстрел шебекино"')) == "('обстрел' <-> 'шебекино')"
    query = phrase_tsquery(parse_rule('"обстрел* =батальона" shelling -"рота город"'))
    assert query == "('обстрел':* <-> 'батальона')"  # an excluded phrase is not required
    assert phrase_tsquery(parse_rule('"обстрел шебекино" OR батальон')) is None  # not required
    assert phrase_tsquery(parse_rule("обстрел батальон")) is None  # words, not a phrase


@pytest.fixture(scope="module")
def pg(pg_database: str) -> Iterator[tuple[asyncio.AbstractEventLoop, asyncpg.Connection]]:
    loop = asyncio.new_event_loop()
    conn = loop.run_until_complete(asyncpg.connect(pg_database, timeout=10))
    yield loop, conn
    loop.run_until_complete(conn.close())
    loop.close()


def _holds(pg: tuple[asyncio.AbstractEventLoop, asyncpg.Connection], vectors: list[str | None], query: str) -> list[bool]:
    loop, conn = pg
    rows = loop.run_until_complete(conn.fetch(
        "SELECT v IS NULL OR CAST(v AS tsvector) @@ CAST($2 AS tsquery) AS ok FROM unnest($1::text[]) WITH ORDINALITY "
        "AS t(v, n) ORDER BY n", vectors, query))
    return [row["ok"] for row in rows]


@pytest.mark.postgres
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(phrase_rule, st.lists(text, min_size=1, max_size=6))
def test_positions_never_rule_out_a_post_the_matcher_accepts(
    pg: tuple[asyncio.AbstractEventLoop, asyncpg.Connection], rule: str, texts: list[str]
) -> None:
    query = phrase_tsquery(parse_rule(rule))
    if query is None:
        return
    matcher = compile_rules([Rule(1, rule)])
    held = _holds(pg, [phrase_vector(tokenize(t)) for t in texts], query)
    for t, ok in zip(texts, held, strict=True):
        if matcher.match(t):
            assert ok, (rule, t, query)


@pytest.mark.postgres
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(st.lists(planted(), min_size=1, max_size=4))
def test_positions_find_every_planted_phrase_the_matcher_finds(
    pg: tuple[asyncio.AbstractEventLoop, asyncpg.Connection], cases: list[tuple[str, str]]
) -> None:
    texts = [t for _, t in cases]
    vectors = [phrase_vector(tokenize(t)) for t in texts]
    for rule, _ in cases:
        query = phrase_tsquery(parse_rule(rule))
        if query is None:
            continue
        matcher = compile_rules([Rule(1, rule)])
        for x, ok in zip(texts, _holds(pg, vectors, query), strict=True):
            if matcher.match(x):
                assert ok, (rule, x, query)


@pytest.mark.postgres
def test_positions_rule_out_the_words_standing_apart(pg: tuple[asyncio.AbstractEventLoop, asyncpg.Connection]) -> None:
    query = phrase_tsquery(parse_rule('"обстрел батальона"'))
    assert query is not None
    texts = ["Обстрелы батальона", "обстрел\n\nбатальона", "обстрел «батальона»", "обстрел в городе, батальон на месте",
             "батальон обстрел", "обстрел самооборона батальона", "обстрел, батальона", "обстрел. Батальона"]
    assert _holds(pg, [phrase_vector(tokenize(t)) for t in texts], query) == [True, True, True] + [False] * 5


def _posts(texts: list[str], edit_date: datetime | None = None) -> list[domain.Post]:
    return [domain.Post(channel=CHANNEL, message_id=i, date=NOW - timedelta(hours=i), text=t, edit_date=edit_date)
            for i, t in enumerate(texts, 1)]


async def _vectors(db: Database) -> dict[int, str | None]:
    async with db.uow(read_only=True) as session:
        rows = await session.execute(sa.text("SELECT message_id, phrase_tsv::text AS v FROM posts"))
        return {r.message_id: r.v for r in rows}


@pytest.mark.postgres
async def test_the_indexer_an_edit_and_reindex_keep_the_positions(pg_database: str) -> None:
    from tests.conftest import _pg_exec

    await _pg_exec("DROP SCHEMA public CASCADE; CREATE SCHEMA public", pg_database.rsplit("/", 1)[1])
    db = Database.from_url(pg_database)
    try:
        await db.upgrade()
        pipeline = Pipeline(db, compile_rules)
        await pipeline.ingest(_posts(["обстрел батальона", "обстрел в городе, батальон на месте"]))
        await pipeline.flush_index()
        assert "'обстрел':1" in (await _vectors(db))[1]

        found = await search_posts(db, '"обстрел батальон"', until=NOW)
        assert [p.message_id for p in found.posts] == [1] and found.total == 1

        # an edit: the old positions must not rule the new text out
        await pipeline.ingest(_posts(["обстрел в городе, батальон на месте", "обстрел батальона"], edit_date=NOW))
        await pipeline.flush_index()
        found = await search_posts(db, '"обстрел батальон"', until=NOW)
        assert [p.message_id for p in found.posts] == [2] and found.total == 1

        # any writer that changes a text drops its positions in the same row write
        async with db.uow() as session:
            await session.execute(sa.text("UPDATE posts SET text = 'батальон обстрел' WHERE message_id = 2"))
        assert (await _vectors(db))[2] is None and (await _vectors(db))[1] is not None
        async with db.uow() as session:
            await session.execute(sa.text("UPDATE posts SET text = 'обстрел батальона' WHERE message_id = 2"))

        # a post stored before the positions existed: still a candidate, and reindex places it
        async with db.uow() as session:
            await session.execute(sa.text("UPDATE posts SET phrase_tsv = NULL"))
        found = await search_posts(db, '"обстрел батальон"', until=NOW)
        assert [p.message_id for p in found.posts] == [2]
        assert await reindex(db) == 2
        vectors = await _vectors(db)
        assert vectors[2] is not None and "'батальон':2" in vectors[2]
        found = await search_posts(db, '"обстрел батальон"', until=NOW)
        assert [p.message_id for p in found.posts] == [2]
    finally:
        await db.dispose()


@pytest.mark.postgres
async def test_a_placed_phrase_is_highlighted_as_the_matcher_does(pg_database: str) -> None:
    """Rows whose positions the database checked are highlighted analysing the rule's forms only:
    the same posts and highlights as the whole matcher, words outside the dictionaries included
    (their forms unlisted: the search falls back to the whole matcher), and the positions stay in
    the row (storage MAIN), where listing the candidates has just read them."""
    from tests.conftest import _pg_exec

    await _pg_exec("DROP SCHEMA public CASCADE; CREATE SCHEMA public", pg_database.rsplit("/", 1)[1])
    texts = [
        "Обстрелы батальона у Шебекино, батальон отошёл",
        "После обстрела батальон вышел из Шебекино. Обстрел батальона продолжился ночью",
        "обстрел, батальон: не подряд",
        "Алану аикам сказали, что алану аикам некогда",
        "аикам алану не то",
        "Чалдару гудами вспахали поле, а гудами чалдару нет",
        "аикы поле",  # the dictionaries guess "аик" for "аикы", yet list no such form of it
        "аикы поле снова",  # ... and an older post with it whose positions are unknown
    ]
    rules = ['"обстрел батальон"', '"алану аикам"', '"гудами чалдару"', '"чалдару гудами" поле', '"обстрел батальон" -ночью', '"аиком поле"']
    db = Database.from_url(pg_database)
    try:
        await db.upgrade()
        async with db.uow(read_only=True) as session:
            storage = await session.scalar(sa.text(
                "SELECT attstorage FROM pg_attribute WHERE attrelid = 'posts'::regclass AND attname = 'phrase_tsv'"))
        assert storage in ("m", b"m")  # a "char": bytes through asyncpg
        pipeline = Pipeline(db, compile_rules)
        await pipeline.ingest(_posts(texts))
        await pipeline.flush_index()
        assert all(v is not None for v in (await _vectors(db)).values())
        async with db.uow() as session:  # stored before positions existed: the whole matcher confirms it
            await session.execute(sa.text("UPDATE posts SET phrase_tsv = NULL WHERE message_id = 8"))
        for rule in rules:
            matcher = compile_rules([Rule(0, rule)])
            expected = {i: hits[0].highlights for i, t in enumerate(texts, 1) if (hits := matcher.match(t, "vvgladkov"))}
            found = await search_posts(db, rule, until=NOW)
            assert {p.message_id: p.highlights for p in found.posts} == expected, rule
            assert found.total == len(expected) and expected, rule
    finally:
        await db.dispose()
