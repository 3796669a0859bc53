"""Ingestion: posts/s through the whole pipeline (store, match against N rules, record matches)
into SQLite, against a baseline of one insert and commit per post, measured in the same run.

    python -m benchmarks.ingestion [--posts 5000] [--rules 1000] [--repeat 3] [--database URL]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from bot.domain import ChannelRef, Post
from bot.ingest.pipeline import Pipeline
from bot.matching import compile_rules
from bot.storage import models as m
from bot.storage.database import Database

WORDS = ["обстрел", "обстрелы", "батальон", "батальонов", "самооборона", "самообороны", "Белгород", "Шебекино", "жители", "укрытие", "дорога", "погода", "отопление", "школа", "район", "глава", "сообщил", "ранен", "дрон", "сбит", "ПВО"]


def _posts(n: int, seed: int = 1) -> list[Post]:
    rng = random.Random(seed)
    ref = ChannelRef(1302282372, "vvgladkov", "Гладков")
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    return [Post(ref, i, t0 + timedelta(minutes=i), " ".join(rng.choices(WORDS, k=rng.randint(50, 150))))
            for i in range(1, n + 1)]


async def _fresh(url: str, rules: int) -> Database:
    db = Database.from_url(url)
    await db.upgrade()
    rng = random.Random(2)
    async with db.uow() as session:
        sub = m.Subscriber(chat_id=1)
        session.add(sub)
        await session.flush()
        vocab = [*WORDS, *(f"слово{i}" for i in range(rules))]
        sources = {" ".join(rng.sample(vocab, 1 + i % 2)) for i in range(rules * 2)}
        session.add_all(m.Rule(subscriber_id=sub.id, source=s, channels=[]) for s in sorted(sources)[:rules])
    return db


async def _pipeline_run(url: str, posts: list[Post], rules: int, batch: int) -> float:
    db = await _fresh(url, rules)
    pipeline = Pipeline(db, compile_rules)
    await pipeline.reload_rules()
    start = time.perf_counter()
    for i in range(0, len(posts), batch):
        await pipeline.ingest(posts[i : i + batch])
    elapsed = time.perf_counter() - start
    await db.dispose()
    return len(posts) / elapsed


async def _baseline_run(url: str, posts: list[Post]) -> float:
    db = await _fresh(url, 0)
    async with db.uow() as session:
        channel = m.Channel(telegram_id=1302282372, username="vvgladkov")
        session.add(channel)
    start = time.perf_counter()
    for post in posts:
        async with db.uow() as session:
            await session.execute(insert(m.Post).values(channel_id=channel.id, message_id=post.message_id,
                                                        date=post.date, text=post.text, text_hash=post.text_hash))
    elapsed = time.perf_counter() - start
    await db.dispose()
    return len(posts) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--posts", type=int, default=5000)
    parser.add_argument("--rules", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    posts = _posts(args.posts)
    with tempfile.TemporaryDirectory() as tmp:
        def url(i: int, kind: str) -> str:
            return f"sqlite:///{Path(tmp) / f'{kind}{i}.db'}"

        pipe = [asyncio.run(_pipeline_run(url(i, "p"), posts, args.rules, args.batch)) for i in range(args.repeat)]
        base = [asyncio.run(_baseline_run(url(i, "b"), posts)) for i in range(args.repeat)]
    p, b = statistics.median(pipe), statistics.median(base)
    print(f"ingestion into SQLite, {args.posts} posts of 50-150 words, {args.rules} rules, median of {args.repeat}")
    print(f"{'pipeline (store+match+matches)':34} {p:10.0f} posts/s")
    print(f"{'baseline (insert+commit per post)':34} {b:10.0f} posts/s")
    print(f"{'ratio':34} {p / b:10.1f}x")


if __name__ == "__main__":
    main()
