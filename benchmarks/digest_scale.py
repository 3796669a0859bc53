"""Digests at scale on PostgreSQL: building with 1, 2 and 3 scheduler processes, instant alerts during
a large daily tick, delivery against Telegram's limits. Medians; ratios against a baseline measured
in the same run.

    python -m benchmarks.digest_scale [--quick] [--sizes 10000,50000,100000] [--procs 1,2,3]
                                      [--rules 20] [--posts 50000] [--repeat 3] [--alerts 30]
                                      [--messages 1500] [--workers 1,3] [--pg URL]
                                      [--skip build,alerts,delivery] [--listen off,on]
                                      [--spacing 0.3] [--keep DIR]

1. build: N daily subscribers with R rules each over P stored posts (every rule matched 0-5 posts of
   the last day), all due at once. P processes (real ones, `DigestScheduler.build_scheduled`, the
   code `tgmon run --role scheduler` runs on each tick) are started, then told to go together; the
   time is from "go" to the last one done. Speed-up: against 1 process, same data, same run.
2. alerts: instant subscribers get a match every 0.3 s (`--spacing`), stored by this process (as ingest would),
   while 2 scheduler processes (`DigestScheduler.run`) build the daily tick of the largest size and a
   `tgmon run --role delivery` worker sends what they queue through the fake Telegram edge; the
   delays are from the match committed to its alert in the outbox (a 20 ms poll) and to its send at
   the edge (the digests of the tick waiting in the outbox meanwhile). Baseline: the same alerts with
   no tick running. Each match's transaction sends `NOTIFY tgmon_matches`, as ingest's does; the
   whole part runs once per `--listen` mode: `off` (`database.listen` false: the processes look every
   second, as before LISTEN/NOTIFY), `on` (woken by the notifications; the looks a safety net).
3. delivery: M messages to private chats and groups, sent by 1 and by 3 real `tgmon run --role
   delivery` workers through the fake Telegram edge (TGMON_TEST_SENDER_LOG) at Telegram's default
   limits; messages a second, and the sends that broke a limit as the edge counts them.

`--quick` is a smoke size (seconds); tests/integration/test_benchmark_digest_scale.py runs it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, text

from benchmarks import pg
from benchmarks.digest import WORDS, _texts
from bot.delivery.share import JOIN_SECONDS
from bot.storage import models as m
from bot.storage.database import Database
from bot.storage.wakeups import MATCHES

AUTOANALYSE_SECONDS = 30

DEFAULT_PG = os.environ.get("TGMON_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
BENCH_DB = os.environ.get("TGMON_BENCH_DB", "tgmon_bench_digest_scale")  # created and dropped by the run
INSTANT_CHAT = 9_000_000
SCHEDULERS_FOR_ALERTS = 2


# --- the database -----------------------------------------------------------------------------------

async def fresh_database(server: str) -> str:
    url = await pg.fresh(server, BENCH_DB)
    db = Database.from_url(url)
    try:
        await db.upgrade()
    finally:
        await db.dispose()
    return url


async def _chunked(session: Any, model: Any, rows: list[dict[str, Any]], size: int = 20_000) -> None:
    for first in range(0, len(rows), size):
        await session.execute(insert(model), rows[first : first + size])


async def _copy(conn: Any, table: str, columns: list[str], records: Any, size: int = 200_000) -> None:
    """Rows into `table` with COPY (asyncpg), `size` at a time: generated lazily, never all in memory."""
    chunk: list[tuple[Any, ...]] = []
    for record in records:
        chunk.append(record)
        if len(chunk) >= size:
            await conn.copy_records_to_table(table, records=chunk, columns=columns)
            chunk = []
    if chunk:
        await conn.copy_records_to_table(table, records=chunk, columns=columns)


async def seed(url: str, subscribers: int, rules: int, posts: int, rng: random.Random) -> int:
    """Posts, daily subscribers due now (00:00 UTC), their rules and matches, written with COPY in
    one transaction (100,000 subscribers' 5 million matches in minutes). Returns the matches."""
    import asyncpg

    now = datetime.now(UTC)
    month_ago, day_ago = now - timedelta(days=30), now - timedelta(days=1)
    texts = _texts(posts, rng)
    dates = [now - timedelta(days=10) * (1 - i / posts) for i in range(1, posts + 1)]
    post_channels = [rng.randint(1, 500) for _ in range(posts)]
    last_day = [i for i in range(1, posts + 1) if dates[i - 1] > day_ago]
    counted = 0

    def matches() -> Any:
        nonlocal counted
        match_id = 0
        for s in range(1, subscribers + 1):
            for r in range(rules):
                for p in rng.sample(last_day, k=min(len(last_day), rng.randint(0, 5))):
                    match_id += 1
                    yield (match_id, s * rules + r, p, "[[0, 5]]", dates[p - 1], False, dates[p - 1],
                           post_channels[p - 1])
        counted = match_id

    db = Database.from_url(url)
    try:
        async with db.uow() as session:  # a few rows, with the model's defaults
            await _chunked(session, m.Channel, [
                {"id": c, "telegram_id": 10_000 + c, "username": f"chan{c}", "title": f"Канал {c}"} for c in range(1, 501)])
    finally:
        await db.dispose()
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        async with conn.transaction():
            # the rows are made consistent here: no foreign key checks nor triggers a row (a superuser's
            # setting), and the secondary indexes of the large tables built once after the load
            await conn.execute("SET LOCAL session_replication_role = replica")
            await conn.execute("SET LOCAL maintenance_work_mem = '256MB'")
            indexes = await conn.fetch(
                "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = current_schema() "
                "AND i.tablename IN ('rules', 'matches') AND NOT EXISTS (SELECT FROM pg_constraint c "
                "WHERE c.conname = i.indexname)")
            for index in indexes:
                await conn.execute(f'DROP INDEX "{index["indexname"]}"')
            await _copy(conn, "posts", ["id", "channel_id", "message_id", "date", "text", "text_hash", "deleted",
                                        "views", "stored_at"],
                        ((i, post_channels[i - 1], i, dates[i - 1], t, "h", False, rng.randint(10, 100_000),
                          dates[i - 1]) for i, t in enumerate(texts, 1)))
            await _copy(conn, "subscribers", [
                "id", "chat_id", "kind", "title", "language", "timezone", "digest_hour", "digest_minute",
                "digest_weekday", "frequency", "digest_size", "sound", "paused", "active", "last_digest_at",
                "created_at"],
                ((s, 1_000_000 + s, "private", "", "en", "UTC", 0, 0, 0, "daily", 30 if s % 2 else 0, "alerts",
                  False, True, day_ago, month_ago) for s in range(1, subscribers + 1)))
            await _copy(conn, "rules", ["id", "subscriber_id", "name", "source", "channels", "created_at", "delivery"],
                        ((s * rules + r, s, "", f"{WORDS[r % len(WORDS)]} {r}", "[]", month_ago, "")
                         for s in range(1, subscribers + 1) for r in range(rules)))
            await _copy(conn, "matches", ["id", "rule_id", "post_id", "highlights", "matched_at", "past", "post_date",
                                          "post_channel_id"], matches())
            for index in indexes:
                await conn.execute(index["indexdef"])
            for table in ("channels", "posts", "subscribers", "rules", "matches"):  # ids given: move the sequences on
                await conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    finally:
        await conn.close()
    db = Database.from_url(url)
    try:
        await _analyze(db)
    finally:
        await db.dispose()
    return counted


async def _analyze(db: Database) -> None:
    async with db.engine.connect() as conn:
        await conn.execute(text("ANALYZE"))
        await conn.commit()


async def reset_daily(url: str) -> None:
    """Every daily digest due again: the built ones and their messages gone, the watermarks back."""
    db = Database.from_url(url)
    try:
        # statistics of the tables as the last run left them: the last ANALYZE saw them empty, and
        # the DELETE below was then planned as a scan of the digests for each outbox row (minutes)
        await _analyze(db)
        async with db.uow() as session:
            await session.execute(text("DELETE FROM outbox WHERE digest_id IN (SELECT id FROM digests WHERE kind = 'daily')"))
            await session.execute(text("DELETE FROM digests WHERE kind = 'daily'"))
            await session.execute(text("UPDATE subscribers SET last_digest_at = now() - interval '1 day', "
                                       "next_due_at = NULL WHERE frequency = 'daily'"))
            await session.execute(text("UPDATE rules SET delivered_until = NULL FROM subscribers s "
                                       "WHERE s.id = rules.subscriber_id AND s.frequency = 'daily'"))
        await _analyze(db)
    finally:
        await db.dispose()


async def quiet_daily(url: str) -> None:
    """No daily digest due before tomorrow and none of their messages waiting (a run before this one
    may have left a tick's messages queued, or none built yet)."""
    db = Database.from_url(url)
    try:
        async with db.uow() as session:
            await session.execute(text("DELETE FROM outbox WHERE kind = 'digest' AND state IN ('pending', 'sending')"))
            await session.execute(text("UPDATE subscribers SET last_digest_at = now(), "
                                       "next_due_at = now() + interval '1 day' WHERE frequency = 'daily'"))
    finally:
        await db.dispose()


def _scalar(url: str, sql: str) -> int:
    async def go() -> int:
        db = Database.from_url(url)
        try:
            async with db.uow(read_only=True) as session:
                return int(await session.scalar(text(sql)) or 0)
        finally:
            await db.dispose()

    return asyncio.run(go())


# --- child processes -----------------------------------------------------------------------------------

def _env(workdir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "TGMON_", "DATABASE_URL"))}
    env.update(TGMON_CONFIG=str(workdir / "none.toml"), TGMON_ENV_FILE=str(workdir / "none.env"),
               TGMON_DATA_DIR=str(workdir / "data"), PYTHONUNBUFFERED="1", TGMON_LOG_LEVEL="WARNING")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def _spawn(args: list[str], env: dict[str, str], workdir: Path, log: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, *args], env=env, cwd=workdir, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=(workdir / log).open("w"), text=True)


