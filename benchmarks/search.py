"""Archive search at scale: the first page of every rule shape, newest first, on a realistic archive.

    python -m benchmarks.corpus --posts 1000000 --url URL --cache /tmp/corpus-1m.tsv   # once
    python -m benchmarks.search --url URL [--repeat 3] [--instances 5] [--explain]

Shapes (each over all time and over the last 7 days, the 20 newest asked, as `tgmon search` and
/search do): a rare, a common and a very common word (in about 1%, 10% and 30% of posts), an inflected
form, a prefix, a phrase of two common words, an OR of five rare words, a common word AND NOT a very
common one, a very common word scoped to one channel, and a regex. The words are picked from the
archive itself (document frequencies of its index keys over a sample of posts).

No query is timed warm before it is timed cold: each shape has ``instances`` different queries in
each of ``repeat`` passes (different words every time). A query's first run is its cold time (the
process's word analyses and the database's plan for it are new; the operating system's file cache
is not emptied), its second and third runs its warm time. Each pass reports p50 and p95 over the
instances; the table holds the medians over the passes. ``--explain`` prints PostgreSQL's EXPLAIN
ANALYZE of the statements the slowest shape ran (auto_explain on the session).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

PAGE = 20


@dataclass
class Shape:
    name: str
    queries: list[str]  # repeat * instances of them, all different
    cold: dict[str, list[float]] = field(default_factory=lambda: {"all": [], "7d": []})
    warm: dict[str, list[float]] = field(default_factory=lambda: {"all": [], "7d": []})
    totals: dict[str, list[str]] = field(default_factory=lambda: {"all": [], "7d": []})


async def _sample(db: Any, n: int = 20_000) -> tuple[Counter[str], list[str], int]:
    """Document frequency of the index keys over about ``n`` posts, some of their texts, and the
    number of posts."""
    from sqlalchemy import text

    async with db.engine.connect() as conn:
        total = int((await conn.execute(text("SELECT count(*) FROM posts"))).scalar() or 0)
        step = max(total // n, 1)
        rows = (await conn.execute(text("SELECT lemma_text, text FROM posts WHERE id % :s = 0"), {"s": step})).all()
    df: Counter[str] = Counter()
    for row in rows:
        df.update(set((row.lemma_text or "").split()))
    return Counter({k: v / len(rows) for k, v in df.items()}), [r.text for r in rows[:3000]], total


def _pick(df: Counter[str], lemmas: dict[str, list[str]], target: float, k: int, used: set[str],
          min_len: int = 4) -> list[str]:
    """``k`` lemmas whose share of posts is closest to ``target`` (each used once)."""
    ranked = sorted((w for w in lemmas if w in df and len(w) >= min_len and w not in used and w.isalpha()),
                    key=lambda w: abs(df[w] - target) / target)
    chosen = ranked[:k]
    used.update(chosen)
    return chosen


def build_shapes(df: Counter[str], texts: list[str], lemmas: dict[str, list[str]], n: int) -> list[Shape]:
    """``n`` queries of each shape, none repeated."""
    from bot.matching.text import tokenize

    rng = random.Random(3)
    used: set[str] = set()
    rare = _pick(df, lemmas, 0.01, n, used)
    common = _pick(df, lemmas, 0.10, n, used)
    very = _pick(df, lemmas, 0.30, n, used)
    inflected = []
    for lemma in _pick(df, lemmas, 0.05, n * 3, used):
        forms = [f for f in lemmas[lemma] if f != lemma and len(f) > len(lemma)]
        if forms:
            inflected.append(forms[0])
    prefixes = [w[:5] + "*" for w in _pick(df, lemmas, 0.03, n * 3, used, min_len=8)]
    prefixes = list(dict.fromkeys(prefixes))[:n]
    frequent = {w for w, share in df.items() if share >= 0.05}
    pairs: list[str] = []
    for text in texts:
        words = tokenize(text).words
        for a, b in itertools.pairwise(words):
            if a in frequent and b in frequent and a != b and a in lemmas and b in lemmas:
                pairs.append(f'"{a} {b}"')
    pairs = list(dict.fromkeys(pairs))
    rng.shuffle(pairs)
    ors = _pick(df, lemmas, 0.01, n * 5, used)
    and_not_a = _pick(df, lemmas, 0.10, n, used)
    and_not_b = _pick(df, lemmas, 0.30, n, used)
    scoped = _pick(df, lemmas, 0.30, n, used)
    regex_words = _pick(df, lemmas, 0.02, n * 2, used, min_len=7)
    regexes = list(dict.fromkeys(f"/{w[:4]}[а-яёa-z]{{2,6}}/" for w in regex_words))[:n]
    return [
        Shape("rare word (1%)", rare),
        Shape("common word (10%)", common),
        Shape("very common word (30%)", very),
        Shape("inflected form", inflected[:n]),
        Shape("prefix", prefixes),
        Shape("phrase of common words", pairs[:n]),
        Shape("OR of five words", [" OR ".join(ors[i : i + 5]) for i in range(0, len(ors), 5)]),
        Shape("AND NOT", [f"{a} -{b}" for a, b in zip(and_not_a, and_not_b, strict=False)]),
        Shape("one channel", [f"{w} in:@bench_{50 + i:03d}" for i, w in enumerate(scoped)]),
        Shape("regex", regexes),
    ]


def _lemmas() -> dict[str, list[str]]:
    from benchmarks.corpus import Generator

    gen = Generator()
    out: dict[str, list[str]] = {}
    for lang in ("ru", "uk", "en"):
        for lemma, forms in gen.lexemes[lang]:
            out.setdefault(lemma, forms)
    return out


def _fmt(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


async def run(url: str, repeat: int, instances: int, explain: bool) -> None:
    from sqlalchemy import text

    from bot.search import search_posts
    from bot.storage.database import Database

    db = Database.from_url(url)
    try:
        began = time.perf_counter()
        df, texts, total = await _sample(db)
        shapes = build_shapes(df, texts, _lemmas(), repeat * instances)
        async with db.engine.connect() as conn:
            newest = (await conn.execute(text("SELECT max(date) FROM posts"))).scalar()
        if isinstance(newest, str):
            from datetime import UTC, datetime

            newest = datetime.fromisoformat(newest).replace(tzinfo=UTC)
        print(f"{db.dialect}, {total:,} posts; queries picked in {time.perf_counter() - began:.1f} s; "
              f"{repeat} passes x {instances} queries a shape, first page of {PAGE}")
        week = newest - timedelta(days=7)
        for shape in shapes:
            if len(shape.queries) < repeat * instances:
                print(f"  {shape.name}: only {len(shape.queries)} queries found in the archive")
            for window, since in (("all", None), ("7d", week)):
                for p in range(repeat):
                    colds, warms = [], []
                    for query in shape.queries[p * instances : (p + 1) * instances]:
                        times = []
                        for _ in range(3):
                            t = time.perf_counter()
                            result = await search_posts(db, query, since=since, limit=PAGE)
                            times.append(time.perf_counter() - t)
                        colds.append(times[0])
                        warms.append(min(times[1:]))
                        shape.totals[window].append(("" if result.exact else ">=") + f"{result.total:,}")
                    shape.cold[window].append(_p(colds))
                    shape.warm[window].append(_p(warms))
            print(f"  {shape.name:<24} " + "  ".join(
                f"{w}: cold p50 {_fmt(statistics.median(c[0] for c in shape.cold[w]))} "
                f"p95 {_fmt(statistics.median(c[1] for c in shape.cold[w]))}, warm p50 "
                f"{_fmt(statistics.median(c[0] for c in shape.warm[w]))}" for w in ("all", "7d")
            ) + f"  (e.g. {shape.queries[0]!r}: {shape.totals['all'][0]} / {shape.totals['7d'][0]})", flush=True)
        print("\n| shape | all time: cold p50 / p95 | warm p50 / p95 | last 7 days: cold p50 / p95 | warm p50 / p95 |")
        print("|---|---|---|---|---|")
        for shape in shapes:
            cells = []
            for w in ("all", "7d"):
                for series in (shape.cold[w], shape.warm[w]):
                    cells.append(f"{_fmt(statistics.median(c[0] for c in series))} / "
                                 f"{_fmt(statistics.median(c[1] for c in series))}")
            print(f"| {shape.name} | " + " | ".join(cells) + " |")
        if explain and db.dialect == "postgresql":
            slowest = max(shapes, key=lambda s: max(statistics.median(c[1] for c in s.cold[w]) for w in ("all", "7d")))
            await _explain(db, slowest)
    finally:
        await db.dispose()


def _p(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


async def _explain(db: Any, shape: Shape) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of every statement one query of the slowest shape runs."""
    from sqlalchemy import event

    from bot.search import search_posts

    statements: list[tuple[str, Any]] = []

    def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        statements.append((statement, parameters))

    query = shape.queries[-1]
    event.listen(db.engine.sync_engine, "before_cursor_execute", before)
    try:
        await search_posts(db, query, limit=PAGE)
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", before)
    print(f"\nEXPLAIN ANALYZE, the slowest shape: {shape.name}, {query!r} over all time "
          f"({len(statements)} statements)")
    async with db.engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        for statement, parameters in statements:
            if not statement.lstrip().upper().startswith("SELECT"):
                continue
            rows = await raw.fetch("EXPLAIN (ANALYZE, BUFFERS) " + statement, *(parameters or ()))
            print("\n" + statement.strip().replace("\n", " "))
            print("\n".join(r[0] for r in rows))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.search", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="a database built by benchmarks.corpus")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--instances", type=int, default=5)
    parser.add_argument("--explain", action="store_true", help="PostgreSQL: EXPLAIN ANALYZE of the slowest shape")
    args = parser.parse_args(argv)
    asyncio.run(run(args.url, args.repeat, args.instances, args.explain))


if __name__ == "__main__":
    main()
