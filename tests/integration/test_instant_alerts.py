"""An instant alert goes out when its match is stored, not at the scheduler's tick.

Real processes: `tgmon run --role scheduler --role delivery` (or, on PostgreSQL, each role in a
process of its own) with the tick turned off (once an hour) and the safety-net looks five minutes
apart, and `tgmon import` in another process storing the matching posts; Telegram is the recording
fake edge. So only a wake-up can bring an alert out within the bounds below: on PostgreSQL
LISTEN/NOTIFY from the importing process to the scheduler and from the scheduler to the delivery
worker; on SQLite the scheduler's one-second look for new matches (there is no listener) and its
word to the delivery worker of its own process.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.delivery.share import JOIN_SECONDS
from bot.storage import models as m
from bot.storage.database import Database
from tests.conftest import _pg_exec
from tests.integration.test_faults import Proc, fault_env, procs, scalar, upgrade, wait_until  # noqa: F401

CHAT = 4242


def _seed(url: str) -> None:
    async def go() -> None:
        db = Database.from_url(url)
        try:
            async with db.uow() as session:
                sub = m.Subscriber(chat_id=CHAT, title="instant", frequency="instant")
                session.add(sub)
                await session.flush()
                session.add(m.Rule(subscriber_id=sub.id, source="обстрел*", name="обстрел*", channels=[]))
        finally:
            await db.dispose()

    asyncio.run(go())


def _export(path: Path, message_id: int) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    path.write_text(json.dumps({
        "name": "Гладков Вячеслав", "type": "public_channel", "id": 1302282372,
        "messages": [{"id": message_id, "type": "message", "date": now.strftime("%Y-%m-%dT%H:%M:%S"),
                      "date_unixtime": str(int(now.timestamp())),
                      "text": f"Обстрел Белгорода, сводка {message_id}"}],
    }, ensure_ascii=False), "utf-8")


def _sent_at(log: Path) -> list[float]:
    """When each alert to the subscriber reached the edge (unix time), in order."""
    lines = log.read_text().splitlines() if log.exists() else []
    return [float(f[3]) for f in (line.split() for line in lines) if f[0] == str(CHAT)]


def _matched_at(url: str) -> list[float]:
    """When each match was stored (its `matched_at`, taken just before its transaction commits)."""

    async def go() -> list[float]:
        db = Database.from_url(url)
        try:
            async with db.uow(read_only=True) as session:
                return [t.timestamp() for t in await session.scalars(select(m.Match.matched_at).order_by(m.Match.id))]
        finally:
            await db.dispose()

    return asyncio.run(go())


def _alerts(log: Path) -> int:
    return sum(1 for line in log.read_text().splitlines() if line.split()[0] == str(CHAT)) if log.exists() else 0


def _env(db_url: str, tmp_path: Path, log: Path) -> dict[str, str]:
    return fault_env(db_url, tmp_path, TGMON_TEST_SENDER_LOG=str(log), TGMON_DIGEST__TICK_SECONDS="3600",
                     TGMON_DELIVERY__INSTANT_BATCH_SECONDS="1",
                     # the looks that do not wait for a wake-up, five minutes apart: the test's bounds
                     # are met only by a wake-up
                     TGMON_DIGEST__INSTANT_POLL_SECONDS="300", TGMON_DELIVERY__POLL_SECONDS="300")


def _three_alerts(env: dict[str, str], tmp_path: Path, log: Path) -> list[float]:
    """Import three matching posts, one at a time, each once the previous alert was sent; the delays
    from each match stored to its alert at the edge (the importing process may still be indexing and
    exiting when the alert arrives)."""
    for n in range(1, 4):
        export = tmp_path / f"result{n}.json"
        _export(export, 1000 + n)
        done = subprocess.run([sys.executable, "-m", "bot", "import", str(export), "--channel", "vvgladkov"],
                              env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        wait_until(lambda n=n: _alerts(log) >= n, 30, f"instant alert {n}", step=0.02)  # type: ignore[misc]
        time.sleep(1.1)  # past the batch window: the next match is an alert of its own
    stored = _matched_at(env["TGMON_DATABASE_URL"])
    assert len(stored) == 3
    return [sent - at for sent, at in zip(_sent_at(log), stored, strict=True)]


def _check(services: Sequence[Proc], log: Path, delays: list[float], db_url: str, how: str) -> None:
    for service in services:
        assert service.p.poll() is None, service.output()[-3000:]
    time.sleep(1.0)  # a duplicate would have had time to arrive
    assert _alerts(log) == 3  # each alert exactly once
    assert not Path(f"{log}.repeats").exists()
    assert max(delays) < 15, delays  # the tick would have taken up to an hour, a look up to 5 minutes
    print(f"\ninstant alert, match stored -> sent ({how}): median {statistics.median(delays):.2f} s, "
          f"max {max(delays):.2f} s ({db_url.split(':', 1)[0]})")


def test_an_instant_alert_goes_out_on_its_match_with_the_tick_off(
    db_url: str, tmp_path: Path, procs: Callable[..., Proc]  # noqa: F811
) -> None:
    upgrade(db_url, tmp_path)
    _seed(db_url)
    log = tmp_path / "sends.log"
    env = _env(db_url, tmp_path, log)
    service = procs(["run", "--role", "scheduler", "--role", "delivery"], env, tmp_path, "scheduler-delivery")
    wait_until(lambda: "instant alerts as matches are stored" in service.output(), 60, "the scheduler to start")
    if db_url.startswith("postgresql"):
        wait_until(lambda: "wake-ups: listening" in service.output(), 60, "the listener")
    time.sleep(1.0)  # the tick at start has run; from here on it is an hour away
    delays = _three_alerts(env, tmp_path, log)
    _check([service], log, delays, db_url, "one process")


@pytest.mark.postgres
def test_on_postgresql_each_role_in_its_own_process_is_woken_by_notify(
    pg_database: str, tmp_path: Path, procs: Callable[..., Proc]  # noqa: F811
) -> None:
    asyncio.run(_pg_exec("DROP SCHEMA public CASCADE; CREATE SCHEMA public", pg_database.rsplit("/", 1)[1]))
    upgrade(pg_database, tmp_path)
    _seed(pg_database)
    log = tmp_path / "sends.log"
    env = _env(pg_database, tmp_path, log)
    scheduler = procs(["run", "--role", "scheduler"], env, tmp_path, "scheduler")
    delivery = procs(["run", "--role", "delivery"], env, tmp_path, "delivery")
    for service in (scheduler, delivery):
        wait_until(lambda s=service: "wake-ups: listening" in s.output(), 60, "the listeners")  # type: ignore[misc]
    wait_until(lambda: "delivery worker started" in delivery.output(), 60, "the delivery worker")
    wait_until(lambda: scalar(pg_database, "SELECT count(*) FROM delivery_workers") > 0, 60, "the worker's heartbeat")
    time.sleep(JOIN_SECONDS + 1.0)  # the worker has joined (bot/delivery/share.py); the tick at start has run
    delays = _three_alerts(env, tmp_path, log)
    _check([scheduler, delivery], log, delays, pg_database, "scheduler and delivery in two processes")


HELD_CHAT = 4343  # a daily chat with one rule sent instantly: a daily tick's batch claims its row

# another process's transaction holding a subscriber's row, as a daily tick's batch does while it
# builds (`claim_due`: FOR UPDATE SKIP LOCKED), until a line comes on stdin
LOCKER = """
import asyncio, sys
import asyncpg

