"""Fault tests with real processes: `python -m bot ...` killed, stopped and restarted.

Each test runs the very commands docker-compose.yml runs (`db upgrade`, `run --role ...`) and
`import`, against a temp SQLite file or the local PostgreSQL. Telegram is replaced at its edge by
`bot.runtime.fake_edge.RecordingSender` (TGMON_TEST_SENDER_LOG), which appends one line per send
to a file, duplicates included, so "exactly once" is checked against what the edge saw.
"""

from __future__ import annotations

import asyncio
import collections
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select, text

from bot.storage import models as m
from bot.storage.database import Database

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "bot/demo/sample_export.json"


# --- processes -----------------------------------------------------------------------------------

def fault_env(db_url: str, workdir: Path, **extra: str) -> dict[str, str]:
    """A clean environment: no Telegram credentials, no settings file of the developer's (the session's
    time travel, a test setting, goes on: see tests/conftest.py)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TELEGRAM_", "TGMON_", "DATABASE_URL")) or k.startswith("TGMON_TEST_TRAVEL")}
    env.update(
        TGMON_DATABASE_URL=db_url,
        TGMON_DATA_DIR=str(workdir / "data"),
        TGMON_CONFIG=str(workdir / "no-settings.toml"),
        TGMON_ENV_FILE=str(workdir / "no.env"),
        TGMON_LOG_JSON="true",
        TGMON_RUNTIME__LEADER_RETRY_SECONDS="0.5",
        TGMON_RUNTIME__MONITOR_SECONDS="1",
        TGMON_DELIVERY__GLOBAL_PER_SECOND="100000",
        TGMON_DELIVERY__PRIVATE_CHAT_PER_SECOND="1000",
        TGMON_DELIVERY__LEASE_SECONDS="3",  # a dead worker's claims go back within seconds
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def _die_with_parent() -> None:
    """In the child: SIGKILL it when the test process dies (a killed pytest runs no teardown, and an
    orphaned worker would go on writing to the shared PostgreSQL)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG (Linux)


class Proc:
    def __init__(self, args: list[str], env: dict[str, str], workdir: Path, name: str) -> None:
        self.args = args
        self.log_path = workdir / f"{name}.log"
        self.log = self.log_path.open("ab")
        self.p = subprocess.Popen([sys.executable, "-m", "bot", *args], env=env, cwd=workdir,
                                  stdout=self.log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)

    def signal(self, sig: signal.Signals) -> None:
        if self.p.poll() is None:
            self.p.send_signal(sig)

    def wait(self, timeout: float) -> int:
        return self.p.wait(timeout)

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def close(self) -> None:
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait(10)
        self.log.close()


@pytest.fixture
def procs() -> Iterator[Callable[..., Proc]]:
    started: list[Proc] = []

    def start(args: list[str], env: dict[str, str], workdir: Path, name: str) -> Proc:
        proc = Proc(args, env, workdir, name)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.close()


