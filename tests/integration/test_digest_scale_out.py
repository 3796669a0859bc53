"""Every scheduler process builds digests: a large daily tick is split between processes (rows
claimed with SKIP LOCKED on PostgreSQL), each digest built once; only due subscribers are read
(`next_due_at`); instant alerts keep going out while a large daily tick runs.

Real processes: `tgmon run --role scheduler` on PostgreSQL; on SQLite, where `tgmon run` allows
one process per database file, `scheduler_child.py` processes running the same builder.
"""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select, update

from bot.config import Settings
from bot.delivery.clock import ManualClock
from bot.digest.scheduler import NEVER, DigestScheduler
from bot.storage import models as m
from bot.storage import wakeups
from bot.storage.database import Database
from tests.integration.test_faults import (  # noqa: F401
    ROOT,
    Proc,
    fault_env,
    procs,
    query,
    scalar,
    upgrade,
    wait_until,
)

CHILD = Path(__file__).with_name("scheduler_child.py")


def seed_daily(url: str, count: int, *, first_chat: int = 6_000_000, instant: bool = False) -> None:
    """`count` daily subscribers due now (00:00 UTC, created two days ago), each with a rule that
    matched three posts; with `instant`, one instant subscriber (chat 77) with a rule of its own."""

    async def go() -> None:
        db = Database.from_url(url)
        now = datetime.now(UTC)
        created = now - timedelta(days=2)
        try:
            async with db.uow() as session:
                channel = m.Channel(telegram_id=1302282372, username="vvgladkov", title="Гладков")
                session.add(channel)
                await session.flush()
                posts = (await session.execute(insert(m.Post).returning(m.Post.id), [
                    {"channel_id": channel.id, "message_id": n, "date": now - timedelta(hours=n),
                     "text": f"Обстрел Шебекино, сводка {n}: повреждены {n} дома.", "text_hash": f"h{n}"}
                    for n in range(1, 4)])).scalars().all()
                subs = (await session.execute(insert(m.Subscriber).returning(m.Subscriber.id), [
                    {"chat_id": first_chat + i, "title": f"s{i}", "timezone": "UTC", "digest_hour": 0,
                     "frequency": "daily", "created_at": created} for i in range(count)])).scalars().all()
                rules = (await session.execute(insert(m.Rule).returning(m.Rule.id), [
                    {"subscriber_id": sid, "source": "обстрел", "name": "обстрел", "channels": [],
                     "created_at": created} for sid in subs])).scalars().all()
                await session.execute(insert(m.Match), [
                    {"rule_id": rid, "post_id": pid, "highlights": [[0, 7]], "matched_at": now - timedelta(hours=1)}
                    for rid in rules for pid in posts])
                if instant:
                    sub = m.Subscriber(chat_id=77, title="instant", frequency="instant", created_at=created)
                    session.add(sub)
                    await session.flush()
                    session.add(m.Rule(subscriber_id=sub.id, source="тревога", name="тревога", channels=[],
                                       created_at=created))
        finally:
            await db.dispose()

    asyncio.run(go())


# --- in one process, on a manual clock: only due subscribers are read -------------------------------

class CountingScheduler(DigestScheduler):
    """Records the subscribers each pass claimed."""

    claimed: list[int]

    async def _build_due_batch(self, now: datetime, limit: int, failed: set[int], claimed: list[int],
                               only: int | None = None) -> int:
        built = await super()._build_due_batch(now, limit, failed, claimed, only)
        self.claimed.extend(claimed)
        return built


async def _next_due(db: Database) -> dict[int, datetime | None]:
    async with db.uow(read_only=True) as session:
        return {int(c): d for c, d in await session.execute(select(m.Subscriber.chat_id, m.Subscriber.next_due_at))}


async def _chats(db: Database, ids: list[int]) -> list[int]:
    async with db.uow(read_only=True) as session:
        return sorted((await session.scalars(select(m.Subscriber.chat_id).where(m.Subscriber.id.in_(ids)))).all())


