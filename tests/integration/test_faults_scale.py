"""Scale-out on PostgreSQL under SIGKILL: two schedulers, three delivery workers, 10,000 digests
(TGMON_FAULT_DIGESTS to change the number).

The schedulers elect a leader with a PostgreSQL advisory lock; the workers claim outbox rows with
SELECT ... FOR UPDATE SKIP LOCKED. Midway the active scheduler and one worker are SIGKILLed. At the
end every digest was built once, every message reached the fake Telegram edge at most once, every
row marked sent was seen exactly once, and nothing is left pending.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from bot.storage import models as m
from bot.storage.database import Database
from tests.integration.test_faults import (
    Proc,
    analyze,
    check_exactly_once,
    fault_env,
    procs,  # noqa: F401  (the fixture)
    role_command,
    scalar,
    seed_outbox,
    sends,
    upgrade,
    wait_until,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.dates]  # dates: digests due by the children's clocks
# 10,000 is the size the issue asks for, and what `make test` runs (17 s on an idle 2-core machine,
# 13 minutes under a load of 8-12; README "Reliability"). TGMON_FAULT_DIGESTS=1000 for a quick run.
DIGESTS = int(os.environ.get("TGMON_FAULT_DIGESTS", "10000"))
# The schedulers build a quarter of them during the test; the rest were queued by an "earlier tick"
# before the processes start (building is the slow part), while the workers deliver all of them.
SCHEDULED = DIGESTS // 4


def seed_due_subscribers(url: str, count: int) -> None:
    """`count` daily subscribers (09:00 UTC... any hour: created two days ago, so a digest is due),
    each with one rule that matched one post an hour ago."""

    async def go() -> None:
        db = Database.from_url(url)
        now = datetime.now(UTC)
        try:
            async with db.uow() as session:
                channel = m.Channel(telegram_id=1302282372, username="vvgladkov", title="Гладков")
                session.add(channel)
                await session.flush()
                post = m.Post(channel_id=channel.id, message_id=1, date=now - timedelta(hours=1),
                              text="Обстрел Шебекино: повреждены два дома.", text_hash="x")
                session.add(post)
                await session.flush()
                await session.execute(insert(m.Subscriber), [
                    {"chat_id": 5_000_000 + i, "title": f"s{i}", "timezone": "UTC", "digest_hour": 0,
                     "frequency": "daily", "created_at": now - timedelta(days=2)} for i in range(count)])
                subs = [sid for (sid,) in await session.execute(select(m.Subscriber.id))]
                await session.execute(insert(m.Rule), [
                    {"subscriber_id": sid, "source": "обстрел", "name": "обстрел", "channels": [],
                     "created_at": now - timedelta(days=2)} for sid in subs])
                rules = [rid for (rid,) in await session.execute(select(m.Rule.id))]
                await session.execute(insert(m.Match), [
                    {"rule_id": rid, "post_id": post.id, "highlights": [[0, 7]],
                     "matched_at": now - timedelta(hours=1)} for rid in rules])
            await analyze(db)
        finally:
            await db.dispose()

    asyncio.run(go())


def test_two_schedulers_three_workers_sigkill_midway(
    pg_database: str, tmp_path: Path, procs: Callable[..., Proc]  # noqa: F811
) -> None:
    from tests.integration.test_faults import _reset_schema

    url = pg_database
    asyncio.run(_reset_schema(url))
    upgrade(url, tmp_path)
    seed_due_subscribers(url, SCHEDULED)
    seed_outbox(url, chats=DIGESTS - SCHEDULED)
    log = tmp_path / "sends.log"
    env = fault_env(url, tmp_path, TGMON_TEST_SENDER_LOG=str(log), TGMON_TEST_SENDER_DELAY="0.002")
    started = time.monotonic()
    schedulers = [procs(role_command("scheduler"), env, tmp_path, f"scheduler{i}") for i in range(2)]
    workers = [procs(role_command("delivery"), env, tmp_path, f"delivery{i}") for i in range(3)]

    def leader() -> Proc | None:
        found = [s for s in schedulers if "this process is the leader" in s.output() and s.p.poll() is None]
        return found[0] if found else None

    wait_until(lambda: leader() is not None, 60, "a scheduler to lead")
    first = leader()
    assert first is not None
    standby = next(s for s in schedulers if s is not first)
    wait_until(lambda: "standby" in standby.output(), 60, "the other scheduler to wait as a standby")

    built = lambda: scalar(url, "SELECT count(*) FROM digests")  # noqa: E731
    queued = DIGESTS - SCHEDULED
    wait_until(lambda: built() >= queued + SCHEDULED * 0.3, 120, "30% of the scheduled digests built")
    first.signal(signal.SIGKILL)
    killed_at = time.monotonic()
    wait_until(lambda: "this process is the leader" in standby.output(), 60, "the standby to take over")
    takeover = time.monotonic() - killed_at
    at_kill = built()

    wait_until(lambda: len(sends(log)) >= DIGESTS * 0.5, 900, "half the digests sent")
    workers[0].signal(signal.SIGKILL)
    assert workers[0].wait(10) == -signal.SIGKILL

    wait_until(lambda: built() == DIGESTS, 900, "every digest built")
    wait_until(lambda: scalar(url, "SELECT count(*) FROM outbox WHERE state IN ('pending', 'sending')") == 0, 900,
               "every message sent, those the killed worker had on the wire too")
    elapsed = time.monotonic() - started
    for proc in (standby, *workers[1:]):
        assert proc.p.poll() is None, proc.output()[-2000:]
        proc.signal(signal.SIGTERM)
    for proc in (standby, *workers[1:]):
        assert proc.wait(20) == 0

    assert scalar(url, "SELECT count(*) FROM outbox") == DIGESTS  # one single-chunk digest each
    assert scalar(url, "SELECT count(DISTINCT subscriber_id) FROM digests") == DIGESTS
    states = check_exactly_once(url, log)
    assert states == {"sent": DIGESTS}  # what the killed worker had on the wire went again, once
    per_worker = {int(line.split()[2]) for line in log.read_text().splitlines()}
    # the workers shared the work: at least the two that lived (a joining worker waits 3 s before its
    # first send, so on a loaded machine the one killed at half way may not have sent yet)
    assert len(per_worker) >= 2
    leaders = [s for s in schedulers if re.search("this process is the leader", s.output())]
    assert len(leaders) == 2
    print(f"\n{DIGESTS} digests: {at_kill - queued} of {SCHEDULED} built before the leader was killed, standby took over in "
          f"{takeover:.1f} s; {states}; {elapsed:.0f} s in all")
