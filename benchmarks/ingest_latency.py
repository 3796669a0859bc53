"""Instant alerts end to end: from a live update reaching the ingest process to the send at the edge.

    python -m benchmarks.ingest_latency [--quick] [--db pg,sqlite] [--channels 1000] [--instant 100]
                                        [--daily 200] [--rate 2] [--seconds 240] [--burst 200]
                                        [--burst-seconds 2] [--share 0.1] [--burst-share 0.3]
                                        [--seed 7] [--pg URL] [--json FILE]

Issue 19's goal: p50 <= 2 s and p99 <= 10 s with 1,000 channels. Real processes, real code; only
the network edges to Telegram are fake:

- ingest: `tgmon run`'s own `run_roles` with the ingest role, in a process of this script whose
  monitoring account's client (`bot.telegram.clients.make_user_client`) is the fake Telegram of the
  tests (tests/integration/test_ingest_fakes.py: real Telethon objects) following `--channels`
  channels. After the start pass (a gap fill and re-read of every channel) it replays the plan: new
  posts as live updates (`events.NewMessage` events of real `types.Message`s, each dispatched on a
  task of its own as Telethon does by default), `--rate` a second (Poisson) for `--seconds`, and a
  burst of `--burst` posts within `--burst-seconds` in the middle. The channels are drawn with a
  Zipf law (a few busy ones). The moment each update enters the process is written down.
- posts: generated text (benchmarks/corpus.py); a share of them (`--share`, `--burst-share` in the
  burst: the news that makes channels post at once) carries one instant subscriber's word (each of
  `--instant` subscribers has a rule of its own word), the rest match only daily subscribers' rules
  (`--daily`, five words of middling frequency each: stored matches, nothing sent now) or nothing.
- PostgreSQL: `tgmon run --role scheduler` and `tgmon run --role delivery` in two more processes
  (woken by LISTEN/NOTIFY); SQLite: the scheduler and delivery roles in the ingest process (one
  `tgmon run` per SQLite file, as deployed: the pipeline wakes its own scheduler). Product defaults
  throughout (`delivery.instant_batch_seconds` 5, Telegram's limits), the tick at 60 s.
- the delivery worker sends through the fake edge (TGMON_TEST_SENDER_LOG), which timestamps each
  message.

Per matching post: arrival at the ingest process -> the send of the alert that links it, with the
steps between read from the database (stored, matched, alert queued, claimed). Checks that every
matching post is linked by exactly one alert sent once, to its subscriber, and nothing else is.
`--quick` is a smoke size (seconds); tests/integration/test_benchmark_ingest_latency.py runs it.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text

from benchmarks import pg
from bot.storage import models as m
from bot.storage.database import Database

DEFAULT_PG = os.environ.get("TGMON_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
BENCH_DB = os.environ.get("TGMON_BENCH_DB", "tgmon_bench_ingest_latency")  # created and dropped by the run
FIRST_CHANNEL = 1_500_000_000
OLD_POSTS = 3  # each channel's history before the run: ids 1..3
INSTANT_CHAT = 7_000_000
DAILY_CHAT = 8_000_000
GOAL = "p50 <= 2 s, p99 <= 10 s"


# --- the plan -------------------------------------------------------------------------------------

def keyword(n: int) -> str:
    """Instant subscriber n's word: no dictionary word, so no generated text has it by chance."""
    letters = "bcfhjkmpqvwxz"
    return "alarm" + letters[n // len(letters) % len(letters)] + letters[n % len(letters)] + "q"


def plan(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The live posts, in order of arrival: offset (s after go), channel index, message id, text, and
    the instant subscriber whose word it carries (None: no instant alert due)."""
    from benchmarks.corpus import Generator

    rng = random.Random(args.seed)
    gen = Generator(seed=args.seed, channels=args.channels)
    cum = list(itertools.accumulate(1.0 / (r + 5) for r in range(args.channels)))  # busy channels first
    times: list[tuple[float, bool]] = []
    at = rng.expovariate(args.rate)
    while at < args.seconds:
        times.append((at, False))
        at += rng.expovariate(args.rate)
    middle = args.seconds / 2
    times += [(middle + rng.uniform(0, args.burst_seconds), True) for _ in range(args.burst)]
    times.sort()
    words = [kw.lower() for kw in map(keyword, range(args.instant))]
    next_id: Counter[int] = Counter()
    posts = []
    for offset, burst in times:
        channel = rng.choices(range(args.channels), cum_weights=cum)[0]
        next_id[channel] += 1
        body = gen._text(rng)
        while any(w in body.lower() for w in words):
            body = gen._text(rng)
        sub = rng.randrange(args.instant) if rng.random() < (args.burst_share if burst else args.share) else None
        if sub is not None:
            cut = body.split()
            cut.insert(rng.randrange(len(cut) + 1), keyword(sub).capitalize())
            body = " ".join(cut)
        posts.append({"offset": offset, "channel": channel, "message_id": OLD_POSTS + next_id[channel],
                      "text": body, "sub": sub, "burst": burst})
    return posts


def daily_words(args: argparse.Namespace) -> list[str]:
    from benchmarks.corpus import Generator

    # words of middling frequency (the 40 commonest are each in a tenth to a half of the posts)
    lemmas = [lemma for lemma, _ in Generator(seed=args.seed, channels=1).lexemes["ru"][40:400]]
    return [w for w in lemmas if w.isalpha()]


# --- the database -----------------------------------------------------------------------------------

async def fresh_pg(server: str) -> str:
    return await pg.fresh(server, BENCH_DB)


def username(channel: int) -> str:
    return f"chan{channel:05d}"


async def seed(url: str, args: argparse.Namespace, words: list[str]) -> None:
    """The channels this account follows (joined, read up to their last old post, access hashes
    known), the instant subscribers (a rule each: their word) and the daily ones (due in 12 hours)."""
    db = Database.from_url(url)
    try:
        await db.upgrade()
        now = datetime.now(UTC)
        rng = random.Random(args.seed)
        async with db.uow() as session:
            await session.execute(insert(m.Channel), [
                {"telegram_id": FIRST_CHANNEL + i, "username": username(i), "title": f"Channel {i}",
                 "last_message_id": OLD_POSTS, "history_id": OLD_POSTS, "joined": True, "account": "main",
                 "status": "active", "created_at": now - timedelta(days=30), "updated_at": now}
                for i in range(args.channels)])
            await session.execute(insert(m.ChannelPeer), [
                {"account": "main", "telegram_id": FIRST_CHANNEL + i, "access_hash": (FIRST_CHANNEL + i) * 7,
                 "updated_at": now} for i in range(args.channels)])
            people = [(INSTANT_CHAT + n, "instant", [keyword(n)]) for n in range(args.instant)]
            people += [(DAILY_CHAT + n, "daily", rng.sample(words, 5)) for n in range(args.daily)]
            for chat, frequency, sources in people:
                sub = m.Subscriber(chat_id=chat, title="", language="en", timezone="UTC", frequency=frequency,
                                   digest_hour=(now.hour + 12) % 24, created_at=now - timedelta(hours=1))
                session.add(sub)
                await session.flush()
                session.add_all([m.Rule(subscriber_id=sub.id, name=s, source=s, channels=[],
                                        created_at=sub.created_at) for s in sources])
    finally:
        await db.dispose()


# --- the ingest process ---------------------------------------------------------------------------------

async def child(url: str, roles: list[str], posts: list[dict[str, Any]], arrivals_file: str, channels: int) -> None:
    """`tgmon run`'s roles with the fake Telegram as the monitoring account's client; the plan's live
    updates replayed after the start pass, on "go" from stdin."""
    from telethon import events

    import bot.telegram.clients as clients
    from bot.config import Settings, load_settings
    from bot.ingest.service import IngestService
    from bot.logging_setup import setup_logging
    from bot.runtime import run_roles
    from tests.integration.test_ingest_fakes import FakeTelegram, channel_entity, days_ago, message

    world = FakeTelegram()
    old = days_ago(3)
    for i in range(channels):
        cid = FIRST_CHANNEL + i
        world.add_channel(channel_entity(cid, username(i), f"Channel {i}"),
                          [message(n, f"old post {n}", cid=cid, base=old) for n in range(1, OLD_POSTS + 1)])

    def fake_client(settings: Settings, account: str = "main", *, session: Any = None) -> Any:
        return world

    clients.make_user_client = fake_client
    started = asyncio.Event()
    start_pass = IngestService.start_pass

    async def start_pass_then_tell(service: IngestService) -> None:
        await start_pass(service)
        started.set()

    IngestService.start_pass = start_pass_then_tell  # type: ignore[method-assign,assignment]

    async def replay() -> None:
        await started.wait()
        handler = world.handler(events.NewMessage)
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        go = time.monotonic()
        arrived: list[list[Any]] = []
        tasks = set()
        for post in posts:
            await asyncio.sleep(max(0.0, go + post["offset"] - time.monotonic()))
            cid = FIRST_CHANNEL + post["channel"]
            update = message(post["message_id"], post["text"], cid=cid, date=datetime.now(UTC).replace(microsecond=0))
            arrived.append([post["channel"], post["message_id"], time.time(), time.monotonic() - go - post["offset"]])
            world.publish(update)  # in the channel's history too, as on Telegram
            task = asyncio.create_task(handler(events.NewMessage.Event(update)))  # Telethon: a task an update
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
        await asyncio.to_thread(Path(arrivals_file).write_text, json.dumps(arrived), "utf-8")
        print("done", flush=True)

    settings = load_settings()  # the environment, as `tgmon run` reads it
    setup_logging(settings, role="+".join(roles))
    replaying = asyncio.create_task(replay())
    try:
        await run_roles(settings, roles)
    finally:
        replaying.cancel()


# --- one run -----------------------------------------------------------------------------------------

def _env(workdir: Path, url: str, edge: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "TGMON_", "DATABASE_URL"))}
    env.update(TGMON_CONFIG=str(workdir / "none.toml"), TGMON_ENV_FILE=str(workdir / "none.env"),
               TGMON_DATA_DIR=str(workdir / "data"), PYTHONUNBUFFERED="1", TGMON_LOG_LEVEL="INFO",
               TGMON_DATABASE_URL=url, TGMON_TEST_SENDER_LOG=str(edge),
               TGMON_INGEST__DEFAULT_CHANNELS_FILE=str(workdir / "no-channels.toml"),
               # the ingest role needs an account configured; the client itself is the fake
               TELEGRAM_API_ID="1", TELEGRAM_API_HASH="0" * 32)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH")]))
    return env


def _wait(what: str, ok: Any, seconds: float, procs: list[subprocess.Popen[str]], workdir: Path,
          step: float = 0.1) -> None:
    deadline = time.monotonic() + seconds
    while not ok():
        for proc in procs:
            if proc.poll() is not None:
                raise SystemExit(f"a process stopped while waiting for {what} (exit {proc.returncode}); logs in {workdir}")
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}; logs in {workdir}")
        time.sleep(step)


def _log_has(path: Path, words: str) -> bool:
    return path.exists() and words in path.read_text("utf-8", "replace")


def run_once(kind: str, url: str, args: argparse.Namespace, posts: list[dict[str, Any]], workdir: Path) -> dict[str, Any]:
    edge = workdir / f"{kind}-edge.log"
    env = _env(workdir, url, edge)
    plan_file, arrivals_file = workdir / "plan.json", workdir / f"{kind}-arrivals.json"
    plan_file.write_text(json.dumps(posts), "utf-8")
    roles = ["ingest"] if kind == "pg" else ["ingest", "scheduler", "delivery"]
    ingest = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.ingest_latency", "--child", url, "--roles", ",".join(roles),
         "--plan", str(plan_file), "--arrivals", str(arrivals_file), "--channels", str(args.channels)],
        env=env, cwd=workdir, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=(workdir / f"{kind}-ingest.log").open("w"), text=True)
    procs = [ingest]
    logs = {"scheduler": workdir / f"{kind}-ingest.log", "delivery": workdir / f"{kind}-ingest.log"}
    if kind == "pg":
        for role in ("scheduler", "delivery"):
            logs[role] = workdir / f"{kind}-{role}.log"
            procs.append(subprocess.Popen([sys.executable, "-m", "bot", "run", "--role", role], env=env, cwd=workdir,
                                          stdout=logs[role].open("w"), stderr=subprocess.STDOUT, text=True))
    try:
        assert ingest.stdout is not None
        _wait("the scheduler", lambda: _log_has(logs["scheduler"], "instant alerts as matches are stored"), 300,
              procs, workdir)
        _wait("the delivery worker", lambda: _log_has(logs["delivery"], "delivery worker started"), 300, procs, workdir)
        if kind == "pg":
            _wait("the listeners", lambda: all(_log_has(logs[r], "wake-ups: listening") for r in ("scheduler", "delivery")),
                  300, procs, workdir)
        if ingest.stdout.readline().strip() != "ready":
            raise SystemExit(f"the ingest process did not start; see {workdir / f'{kind}-ingest.log'}")
        from bot.delivery.share import JOIN_SECONDS
        time.sleep(JOIN_SECONDS + 1.0)  # the worker has joined the delivery share
        load_before = os.getloadavg()
        ingest.stdin.write("go\n")  # type: ignore[union-attr]
        ingest.stdin.flush()  # type: ignore[union-attr]
        _wait("the live posts", lambda: arrivals_file.exists(), args.seconds + 600, procs, workdir)
        expected = sum(1 for p in posts if p["sub"] is not None)
        _wait("the alerts", lambda: _delivered_all(url, edge, posts), args.seconds + 600, procs, workdir, step=0.5)
        time.sleep(args.settle)  # a late duplicate would arrive now
        load_after = os.getloadavg()
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
    arrivals = json.loads(arrivals_file.read_text("utf-8"))
    result = analyse(posts, arrivals, edge, *asyncio.run(_outcome(url)))
    result.update(kind=kind, expected=expected, load_before=load_before, load_after=load_after,
                  lag=max(a[3] for a in arrivals) if arrivals else 0.0)
    return result


def _instant_sends(edge: Path) -> list[tuple[int, int, float]]:
    """The edge's sends to instant subscribers: (chat, random_id, unix time)."""
    if not edge.exists():
        return []
    out = []
    for line in edge.read_text("utf-8").splitlines():
        f = line.split()
        if len(f) > 3 and INSTANT_CHAT <= int(f[0]) < DAILY_CHAT:
            out.append((int(f[0]), int(f[1]), float(f[3])))
    return out


def _delivered_all(url: str, edge: Path, posts: list[dict[str, Any]]) -> bool:
    """Every matching post is linked by an alert the edge got (the wait's end; the full check is `analyse`)."""
    links = _alert_links(url)
    sent = {rid for _, rid, _ in _instant_sends(edge)}
    linked = {link for rid, chat, texts in links if rid in sent for link in texts}
    return all(f"{username(p['channel'])}/{p['message_id']}" in linked for p in posts if p["sub"] is not None)


LINK = re.compile(r'https://t\.me/(chan\d{5}/\d+)"')


def _alert_links(url: str) -> list[tuple[int, int, list[str]]]:
    async def go() -> list[tuple[int, int, list[str]]]:
        db = Database.from_url(url)
        try:
            async with db.uow(read_only=True) as session:
                rows = await session.execute(text(
                    "SELECT o.random_id, o.chat_id, o.text FROM outbox o JOIN digests d ON d.id = o.digest_id "
                    "WHERE d.kind = 'instant'"))
                return [(int(r), int(c), LINK.findall(t)) for r, c, t in rows]
        finally:
            await db.dispose()

    return asyncio.run(go())


def _unix(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


async def _outcome(url: str) -> tuple[list[Any], list[Any], dict[str, int]]:
    """The instant alerts queued, when each post an instant rule matched was stored and matched, and
    how many posts and matches were stored in all."""
    db = Database.from_url(url)
    try:
        async with db.uow(read_only=True) as session:
            outbox = (await session.execute(text(
                "SELECT o.random_id, o.chat_id, o.text, o.created_at, o.claimed_at "
                "FROM outbox o JOIN digests d ON d.id = o.digest_id WHERE d.kind = 'instant'"))).all()
            stored = (await session.execute(text(
                "SELECT c.username, p.message_id, p.stored_at, min(x.matched_at) FROM posts p "
                "JOIN channels c ON c.id = p.channel_id JOIN matches x ON x.post_id = p.id "
                "JOIN rules r ON r.id = x.rule_id JOIN subscribers s ON s.id = r.subscriber_id "
                "WHERE s.frequency = 'instant' GROUP BY c.username, p.message_id, p.stored_at"))).all()
            counts: dict[str, int] = dict((await session.execute(text(
                "SELECT 'posts', count(*) FROM posts UNION ALL SELECT 'matches', count(*) FROM matches"))).all())
    finally:
        await db.dispose()
    return list(outbox), list(stored), {str(k): int(v) for k, v in counts.items()}


def analyse(posts: list[dict[str, Any]], arrivals: list[list[Any]], edge: Path, outbox: list[Any], stored: list[Any],
            counts: dict[str, int]) -> dict[str, Any]:
    """Delays and the exactly-once check (module doc)."""
    sends: dict[int, list[float]] = {}
    for _chat, rid, at in _instant_sends(edge):
        sends.setdefault(rid, []).append(at)
    repeats = Path(f"{edge}.repeats")
    arrived = {f"{username(c)}/{mid}": at for c, mid, at, _ in arrivals}
    steps = {f"{u}/{mid}": (_unix(s), _unix(x)) for u, mid, s, x in stored}
    linked: dict[str, list[tuple[int, Any]]] = {}
    for rid, chat, body, created, claimed in outbox:
        for link in LINK.findall(body):
            linked.setdefault(link, []).append((chat, (rid, _unix(created), _unix(claimed))))
    problems: list[str] = []
    rows: list[dict[str, Any]] = []
    wanted = {f"{username(p['channel'])}/{p['message_id']}": p for p in posts if p["sub"] is not None}
    for link, post in wanted.items():
        chat = INSTANT_CHAT + post["sub"]
        found = linked.get(link, [])
        if len(found) != 1:
            problems.append(f"{link}: linked by {len(found)} alerts")
            continue
        to, (rid, queued, claimed) = found[0]
        times = sends.get(rid, [])
        if to != chat or len(times) != 1:
            problems.append(f"{link}: to chat {to} (wanted {chat}), sent {len(times)} times")
            continue
        stored_at, matched_at = steps.get(link, (None, None))
        rows.append({"stored": (stored_at or 0) - arrived[link],
                     "matched": (matched_at or 0) - arrived[link],
                     "queued": (queued or 0) - arrived[link],
                     "claimed": (claimed - arrived[link]) if claimed else float("nan"), "sent": times[0] - arrived[link],
                     "burst": post["burst"]})
    extra = sorted(set(linked) - set(wanted))
    if extra:
        problems.append(f"{len(extra)} alerts link posts no instant rule wants: {extra[:5]}")
    unknown = set(sends) - {row[0] for row in outbox}
    if unknown:
        problems.append(f"{len(unknown)} sends to instant subscribers that are no alert of the outbox")
    twice = [rid for rid, times in sends.items() if len(times) > 1]
    if twice or repeats.exists():
        problems.append(f"{len(twice)} alerts sent twice; repeats dropped by the edge: "
                        f"{len(repeats.read_text().splitlines()) if repeats.exists() else 0}")
    return {"rows": rows, "problems": problems, "alerts": len(sends), "posts": counts.get("posts", 0),
            "matches": counts.get("matches", 0)}


# --- the report -----------------------------------------------------------------------------------------

def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(result: dict[str, Any], args: argparse.Namespace, live: int) -> bool:
    rows = result["rows"]
    where = {"pg": "PostgreSQL: ingest | tgmon run --role scheduler | tgmon run --role delivery (3 processes)",
             "sqlite": "SQLite: one tgmon run process, ingest + scheduler + delivery"}[result["kind"]]
    print(f"\n{where}")
    print(f"  {live} live posts on {args.channels} channels ({args.rate}/s for {args.seconds:g} s, a burst of "
          f"{args.burst} in {args.burst_seconds:g} s), {result['expected']} for {args.instant} instant subscribers; "
          f"{result['posts']} posts and {result['matches']} matches stored in all; the replay ran at most "
          f"{result['lag']:.3f} s late")
    print(f"  load average before: {' '.join(f'{x:.2f}' for x in result['load_before'])}, "
          f"after: {' '.join(f'{x:.2f}' for x in result['load_after'])}")
    print(f"  {len(rows)} of {result['expected']} matching posts alerted exactly once, in {result['alerts']} messages")
    for problem in result["problems"][:20]:
        print(f"  PROBLEM: {problem}")
    if not rows:
        return False
    print(f"  {'from the update reaching the ingest process to ... (s)':<54} {'p50':>6}  {'p99':>6}  {'max':>6}")
    for key, name in (("stored", "post stored"), ("matched", "match stored"), ("queued", "alert queued"), ("claimed", "claimed by the worker"), ("sent", "send at the edge")):
        values = [r[key] for r in rows if r[key] == r[key]]
        if values:
            print(f"    {name:<52} {_p(values, 0.5):6.3f}  {_p(values, 0.99):6.3f}  {max(values):6.3f}")
    for part, pick in (("steady", False), ("burst", True)):
        chosen = [r["sent"] for r in rows if r["burst"] == pick]
        if chosen:
            print(f"    {f'send, {part} posts only ({len(chosen)})':<52} {_p(chosen, 0.5):6.3f}  "
                  f"{_p(chosen, 0.99):6.3f}  {max(chosen):6.3f}")
    total = [r["sent"] for r in rows]
    met = _p(total, 0.5) <= 2.0 and _p(total, 0.99) <= 10.0 and not result["problems"]
    print(f"  goal ({GOAL}): {'met' if met else 'MISSED'}")
    return met


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke size: seconds")
    parser.add_argument("--db", default="pg,sqlite", help="pg, sqlite or both (comma-separated)")
    parser.add_argument("--channels", type=int, default=1000)
    parser.add_argument("--instant", type=int, default=100, help="instant subscribers, a word each")
    parser.add_argument("--daily", type=int, default=200, help="daily subscribers, five words each")
    parser.add_argument("--rate", type=float, default=2.0, help="live posts a second, steady")
    parser.add_argument("--seconds", type=float, default=240.0)
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--burst-seconds", type=float, default=2.0)
    parser.add_argument("--share", type=float, default=0.1, help="of the steady posts, carrying an instant word")
    parser.add_argument("--burst-share", type=float, default=0.3)
    parser.add_argument("--settle", type=float, default=3.0, help="seconds to wait for duplicates at the end")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--pg", default=DEFAULT_PG, help="a PostgreSQL server's URL ('' to skip PostgreSQL)")
    parser.add_argument("--json", help="write the delays and checks here")
    parser.add_argument("--workdir", help="keep the processes' logs and the edge's log here (default: a temporary directory)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--roles", help=argparse.SUPPRESS)
    parser.add_argument("--plan", help=argparse.SUPPRESS)
    parser.add_argument("--arrivals", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        posts = json.loads(Path(args.plan).read_text("utf-8"))
        asyncio.run(child(args.child, args.roles.split(","), posts, args.arrivals, args.channels))
        return
    if args.quick:
        args.channels, args.instant, args.daily = min(args.channels, 50), min(args.instant, 10), min(args.daily, 10)
        args.rate, args.seconds, args.burst, args.burst_seconds = 4.0, 4.0, 20, 1.0
        args.share, args.burst_share, args.settle = 0.25, 0.5, 1.0
    kinds = [k.strip() for k in args.db.split(",") if k.strip()]
    if not kinds or set(kinds) - {"pg", "sqlite"} or min(args.channels, args.instant) < 1 or args.rate <= 0:
        parser.exit(2, "ingest_latency: --db takes pg and/or sqlite; --channels, --instant and --rate must be positive\n")
    if "pg" in kinds and not args.pg:
        kinds.remove("pg")
    posts = plan(args)
    words = daily_words(args)
    matching = [p for p in posts if p["sub"] is not None]
    print(f"{len(posts)} live posts planned on {args.channels} channels, {len(matching)} of them for instant "
          f"subscribers ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)", flush=True)
    results, ok = [], True
    for kind in kinds:
        with tempfile.TemporaryDirectory(prefix=f"tgmon-ingest-latency-{kind}-") as tmp:
            workdir = Path(args.workdir) / kind if args.workdir else Path(tmp)
            workdir.mkdir(parents=True, exist_ok=True)
            if kind == "pg":
                try:
                    url = asyncio.run(fresh_pg(args.pg))
                except OSError as exc:
                    print(f"PostgreSQL at {args.pg} is not reachable ({exc}); skipped")
                    continue
            else:
                url = f"sqlite:///{workdir / 'tgmon.db'}"
            asyncio.run(seed(url, args, words))
            try:
                result = run_once(kind, url, args, posts, workdir)
            finally:
                if kind == "pg":
                    asyncio.run(pg.drop(args.pg, BENCH_DB))
        ok = report(result, args, len(posts)) and ok
        results.append(result)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1), "utf-8")
    if any(r["problems"] for r in results):
        raise SystemExit("alerts lost, repeated or misdirected: see the PROBLEM lines above")


if __name__ == "__main__":
    main()
