"""Digests: build every due digest, collapse reposts at three sizes, pace delivery. Medians.

    python -m benchmarks.digest [--subscribers 10000] [--rules 20] [--posts 50000] [--repeat 3]
                                [--collapse 5000,50000,500000] [--chunks 3000] [--skip build,collapse,pacing,streams]

1. build: N subscribers with R rules each over P stored posts (SQLite). Every subscriber is due
   (daily at 08:00 UTC); one `DigestScheduler.tick()` builds every digest for real: query, collapse,
   rank, render, split, write the outbox. Target: under 60 s on one core.
2. collapse: repost clustering (forward origin + MinHash LSH) over 5,000 / 50,000 / 500,000 texts,
   with the pairwise baseline on a sample of the smallest size (it is quadratic: 5,000 texts would
   take minutes), extrapolated; the time per text must stay flat.
4. streams: per-rule delivery's cost: one tick with every rule at the chat's frequency against the
   same tick with a quarter of the rules instant and a quarter muted (N/10 subscribers, P/5 posts).
3. pacing: `deliver_due` against a simulated Telegram on a virtual clock: the achieved rate against
   the configured global limit, and every window checked for a limit violation.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import tempfile
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.config import Settings
from bot.delivery.clock import ManualClock
from bot.delivery.limiter import RateLimiter, is_group
from bot.delivery.worker import deliver_due
from bot.digest.collapse import collapse, naive_near_duplicate_groups, near_duplicate_groups
from bot.digest.scheduler import DigestScheduler
from bot.domain import SendResult
from bot.storage.database import Database

NOW = datetime(2026, 11, 24, 8, 1, tzinfo=UTC)
WORDS = ["обстрел", "Белгород", "Шебекино", "жители", "укрытие", "дорога", "погода", "школа", "район", "глава", "сообщил", "ранен", "дрон", "сбит", "ПВО", "батальон", "самооборона", "Валуйки", "Грайворон", "повреждены", "дома", "машины", "линия", "электропередачи", "оперативные", "службы", "работают", "на", "месте", "shelling", "drone", "district", "residents", "shelter"]


def _ts(when: datetime) -> str:
    return when.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")


def _texts(n: int, rng: random.Random, dup_share: float = 0.25) -> list[str]:
    """Post texts of 25-80 words; a share of them near-copies of an earlier one (a tail added)."""
    out: list[str] = []
    for _ in range(n):
        if out and rng.random() < dup_share:
            out.append(rng.choice(out[-2000:]) + rng.choice([" Подписаться", " 🔴 #новости", " Источник: канал"]))
        else:
            out.append(" ".join(rng.choices(WORDS, k=rng.randint(25, 80))) + f" {rng.randrange(10**9)}")
    return out


async def _seed(path: Path, subscribers: int, rules: int, posts: int, rng: random.Random) -> int:
    db = Database.from_url(f"sqlite:///{path}")
    await db.upgrade()
    await db.dispose()
    con = sqlite3.connect(path)
    channels = 500
    con.executemany("INSERT INTO channels (id, telegram_id, username, title, last_message_id, status, joined, "
                    "gaps_recovered, flood_wait_seconds, created_at, updated_at) VALUES (?,?,?,?,0,'active',0,0,0,?,?)",
                    [(c, 10_000 + c, f"chan{c}", f"Канал {c}", _ts(NOW), _ts(NOW)) for c in range(1, channels + 1)])
    texts = _texts(posts, rng)
    span = timedelta(days=10)
    post_rows = []
    for i, text in enumerate(texts, 1):
        channel = rng.randint(1, channels)
        date = NOW - span * (1 - i / posts)
        forward = (10_000 + rng.randint(1, channels), rng.randint(1, posts)) if rng.random() < 0.1 else (None, None)
        post_rows.append((i, channel, i, _ts(date), text, "h", 0, rng.randint(10, 100_000), *forward, _ts(date)))
    con.executemany("INSERT INTO posts (id, channel_id, message_id, date, text, text_hash, deleted, views, "
                    "forward_channel_id, forward_message_id, stored_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)", post_rows)
    con.executemany("INSERT INTO subscribers (id, chat_id, kind, title, language, timezone, digest_hour, digest_minute, "
                    "digest_weekday, frequency, digest_size, paused, active, last_digest_at, created_at) "
                    "VALUES (?,?,'private','','en','UTC',8,0,0,'daily',?,0,1,?,?)",
                    [(s, 1_000_000 + s, 30 if s % 2 else 0, _ts(NOW - timedelta(days=1)), _ts(NOW - timedelta(days=30)))
                     for s in range(1, subscribers + 1)])
    con.executemany("INSERT INTO rules (id, subscriber_id, name, source, channels, created_at) VALUES (?,?,?,?,'[]',?)",
                    [(s * rules + r, s, "", f"{WORDS[r % len(WORDS)]} {r}", _ts(NOW))
                     for s in range(1, subscribers + 1) for r in range(rules)])
    last_day = [i for i in range(1, posts + 1) if post_rows[i - 1][3] > _ts(NOW - timedelta(days=1))]
    matches = []
    mid = 0
    for s in range(1, subscribers + 1):
        for r in range(rules):
            for post in rng.sample(last_day, k=min(len(last_day), rng.randint(0, 5))):
                mid += 1
                matches.append((mid, s * rules + r, post, "[[0, 5]]", post_rows[post - 1][3]))
    con.executemany("INSERT INTO matches (id, rule_id, post_id, highlights, matched_at) VALUES (?,?,?,?,?)", matches)
    con.commit()
    con.close()
    return len(matches)


async def bench_build(subscribers: int, rules: int, posts: int, repeat: int) -> None:
    times: list[float] = []
    cpu: list[float] = []
    built_n = 0
    for run in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "digest.db"
            t0 = time.perf_counter()
            n_matches = await _seed(path, subscribers, rules, posts, random.Random(run))
            seed_s = time.perf_counter() - t0
            db = Database.from_url(f"sqlite:///{path}")
            clock = ManualClock(NOW)
            scheduler = DigestScheduler(db, Settings(), clock)
            t0, c0 = time.perf_counter(), time.process_time()
            built_n = await scheduler.tick()
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)  # this process's CPU (both threads): fair on a shared machine
            async with db.engine.connect() as conn:
                chunks = (await conn.exec_driver_sql("SELECT count(*) FROM outbox")).scalar()
            await db.dispose()
            print(f"  run {run + 1}: seeded {posts} posts, {subscribers * rules} rules, {n_matches} matches in the "
                  f"period ({seed_s:.1f} s); tick built {built_n} digests, {chunks} chunks in {times[-1]:.1f} s "
                  f"({cpu[-1]:.1f} s CPU)")
    med, med_cpu = statistics.median(times), statistics.median(cpu)
    print(f"build: {subscribers} subscribers x {rules} rules over {posts} posts: median {med:.1f} s wall, "
          f"{med_cpu:.1f} s CPU ({med_cpu / max(1, built_n) * 1000:.2f} ms CPU a digest); "
          f"target < 60 s on one core -> {'OK' if med_cpu < 60 else 'MISSED'} (CPU), "
          f"{'OK' if med < 60 else 'MISSED'} (wall, on this machine's load)")


async def bench_streams(subscribers: int, rules: int, posts: int, repeat: int) -> None:
    """The cost of per-rule delivery: the same tick with every rule at the chat's frequency (the
    baseline, one stream a chat), and with a quarter of the rules instant and a quarter muted (two
    streams a chat and rules left out: a weekly stream would add the weekly chart's drawing, which
    is not the streams' cost). Same seed, same run."""
    cpu: dict[str, list[float]] = {"one stream": [], "two streams": []}
    for run in range(repeat):
        for mode in cpu:
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "streams.db"
                await _seed(path, subscribers, rules, posts, random.Random(run))
                if mode == "two streams":
                    con = sqlite3.connect(path)
                    con.execute("UPDATE rules SET delivery = CASE id % 4 WHEN 1 THEN 'instant' WHEN 2 THEN 'muted' "
                                "ELSE '' END, created_at = ?", (_ts(NOW - timedelta(days=30)),))
                    con.commit()
                    con.close()
                db = Database.from_url(f"sqlite:///{path}")
                scheduler = DigestScheduler(db, Settings(), ManualClock(NOW))
                c0 = time.process_time()
                built = await scheduler.tick()
                cpu[mode].append(time.process_time() - c0)
                async with db.engine.connect() as conn:
                    sent = (await conn.exec_driver_sql(
                        "SELECT count(*) FROM matches m JOIN rules r ON r.id = m.rule_id "
                        "WHERE r.delivered_until IS NOT NULL AND m.matched_at <= r.delivered_until")).scalar()
                await db.dispose()
                print(f"  run {run + 1}, {mode}: {built} digests, {sent} matches sent, {cpu[mode][-1]:.2f} s CPU")
    one, three = (statistics.median(v) for v in cpu.values())
    print(f"streams: {subscribers} subscribers x {rules} rules: one stream a chat {one:.2f} s CPU, two streams and "
          f"muted rules {three:.2f} s CPU (x{three / max(one, 1e-9):.2f})")


def bench_collapse(sizes: list[int], repeat: int, baseline: int) -> None:
    rng = random.Random(11)
    per_text: list[tuple[int, float]] = []
    for size in sizes:
        texts = _texts(size, rng)
        keys = list(range(size))
        forwards = [rng.randrange(size) if rng.random() < 0.1 else None for _ in range(size)]
        runs = []
        for _ in range(repeat if size <= 50_000 else 1):
            t0 = time.perf_counter()
            groups = collapse(keys, forwards, texts)
            runs.append(time.perf_counter() - t0)
        med = statistics.median(runs)
        per_text.append((size, med / size))
        print(f"collapse {size:>7} posts: median {med:.2f} s ({med / size * 1e6:.1f} µs a post), {len(groups)} items")
        if size == min(sizes):
            sample = texts[:baseline]
            t0 = time.perf_counter()
            fast = near_duplicate_groups(sample)
            fast_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            naive = naive_near_duplicate_groups(sample)
            naive_s = time.perf_counter() - t0
            same = sorted(map(sorted, naive)) == sorted(map(sorted, fast))
            scale = (size / len(sample)) ** 2
            print(f"  pairwise baseline on the first {len(sample)}: {naive_s:.2f} s vs LSH {fast_s:.2f} s "
                  f"({naive_s / max(fast_s, 1e-9):.0f}x); same groups: {same}; at {size} the baseline would take "
                  f"~{naive_s * scale:.0f} s ({naive_s * scale / med:.0f}x LSH)")
    (small, a), (large, b) = per_text[0], per_text[-1]
    print(f"  time per post at {large} vs {small}: {b / a:.2f}x for {large // small}x the posts "
          f"(quadratic would be {large // small}x)")


class SimulatedTelegram:
    """Accepts every message and records its virtual time; counts limit violations afterwards."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.times: list[tuple[float, int]] = []

    async def send_html(self, chat_id: int, html: str, *, random_id: int, attachment: bytes | None = None,
                        silent: bool = False,
                        buttons: object = ()) -> SendResult:
        self.times.append(((self.clock.now() - NOW).total_seconds(), chat_id))
        return SendResult(len(self.times))

    def violations(self, settings: Settings) -> list[str]:
        """Every send that made some window hold more than its limit. Times are whole microseconds
        (the clock's resolution), compared as integers so float rounding cannot hide or invent one."""
        d = settings.delivery
        bad: list[str] = []
        window: deque[int] = deque()
        per_chat: dict[int, deque[int]] = {}
        for seconds, chat in self.times:
            t = round(seconds * 1_000_000)
            window.append(t)
            while window[0] <= t - 1_000_000:
                window.popleft()
            if len(window) > d.global_per_second:
                bad.append(f"{len(window)} messages in the second before {t / 1e6:.6f}")
            span, cap = (60_000_000, d.group_per_minute) if is_group(chat) else (1_000_000, d.private_chat_per_second)
            q = per_chat.setdefault(chat, deque())
            q.append(t)
            while q[0] <= t - span:
                q.popleft()
            if len(q) > cap:
                bad.append(f"chat {chat}: {len(q)} messages within {span / 1e6:g} s before {t / 1e6:.6f}: {list(q)}")
        return bad


async def bench_pacing(chunks: int, repeat: int) -> None:
    settings = Settings()
    rates, bad_total = [], 0
    for run in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "pace.db"
            db = Database.from_url(f"sqlite:///{path}")
            await db.upgrade()
            await db.dispose()
            rng = random.Random(run)
            con = sqlite3.connect(path)
            chats = [1_000 + i for i in range(chunks // 2)] + [-(5_000 + i) for i in range(20)]
            con.executemany("INSERT INTO subscribers (id, chat_id, kind, title, language, timezone, digest_hour, "
                            "digest_minute, digest_weekday, frequency, digest_size, paused, active, created_at) "
                            "VALUES (?,?,'private','','en','UTC',8,0,0,'daily',0,0,1,?)",
                            [(i + 1, c, _ts(NOW)) for i, c in enumerate(chats)])
            sub_of = {c: i + 1 for i, c in enumerate(chats)}
            rows = [(sub_of[c], c, _ts(NOW)) for c in (rng.choice(chats) for _ in range(chunks))]
            con.executemany("INSERT INTO outbox (subscriber_id, chat_id, kind, chunk_no, chunk_total, text, random_id, "
                            "state, attempts, not_before, created_at) VALUES (?,?,'digest',1,1,'x',1,'pending',0,?,?)",
                            [(*r, r[2]) for r in rows])
            con.commit()
            con.close()
            db = Database.from_url(f"sqlite:///{path}")
            clock = ManualClock(NOW)
            telegram = SimulatedTelegram(clock)
            t0 = time.perf_counter()
            sent = await deliver_due(db, telegram, RateLimiter(settings.delivery, clock), clock)
            wall = time.perf_counter() - t0
            await db.dispose()
            first, last = telegram.times[0][0], telegram.times[-1][0]
            # the global limit allows 30 messages in any second: n messages need (n - 30) / 30 s at least
            rate = (sent - settings.delivery.global_per_second) / max(1e-9, last - first)
            rates.append(rate)
            violations = telegram.violations(settings)
            for line in violations[:5]:
                print(f"    violation: {line}")
            bad = len(violations)
            bad_total += bad
            print(f"  run {run + 1}: {sent} of {chunks} messages to {len(chats)} chats in {last - first:.1f} virtual s "
                  f"({wall:.1f} s real); {rate:.2f} msg/s; {bad} limit violations")
    med = statistics.median(rates)
    limit = settings.delivery.global_per_second
    print(f"pacing: median {med:.2f} msg/s of {limit:g} allowed = {med / limit:.1%} "
          f"({'OK' if med >= 0.95 * limit else 'MISSED'} >= 95%), {bad_total} violations in all runs")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.digest", description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--rules", type=int, default=20)
    parser.add_argument("--posts", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--collapse", default="5000,50000,500000")
    parser.add_argument("--chunks", type=int, default=1500)
    parser.add_argument("--baseline", type=int, default=2000, help="texts for the pairwise baseline (quadratic)")
    parser.add_argument("--skip", default="")
    args = parser.parse_args(argv)
    skip = set(args.skip.split(","))
    if "collapse" not in skip:
        bench_collapse([int(s) for s in args.collapse.split(",")], args.repeat, args.baseline)
    if "pacing" not in skip:
        asyncio.run(bench_pacing(args.chunks, args.repeat))
    if "build" not in skip:
        asyncio.run(bench_build(args.subscribers, args.rules, args.posts, args.repeat))
    if "streams" not in skip:
        asyncio.run(bench_streams(args.subscribers // 10, args.rules, args.posts // 5, args.repeat))


if __name__ == "__main__":
    main()