async def child_build(url: str) -> None:
    """One scheduler process: wait for "go", build what is due, say how many and how long."""
    from bot.config import Settings
    from bot.delivery.clock import SystemClock
    from bot.digest.scheduler import DigestScheduler

    db = Database.from_url(url)
    clock = SystemClock()
    scheduler = DigestScheduler(db, Settings(), clock, housekeeping=False)
    async with db.uow(read_only=True) as session:
        await session.scalar(select(m.Subscriber.id).limit(1))  # connected and warm before the start
        backend = int(await session.scalar(text("SELECT pg_backend_pid()")) or 0)
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    started, cpu, db_cpu = time.perf_counter(), time.process_time(), _cpu_seconds(backend)
    built = await scheduler.build_scheduled(clock.now())
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    async with db.uow(read_only=True) as session:  # the same pooled connection, if the build used only one
        same = int(await session.scalar(text("SELECT pg_backend_pid()")) or 0) == backend
    db_cpu = _cpu_seconds(backend) - db_cpu if same else float("nan")
    print(json.dumps({"built": built, "seconds": seconds, "cpu": cpu, "db_cpu": db_cpu}), flush=True)
    await db.dispose()


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process of this machine so far: the server process of a
    connection when PostgreSQL runs here (NaN when it cannot be read: another machine)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def child_run(url: str) -> None:
    """One scheduler process as `tgmon run --role scheduler` runs it (without the leader's part), woken
    by LISTEN/NOTIFY unless TGMON_DATABASE__LISTEN=false."""
    from bot.config import load_settings
    from bot.delivery.clock import SystemClock
    from bot.digest.scheduler import DigestScheduler
    from bot.storage.wakeups import for_database

    settings = load_settings()  # the environment's too: the tick, the batch window, LISTEN on or off
    db = Database.from_url(url)
    wakeups = for_database(url, listen=settings.database.listen)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    wakeups.start()
    print("ready", flush=True)
    try:
        await DigestScheduler(db, settings, SystemClock(), housekeeping=False, wakeups=wakeups).run(stop)
    finally:
        await wakeups.close()
        await db.dispose()


