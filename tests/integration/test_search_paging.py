"""Search at scale, on SQLite and PostgreSQL: the first page is the newest posts however the archive
was stored (a backfill stores old posts last), totals past the counting cap are "at least N", a
regex-only search that stops reading says how far back it read, and a rule of one operator word
(`и`, `or`, ...) is that word."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot import domain
from bot.ingest.pipeline import Pipeline
from bot.matching import compile_rules
from bot.search import query as search_module
from bot.search import search_posts
from bot.storage.database import Database

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
LIVE = domain.ChannelRef(2001, "live_news", "Live")
OLD = domain.ChannelRef(2002, "old_news", "Old")


async def _archive(db: Database) -> None:
    """60 posts a day apart (every third about a battalion), stored newest-first for one channel
    (a backfill) after a live channel's posts, and every post indexed."""
    pipeline = Pipeline(db, compile_rules)
    live = [domain.Post(channel=LIVE, message_id=i, date=NOW - timedelta(days=60 - i, hours=1),
                        text=f"Батальон и техника, сводка {i}" if i % 3 == 0 else f"Погода на день {i}")
            for i in range(1, 61)]
    await pipeline.ingest(live)
    backfill = [domain.Post(channel=OLD, message_id=i, date=NOW - timedelta(days=60 - i),
                            text=f"Третий батальон, выпуск {i}" if i % 3 == 0 else f"Курс валют {i}")
                for i in range(60, 0, -1)]
    for start in range(0, 60, 10):  # pages of a backfill: newest first
        await pipeline.ingest(backfill[start : start + 10])
    await pipeline.close()
    await pipeline.flush_index()


def _newest(limit: int, since: datetime | None = None) -> list[tuple[str, int]]:
    """The expected page: both channels' battalion posts by date, newest first."""
    dated = [(NOW - timedelta(days=60 - i, hours=1), "live_news", i) for i in range(3, 61, 3)]
    dated += [(NOW - timedelta(days=60 - i), "old_news", i) for i in range(3, 61, 3)]
    return [(ch, i) for d, ch, i in sorted(dated, reverse=True) if since is None or d >= since][:limit]


@pytest.mark.parametrize("rare_window", [search_module.RARE_WINDOW, 0], ids=["through-index", "date-walk"])
async def test_the_first_page_is_the_newest_posts_by_date(
    db: Database, monkeypatch: pytest.MonkeyPatch, rare_window: int
) -> None:
    # PostgreSQL reads a long window the planner expects few candidates in through the full-text
    # index whole, others by walking the date index: both give the same pages (SQLite: FTS5 either way)
    monkeypatch.setattr(search_module, "RARE_WINDOW", rare_window)
    await _archive(db)
    for limit in (1, 5, 25, 100):
        result = await search_posts(db, "батальон", limit=limit)
        assert [(p.channel_username, p.message_id) for p in result.posts] == _newest(limit)
        assert (result.total, result.exact) == (40, True)
    since = NOW - timedelta(days=10)
    week = await search_posts(db, "батальон", since=since, limit=3)
    assert [(p.channel_username, p.message_id) for p in week.posts] == _newest(3, since)
    assert week.total == len(_newest(100, since))
    # a phrase (the matcher confirms every candidate) and a rule scoped to one channel page the same way
    phrase = await search_posts(db, '"третий батальон"', limit=4)
    assert [p.message_id for p in phrase.posts] == [60, 57, 54, 51] and phrase.total == 20
    scoped = await search_posts(db, "батальон in:@live_news", limit=2)
    assert [(p.channel_username, p.message_id) for p in scoped.posts] == [("live_news", 60), ("live_news", 57)]


