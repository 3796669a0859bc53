"""SQLite finds a phrase's words in a row from the posts' pairs of adjacent words' keys in FTS5
(``posts.phrase_pairs``) and never rules out a post the matcher accepts; the indexer, an edit, a
writer that knows no pairs and `tgmon reindex` keep the pairs right (FTS5's own integrity check
agrees), and a post without them stays a candidate."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.domain import Rule
from bot.ingest.pipeline import Pipeline
from bot.matching import compile_rules, parse_rule
from bot.matching.index import (
    MAX_PAIRS,
    PAIR_MARK,
    PAIRS_KNOWN,
    index_pairs,
    pair_token,
    phrase_pairs,
)
from bot.matching.text import tokenize
from bot.search import search_posts
from bot.search.conditions import condition, fts5_pairs, fts5_query, with_pairs
from bot.search.reindex import reindex
from bot.storage.database import Database
from tests.integration.test_search_phrase_positions import NOW, _posts
from tests.unit.test_search_forms import phrase_rule, planted, text


def test_each_two_keys_of_adjacent_words_make_a_pair() -> None:
    pairs = phrase_pairs(tokenize("Обстрелы батальона, обстрел."))
    assert pairs is not None
    tokens = pairs.split(" ")
    assert tokens[0] == PAIRS_KNOWN
    # the form and the lemma of each word, with each of the next word's
    for first in ("обстрелы", "обстрел"):
        for second in ("батальона", "батальон"):
            assert pair_token(first, second) in tokens
    assert pair_token("батальон", "обстрел") not in tokens  # a comma stands between
    assert all(t.startswith(PAIR_MARK) and len(t) == 5 for t in tokens[1:])
    assert len(tokens) == len(set(tokens))


def test_a_post_whose_pairs_would_not_fit_has_none() -> None:
    many = " ".join(f"w{i}" for i in range(2 * MAX_PAIRS))  # some pairs share a bucket: twice as many
    assert phrase_pairs(tokenize(many)) is None
    assert phrase_pairs(tokenize(" ".join(f"w{i}" for i in range(MAX_PAIRS // 2)))) is not None
    assert index_pairs("") == ("", None)


def test_a_rule_s_required_phrases_become_pairs() -> None:
    assert fts5_pairs(parse_rule('"обстрел шебекино"')) == f'("{pair_token("обстрел", "шебекино")}")'
    three = fts5_pairs(parse_rule('"обстрел батальона шебекино"'))
    assert three is not None and three.count(" AND ") == 1  # each two adjacent words
    assert fts5_pairs(parse_rule('"обстрел* батальона"')) is None  # a prefix has no key to pair
    assert fts5_pairs(parse_rule('"обстрел шебекино" OR батальон')) is None  # not required
    assert fts5_pairs(parse_rule("обстрел батальон")) is None  # words, not a phrase
    assert with_pairs('"обстрел"', None) == '"обстрел"'


@pytest.fixture(scope="module")
def fts() -> Iterator[sqlite3.Connection]:
    """An FTS5 table of the index's form, in memory: the real SQLite asked the real queries."""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(lemma_text, phrase_pairs, detail=none, columnsize=0, "
                 "tokenize='ascii')")
    yield conn
    conn.close()


def _held(conn: sqlite3.Connection, entries: list[tuple[str, str | None]], query: str) -> list[bool]:
    conn.execute("DELETE FROM t")
    conn.executemany("INSERT INTO t(rowid, lemma_text, phrase_pairs) VALUES (?, ?, ?)",
                     [(i, lemmas, pairs) for i, (lemmas, pairs) in enumerate(entries, 1)])
    found = {row[0] for row in conn.execute("SELECT rowid FROM t WHERE t MATCH ?", (query,))}
    return [i in found for i in range(1, len(entries) + 1)]


def _query(rule: str, *, unpaired: bool = True) -> str:
    parsed = parse_rule(rule)
    cond = condition(parsed)
    assert cond is not None
    return with_pairs(fts5_query(cond), fts5_pairs(parsed), unpaired=unpaired)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(phrase_rule, st.lists(text, min_size=1, max_size=6))
def test_pairs_never_rule_out_a_post_the_matcher_accepts(fts: sqlite3.Connection, rule: str, texts: list[str]) -> None:
    matcher = compile_rules([Rule(1, rule)])
    held = _held(fts, [index_pairs(t) for t in texts], _query(rule))
    for t, ok in zip(texts, held, strict=True):
        if matcher.match(t):
            assert ok, (rule, t)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(st.lists(planted(), min_size=1, max_size=4))