# --- 1. building -----------------------------------------------------------------------------------

def run_build(url: str, procs: int, workdir: Path) -> tuple[float, list[int], float]:
    children = [_spawn(["-m", "benchmarks.digest_scale", "--child", "build", "--pg", url], _env(workdir), workdir,
                       f"build{i}.log") for i in range(procs)]
    for child in children:
        assert child.stdout is not None
        line = child.stdout.readline().strip()
        if line != "ready":
            raise SystemExit(f"a scheduler process did not start: {line!r}; see {workdir}")
    started = time.perf_counter()
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    shares, cpu = [], 0.0
    analyser = _Autoanalyse(url)
    try:
        for child in children:
            out, _ = child.communicate(timeout=7200)
            done = json.loads(out.strip().splitlines()[-1])
            shares.append(int(done["built"]))
            cpu += done["cpu"] + done["db_cpu"]
    finally:
        analyser.stop()
    return time.perf_counter() - started, shares, cpu


class _Autoanalyse:
    """On a server with autovacuum off (this project's CI machine), what its analyse would do on a
    production server while a tick writes: ANALYZE every AUTOANALYSE_SECONDS. Without it a session's
    cached plan of the outbox's foreign-key check, made when the day's digests were few, reads the
    digests table whole for every outbox row until the tick ends (100,000 subscribers: 36 digests a
    second by the 50,000th, two seq scans of 50,000 rows a digest)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.done = threading.Event()
        self.runs = 0
        self.thread: threading.Thread | None = None
        if _scalar_text(url, "SHOW autovacuum") == "off":
            print(f"  (the server's autovacuum is off: the tables are analysed every {AUTOANALYSE_SECONDS} s)")
            self.thread = threading.Thread(target=self._loop, daemon=True)
            self.thread.start()

    def _loop(self) -> None:
        while not self.done.wait(AUTOANALYSE_SECONDS):
            asyncio.run(self._analyse())
            self.runs += 1

    async def _analyse(self) -> None:
        db = Database.from_url(self.url)
        try:
            async with db.engine.connect() as conn:
                await conn.execute(text("ANALYZE digests, outbox, subscribers, rules"))
                await conn.commit()
        finally:
            await db.dispose()

    def stop(self) -> None:
        self.done.set()
        if self.thread is not None:
            self.thread.join()


def _scalar_text(url: str, sql: str) -> str:
    async def go() -> str:
        db = Database.from_url(url)
        try:
            async with db.engine.connect() as conn:
                return str((await conn.execute(text(sql))).scalar())
        finally:
            await db.dispose()

    return asyncio.run(go())


def bench_build(server: str, sizes: list[int], procs: list[int], rules: int, posts: int, repeat: int,
                workdir: Path) -> str | None:
    url = None
    for size in sizes:
        url = asyncio.run(fresh_database(server))
        t0 = time.perf_counter()
        n_matches = asyncio.run(seed(url, size, rules, posts, random.Random(size)))
        print(f"build: {size} subscribers x {rules} rules over {posts} posts: {n_matches} matches seeded "
              f"in {time.perf_counter() - t0:.0f} s")
        medians: dict[int, float] = {}
        cpus: list[float] = []
        for n in procs:
            runs = []
            for _ in range(repeat):
                asyncio.run(reset_daily(url))
                seconds, shares, cpu = run_build(url, n, workdir)
                built = _scalar(url, "SELECT count(*) FROM digests WHERE kind = 'daily'")
                twice = _scalar(url, "SELECT count(*) FROM (SELECT subscriber_id FROM digests WHERE kind = 'daily' "
                                     "GROUP BY subscriber_id HAVING count(*) > 1) AS t")
                if built != size or twice or sum(shares) != size:
                    raise SystemExit(f"{n} processes built {built} digests of {size} ({twice} twice; shares {shares})")
                runs.append(seconds)
                # CPU a digest, the scheduler processes' and their database connections' (without
                # PostgreSQL's parallel workers): what a loaded machine's waiting does not change
                print(f"  {n} process(es): {seconds:.1f} s, {size / seconds:.0f} digests/s, shares {shares}, "
                      f"CPU {cpu * 1000 / size:.2f} ms a digest, load average {os.getloadavg()[0]:.1f}")
                cpus.append(cpu * 1000 / size)
            medians[n] = statistics.median(runs)
        base = medians[procs[0]]
        print("  median: " + ", ".join(f"{n} process(es) {s:.1f} s ({size / s:.0f} digests/s, speed-up {base / s:.2f}x)"
                                       for n, s in medians.items())
              + f"; CPU a digest, median of every run: {statistics.median(cpus):.2f} ms")
    return url


# --- 2. instant alerts during a daily tick --------------------------------------------------------------------

async def _instant_subscribers(url: str, count: int) -> dict[int, tuple[int, int]]:
    """`count` instant subscribers with a rule each: chat -> (subscriber id, rule id)."""
    db = Database.from_url(url)
    try:
        async with db.uow() as session:
            found = {c: (s, r) for c, s, r in await session.execute(
                select(m.Subscriber.chat_id, m.Subscriber.id, m.Rule.id).join(m.Rule)
                .where(m.Subscriber.chat_id >= INSTANT_CHAT))}
            if len(found) >= count:
                return found
            now = datetime.now(UTC)
            for i in range(len(found), count):
                sub = m.Subscriber(chat_id=INSTANT_CHAT + i, title="", language="en", timezone="UTC",
                                   frequency="instant", created_at=now - timedelta(days=1))
                session.add(sub)
                await session.flush()
                rule = m.Rule(subscriber_id=sub.id, name="", source="тревога", channels=[], created_at=sub.created_at)
                session.add(rule)
                await session.flush()
                found[sub.chat_id] = (sub.id, rule.id)
            return found
    finally:
        await db.dispose()


def _size(path: Path | None) -> int:
    return path.stat().st_size if path is not None and path.exists() else 0


def _edge_sends(edge: Path, offset: int, chats: set[int]) -> dict[int, float]:
    """The first send to each of `chats` in the edge's log after `offset`: chat -> unix time."""
    sent: dict[int, float] = {}
    if not edge.exists():
        return sent
    with edge.open("rb") as log:
        log.seek(offset)
        for line in log.read().decode().splitlines():
            fields = line.split()
            if len(fields) > 3 and int(fields[0]) in chats:
                sent.setdefault(int(fields[0]), float(fields[3]))
    return sent


