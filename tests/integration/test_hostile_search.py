"""A search whose matching runs long (costly /patterns/ over thousands of candidates) stops at the
search's matching budget and estimates, instead of holding the event loop (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot import domain
from bot.ingest.pipeline import Pipeline
from bot.matching import compile_rules
from bot.search import query as search_module
from bot.search import search_posts
from bot.storage.database import Database

DAY = datetime(2026, 11, 20, 12, tzinfo=UTC)
CHANNEL = domain.ChannelRef(1001, "vvgladkov", "Гладков")


async def test_matching_budget_turns_the_total_into_an_estimate(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline = Pipeline(db, compile_rules)
    posts = [domain.Post(channel=CHANNEL, message_id=i, date=DAY + timedelta(minutes=i),
                         text=f"батальон {i}" if i % 2 else f"учения {i}") for i in range(1, 301)]
    await pipeline.ingest(posts)
    await pipeline.flush_index()
    exact = await search_posts(db, "/батал\\w+/")
    assert exact.total == 150 and exact.exact
    monkeypatch.setattr(search_module, "MATCH_BUDGET", 0.0)  # spent after the first post
    cut = await search_posts(db, "/батал\\w+/", limit=5)
    assert not cut.exact and 0 <= cut.total <= 300 and len(cut.posts) <= 1
