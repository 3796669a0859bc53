"""Ingestion: posts/s through the whole pipeline -- convert real Telethon messages to posts, store,
match against N rules, record matches -- into SQLite and PostgreSQL, against a baseline of one
insert and commit per post measured in the same run, on the same database kind. Medians.

    python -m benchmarks.ingestion [--posts 3000] [--rules 1000] [--repeat 3] [--batch 500]
                                   [--corpus news|dense|both]
                                   [--pg postgresql://postgres@127.0.0.1:5432/test | --pg none] [--cpus 1]

The pipeline is measured in two states: as in a running service (the word forms analysed before,
the matcher rebuilt after a rule change and so warmed from the one it replaced, the start-up heap
frozen as `tgmon run` freezes it), and cold, just after a restart (a matcher that has met no word).

Two corpora. ``news`` (the default): posts of 50-150 words drawn from the pymorphy3 dictionaries with
a Zipf law (mostly Russian, some Ukrainian and English, topic words sprinkled in: the generator of
benchmarks/matching.py) and that benchmark's realistic rule mix. ``dense``: a stress case, posts
written only from the 21 words the rules are about, so every post matches about ten rules with
several highlights each.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

from sqlalchemy import insert
from telethon.tl import types

from bot.domain import ChannelRef, Post
from bot.ingest.pipeline import Pipeline
from bot.matching import compile_rules, index_text
from bot.runtime import heap
from bot.storage import models as m
from bot.storage.database import Database
from bot.telegram.convert import to_post, to_posts

WORDS = ["обстрел", "обстрелы", "батальон", "батальонов", "самооборона", "самообороны", "Белгород", "Шебекино", "жители", "укрытие", "дорога", "погода", "отопление", "школа", "район", "глава", "сообщил", "ранен", "дрон", "сбит", "ПВО"]
REF = ChannelRef(1302282372, "vvgladkov", "Гладков")


def _posts(n: int, seed: int = 1) -> list[Post]:
    """Plain domain posts (kept for callers that profile the pipeline alone)."""
    return list(to_posts(_messages(n, seed), REF))


def _dense_texts(n: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=rng.randint(50, 150))) for _ in range(n)]


def _news(n: int, rules: int) -> tuple[list[str], list[str]]:
    """Texts of 50-150 words from the matching benchmark's corpus, and its rule mix."""
    from benchmarks.matching import build_corpus, build_rules

    corpus = build_corpus(n)
    rng = random.Random(3)
    texts = []
    for post in corpus.posts:
        words = post.split(" ")
        texts.append(" ".join(words[: rng.randint(50, 150)]))
    return texts, [r.source for r in build_rules(corpus, rules)]