async def _alert_delays(url: str, subs: dict[int, tuple[int, int]], spacing: float,
                        tick_size: int | None = None, edge: Path | None = None) -> tuple[list[float], int, list[float]]:
    """A match for each instant subscriber, `spacing` apart; the delay from each match committed to
    its alert in the outbox, and (with `edge`, the fake Telegram edge's log a delivery worker writes)
    to its send. Returns the outbox delays, how many alerts were queued while the tick ran, and the
    send delays."""
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    poll = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    stored: dict[int, float] = {}
    stored_wall: dict[int, float] = {}
    seen: dict[int, float] = {}
    during = 0
    start_id = int(await poll.fetchval("SELECT coalesce(max(id), 0) FROM outbox"))
    edge_from = _size(edge)
    by_sub = {sub_id: chat for chat, (sub_id, _) in subs.items()}

    async def watch() -> None:
        nonlocal during
        while len(seen) < len(subs):
            # every alert queued since the start, not only ids above the last seen: two schedulers
            # commit out of id order, and a row with a lower id may become visible later
            waiting = [sub_id for sub_id, chat in by_sub.items() if chat not in seen]
            rows = await poll.fetch("SELECT o.subscriber_id FROM outbox o JOIN digests d ON d.id = o.digest_id "
                                    "WHERE o.id > $1 AND d.kind = 'instant' AND o.subscriber_id = ANY($2::bigint[])",
                                    start_id, waiting)
            at = time.perf_counter()
            for row in rows:
                chat = by_sub.get(row["subscriber_id"])
                if chat is not None and chat not in seen:
                    seen[chat] = at
                    if tick_size is not None and int(await poll.fetchval(
                            "SELECT count(*) FROM digests WHERE kind = 'daily'")) < tick_size:
                        during += 1
            await asyncio.sleep(0.02)

    watcher = asyncio.create_task(watch())
    channel = int(await conn.fetchval("SELECT min(id) FROM channels"))
    for n, (chat, (_, rule)) in enumerate(subs.items()):
        message = 1_000_000_000 + int(time.time() * 1000) % 100_000_000 + n
        async with conn.transaction():
            post = await conn.fetchval(
                "INSERT INTO posts (channel_id, message_id, date, text, text_hash, deleted, views, stored_at) "
                "VALUES ($1, $2, now(), $3, 'alarm', false, 0, now()) RETURNING id", channel, message, f"Тревога {n}")
            await conn.execute("INSERT INTO matches (rule_id, post_id, highlights, matched_at, past) "
                               "VALUES ($1, $2, '[[0, 7]]', now(), false)", rule, post)
            await conn.execute("SELECT pg_notify($1, '')", MATCHES)  # as bot.storage.matches.insert does
        stored[chat] = time.perf_counter()
        stored_wall[chat] = time.time()
        await asyncio.sleep(spacing)
    await asyncio.wait_for(watcher, 600)
    await conn.close()
    await poll.close()
    sends: list[float] = []
    if edge is not None:
        sent: dict[int, float] = {}
        deadline = time.monotonic() + 600
        while len(sent) < len(subs) and time.monotonic() < deadline:
            sent = _edge_sends(edge, edge_from, set(stored_wall))
            await asyncio.sleep(0.1)
        if len(sent) < len(subs):
            raise SystemExit(f"{len(subs) - len(sent)} instant alerts never reached the edge; see {edge}")
        sends = [sent[c] - stored_wall[c] for c in subs]
    return [seen[c] - stored[c] for c in subs], during, sends


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def bench_alerts(url: str, alerts: int, workdir: Path, listen: str = "on", spacing: float = 0.3) -> None:
    size = _scalar(url, "SELECT count(*) FROM subscribers WHERE frequency = 'daily'")
    subs = asyncio.run(_instant_subscribers(url, alerts))
    asyncio.run(quiet_daily(url))  # the baseline: nothing daily due, no digest message waiting
    mode = {"TGMON_DATABASE__LISTEN": "true" if listen == "on" else "false"}
    env = _env(workdir, TGMON_DIGEST__TICK_SECONDS="3600", TGMON_DELIVERY__INSTANT_BATCH_SECONDS="1", **mode)
    edge = workdir / f"alerts-edge-{listen}.log"
    edge.unlink(missing_ok=True)
    # one delivery worker sends everything queued (the tick's digests too) through the fake edge
    delivery = subprocess.Popen([sys.executable, "-m", "bot", "run", "--role", "delivery"],
                                env=_env(workdir, TGMON_DATABASE_URL=url, TGMON_TEST_SENDER_LOG=str(edge), **mode),
                                cwd=workdir, stdout=(workdir / f"alerts-delivery-{listen}.log").open("w"),
                                stderr=subprocess.STDOUT)

    def start() -> list[subprocess.Popen[str]]:
        children = [_spawn(["-m", "benchmarks.digest_scale", "--child", "run", "--pg", url], env, workdir,
                           f"run{i}-{listen}.log") for i in range(SCHEDULERS_FOR_ALERTS)]
        for child in children:
            assert child.stdout is not None
            child.stdout.readline()
        return children

    def stop(children: list[subprocess.Popen[str]]) -> None:
        for child in children:
            child.send_signal(signal.SIGTERM)
        for child in children:
            child.wait(60)

    children: list[subprocess.Popen[str]] = []
    try:
        children = start()  # nothing daily due: the baseline
        deadline = time.monotonic() + 300
        while not _scalar(url, "SELECT count(*) FROM delivery_workers") and time.monotonic() < deadline:
            time.sleep(0.2)  # a loaded machine can take many seconds to start a process
        time.sleep(JOIN_SECONDS + 1)  # the worker has joined and sends (bot/delivery/share.py)
        idle, _, idle_sends = asyncio.run(_alert_delays(url, subs, 0.3, edge=edge))
        stop(children)
        asyncio.run(reset_daily(url))
        children = start()  # the tick at start builds every daily digest
        while _scalar(url, "SELECT count(*) FROM digests WHERE kind = 'daily'") == 0:
            time.sleep(0.05)
        tick_started = time.perf_counter()
        busy, during, busy_sends = asyncio.run(_alert_delays(url, subs, spacing, size, edge=edge))
        backlog = _scalar(url, "SELECT count(*) FROM outbox WHERE state = 'pending' AND kind = 'digest'")
        while _scalar(url, "SELECT count(*) FROM digests WHERE kind = 'daily'") < size:
            time.sleep(0.2)
        tick = time.perf_counter() - tick_started
        load = os.getloadavg()
    finally:
        stop([c for c in children if c.poll() is None])
        delivery.send_signal(signal.SIGTERM)
        delivery.wait(60)
    woken = "woken by LISTEN/NOTIFY" if listen == "on" else "LISTEN/NOTIFY off: the processes look every second"
    print(f"alerts: {alerts} instant alerts, one every 0.3 s (during the tick: every {spacing:g} s); {SCHEDULERS_FOR_ALERTS} scheduler processes, "
          f"1 delivery worker at Telegram's limits; {woken}")
    print(f"  match -> outbox, idle: median {statistics.median(idle):.2f} s, p99 {_p(idle, 0.99):.2f} s")
    print(f"  match -> outbox, during the daily tick of {size} subscribers ({tick:.0f} s from its first digest; "
          f"{during} of {alerts} alerts queued before it ended): median {statistics.median(busy):.2f} s, "
          f"p99 {_p(busy, 0.99):.2f} s ({statistics.median(busy) / max(statistics.median(idle), 1e-9):.2f}x idle)")
    print(f"  match -> send at the edge, idle: median {statistics.median(idle_sends):.2f} s, "
          f"p99 {_p(idle_sends, 0.99):.2f} s")
    print(f"  match -> send at the edge, during the tick ({backlog} digest messages waiting to be sent when the "
          f"last alert was queued): median {statistics.median(busy_sends):.2f} s, p99 {_p(busy_sends, 0.99):.2f} s "
          f"(goal: p50 <= 2 s, p99 <= 10 s)")
    print(f"  load average at the end of the tick: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")


