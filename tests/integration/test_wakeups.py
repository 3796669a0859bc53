"""LISTEN/NOTIFY wake-ups on the real PostgreSQL (bot/storage/wakeups.py): a notification comes
with the commit of the transaction that stored the rows and never with a rollback, and the listener
comes back after its connection is cut."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import asyncpg
import pytest

from bot import domain
from bot.storage import matches, outbox
from bot.storage import models as m
from bot.storage.database import Database
from bot.storage.wakeups import MATCHES, OUTBOX, PgWakeups, Wakeups, for_database
from tests.conftest import _pg_exec

pytestmark = pytest.mark.postgres
WAIT = 30  # generous: a loaded machine; the tests wait for events, they do not time them


@pytest.fixture
async def pg(pg_database: str) -> Database:
    await _pg_exec("DROP SCHEMA public CASCADE; CREATE SCHEMA public", pg_database.rsplit("/", 1)[1])
    url = pg_database.replace("postgresql://", "postgresql+asyncpg://")
    db = Database.from_url(url)
    await db.upgrade()
    try:
        yield db
    finally:
        await db.dispose()


def _dsn(db: Database) -> str:
    return db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


async def _until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    for _ in range(int(WAIT / 0.05)):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def _listening(wakeups: PgWakeups) -> None:
    async def ready() -> bool:
        return wakeups.listening

    await _until(ready, "the listener")
    for event in wakeups.events.values():
        event.clear()  # set once on connecting (what was notified meanwhile): not what the tests look for


async def _rule_and_post(db: Database) -> tuple[int, int, int]:
    async with db.uow() as session:
        sub = m.Subscriber(chat_id=5150, title="t", frequency="instant")
        channel = m.Channel(telegram_id=777, username="alerts", title="alerts")
        session.add_all([sub, channel])
        await session.flush()
        rule = m.Rule(subscriber_id=sub.id, source="тревога", name="тревога", channels=[])
        post = m.Post(channel_id=channel.id, message_id=1, date=datetime.now(UTC), text="Тревога", text_hash="a")
        session.add_all([rule, post])
        await session.flush()
        return sub.id, rule.id, post.id


def _alert_row(subscriber_id: int, random_id: int) -> dict[str, object]:
    now = datetime.now(UTC)
    return {"subscriber_id": subscriber_id, "chat_id": 5150, "kind": "alert", "chunk_no": 1, "chunk_total": 1,
            "text": "Тревога", "random_id": random_id, "state": "pending", "attempts": 0, "not_before": now,
            "created_at": now}


async def test_stored_matches_wake_the_listener_at_commit_and_a_rollback_sends_nothing(pg: Database) -> None:
    sub_id, rule_id, post_id = await _rule_and_post(pg)
    wakeups = PgWakeups(_dsn(pg))
    wakeups.start()
    try:
        await _listening(wakeups)
        hit = domain.RuleMatch(rule_id=rule_id, highlights=((0, 7),))
        with pytest.raises(RuntimeError):
            async with pg.uow() as session:
                assert await matches.insert(session, [(hit, post_id)])
                raise RuntimeError("rolled back")
        # notifications arrive in commit order: once the outbox one is here, a match one would be too
        async with pg.uow() as session:
            await outbox.add_rows(session, [_alert_row(sub_id, 1)])
        await asyncio.wait_for(wakeups.event(OUTBOX).wait(), WAIT)
        assert not wakeups.event(MATCHES).is_set()

        async with pg.uow() as session:
            assert await matches.insert(session, [(hit, post_id)])
        await asyncio.wait_for(wakeups.event(MATCHES).wait(), WAIT)
        wakeups.event(MATCHES).clear()
        async with pg.uow() as session:  # the same match again: nothing new, nobody woken
            assert await matches.insert(session, [(hit, post_id)]) == []
            await outbox.add_rows(session, [])
        wakeups.event(OUTBOX).clear()
        async with pg.uow() as session:
            await outbox.add_rows(session, [_alert_row(sub_id, 2)])
        await asyncio.wait_for(wakeups.event(OUTBOX).wait(), WAIT)
        assert not wakeups.event(MATCHES).is_set()
    finally:
        await wakeups.close()


async def test_the_listener_comes_back_after_its_connection_is_terminated(
    pg: Database, caplog: pytest.LogCaptureFixture
) -> None:
    wakeups = PgWakeups(_dsn(pg), check_seconds=0.5)
    wakeups.start()
    admin = await asyncpg.connect(_dsn(pg))
    try:
        await _listening(wakeups)
        first = await wakeups.backend_pid()
        assert first is not None
        with caplog.at_level(logging.INFO, logger="bot.storage.wakeups"):
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", first)

            async def back() -> bool:
                return await wakeups.backend_pid() not in (None, first)

            await _until(back, "a new listening connection")
        # back: every event set once, for whatever was notified while nobody listened
        assert all(event.is_set() for event in wakeups.events.values())
        lost = [r for r in caplog.records if "connection was lost" in r.getMessage()]
        assert len(lost) == 1 and lost[0].exc_info is None  # one line, no traceback
        await _listening(wakeups)
        await admin.execute(f"NOTIFY {MATCHES}")
        await asyncio.wait_for(wakeups.event(MATCHES).wait(), WAIT)
    finally:
        await admin.close()
        await wakeups.close()
    assert not wakeups.listening


async def test_without_postgresql_or_with_listen_off_there_is_no_listener(pg: Database) -> None:
    assert type(for_database("sqlite:///x.db")) is Wakeups
    assert type(for_database(pg.engine.url.render_as_string(hide_password=False), listen=False)) is Wakeups
    local = Wakeups()
    local.start()
    assert not local.listening
    local.tell(OUTBOX)  # a scheduler of the same process, for its delivery worker
    assert local.event(OUTBOX).is_set() and not local.event(MATCHES).is_set()
    await local.close()