async def test_a_tick_reads_only_the_due_subscribers_and_a_schedule_change_is_seen(db: Database) -> None:
    day = datetime(2026, 11, 20, tzinfo=UTC)
    async with db.uow() as session:
        await session.execute(insert(m.Subscriber), [
            {"chat_id": hour, "title": f"at {hour}", "timezone": "Europe/Berlin", "digest_hour": hour,
             "frequency": "daily", "created_at": day - timedelta(hours=1)} for hour in range(24)])  # 00:00 Berlin
        session.add(m.Subscriber(chat_id=100, title="instant", frequency="instant", created_at=day))
    clock = ManualClock(day + timedelta(hours=5, minutes=30))  # 06:30 in Berlin
    scheduler = CountingScheduler(db, Settings(), clock)
    scheduler.claimed = []
    assert await scheduler.tick() == 6  # 01:00 to 06:00 Berlin; all 25 looked at once (next_due_at unknown)
    assert len(scheduler.claimed) == 25
    due = await _next_due(db)
    assert due[100] == NEVER  # instant alerts only: no digest to schedule
    assert due[7] == day + timedelta(hours=6) and due[0] == day + timedelta(hours=23)

    scheduler.claimed = []
    clock.advance(60)
    assert await scheduler.tick() == 0 and scheduler.claimed == []  # nobody due: nobody read
    clock.set(day + timedelta(hours=8, minutes=1))  # 09:01 Berlin
    assert await scheduler.tick() == 3 and await _chats(db, scheduler.claimed) == [7, 8, 9]

    async with db.uow() as session:  # 20:00 moves to 10:00, 21:00 is paused and resumed
        await session.execute(update(m.Subscriber).where(m.Subscriber.chat_id == 20).values(digest_hour=10))
        await session.execute(update(m.Subscriber).where(m.Subscriber.chat_id == 21).values(paused=True))
        await session.execute(update(m.Subscriber).where(m.Subscriber.chat_id == 22).values(title="renamed"))
    async with db.uow() as session:
        await session.execute(update(m.Subscriber).where(m.Subscriber.chat_id == 21).values(paused=False))
        instant = await session.scalar(select(m.Subscriber.id).where(m.Subscriber.chat_id == 100))
        session.add(m.Rule(subscriber_id=instant, source="обстрел", name="обстрел", delivery="daily", channels=[],
                           created_at=day + timedelta(hours=9)))
    due = await _next_due(db)
    assert due[20] is None and due[21] is None and due[100] is None  # forgotten: the next tick works them out
    assert due[22] == day + timedelta(hours=21)  # a change the schedule does not depend on keeps it
    scheduler.claimed = []
    clock.set(day + timedelta(hours=9, minutes=1))  # 10:01 Berlin
    assert await scheduler.tick() == 2 and await _chats(db, scheduler.claimed) == [10, 20, 21, 100]
    async with db.uow(read_only=True) as session:
        keys = (await session.scalars(select(m.Digest.period_key).join(m.Subscriber).where(
            m.Subscriber.chat_id == 20))).all()
    assert keys == ["daily:2026-11-20"]
    due = await _next_due(db)
    assert due[20] == day + timedelta(days=1, hours=9)
    assert due[100] == day + timedelta(days=1, hours=6)  # its rule's daily digest, at the chat's 09:00 Moscow


# --- real processes ---------------------------------------------------------------------------------