def _messages(n: int, seed: int = 1, texts: list[str] | None = None) -> list[types.Message]:
    """Real Telethon messages of 50-150 words; every 40th starts an album of 3 photos (caption on the 2nd)."""
    rng = random.Random(seed)
    texts = texts if texts is not None else _dense_texts(n, seed)
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    peer = types.PeerChannel(REF.telegram_id or 0)
    out: list[types.Message] = []
    for i in range(1, n + 1):
        text = texts[i - 1]
        in_album = i % 40 in (1, 2, 3)
        out.append(types.Message(
            id=i, peer_id=peer, date=t0 + timedelta(minutes=i), message=text if not in_album or i % 40 == 2 else "",
            post=True, views=rng.randint(100, 10_000), grouped_id=(i // 40 + 1) if in_album else None,
            media=types.MessageMediaPhoto(photo=types.PhotoEmpty(id=i)) if in_album else None,
        ))
    return out


def _dense_rules(rules: int) -> list[str]:
    rng = random.Random(2)
    vocab = [*WORDS, *(f"слово{i}" for i in range(rules))]
    sources = {" ".join(rng.sample(vocab, 1 + i % 2)) for i in range(rules * 2)}
    return sorted(sources)[:rules]


async def _fresh(url: str, rules: list[str]) -> Database:
    db = Database.from_url(url)
    await db.upgrade()
    async with db.uow() as session:
        subs = [m.Subscriber(chat_id=i + 1) for i in range(len(rules) // 20 + 1)]  # 20 rules each
        session.add_all(subs)
        await session.flush()
        session.add_all(
            m.Rule(subscriber_id=subs[i // 20].id, source=s, channels=[]) for i, s in enumerate(rules)
        )
    return db


async def _pipeline_run(url: str, messages: list[types.Message], rules: list[str], batch: int, *,
                        cold: bool = False) -> Run:
    """Seconds to ingest every message (what matching and alerts wait for), then seconds for the
    search indexer to write them all into the full-text index, and the matches recorded.

    By default the pipeline is in the state of a running service: its matcher has matched the
    channel's words before, and then a subscriber changed a rule, so it was rebuilt (warmed from the
    one it replaced). ``cold``: just after a restart, a matcher that has not met a single word."""
    db = await _fresh(url, rules)
    pipeline = Pipeline(db, compile_rules)
    matcher = await pipeline.reload_rules()
    if not cold:
        for message in messages:
            if message.message:
                matcher.match(message.message, REF.username)
        await pipeline.reload_rules()  # the rule change: a new matcher, warmed from the old one
    matches = 0
    start = time.perf_counter()
    for i in range(0, len(messages), batch):
        result = await pipeline.ingest(list(to_posts(messages[i : i + batch], REF)))
        matches += result.matches
    stored = time.perf_counter()
    indexed = await pipeline.flush_index()
    end = time.perf_counter()
    await db.dispose()
    assert indexed > 0
    return Run(stored - start, end - stored, matches)


class Run(NamedTuple):
    ingest: float  # seconds
    index: float  # seconds
    matches: int

    def rate(self, n: int) -> float:
        return n / self.ingest

    def rate_indexed(self, n: int) -> float:
        return n / (self.ingest + self.index)


async def _baseline_run(url: str, messages: list[types.Message]) -> float:
    db = await _fresh(url, [])
    async with db.uow() as session:
        channel = m.Channel(telegram_id=REF.telegram_id, username=REF.username)
        session.add(channel)
    start = time.perf_counter()
    for message in messages:
        post = to_post(message, REF)
        async with db.uow() as session:
            await session.execute(insert(m.Post).values(channel_id=channel.id, message_id=post.message_id,
                                                        date=post.date, text=post.text, text_hash=post.text_hash))
    elapsed = time.perf_counter() - start
    await db.dispose()
    return len(messages) / elapsed


async def _pg_admin(admin_url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


class Row(NamedTuple):
    database: str
    pipeline: float  # posts/s, ingestion alone
    cold: float  # posts/s, ingestion alone just after a restart
    indexed: float  # posts/s, ingestion and the search index written
    baseline: float  # posts/s, one INSERT and COMMIT a post
    single: float  # posts/s, the same work fed a post at a time (index included)
    matches: int


def _row(name: str, pipe: list[Run], cold: list[Run], base: list[float], single: list[Run], n: int) -> Row:
    return Row(name, statistics.median(r.rate(n) for r in pipe), statistics.median(r.rate(n) for r in cold),
               statistics.median(r.rate_indexed(n) for r in pipe),
               statistics.median(base), statistics.median(r.rate_indexed(n) for r in single), pipe[0].matches)


def _measure(messages: list[types.Message], rules: list[str], args: argparse.Namespace) -> list[Row]:
    """Medians of the pipeline (batches), the same just after a restart (cold), the baseline (one
    INSERT and COMMIT a post, nothing else) and the pipeline fed one post at a time (the same work,
    one transaction a post)."""
    rows: list[Row] = []
    n = len(messages)
    with tempfile.TemporaryDirectory() as tmp:
        def sqlite_url(i: int, kind: str) -> str:
            return f"sqlite:///{Path(tmp) / f'{kind}{i}.db'}"

        pipe, cold, base, single = [], [], [], []
        for i in range(args.repeat):  # interleaved, so a slow phase of the machine hits all four
            pipe.append(asyncio.run(_pipeline_run(sqlite_url(i, "p"), messages, rules, args.batch)))
            cold.append(asyncio.run(_pipeline_run(sqlite_url(i, "c"), messages, rules, args.batch, cold=True)))
            base.append(asyncio.run(_baseline_run(sqlite_url(i, "b"), messages)))
            single.append(asyncio.run(_pipeline_run(sqlite_url(i, "s"), messages, rules, 1)))
        rows.append(_row("SQLite", pipe, cold, base, single, n))

    if args.pg != "none":
        admin = args.pg
        name = f"tgmon_bench_{uuid.uuid4().hex[:8]}"
        url = admin.rsplit("/", 1)[0] + "/" + name
        try:
            asyncio.run(_pg_admin(admin, f'CREATE DATABASE "{name}"'))
        except Exception as exc:  # no server: report and go on with SQLite alone
            print(f"PostgreSQL skipped: {exc.__class__.__name__}: {exc}")
        else:
            reset = "DROP SCHEMA public CASCADE; CREATE SCHEMA public"
            try:
                pipe, cold, base, single = [], [], [], []
                for _ in range(args.repeat):
                    asyncio.run(_pg_admin(url, reset))
                    pipe.append(asyncio.run(_pipeline_run(url, messages, rules, args.batch)))
                    asyncio.run(_pg_admin(url, reset))
                    cold.append(asyncio.run(_pipeline_run(url, messages, rules, args.batch, cold=True)))
                    asyncio.run(_pg_admin(url, reset))
                    base.append(asyncio.run(_baseline_run(url, messages)))
                    asyncio.run(_pg_admin(url, reset))
                    single.append(asyncio.run(_pipeline_run(url, messages, rules, 1)))
                rows.append(_row("PostgreSQL", pipe, cold, base, single, n))
            finally:
                asyncio.run(_pg_admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    return rows


def _pin(cpus: int) -> str:
    """Run this process (and the threads it starts: aiosqlite's) on ``cpus`` cores at most."""
    allowed = sorted(os.sched_getaffinity(0))
    if cpus <= 0 or cpus >= len(allowed):
        return f"{len(allowed)} cores"
    os.sched_setaffinity(0, set(allowed[:cpus]))
    return f"pinned to {cpus} core{'s' if cpus > 1 else ''} ({', '.join(map(str, allowed[:cpus]))})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=3000)
    parser.add_argument("--rules", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--corpus", choices=["news", "dense", "both"], default="both")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test",
                        help="PostgreSQL server to create a throwaway database on ('none' to skip)")
    parser.add_argument("--cpus", type=int, default=1,
                        help="cores this process may use (default 1: the issue's 'on one core'; 0: all)")
    args = parser.parse_args()
    corpora = ["news", "dense"] if args.corpus == "both" else [args.corpus]
    allowed = os.sched_getaffinity(0)
    cores = _pin(args.cpus)
    try:
        _run(args, corpora, cores)
    finally:
        os.sched_setaffinity(0, allowed)  # `python -m benchmarks` goes on with the other benchmarks


def _run(args: argparse.Namespace, corpora: list[str], cores: str) -> None:
    print(f"ingestion: {args.posts} real Telethon messages (50-150 words, albums), {args.rules} rules, "
          f"batches of {args.batch}, median of {args.repeat}, {cores}; the word forms seen before, as in a "
          "running service; pure-Python matcher")
    print(f"{'corpus':7} {'database':11} {'pipeline/s':>11} {'baseline/s':>11} {'ratio':>7} {'cold/s':>8} {'ratio':>7} "
          f"{'+index/s':>9} {'ratio':>7} {'a post/s':>9} {'ratio':>7} {'matches':>8} {'a post':>7}")
    for corpus in corpora:
        if corpus == "news":
            texts, rules = _news(args.posts, args.rules)
        else:
            texts, rules = _dense_texts(args.posts), _dense_rules(args.rules)
        for text in texts:  # a running service has seen these words before
            index_text(text)
        messages = _messages(args.posts, texts=texts)
        heap.freeze()  # as `tgmon run` does once started
        try:
            rows = _measure(messages, rules, args)
        finally:
            heap.thaw()
        for r in rows:
            print(f"{corpus:7} {r.database:11} {r.pipeline:11.0f} {r.baseline:11.0f} {r.pipeline / r.baseline:6.1f}x "
                  f"{r.cold:8.0f} {r.cold / r.baseline:6.1f}x {r.indexed:9.0f} {r.indexed / r.baseline:6.1f}x {r.single:9.0f} {r.indexed / r.single:6.1f}x "
                  f"{r.matches:8d} {r.matches / args.posts:7.1f}", flush=True)
    print("pipeline = convert + store + match all rules + record matches, one transaction per batch: what alerts "
          "wait for, in a running service (its matcher rebuilt after a rule change, warmed from the one it replaced); "
          "cold = the same just after a restart (a matcher that has met no word yet); +index = the same and then the search indexer writing every post into the full-text index; "
          "baseline = convert + one INSERT and COMMIT per post (no matching, no index); a post = the pipeline and "
          "the index fed one post at a time (its ratio: +index against it)")


if __name__ == "__main__":
    main()