def wait_until(check: Callable[[], bool], timeout: float, what: str, step: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def query(url: str, sql: str) -> list[tuple[object, ...]]:
    async def go() -> list[tuple[object, ...]]:
        db = Database.from_url(url)
        try:
            async with db.uow(read_only=True) as session:
                return [tuple(r) for r in await session.execute(text(sql))]
        finally:
            await db.dispose()

    return asyncio.run(go())


def scalar(url: str, sql: str) -> int:
    return int(query(url, sql)[0][0] or 0)  # type: ignore[call-overload]


def upgrade(url: str, workdir: Path) -> None:
    from tests.unit.test_runtime_deploy import compose_command

    done = subprocess.run([sys.executable, "-m", "bot", *compose_command("migrate")],
                          env=fault_env(url, workdir), cwd=workdir, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def role_command(role: str) -> list[str]:
    """The scale-out services' commands, read from docker-compose.yml: tests and deployment agree."""
    from tests.unit.test_runtime_deploy import compose_command

    return compose_command(role)


# --- data ----------------------------------------------------------------------------------------

def big_export(path: Path, copies: int) -> int:
    """The sample channel export, repeated with fresh ids: 330 * copies posts."""
    data = json.loads(SAMPLE.read_text("utf-8"))
    base = data["messages"]
    messages = []
    for c in range(copies):
        for msg in base:
            item = dict(msg)
            item["id"] = msg["id"] + c * 100_000
            messages.append(item)
    data["messages"] = messages
    path.write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    return sum(1 for msg in messages if msg.get("type") == "message")


def seed_rules(url: str, sources: list[str]) -> None:
    async def go() -> None:
        db = Database.from_url(url)
        await db.upgrade()
        try:
            async with db.uow() as session:
                sub = m.Subscriber(chat_id=1, title="fault test")
                session.add(sub)
                await session.flush()
                session.add_all(m.Rule(subscriber_id=sub.id, source=s, name=s, channels=[]) for s in sources)
        finally:
            await db.dispose()

    asyncio.run(go())


def seed_outbox(url: str, chats: int, chunks: int = 1) -> None:
    """`chats` subscribers with one built digest each, `chunks` outbox rows per digest."""

    async def go() -> None:
        db = Database.from_url(url)
        now = datetime.now(UTC) - timedelta(seconds=1)
        try:
            async with db.uow() as session:
                await session.execute(insert(m.Subscriber), [
                    {"chat_id": 10_000 + i, "title": f"s{i}", "created_at": now} for i in range(chats)])
                subs = {c: i for c, i in await session.execute(
                    select(m.Subscriber.chat_id, m.Subscriber.id).where(m.Subscriber.chat_id.between(10_000, 10_000 + chats)))}
                await session.execute(insert(m.Digest), [
                    {"subscriber_id": sid, "period_key": "daily:fault", "kind": "daily", "period_start": now,
                     "period_end": now, "state": "built", "items": chunks, "created_at": now}
                    for sid in subs.values()])
                digests = {s: d for s, d in await session.execute(
                    select(m.Digest.subscriber_id, m.Digest.id).where(m.Digest.period_key == "daily:fault"))}
                await session.execute(insert(m.Outbox), [
                    {"digest_id": digests[sid], "subscriber_id": sid, "chat_id": chat, "kind": "digest",
                     "chunk_no": n, "chunk_total": chunks, "text": f"digest for {chat}, part {n}",
                     "random_id": chat * 100 + n, "state": "pending", "attempts": 0, "not_before": now,
                     "created_at": now}
                    for chat, sid in subs.items() for n in range(1, chunks + 1)])
            await analyze(db)
        finally:
            await db.dispose()

    asyncio.run(go())


async def analyze(db: Database) -> None:
    """Fresh planner statistics after a bulk load, as autovacuum would have made them in a minute;
    without them PostgreSQL plans the outbox queries for an empty table (seconds a query)."""
    if db.dialect == "postgresql":
        async with db.engine.connect() as conn:
            await conn.execute(text("ANALYZE"))
            await conn.commit()


def sends(path: Path) -> collections.Counter[int]:
    """random_id -> how many times it reached the fake Telegram edge."""
    if not path.exists():
        return collections.Counter()
    return collections.Counter(int(line.split()[1]) for line in path.read_text().splitlines() if line.strip())


# Rows still to go: pending, or 'sending' (on the wire, or left by a worker that stopped: its lease
# runs out and they are sent again with the same random_id).
LEFT = "SELECT count(*) FROM outbox WHERE state IN ('pending', 'sending')"



def wait_settled(url: str, timeout: float, quiet: float = 3.0) -> None:
    """Until the workers have nothing left to send (no pending or sending row) and the row states
    stayed unchanged for `quiet` seconds."""
    deadline = time.monotonic() + timeout
    states_sql = "SELECT state, count(*) FROM outbox GROUP BY state ORDER BY state"
    last, since = query(url, states_sql), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.2)
        current = query(url, states_sql)
        if current != last:
            last, since = current, time.monotonic()
        elif time.monotonic() - since >= quiet and scalar(url, LEFT) == 0:
            return
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for the outbox to settle: {last}")

def check_exactly_once(url: str, log: Path, allow_pending: int = 0) -> dict[str, int]:
    """Every outbox row: sent -> delivered exactly once (a repeat of its random_id, which Telegram
    drops, is counted in `<log>.repeats`); nothing left pending; no random_id ever delivered twice;
    chunks of a chat delivered in order."""
    rows = query(url, "SELECT random_id, state, chat_id, chunk_no FROM outbox")
    seen = sends(log)
    dupes = {rid: n for rid, n in seen.items() if n > 1}
    assert not dupes, f"{len(dupes)} messages sent more than once"
    states = collections.Counter(str(r[1]) for r in rows)
    assert states["pending"] == allow_pending, f"{states['pending']} rows never sent"
    for rid, state, _chat, _n in rows:
        if state == "sent":
            assert seen[int(rid)] == 1, f"row {rid} marked sent but the edge saw it {seen[int(rid)]} times"  # type: ignore[call-overload]
    known = {int(r[0]) for r in rows}  # type: ignore[call-overload]
    assert set(seen) <= known, "the edge received a message that is in no outbox row"
    order: dict[int, list[int]] = collections.defaultdict(list)
    by_rid = {int(r[0]): (int(r[2]), int(r[3])) for r in rows}  # type: ignore[call-overload]
    for line in log.read_text().splitlines() if log.exists() else []:
        chat, n = by_rid[int(line.split()[1])]
        order[chat].append(n)
    assert all(ns == sorted(ns) for ns in order.values()), "chunks of a digest arrived out of order"
    return dict(states)


def restart_delivery_and_check(
    url: str, log: Path, env: dict[str, str], workdir: Path, procs: Callable[..., Proc]
) -> tuple[int, dict[str, int]]:
    """After a fault: a fresh delivery worker (no send delay) delivers what is left, the sends left in
    doubt again once their lease runs out, and stops on SIGTERM with exit 0; then every row is
    checked (`check_exactly_once`). Returns the rows still pending and the outbox states."""
    env.pop("TGMON_TEST_SENDER_DELAY", None)
    again = procs(role_command("delivery"), env, workdir, "delivery-again")
    wait_settled(url, 120)
    again.signal(signal.SIGTERM)
    assert again.wait(20) == 0
    held = scalar(url, "SELECT count(*) FROM outbox WHERE state = 'pending'")
    return held, check_exactly_once(url, log, allow_pending=held)


# --- tests ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("phase", ["backfill", "matching"])
def test_sigkill_during_import_then_resume_loses_and_duplicates_nothing(
    phase: str, tmp_path: Path, procs: Callable[..., Proc]
) -> None:
    export = tmp_path / "result.json"
    total = big_export(export, copies=24 if phase == "backfill" else 12)
    url = f"sqlite:///{tmp_path / 'killed.db'}"
    clean_url = f"sqlite:///{tmp_path / 'clean.db'}"
    # "matching": hundreds of rules, so most of each batch's time goes to matching
    words = ["обстрел", "самооборона", "батальон", "shelling", "Белгород", "оборот", "бизнес", "район",
             "поддержку", "информацию"]
    rules = words if phase == "backfill" else [f"{w} {v}" for w in words for v in words if w != v] + words
    seed_rules(url, rules)
    seed_rules(clean_url, rules)
    env = fault_env(url, tmp_path, TGMON_INGEST__BATCH_SIZE="200")
    args = ["import", str(export), "--channel", "vvgladkov"]
    proc = procs(args, env, tmp_path, "import")
    wait_until(lambda: scalar(url, "SELECT count(*) FROM posts") >= 1000 or proc.p.poll() is not None,
               120, "the first batches")
    proc.signal(signal.SIGKILL)
    assert proc.wait(10) == -signal.SIGKILL, "the import ended before it could be killed; make the export bigger"
    partial = scalar(url, "SELECT count(*) FROM posts")
    assert 0 < partial < total and partial % 200 == 0  # whole batches only: nothing half-written
    matched = scalar(url, "SELECT count(DISTINCT post_id) FROM matches")
    assert matched <= partial

    resumed = procs(args, env, tmp_path, "import-again")
    assert resumed.wait(300) == 0, resumed.output()
    clean = procs(args, fault_env(clean_url, tmp_path), tmp_path, "import-clean")
    assert clean.wait(300) == 0, clean.output()
    shape = ("SELECT r.source, p.message_id FROM matches x JOIN rules r ON r.id = x.rule_id "
             "JOIN posts p ON p.id = x.post_id")
    assert scalar(url, "SELECT count(*) FROM posts") == total
    assert scalar(url, "SELECT count(*) FROM (SELECT channel_id, message_id FROM posts "
                       "GROUP BY channel_id, message_id HAVING count(*) > 1) d") == 0
    got, want = query(url, shape), query(clean_url, shape)
    assert len(got) == len(set(got)) and sorted(got) == sorted(want) and want  # same matches, none twice


def test_second_instance_on_the_same_sqlite_refuses(tmp_path: Path, procs: Callable[..., Proc]) -> None:
    url = f"sqlite:///{tmp_path / 'tgmon.db'}"
    env = fault_env(url, tmp_path, TGMON_TEST_SENDER_LOG=str(tmp_path / "sends.log"))
    first = procs(role_command("delivery"), env, tmp_path, "first")
    wait_until(lambda: "tgmon running" in first.output(), 60, "the first instance")
    second = procs(role_command("delivery"), env, tmp_path, "second")
    assert second.wait(60) == 2
    assert f"another tgmon process (pid {first.p.pid}) is already running on" in second.output()
    assert "Traceback" not in second.output()
    assert first.p.poll() is None  # the first one is untouched
    first.signal(signal.SIGTERM)
    assert first.wait(20) == 0


def test_sigterm_mid_send_exits_cleanly_and_loses_nothing(tmp_path: Path, procs: Callable[..., Proc]) -> None:
    url = f"sqlite:///{tmp_path / 'tgmon.db'}"
    upgrade(url, tmp_path)
    seed_outbox(url, chats=200, chunks=3)  # about 20 s of sending: far more than the shutdown grace
    log = tmp_path / "sends.log"
    env = fault_env(url, tmp_path, TGMON_TEST_SENDER_LOG=str(log), TGMON_TEST_SENDER_DELAY="1")
    proc = procs(role_command("delivery"), env, tmp_path, "delivery")
    wait_until(lambda: log.exists() and len(log.read_text().splitlines()) >= 10, 60, "sends to start")
    sent_at_term = time.monotonic()
    proc.signal(signal.SIGTERM)
    code = proc.wait(20)
    took = time.monotonic() - sent_at_term
    assert code == 0, proc.output()
    assert took < 10, f"exit took {took:.1f} s"
    out = proc.output()
    assert "SIGTERM received" in out and "tgmon stopped" in out and "Traceback" not in out
    # Every row is pending, sent (seen once), or - for the sends the worker still had in flight when
    # the grace period ran out - 'sending', to be sent again with its random_id once its lease is over.
    in_doubt = scalar(url, "SELECT count(*) FROM outbox WHERE state = 'sending'")
    assert in_doubt <= 32
    sent = scalar(url, "SELECT count(*) FROM outbox WHERE state = 'sent'")
    assert 0 < sent < 600 and sent <= sum(sends(log).values()) <= sent + in_doubt
    # a restart delivers the rest, the ones in doubt included, nothing twice
    held, states = restart_delivery_and_check(url, log, env, tmp_path, procs)
    assert held == 0 and states == {"sent": 600}
    print(f"\nSIGTERM: exit 0 after {took:.1f} s; {in_doubt} sends left in doubt, sent again; {states}")


@pytest.mark.dates  # child processes send what the parent dated due now: their clocks must agree
def test_sigkill_between_digest_chunks_then_restart(tmp_path: Path, procs: Callable[..., Proc]) -> None:
    """Digests of three chunks each; the worker is SIGKILLed mid-run. A restart sends what is left:
    nothing twice, chunks in order, a chunk in doubt holds the rest of its digest (never skipped)."""
    url = f"sqlite:///{tmp_path / 'tgmon.db'}"
    upgrade(url, tmp_path)
    seed_outbox(url, chats=100, chunks=3)
    log = tmp_path / "sends.log"
    env = fault_env(url, tmp_path, TGMON_TEST_SENDER_LOG=str(log), TGMON_TEST_SENDER_DELAY="0.2")
    proc = procs(role_command("delivery"), env, tmp_path, "delivery")
    wait_until(lambda: len(sends(log)) >= 120, 120, "120 sends")
    proc.signal(signal.SIGKILL)
    assert proc.wait(10) == -signal.SIGKILL
    partial = scalar(url, "SELECT count(DISTINCT chat_id) FROM outbox WHERE state = 'sent' AND chunk_no < chunk_total")
    assert partial > 0  # killed between the chunks of some digests
    in_doubt = scalar(url, "SELECT count(*) FROM outbox WHERE state = 'sending'")
    held, states = restart_delivery_and_check(url, log, env, tmp_path, procs)
    assert held == 0 and states == {"sent": 300}
    print(f"\nSIGKILL between chunks: {partial} digests cut between chunks, {in_doubt} sends in doubt, "
          f"{repeats(log)} of them had reached Telegram and were dropped as repeats; {states}")


def repeats(log: Path) -> int:
    path = log.with_name(log.name + ".repeats")
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_sigkill_of_one_worker_mid_batch_the_other_sends_its_rows_within_the_lease(
    tmp_path: Path, procs: Callable[..., Proc]
) -> None:
    """Two workers, slow sends (0.5 s); one is SIGKILLed mid-batch. The other takes over what it had
    claimed once the lease (3 s here) runs out: every message arrives exactly once and in order."""
    url = f"sqlite:///{tmp_path / 'tgmon.db'}"
    upgrade(url, tmp_path)
    seed_outbox(url, chats=60, chunks=2)
    log = tmp_path / "sends.log"
    env = fault_env(url, tmp_path, TGMON_TEST_SENDER_LOG=str(log), TGMON_TEST_SENDER_DELAY="0.5")
    doomed = procs(role_command("delivery"), env, tmp_path, "delivery-doomed")
    wait_until(lambda: len(sends(log)) >= 20, 60, "20 sends")
    survivor = procs(role_command("delivery"), env, tmp_path, "delivery-survivor")
    doomed.signal(signal.SIGKILL)
    killed_at = time.monotonic()
    assert doomed.wait(10) == -signal.SIGKILL
    in_doubt = scalar(url, "SELECT count(*) FROM outbox WHERE state = 'sending'")
    wait_settled(url, 120, quiet=1.0)
    took = time.monotonic() - killed_at
    survivor.signal(signal.SIGTERM)
    assert survivor.wait(20) == 0
    states = check_exactly_once(url, log)
    assert states == {"sent": 120}
    print(f"\nSIGKILL of one of two workers: {in_doubt} claimed rows in doubt, all delivered once and in "
          f"order {took:.1f} s after the kill ({repeats(log)} repeats dropped); {states}")


@pytest.mark.postgres
def test_database_connections_killed_mid_run_delivery_recovers(
    pg_database: str, tmp_path: Path, procs: Callable[..., Proc]
) -> None:
    """PostgreSQL restarting, as the workers see it: every connection of theirs is terminated
    (pg_terminate_backend), twice, while they send. The shared test server itself is not restarted:
    other test runs use it at the same time."""
    url = pg_database
    asyncio.run(_reset_schema(url))
    upgrade(url, tmp_path)
    seed_outbox(url, chats=400, chunks=2)
    log = tmp_path / "sends.log"
    env = fault_env(url, tmp_path, TGMON_TEST_SENDER_LOG=str(log), TGMON_TEST_SENDER_DELAY="0.01")
    workers = [procs(role_command("delivery"), env, tmp_path, f"delivery{i}") for i in range(2)]
    for kill_at in (200, 500):
        wait_until(lambda n=kill_at: len(sends(log)) >= n, 120, f"{kill_at} sends")  # type: ignore[misc]
        killed = scalar(url, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                             "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        assert killed > 0
    wait_settled(url, 300)
    for w in workers:
        assert w.p.poll() is None, "a worker died instead of retrying:\n" + w.output()[-3000:]
        w.signal(signal.SIGTERM)
    for w in workers:
        assert w.wait(20) == 0
    held = scalar(url, "SELECT count(*) FROM outbox WHERE state = 'pending'")
    states = check_exactly_once(url, log, allow_pending=held)
    assert held == 0 and states == {"sent": 800}  # what was in flight at a cut went again, once
    failed_passes = sum(w.output().count("delivery pass failed") for w in workers)
    print(f"\nconnections killed twice: {states}; {failed_passes} failed passes retried")


async def _reset_schema(url: str) -> None:
    from tests.conftest import _pg_exec

    await _pg_exec("DROP SCHEMA public CASCADE; CREATE SCHEMA public", url.rsplit("/", 1)[1])