async def main():
    conn = await asyncpg.connect(sys.argv[1])
    async with conn.transaction():
        await conn.execute("SELECT id FROM subscribers WHERE chat_id = $1 FOR UPDATE", int(sys.argv[2]))
        print("locked", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    await conn.close()

asyncio.run(main())
"""


def _seed_held(url: str) -> None:
    async def go() -> None:
        db = Database.from_url(url)
        try:
            async with db.uow() as session:
                sub = m.Subscriber(chat_id=HELD_CHAT, title="daily", frequency="daily", timezone="UTC")
                session.add(sub)
                await session.flush()
                session.add(m.Rule(subscriber_id=sub.id, source="обстрел*", name="обстрел*", channels=[],
                                   delivery="instant"))
        finally:
            await db.dispose()

    asyncio.run(go())


def _queued_alerts(url: str, chat: int) -> int:
    return scalar(url, f"SELECT count(*) FROM outbox o JOIN subscribers s ON s.id = o.subscriber_id "
                       f"WHERE s.chat_id = {chat} AND o.kind = 'alert'")


@pytest.mark.postgres
def test_an_alert_whose_subscriber_a_tick_holds_goes_out_when_released_without_another_match(
    pg_database: str, tmp_path: Path, procs: Callable[..., Proc]  # noqa: F811
) -> None:
    """The instant look claims its subscribers with SKIP LOCKED, so one whose row a daily tick's batch
    holds is passed by. It is looked at again by itself: before, it waited for another match stored
    anywhere or for the end of the daily tick (a 100,000-subscriber tick takes minutes)."""
    asyncio.run(_pg_exec("DROP SCHEMA public CASCADE; CREATE SCHEMA public", pg_database.rsplit("/", 1)[1]))
    upgrade(pg_database, tmp_path)
    _seed(pg_database)
    _seed_held(pg_database)
    env = _env(pg_database, tmp_path, tmp_path / "sends.log")
    scheduler = procs(["run", "--role", "scheduler"], env, tmp_path, "scheduler")
    wait_until(lambda: "wake-ups: listening" in scheduler.output(), 60, "the listener")
    wait_until(lambda: "instant alerts as matches are stored" in scheduler.output(), 60, "the scheduler to start")
    time.sleep(1.0)  # the tick at start has run; from here on it is an hour away, the looks five minutes
    locker = subprocess.Popen([sys.executable, "-c", LOCKER, pg_database, str(HELD_CHAT)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert locker.stdout is not None and locker.stdin is not None
        assert locker.stdout.readline().strip() == "locked"
        export = tmp_path / "result.json"
        _export(export, 2001)  # one post, matched by both chats' rules in one transaction
        done = subprocess.run([sys.executable, "-m", "bot", "import", str(export), "--channel", "vvgladkov"],
                              env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        # the other chat's alert is queued by the look that passed the held chat by (one transaction)
        wait_until(lambda: _queued_alerts(pg_database, CHAT) == 1, 30, "the free chat's alert")
        assert _queued_alerts(pg_database, HELD_CHAT) == 0
        locker.stdin.write("\n")
        locker.stdin.flush()
        assert locker.wait(30) == 0
    finally:
        if locker.poll() is None:
            locker.kill()
    # no other match comes, the tick is an hour away: only a look of its own brings the held alert
    wait_until(lambda: _queued_alerts(pg_database, HELD_CHAT) == 1, 30, "the held chat's alert")
    time.sleep(1.5)  # a second alert would have had time to be queued
    assert _queued_alerts(pg_database, HELD_CHAT) == 1
    assert _queued_alerts(pg_database, CHAT) == 1
    assert scheduler.p.poll() is None, scheduler.output()[-3000:]
