"""The composition root's pipeline: metrics per batch, and rule changes made by another process."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot import metrics
from bot.app import build_app
from bot.config import Settings
from bot.domain import ChannelRef, Post
from bot.storage import models as m
from bot.storage.database import Database


def _post(message_id: int, text: str) -> Post:
    return Post(ChannelRef(1302282372, "vvgladkov", "Гладков"), message_id, datetime.now(UTC), text)


@pytest.mark.dates  # the app on the real clock, posts dated now
async def test_rules_added_by_another_process_are_used_and_batches_counted(db_url: str) -> None:
    app = await build_app(Settings(), database_url=db_url)
    other = Database.from_url(db_url)  # the bot role of another process
    try:
        assert app.pipeline.watcher is not None
        app.pipeline.watcher.every_seconds = 0
        stored = metrics.value("tgmon_posts_ingested_total", result="stored")
        first = await app.pipeline.ingest([_post(1, "Обстрел Шебекино ночью")])
        assert first.stored == 1 and first.matches == 0
        async with other.uow() as session:
            sub = m.Subscriber(chat_id=42)
            session.add(sub)
            await session.flush()
            session.add(m.Rule(subscriber_id=sub.id, source="обстрел", channels=[]))
        second = await app.pipeline.ingest([_post(2, "Новый обстрел Белгорода")])
        assert second.matches == 1
        async with other.uow() as session:  # the subscriber leaves: its rule stops matching
            sub.active = False
            await session.merge(sub)
        third = await app.pipeline.ingest([_post(3, "Ещё один обстрел")])
        assert third.matches == 0
        assert metrics.value("tgmon_posts_ingested_total", result="stored") == stored + 3
        assert metrics.value("tgmon_channel_lag_seconds", channel="vvgladkov") < 60
    finally:
        await other.dispose()
        await app.close()