async def test_a_total_past_the_cap_is_at_least_n(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    await _archive(db)
    monkeypatch.setattr(search_module, "COUNT_CAP", 15)
    words = await search_posts(db, "батальон", limit=5)
    assert (words.total, words.exact) == (15, False)  # 40 match: "at least 15"
    assert [(p.channel_username, p.message_id) for p in words.posts] == _newest(5)
    few = await search_posts(db, "батальон", since=NOW - timedelta(days=12), limit=5)
    assert few.exact and few.total == len(_newest(100, NOW - timedelta(days=12)))
    # a rule the index cannot count (a phrase): counted by confirming, at most max_confirm posts
    monkeypatch.setattr(search_module, "CHUNK", 4)  # candidates read 4 at a time
    phrase = await search_posts(db, '"третий батальон"', limit=3, max_confirm=6)
    assert not phrase.exact and 3 <= phrase.total <= 20
    assert [p.message_id for p in phrase.posts] == [60, 57, 54]


async def test_a_count_beyond_the_page_stops_when_it_would_outlast_the_page(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A phrase is counted by confirming candidates past the page; that may take as long again as
    the page took (at least COUNT_FLOOR), never past SCAN_BUDGET: with no budget left the page is
    the same and the total is "at least" what was confirmed."""
    await _archive(db)
    full = await search_posts(db, '"третий батальон"', limit=4)
    assert (full.total, full.exact) == (20, True)
    monkeypatch.setattr(search_module, "SCAN_BUDGET", 0.0)
    cut = await search_posts(db, '"третий батальон"', limit=4)
    assert [p.message_id for p in cut.posts] == [p.message_id for p in full.posts] == [60, 57, 54, 51]
    assert not cut.exact and 4 <= cut.total <= 20  # "at least N" (SQLite's check for late posts may read on)


async def test_a_regex_search_that_stops_says_how_far_back_it_read(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _archive(db)
    whole = await search_posts(db, r"/батальон\w*/", limit=5)
    assert whole.exact and whole.total == 40 and whole.searched_since is None
    monkeypatch.setattr(search_module, "SCAN_BUDGET", 0.0)
    monkeypatch.setattr(search_module, "CHUNK", 10)
    cut = await search_posts(db, r"/выпуск 3\b/", limit=5)  # only the oldest of all posts matches
    assert not cut.exact and cut.searched_since is not None and cut.posts == []
    assert cut.searched_since > NOW - timedelta(days=60)


async def test_a_rule_of_one_operator_word_is_that_word(db: Database) -> None:
    pipeline = Pipeline(db, compile_rules)
    texts = ["Кошки и собаки", "Not now, or never", "Не сейчас", "Без союзов"]
    await pipeline.ingest([domain.Post(channel=LIVE, message_id=i, date=NOW - timedelta(hours=i), text=text)
                           for i, text in enumerate(texts, 1)])
    await pipeline.close()
    await pipeline.flush_index()
    for word, expected in [("и", 1), ("И", 1), ("or", 2), ("не", 3), ("NOT", 2)]:
        result = await search_posts(db, word)
        assert [p.message_id for p in result.posts] == [expected] and result.total == 1, word
        start, end = result.posts[0].highlights[0]
        assert result.posts[0].text[start:end].lower() == word.lower()


async def test_a_next_page_without_counting_is_the_same_page(db: Database) -> None:
    """`count=False` (the web view's next pages, which show no total): the same posts, newest first,
    from a backfilled archive too; the total is then what was read: exact only if that was all."""
    await _archive(db)
    since = NOW - timedelta(days=45)
    for rule in ("батальон", '"третий батальон"'):
        first = await search_posts(db, rule, since=since, limit=5)
        key = (first.posts[-1].date, first.posts[-1].post_id)
        counted = await search_posts(db, rule, since=since, limit=5, before=key)
        quick = await search_posts(db, rule, since=since, limit=5, before=key, count=False)
        assert [p.post_id for p in quick.posts] == [p.post_id for p in counted.posts] and len(quick.posts) == 5
        assert counted.exact and 5 <= quick.total <= counted.total
        assert not quick.exact or quick.total == counted.total


async def test_a_phrase_is_found_whatever_its_words_and_never_where_they_stand_apart(db: Database) -> None:
    """Archive search skips the matcher for posts whose words cannot hold the phrase in a row
    (bot/search/forms.py): inflected forms, words no dictionary knows and look-alike letters still
    match; the same words apart do not."""
    pipeline = Pipeline(db, compile_rules)
    texts = {
        1: "Третьего батальона колонна прошла",  # inflected dictionary forms
        2: "Третий - батальон, как и вчера",  # only a hyphen between them
        3: "Третий город, а батальон ушёл",  # both words, apart
        4: "Вчера цевыхов алыхзюов видели у моста",  # guessed lemmas: цевыхов -> цевых
        5: "Цевых был, алыхзю не было",  # guessed words, apart
        6: "Трeтий батальон",  # a Latin е inside a Cyrillic word
    }
    await pipeline.ingest([domain.Post(channel=LIVE, message_id=i, date=NOW - timedelta(hours=10 - i), text=t)
                           for i, t in texts.items()])
    await pipeline.close()
    await pipeline.flush_index()
    battalion = await search_posts(db, '"третий батальон"', limit=10)
    assert sorted(p.message_id for p in battalion.posts) == [1, 2, 6]
    assert (battalion.total, battalion.exact) == (3, True)
    guessed = await search_posts(db, '"цевых алыхзю"', limit=10)
    assert [p.message_id for p in guessed.posts] == [4]
