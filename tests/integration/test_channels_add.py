"""`add_channel` / `remove_channel` / `list_channels` on SQLite and PostgreSQL, with a recording source."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot import domain
from bot.ingest.channels import ChannelError, add_channel, list_channels, remove_channel
from bot.ingest.pipeline import Pipeline
from bot.matching import compile_rules
from bot.storage import models as m
from bot.storage.database import Database
from bot.storage.repos import count

GLADKOV = domain.ChannelRef(1302282372, "vvgladkov", "Вячеслав Гладков")


class RecordingSource:
    """Resolves from a fixed table, or raises the ChannelError it was given; records every call."""

    def __init__(self, known: dict[str, domain.ChannelRef | ChannelError]) -> None:
        self.known = known
        self.calls: list[str] = []

    async def resolve(self, link: str) -> domain.ChannelRef:
        self.calls.append(link)
        found = self.known.get(link)
        if isinstance(found, ChannelError):
            raise found
        if found is None:
            raise ChannelError("not_found", f"No channel {link}.")
        return found

    async def history(
        self, channel: domain.ChannelRef, *, min_id: int = 0, limit: int | None = None
    ) -> AsyncIterator[domain.Post]:
        for _ in ():
            yield _


async def test_add_stores_the_resolved_channel_once(db: Database) -> None:
    source = RecordingSource({"@vvgladkov": GLADKOV, "-1001302282372": GLADKOV})
    ref = await add_channel(db, source, "https://t.me/vvgladkov/123", added_by=42)
    assert ref == GLADKOV
    async with db.uow(read_only=True) as s:
        row = await s.scalar(select(m.Channel))
    assert row is not None
    assert (row.telegram_id, row.username, row.title, row.added_by, row.status) == (
        1302282372, "vvgladkov", "Вячеслав Гладков", 42, "active")
    for again in ("@vvgladkov", "-1001302282372", "t.me/s/VVGLADKOV"):
        with pytest.raises(ChannelError) as err:
            await add_channel(db, source, again)
        assert err.value.code == "exists"
        assert "already watched" in err.value.message
    assert source.calls == ["@vvgladkov"]  # the known channel was never resolved again


RESOLVE_ERRORS = [
    ("not_found", "No channel @nosuchname exists."),
    ("is_user", "@nosuchname is a user, not a channel."),
    ("private", "@nosuchname is private."),
    ("banned", "@nosuchname has banned the monitoring account."),
    ("flood_wait", "Telegram asks to wait 300 s."),
]


async def test_resolve_errors_store_nothing(db: Database) -> None:
    for code, message in RESOLVE_ERRORS:
        source = RecordingSource({"@nosuchname": ChannelError(code, message)})  # type: ignore[arg-type]
        with pytest.raises(ChannelError) as err:
            await add_channel(db, source, "t.me/nosuchname")
        assert (err.value.code, err.value.message) == (code, message)
        async with db.uow(read_only=True) as s:
            assert await count(s, m.Channel) == 0, code


async def test_invalid_link_never_reaches_the_source(db: Database) -> None:
    source = RecordingSource({})
    with pytest.raises(ChannelError) as err:
        await add_channel(db, source, "https://example.com/x")
    assert err.value.code == "invalid"
    assert source.calls == []
    async with db.uow(read_only=True) as s:
        assert await count(s, m.Channel) == 0


async def test_remove_keeps_posts_unless_purged_and_readd_reactivates(db: Database) -> None:
    source = RecordingSource({"@vvgladkov": GLADKOV})
    await add_channel(db, source, "vvgladkov")
    pipeline = Pipeline(db, compile_rules)
    day = datetime(2026, 11, 24, 8, tzinfo=UTC)
    await pipeline.ingest([domain.Post(GLADKOV, i, day, f"post {i}") for i in (1, 2, 3)])

    ref, purged = await remove_channel(db, "@vvgladkov")
    assert (ref.username, purged) == ("vvgladkov", 0)
    assert await list_channels(db, since=day) == []
    [removed] = await list_channels(db, since=day, include_removed=True)
    assert (removed.status, removed.posts, removed.posts_today) == ("removed", 3, 3)
    with pytest.raises(ChannelError) as err:
        await remove_channel(db, "@vvgladkov")
    assert err.value.code == "not_found"

    assert await add_channel(db, source, "@vvgladkov") == GLADKOV  # watched again, posts kept
    assert source.calls == ["@vvgladkov"]
    [info] = await list_channels(db, since=day.replace(hour=9))
    assert (info.status, info.posts, info.posts_today, info.last_message_id) == ("active", 3, 0, 3)

    ref, purged = await remove_channel(db, "-1001302282372", purge=True)
    assert purged == 3
    async with db.uow(read_only=True) as s:
        assert (await count(s, m.Post), await count(s, m.Channel)) == (0, 0)