@pytest.fixture
def children() -> Iterator[Callable[[str, Path, str], subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(url: str, workdir: Path, name: str) -> subprocess.Popen[bytes]:
        env = fault_env(url, workdir)
        env["PYTHONPATH"] = ":".join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        out = (workdir / f"{name}.log").open("wb")
        proc = subprocess.Popen([sys.executable, str(CHILD), url], env=env, cwd=workdir, stdout=out,
                                stderr=subprocess.STDOUT)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def _built_by(text: str) -> int:
    """Digests a process says it built: `built N` lines (children), `digest ... (daily:...)` log lines."""
    return sum(int(n) for n in re.findall(r"^built (\d+)$", text, re.M)) + len(re.findall(r"digest \d+ \(daily:", text))


def _check_each_built_once(url: str, count: int) -> None:
    assert scalar(url, "SELECT count(*) FROM digests WHERE kind = 'daily'") == count
    assert scalar(url, "SELECT count(DISTINCT subscriber_id) FROM digests WHERE kind = 'daily'") == count
    assert scalar(url, "SELECT count(*) FROM outbox o JOIN digests d ON d.id = o.digest_id WHERE d.kind = 'daily'"
                  ) == count  # one chunk each, queued once
    assert scalar(url, "SELECT count(*) FROM subscribers WHERE frequency = 'daily' AND next_due_at IS NULL") == 0


SCALE_OUT = 2000


@pytest.mark.slow
@pytest.mark.dates  # due by the children's clocks
def test_three_scheduler_processes_split_a_large_tick_and_build_each_digest_once(
    db_url: str, tmp_path: Path, procs: Callable[..., Proc], children: Callable[..., subprocess.Popen[bytes]],  # noqa: F811
) -> None:
    upgrade(db_url, tmp_path)
    if db_url.startswith("postgresql"):
        env = fault_env(db_url, tmp_path, TGMON_DIGEST__TICK_SECONDS="1")
        running = [procs(["run", "--role", "scheduler"], env, tmp_path, f"scheduler{i}") for i in range(3)]
        output = [p.output for p in running]
        wait_until(lambda: all("digest scheduler started" in out() for out in output), 60, "three schedulers")
    else:
        for i in range(3):
            children(db_url, tmp_path, f"child{i}")
        output = [lambda i=i: (tmp_path / f"child{i}.log").read_text() for i in range(3)]  # type: ignore[misc]
        wait_until(lambda: all("ready" in out() for out in output), 60, "three scheduler processes")
    seed_daily(db_url, SCALE_OUT)  # due at once, while all three are polling
    wait_until(lambda: scalar(db_url, "SELECT count(*) FROM digests") >= SCALE_OUT, 300, "every digest built")
    wait_until(lambda: sum(_built_by(out()) for out in output) >= SCALE_OUT, 30, "every build logged")
    shares = [_built_by(out()) for out in output]
    _check_each_built_once(db_url, SCALE_OUT)
    assert sum(shares) == SCALE_OUT, shares  # no process built one another had built
    if db_url.startswith("postgresql"):  # SQLite has one writer at a time: correct, not shared out
        assert sum(1 for share in shares if share) >= 2, shares
    print(f"\n{SCALE_OUT} digests built by three processes: {shares}")


TICK = 5000


@pytest.mark.slow
@pytest.mark.dates
def test_instant_alerts_go_out_while_a_large_daily_tick_runs(
    db_url: str, tmp_path: Path, procs: Callable[..., Proc],  # noqa: F811
) -> None:
    upgrade(db_url, tmp_path)
    seed_daily(db_url, TICK, instant=True)
    env = fault_env(db_url, tmp_path, TGMON_DIGEST__TICK_SECONDS="3600", TGMON_DELIVERY__INSTANT_BATCH_SECONDS="1")
    service = procs(["run", "--role", "scheduler"], env, tmp_path, "scheduler")
    daily = lambda: scalar(db_url, "SELECT count(*) FROM digests WHERE kind = 'daily'")  # noqa: E731
    instant = lambda: scalar(db_url, "SELECT count(*) FROM digests WHERE kind = 'instant'")  # noqa: E731
    wait_until(lambda: daily() > 0, 60, "the daily tick to begin")
    during = []
    for n in (1, 2):
        _store_alarm_match(db_url, n)
        wait_until(lambda n=n: instant() >= n, 60, f"instant alert {n}", step=0.02)  # type: ignore[misc]
        during.append(daily())
    wait_until(lambda: daily() >= TICK, 300, "the daily tick to end")
    assert service.p.poll() is None, service.output()[-3000:]
    service.signal(signal.SIGTERM)
    assert service.wait(20) == 0
    _check_each_built_once(db_url, TICK)
    assert instant() == 2
    assert all(count < TICK for count in during), during  # both alerts went while the tick was still building
    print(f"\ninstant alerts built after {during} of {TICK} daily digests")


def _store_alarm_match(url: str, n: int) -> None:
    """What another process's ingest stores: a post and the instant subscriber's match, and (on
    PostgreSQL) the notification its transaction sends with them (`bot.storage.matches.insert`)."""

    async def go() -> None:
        db = Database.from_url(url)
        now = datetime.now(UTC)
        try:
            async with db.uow() as session:
                channel = await session.scalar(select(m.Channel.id))
                rule = await session.scalar(select(m.Rule.id).join(m.Subscriber).where(m.Subscriber.chat_id == 77))
                post = m.Post(channel_id=channel, message_id=9000 + n, date=now, text=f"Воздушная тревога {n}",
                              text_hash=f"alarm{n}")
                session.add(post)
                await session.flush()
                session.add(m.Match(rule_id=rule, post_id=post.id, highlights=[[0, 9]], matched_at=now))
                await wakeups.notify(session, wakeups.MATCHES)
        finally:
            await db.dispose()

    asyncio.run(go())
