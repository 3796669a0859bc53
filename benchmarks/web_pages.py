"""The web view's timeline and search pages over a large archive, on SQLite and PostgreSQL: p50/p95.

    python -m benchmarks.web_pages [--posts 1000000] [--cache FILE] [--sqlite PATH] [--pg URL]
                                   [--requests 40] [--reuse] [--distinct] [--only timeline|search] [--seed N]

The archive is `benchmarks/corpus.py`'s (distinct generated posts over two years and 500 channels,
loaded in bulk; `--cache` keeps the generated posts for the second database and the next run). On top
of it: 1,000 subscribers, the measured one with 10 rules and a match on 2% of the posts (20,000 at
1M posts, spread over the two years), the others 3 rules and 100 matches each (100,000 rows more in
`matches`). Each page is asked `--requests` times through the real Starlette app (ASGI, in-process,
signed-in session cookie: template rendering, the session lookup and the queries all count; no
network), after two warm-up requests. Last, "phrase asked once": `--requests` other phrases (two
adjacent words of random posts), each searched once, so the pages it reads are mostly not in the
database's cache yet, as on a person's own first search. The baseline, measured in the same run, is
the settings page: a signed-in page with one small query, the floor of any page. Target: p95 under
200 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import statistics
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

SUBSCRIBERS = 1000
MEASURED_RULES = 10
MATCH_SHARE = 0.02
OTHER_MATCHES = 100
PAIR = r"\b([а-яё]{5,}) ([а-яё]{5,})\b"  # two adjacent words: a phrase to search


async def _seed_subscribers(db: Any, posts: int, rng: random.Random) -> None:
    """Subscribers, rules and matches in bulk (the matches as the pipeline stores them: rule, post,
    highlights, when found). The measured subscriber is chat 1."""
    from bot.storage import models as m

    now = datetime.now(UTC)
    async with db.uow() as session:
        await session.execute(sa.insert(m.Subscriber), [
            {"chat_id": i, "kind": "private", "title": "", "language": "en", "timezone": "Europe/Moscow",
             "digest_hour": 9, "digest_minute": 0, "digest_weekday": 0, "frequency": "daily", "digest_size": 0,
             "paused": False, "active": True, "created_at": now} for i in range(1, SUBSCRIBERS + 1)])
        subs = dict((await session.execute(sa.select(m.Subscriber.chat_id, m.Subscriber.id))).all())
        rules = [{"subscriber_id": subs[1], "name": "", "source": f"rule {r}", "channels": [], "created_at": now}
                 for r in range(MEASURED_RULES)]
        rules += [{"subscriber_id": subs[c], "name": "", "source": f"rule {r}", "channels": [], "created_at": now}
                  for c in range(2, SUBSCRIBERS + 1) for r in range(3)]
        await session.execute(sa.insert(m.Rule), rules)
        rule_rows = (await session.execute(sa.select(m.Rule.id, m.Rule.subscriber_id))).all()
        max_id = int(await session.scalar(sa.select(sa.func.max(m.Post.id))) or 0)
    mine = [rid for rid, sid in rule_rows if sid == subs[1]]
    others = [rid for rid, sid in rule_rows if sid != subs[1]]
    matches: list[dict[str, Any]] = []
    seen: set[tuple[int, int]] = set()
    for post_id in rng.sample(range(1, max_id + 1), int(posts * MATCH_SHARE)):
        for rid in rng.sample(mine, rng.choice((1, 1, 1, 2))):  # a post now and then in two of its rules
            matches.append({"rule_id": rid, "post_id": post_id, "highlights": [[0, 5]], "matched_at": now, "past": False})
    for _ in range(OTHER_MATCHES * (SUBSCRIBERS - 1)):
        key = (rng.choice(others), rng.randint(1, max_id))
        if key not in seen:
            seen.add(key)
            matches.append({"rule_id": key[0], "post_id": key[1], "highlights": [[0, 5]], "matched_at": now, "past": False})
    for start in range(0, len(matches), 20_000):
        async with db.uow() as session:
            await session.execute(sa.insert(m.Match), matches[start:start + 20_000])
    async with db.engine.connect() as conn:
        await conn.execute(sa.text("ANALYZE"))
        await conn.commit()


async def _words(db: Any, rng: random.Random, fresh: int = 0,
                 fresh_rng: random.Random | None = None) -> tuple[str, str, str, list[str]]:
    """A common word, a rare one and a two-word phrase, read from the stored posts; and ``fresh``
    more phrases, each from its own post drawn by ``fresh_rng`` (searched once each: pages the
    database has not cached; another seed, other phrases)."""
    from bot.storage import models as m

    async with db.uow(read_only=True) as session:
        max_id = int(await session.scalar(sa.select(sa.func.max(m.Post.id))) or 0)
        ids = rng.sample(range(1, max_id + 1), 400)
        others_ids = (fresh_rng or rng).sample(range(1, max_id + 1), 4 * fresh)
        texts = list(await session.scalars(sa.select(m.Post.text).where(m.Post.id.in_(ids))))
        others = list(await session.scalars(sa.select(m.Post.text).where(m.Post.id.in_(others_ids))
                                            .order_by(m.Post.id)))
    words = Counter(w.lower() for t in texts for w in re.findall(r"[а-яёіїєґ]{6,}", t.lower()))
    common = words.most_common(1)[0][0]
    rare = next(w for w, n in words.most_common()[::-1] if n == 1)
    pair = next(found for t in texts if (found := re.search(PAIR, t.lower())))
    phrase = f'"{pair.group(1)} {pair.group(2)}"'
    phrases: list[str] = []
    for text in others:
        pairs = re.findall(PAIR, text.lower())
        if pairs and len(phrases) < fresh:
            first, second = rng.choice(pairs)
            if f'"{first} {second}"' not in (phrase, *phrases):
                phrases.append(f'"{first} {second}"')
    return common, rare, phrase, phrases


async def _measure(url: str, requests: int, rng: random.Random, only: str = "",
                   fresh_seed: int = 1) -> dict[str, list[float]]:
    import httpx

    from bot.commands import CommandContext, access
    from bot.config import Settings, WebSettings
    from bot.delivery.clock import SystemClock
    from bot.storage import models as m
    from bot.storage.database import Database
    from bot.web import create_web_app

    db = Database.from_url(url)
    settings = Settings(web=WebSettings(base_url="http://bench.local"))
    clock = SystemClock()
    app = await create_web_app(db, settings, clock, CommandContext(db=db, settings=settings, now=clock.now))
    key = await access.signing_key(db, settings)
    async with db.uow() as session:
        token = await access.issue_login(session, key, 1, clock.now(), 10)
    opened = await access.redeem_login(db, key, token, clock.now(), days=1)
    assert opened is not None
    async with db.uow(read_only=True) as session:
        sub = await session.scalar(sa.select(m.Subscriber.id).where(m.Subscriber.chat_id == 1))
        rule = await session.scalar(sa.select(m.Rule.id).where(m.Rule.subscriber_id == sub).order_by(m.Rule.id))
        channel = await session.scalar(sa.select(m.Channel.id).order_by(m.Channel.id))
    common, rare, phrase, fresh = await _words(db, rng, requests, random.Random(fresh_seed))
    print(f"  search words: common {common!r}, rare {rare!r}, phrase {phrase}; {len(fresh)} phrases asked once "
          f"({', '.join(fresh[:3])}, ...)", file=sys.stderr)
    pages = {
        "baseline: settings": "/settings",
        "timeline, week": "/timeline",
        "timeline, year": "/timeline?period=year",
        "timeline, rule, month": f"/timeline?rule={rule}&period=month",
        "timeline, channel, year": f"/timeline?channel={channel}&period=year",
        "search, common word": f"/search?q={common}",
        "search, rare word": f"/search?q={rare}",
        "search, phrase": f"/search?q={phrase}",
        "search, common AND -rare": f"/search?q={common} -{rare}",
    }
    pages = {name: path for name, path in pages.items() if name.startswith(("baseline", only))}
    times: dict[str, list[float]] = {}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench.local",
                                 cookies={"tgmon_session": opened[0]}) as client:
        for name, path in pages.items():
            html = ""
            for _ in range(2):
                html = (await client.get(path)).text
            assert "Sign in" not in html[:2000], "not signed in"
            # the next page too, by its own link (keyset paging)
            more = re.search(r'href="(/(?:timeline|search)\?[^"]*before=[^"]+)"', html)
            if more and name.startswith(("timeline, year", "search, common word")):
                pages_next = more.group(1).replace("&amp;", "&")
                times[name + ", page 2"] = []
            else:
                pages_next = None
            times[name] = []
            for _ in range(requests):
                began = time.perf_counter()
                response = await client.get(path)
                times[name].append(time.perf_counter() - began)
                assert response.status_code == 200, (path, response.status_code)
                if pages_next:
                    began = time.perf_counter()
                    await client.get(pages_next)
                    times[name + ", page 2"].append(time.perf_counter() - began)
        if "search, phrase asked once".startswith(only):
            # a phrase never asked before, each once: what a person's first search costs, read from
            # pages the database has not cached yet (the pages above are asked again and again)
            name = "search, phrase asked once"
            times[name] = []
            for asked in fresh:
                began = time.perf_counter()
                response = await client.get(f"/search?q={asked}")
                times[name].append(time.perf_counter() - began)
                assert response.status_code == 200, (asked, response.status_code)
            slowest = sorted(zip(times[name], fresh, strict=True), reverse=True)[:3]
            print("  slowest phrases asked once: " + ", ".join(f"{q} {t * 1000:.0f} ms" for t, q in slowest),
                  file=sys.stderr)
    await db.dispose()
    return times


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[18]


def report(label: str, times: dict[str, list[float]]) -> None:
    base = statistics.median(times["baseline: settings"])
    print(f"\n{label}")
    print(f"  {'page':32} {'p50 ms':>8} {'p95 ms':>8} {'x baseline':>11}")
    for name, values in times.items():
        print(f"  {name:32} {statistics.median(values) * 1000:8.1f} {_p95(values) * 1000:8.1f} "
              f"{statistics.median(values) / base:10.1f}x")


def replicated(cache: Path, posts: int) -> Any:
    """`posts` rows from the distinct posts of a corpus cache file (even one cut short: complete lines
    only), each pass over them on other channels and message ids and in its own stretch of the two
    years: pass c of k holds the c-th k-th of the span, its posts' dates squeezed into it in their
    order. The rows come oldest first, as a live archive stores them (SQLite's full-text search reads
    its matches in storage order). The generator's word analysis runs at a few hundred posts a second
    on a busy machine; this fills a million rows from a tenth of that, with the same word frequencies
    and lengths."""
    from benchmarks.corpus import CHANNELS, CorpusPost, Row, _unescape

    with cache.open(encoding="utf-8") as f:
        f.readline()
        base = [line.rstrip("\n").split("\t") for line in f if line.endswith("\n")]
    base = [fields for fields in base if len(fields) == 7]
    if not base:
        return
    dates = [datetime.fromisoformat(fields[2]) for fields in base]
    start, span = min(dates), max(dates) - min(dates) + timedelta(seconds=1)
    passes = -(-posts // len(base))
    made = 0
    for copy in range(passes):
        for (ch, mid, _, fch, fmid, text, lemmas), date in zip(base, dates, strict=True):
            if made == posts:
                return
            forward = (int(fch), int(fmid)) if fch else None
            when = start + (date - start) / passes + span * copy / passes
            yield Row(CorpusPost((int(ch) + 97 * copy) % CHANNELS, int(mid) + 10_000_000 * copy, when,
                                 _unescape(text), forward), lemmas)
            made += 1


async def prepare(url: str, posts: int, cache: Path | None, reuse: bool, distinct: bool) -> None:
    from benchmarks.corpus import build, load
    from bot.storage import models as m
    from bot.storage.database import Database

    if reuse:
        db = Database.from_url(url)
        try:
            await db.upgrade()
            async with db.uow(read_only=True) as session:
                have = int(await session.scalar(sa.select(sa.func.count()).select_from(m.Match)) or 0)
            if have:
                return
            await _seed_subscribers(db, posts, random.Random(11))
            return
        finally:
            await db.dispose()
    began = time.perf_counter()
    if distinct or cache is None:
        stats = await build(url, posts, cache=cache)
    else:
        db = Database.from_url(url)
        try:
            await db.upgrade()
            stats = await load(db, replicated(cache, posts))
        finally:
            await db.dispose()
    print(f"  {stats.posts:,} posts loaded in {time.perf_counter() - began:.0f} s", file=sys.stderr)
    db = Database.from_url(url)
    try:
        await _seed_subscribers(db, posts, random.Random(11))
    finally:
        await db.dispose()


async def _pg_fresh(url: str) -> None:
    import asyncpg

    admin, name = url.rsplit("/", 1)
    conn = await asyncpg.connect(admin + "/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.web_pages", description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--cache", type=Path, help="the corpus file (benchmarks/corpus.py --cache)")
    parser.add_argument("--sqlite", default="data/bench-web.db", help="the SQLite file ('' to skip)")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/tgmon_bench_web",
                        help="a PostgreSQL database this benchmark may drop and make again ('' to skip)")
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--reuse", action="store_true", help="the databases are loaded already: measure only")
    parser.add_argument("--seed", type=int, default=1,
                        help="draws the phrases asked once (a run on a database already measured: another seed)")
    parser.add_argument("--only", default="", help="measure only the pages whose name starts so (timeline, search)")
    parser.add_argument("--distinct", action="store_true",
                        help="generate every post (slow: the corpus generator's pace); by default the posts of "
                             "--cache (a corpus file of any size) are repeated on other channels and dates")
    args = parser.parse_args(argv)
    rng = random.Random(5)
    runs: list[tuple[str, str]] = []
    if str(args.sqlite):
        runs.append(("SQLite", f"sqlite:///{args.sqlite}"))
    if args.pg:
        runs.append(("PostgreSQL", args.pg))
    for label, url in runs:
        if not args.reuse:
            if url.startswith("sqlite"):
                Path(args.sqlite).unlink(missing_ok=True)
            else:
                asyncio.run(_pg_fresh(url))
        print(f"{label}: preparing {args.posts:,} posts", file=sys.stderr)
        asyncio.run(prepare(url, args.posts, args.cache, args.reuse, args.distinct))
        times = asyncio.run(_measure(url, args.requests, rng, args.only, args.seed))
        report(f"{label}, {args.posts:,} posts, {args.requests} requests a page", times)


if __name__ == "__main__":
    main()