# --- 3. delivery ---------------------------------------------------------------------------------

async def seed_outbox(url: str, messages: int, rng: random.Random) -> None:
    """`messages` single-part messages: most to private chats (a few each), some to 20 groups."""
    now = datetime.now(UTC) - timedelta(seconds=1)
    db = Database.from_url(url)
    try:
        async with db.uow() as session:
            await session.execute(text("DELETE FROM outbox"))
            chats = [2_000_000 + i for i in range(max(1, messages // 2))] + [-(1_000_000_000 + g) for g in range(20)]
            rows = []
            for n in range(messages):
                chat = chats[-1 - rng.randrange(20)] if rng.random() < 0.1 else rng.choice(chats[:-20])
                rows.append({"subscriber_id": 1, "chat_id": chat, "kind": "digest", "chunk_no": 1, "chunk_total": 1,
                             "text": f"message {n}", "random_id": 10**12 + n, "state": "pending", "attempts": 0,
                             "not_before": now, "created_at": now})
            await _chunked(session, m.Outbox, rows)
        await _analyze(db)
    finally:
        await db.dispose()


def bench_delivery(url: str, messages: int, workers: list[int], workdir: Path) -> None:
    from bot.runtime.fake_edge import violations

    rates: dict[int, float] = {}
    for n in workers:
        asyncio.run(seed_outbox(url, messages, random.Random(n)))
        log = workdir / f"sends-{n}.log"
        log.unlink(missing_ok=True)
        env = _env(workdir, TGMON_DATABASE_URL=url, TGMON_TEST_SENDER_LOG=str(log))
        procs = [subprocess.Popen([sys.executable, "-m", "bot", "run", "--role", "delivery"], env=env, cwd=workdir,
                                  stdout=(workdir / f"delivery{n}-{i}.log").open("w"), stderr=subprocess.STDOUT)
                 for i in range(n)]
        try:
            deadline = time.monotonic() + messages / 10 + 120
            while _scalar(url, "SELECT count(*) FROM outbox WHERE state IN ('pending', 'sending')") and \
                    time.monotonic() < deadline:
                time.sleep(0.5)
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                proc.wait(60)
        times = sorted(float(line.split()[3]) for line in log.read_text().splitlines())
        if len(times) != messages:
            raise SystemExit(f"{n} workers delivered {len(times)} of {messages} messages; see {workdir}")
        rates[n] = (len(times) - 1) / (times[-1] - times[0])
        bad = violations(str(log))
        print(f"delivery: {messages} messages, {n} worker(s): {rates[n]:.1f} messages/s; limit violations counted "
              f"by the edge: {len(bad)}" + (f" ({bad[0]})" if bad else ""))
    base = rates[workers[0]]
    print("  " + ", ".join(f"{n} worker(s) {r:.1f}/s ({r / base:.2f}x)" for n, r in rates.items())
          + "; Telegram's limit for one bot: 30/s")


# --- the command -----------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.digest_scale", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    parser.add_argument("--sizes", default="10000,50000,100000")
    parser.add_argument("--procs", default="1,2,3")
    parser.add_argument("--rules", type=int, default=20)
    parser.add_argument("--posts", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--alerts", type=int, default=30)
    parser.add_argument("--spacing", type=float, default=0.3,
                        help="seconds between two alerts during the tick (spread them over a long tick)")
    parser.add_argument("--keep", help="a directory kept after the run, with the processes' logs and the edge's")
    parser.add_argument("--messages", type=int, default=1500)
    parser.add_argument("--workers", default="1,3")
    parser.add_argument("--pg", default=DEFAULT_PG, help="a PostgreSQL server (its database is not touched)")
    parser.add_argument("--skip", default="", help="build, alerts, delivery (comma-separated)")
    parser.add_argument("--listen", default="off,on",
                        help="the alerts part once per mode: off (processes look every second), on (LISTEN/NOTIFY)")
    parser.add_argument("--child", choices=["build", "run"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        asyncio.run(child_build(args.pg) if args.child == "build" else child_run(args.pg))
        return
    if args.quick:  # a smoke size; options given on the command line still count
        given = {a.split("=")[0] for a in (argv if argv is not None else sys.argv[1:]) if a.startswith("--")}
        for name, value in (("sizes", "300"), ("rules", 3), ("posts", 2000), ("repeat", 1), ("alerts", 5),
                            ("messages", 60)):
            if f"--{name}" not in given:
                setattr(args, name, value)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    skip = set(args.skip.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(args.keep or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        url = None
        if "build" not in skip:
            url = bench_build(args.pg, sizes, [int(p) for p in args.procs.split(",")], args.rules, args.posts,
                              args.repeat, workdir)
        if url is None:
            url = asyncio.run(fresh_database(args.pg))
            asyncio.run(seed(url, sizes[-1], args.rules, args.posts, random.Random(1)))
        if "alerts" not in skip:
            for listen in [mode for mode in args.listen.split(",") if mode]:
                if listen not in ("off", "on"):
                    parser.error(f"--listen: {listen!r} is neither off nor on")
                bench_alerts(url, args.alerts, workdir, listen, args.spacing)
        if "delivery" not in skip:
            bench_delivery(url, args.messages, [int(w) for w in args.workers.split(",")], workdir)
        asyncio.run(pg.drop(args.pg, BENCH_DB))


if __name__ == "__main__":
    main()