def test_pairs_find_every_planted_phrase_the_matcher_finds(fts: sqlite3.Connection, cases: list[tuple[str, str]]) -> None:
    texts = [t for _, t in cases]
    for rule, t in cases:
        matcher = compile_rules([Rule(1, rule)])
        # every post has its pairs: asked with or without the part for posts that have none
        for unpaired in (True, False):
            held = _held(fts, [index_pairs(x) for x in texts], _query(rule, unpaired=unpaired))
            for x, ok in zip(texts, held, strict=True):
                if matcher.match(x):
                    assert ok, (rule, x)
            assert held[texts.index(t)] or not matcher.match(t)


def test_pairs_rule_out_the_words_standing_apart(fts: sqlite3.Connection) -> None:
    texts = ["Обстрелы батальона", "обстрел\n\nбатальона", "обстрел «батальона»", "обстрел в городе, батальон на месте",
             "батальон обстрел", "обстрел самооборона батальона", "обстрел, батальона", "обстрел. Батальона"]
    entries = [index_pairs(t) for t in texts]
    query = _query('"обстрел батальона"')
    assert _held(fts, entries, query) == [True, True, True] + [False] * 5
    # a post whose pairs are unknown stays a candidate; one without the words does not
    unknown = [(lemmas, None) for lemmas, _ in entries]
    assert _held(fts, unknown, query) == [True] * 8
    assert _held(fts, unknown, _query('"обстрел батальона"', unpaired=False)) == [False] * 8  # when none lacks them
    assert _held(fts, [(index_pairs("батальон на месте")[0], None)], query) == [False]


async def _pairs(db: Database) -> dict[int, str | None]:
    async with db.uow(read_only=True) as session:
        rows = await session.execute(sa.text("SELECT message_id, phrase_pairs AS v FROM posts"))
        return {r.message_id: r.v for r in rows}


async def _intact(db: Database) -> None:
    """FTS5's own check that the index holds exactly what posts.lemma_text and phrase_pairs say."""
    async with db.engine.begin() as conn:
        await conn.exec_driver_sql("INSERT INTO posts_fts(posts_fts, rank) VALUES ('integrity-check', 1)")


async def _found(db: Database, rule: str) -> list[int]:
    result = await search_posts(db, rule, until=NOW)
    assert result.total == len(result.posts)
    return [p.message_id for p in result.posts]


async def test_the_indexer_an_edit_a_blind_writer_and_reindex_keep_the_pairs(tmp_path: Path) -> None:
    db = Database.from_url(f"sqlite:///{tmp_path / 'tgmon.db'}")
    try:
        await db.upgrade()
        pipeline = Pipeline(db, compile_rules)
        await pipeline.ingest(_posts(["обстрел батальона", "обстрел в городе, батальон на месте"]))
        await pipeline.flush_index()
        pairs = await _pairs(db)
        assert pairs[1] == index_pairs("обстрел батальона")[1] and pairs[2] is not None
        assert pair_token("обстрел", "батальон") in (pairs[1] or "")
        await _intact(db)
        assert await _found(db, '"обстрел батальон"') == [1]

        # an edit: the old pairs must not rule the new text out
        await pipeline.ingest(_posts(["обстрел в городе, батальон на месте", "обстрел батальона"], edit_date=NOW))
        await pipeline.flush_index()
        await _intact(db)
        assert await _found(db, '"обстрел батальон"') == [2]

        # a writer that knows no pairs (an older release) changes a text: its pairs go in the same write
        async with db.uow() as session:
            await session.execute(sa.text("UPDATE posts SET text = 'батальон обстрел' WHERE message_id = 2"))
        assert (await _pairs(db))[2] is None and (await _pairs(db))[1] is not None
        await _intact(db)
        async with db.uow() as session:  # ... and writes the keys of the new text without pairs
            await session.execute(sa.text(
                "UPDATE posts SET text = 'обстрел батальона', lemma_text = 'обстрел батальона батальон' "
                "WHERE message_id = 2"))
        await _intact(db)
        assert await _found(db, '"обстрел батальон"') == [2]  # unknown pairs: still a candidate

        # posts stored before the pairs existed: still candidates, and reindex pairs them
        async with db.uow() as session:
            await session.execute(sa.text("UPDATE posts SET phrase_pairs = NULL"))
        await _intact(db)
        assert await _found(db, '"обстрел батальон"') == [2]
        assert await reindex(db) == 2
        assert (await _pairs(db))[2] == index_pairs("обстрел батальона")[1]
        await _intact(db)
        assert await _found(db, '"обстрел батальон"') == [2]

        # a deleted row leaves the index whole
        async with db.uow() as session:
            await session.execute(sa.text("DELETE FROM posts WHERE message_id = 1"))
        await _intact(db)
    finally:
        await db.dispose()
