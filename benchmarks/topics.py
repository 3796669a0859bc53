"""Topic rules (``~"..."``): quality, speed, the delay added to an instant alert, archive search at
scale and memory.

    python -m benchmarks.topics                       # everything at its defaults
    python -m benchmarks.topics --only quality,speed  # some parts: quality speed alert search memory
    python -m benchmarks.topics --search-posts 100000,1000000 [--pg URL | --pg ''] [--no-pgvector]
    TGMON_BENCH_HNSW_UP_TO=0 ...   # fill pgvector without its HNSW index (inserting into it is slow)

- quality: tests/data/topics_labelled.txt (200 posts, ru/uk/en, 8 topics with near-misses):
  precision and recall per topic of the topic rule at its default strictness and of a careful user's
  keyword rules for the same topic (tests/data/topics_rules.txt), matched by the real matcher.
- speed: posts embedded per second on one core (the model with one thread), in batches of 32 and one
  at a time, for the labelled posts and for posts four times as long; the keyword matcher on the same
  posts is the baseline.
- alert: the real pipeline on SQLite with a topic rule and a keyword rule: time from the start of
  ``ingest()`` to the keyword match stored (its return) and to the topic match stored (the
  background worker's batch), for one post and for a burst of 32.
- search: the nearest posts to a phrase over N stored posts. The vectors are synthetic (random unit
  vectors, 200 of them, spread evenly over the archive, planted near the phrase): embedding a million
  posts on this machine would take hours. SQLite: tgmon's numpy scan (bot/search/vectors.py, through
  aiosqlite) against sqlite-vec 0.1.9's brute-force ``vec_distance_cosine`` (through apsw in this
  process: this Python's sqlite3 module cannot load extensions). PostgreSQL: the same numpy scan over
  BYTEA on the system server (--pg), and pgvector on a throwaway PostgreSQL 16 from the pgserver
  wheel (--pgvector, tests/pgvector_support.py). Then `tgmon search`'s first page (10 posts) over
  the whole archive, which reads newest-first windows.
- memory: RSS (from /proc) of ``tgmon run`` (its offline demo) with post embedding on and off.

Medians of ``--repeat`` (3) runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("TGMON_EMBED_THREADS", "1")  # one core: before the model is loaded

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"


def median_time(fn: Callable[[], Any], repeat: int) -> float:
    """Median CPU time of this process (the model runs on one thread): on a shared machine, wall
    time measures the neighbours as much as the code."""
    times = []
    for _ in range(repeat):
        began = time.process_time()
        fn()
        times.append(time.process_time() - began)
    return statistics.median(times)


def load_labelled() -> tuple[list[str], list[str], list[set[str]]]:
    texts, langs, labels = [], [], []
    for line in (DATA / "topics_labelled.txt").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        topics, lang, text = (part.strip() for part in line.split(" | ", 2))
        texts.append(text)
        langs.append(lang)
        labels.append(set(topics.split(",")) - {"-"})
    return texts, langs, labels


def load_rules() -> dict[str, dict[str, list[str]]]:
    rules: dict[str, dict[str, list[str]]] = {}
    for line in (DATA / "topics_rules.txt").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        topic, kind, rule = (part.strip() for part in line.split(" | ", 2))
        rules.setdefault(topic, {}).setdefault(kind, []).append(rule)
    return rules


# ---- quality --------------------------------------------------------------------------------------

def bench_quality() -> None:
    from bot.domain import Rule
    from bot.matching import compile_rules
    from bot.matching.topics import embedder

    texts, langs, labels = load_labelled()
    rules = load_rules()
    vectors = embedder().passages(texts)
    print(f"\n## Quality: {len(texts)} labelled posts ({', '.join(f'{lang} {langs.count(lang)}' for lang in sorted(set(langs)))})")
    print("| topic | topic rule | P | R | keyword rules | P | R | both (either matches) P | R |")
    print("|---|---|---|---|---|---|---|---|---|")
    totals: dict[str, list[int]] = {"topic": [0, 0, 0], "keywords": [0, 0, 0], "both": [0, 0, 0]}
    by_lang: dict[tuple[str, str], list[int]] = {}
    for topic, kinds in rules.items():
        row = [topic]
        kinds = {**kinds, "both": kinds["topic"] + kinds["keywords"]}
        for kind in ("topic", "keywords", "both"):
            matcher = compile_rules([Rule(n, source) for n, source in enumerate(kinds[kind], 1)])
            found = [bool(matcher.match_all(text, vector=vector)) for text, vector in zip(texts, vectors, strict=True)]
            truth = [topic in label for label in labels]
            tp = sum(f and t for f, t in zip(found, truth, strict=True))
            fp = sum(f and not t for f, t in zip(found, truth, strict=True))
            fn = sum(t and not f for f, t in zip(found, truth, strict=True))
            for n, (f, t) in enumerate(zip(found, truth, strict=True)):
                if t:
                    by_lang.setdefault((kind, langs[n]), [0, 0])[0 if f else 1] += 1
            totals[kind] = [a + b for a, b in zip(totals[kind], (tp, fp, fn), strict=True)]
            shown = kinds[kind][0] if kind == "topic" else f"{len(kinds[kind])} rule(s), {sum(s.count(' OR ') + 1 for s in kinds[kind])} alternatives"
            if kind == "both":
                row += [_ratio(tp, tp + fp), _ratio(tp, tp + fn)]
            else:
                row += [f"`{shown}`" if kind == "topic" else shown, _ratio(tp, tp + fp), _ratio(tp, tp + fn)]
        print("| " + " | ".join(row) + " |")
    t, k, b = totals["topic"], totals["keywords"], totals["both"]
    print(f"| **all** | | {_ratio(t[0], t[0] + t[1])} | {_ratio(t[0], t[0] + t[2])} | | {_ratio(k[0], k[0] + k[1])} | "
          f"{_ratio(k[0], k[0] + k[2])} | {_ratio(b[0], b[0] + b[1])} | {_ratio(b[0], b[0] + b[2])} |")
    print("\nrecall by language (topic rules / keyword rules): " + ", ".join(
        f"{lang} {_ratio(*_hit(by_lang, 'topic', lang))} / {_ratio(*_hit(by_lang, 'keywords', lang))}"
        for lang in sorted(set(langs))))


# the same topics, each phrase also in Ukrainian and English, as a user writes `~"ru" OR ~"uk" OR ~"en"`
VARIANTS = {
    "grid": ["удар по энергосистеме", "удар по енергосистемі", "strike on the power grid"],
    "evacuation": ["эвакуация жителей", "евакуація мешканців", "evacuation of residents"],
    "drones": ["атака беспилотников", "атака безпілотників", "drone attack"],
    "shelling": ["обстрел населённого пункта", "обстріл населеного пункту", "shelling of a town"],
    "casualties": ["погибшие и раненые мирные жители", "загиблі та поранені мирні жителі", "civilians killed and wounded"],
    "alert": ["воздушная тревога", "повітряна тривога", "air raid alert"],
    "exchange": ["обмен пленными", "обмін полоненими", "prisoner exchange"],
    "mobilization": ["мобилизация", "мобілізація", "mobilization"],
}


def bench_quality_split() -> None:
    """Can the strictness, a sentence-level score or more phrases do better? Tuned on the labelled
    set's even posts only and reported on its odd posts (held out), per topic."""
    import numpy as np

    from bot.matching.topics import embedder, language, sentences, topic

    texts, langs, labels = load_labelled()
    model = embedder()
    vectors = model.passages(texts)
    spans = [sentences(t) or [(0, len(t))] for t in texts]
    parts = model.passages([t[a:b] for t, s in zip(texts, spans, strict=True) for a, b in s])
    owner = np.repeat(np.arange(len(texts)), [len(s) for s in spans])
    names = list(VARIANTS)
    truth = {n: np.array([n in label for label in labels]) for n in names}
    kinds: dict[str, dict[str, Any]] = {"one phrase (ru), the whole post": {}, "one phrase, best of post and its sentences": {},
                                        "three phrases (ru OR uk OR en)": {}}
    for name in names:
        first = topic(VARIANTS[name][0])
        whole = np.array([float(first.closeness(vectors[i], langs[i])) for i in range(len(texts))])
        best = whole.copy()
        np.maximum.at(best, owner, np.array([float(first.closeness(parts[j], language(texts[owner[j]])))
                                             for j in range(len(parts))]))
        kinds["one phrase (ru), the whole post"][name] = whole
        kinds["one phrase, best of post and its sentences"][name] = best
        kinds["three phrases (ru OR uk OR en)"][name] = np.max(
            [[float(topic(p).closeness(vectors[i], langs[i])) for i in range(len(texts))] for p in VARIANTS[name]], axis=0)
    tune = np.arange(len(texts)) % 2 == 0

    def score(found: dict[str, Any], level: float, mask: Any) -> tuple[list[tuple[int, int, int]], float, float, float]:
        rows = []
        for n in names:
            f, t = found[n][mask] >= level, truth[n][mask]
            rows.append((int((f & t).sum()), int((f & ~t).sum()), int((~f & t).sum())))
        tp, fp, fn = (sum(r[k] for r in rows) for k in range(3))
        p, r = (tp / (tp + fp) if tp + fp else 0.0), (tp / (tp + fn) if tp + fn else 0.0)
        return rows, p, r, (2 * p * r / (p + r) if p + r else 0.0)

    print(f"\n## Quality, held out: strictness tuned on the {int(tune.sum())} even posts, reported on the "
          f"{int((~tune).sum())} odd ones")
    print("| variant | strictness tuned on the even half | held out at 0.5: P / R / F1 | held out at the tuned one: P / R / F1 | "
          "per topic, held out at 0.5 (P/R) |")
    print("|---|---|---|---|---|")
    for kind, found in kinds.items():
        level = max(np.arange(0.2, 0.81, 0.05), key=lambda x, found=found: score(found, float(x), tune)[3])
        rows, p, r, f = score(found, 0.5, ~tune)
        _, tp_, tr_, tf_ = score(found, float(level), ~tune)
        per = ", ".join(f"{n} {_ratio(a, a + b)}/{_ratio(a, a + c)}" for n, (a, b, c) in zip(names, rows, strict=True))
        print(f"| {kind} | {level:.2f} | {p:.2f} / {r:.2f} / {f:.2f} | {tp_:.2f} / {tr_:.2f} / {tf_:.2f} | {per} |")


def _hit(by_lang: dict[tuple[str, str], list[int]], kind: str, lang: str) -> tuple[int, int]:
    hit, miss = by_lang.get((kind, lang), [0, 0])
    return hit, hit + miss


def _ratio(a: int, b: int) -> str:
    return f"{a / b:.2f}" if b else "-"


# ---- speed ----------------------------------------------------------------------------------------

def bench_speed(repeat: int) -> None:
    from bot.domain import Rule
    from bot.matching import compile_rules
    from bot.matching.topics import embedder

    texts, _, _ = load_labelled()
    long_texts = [" ".join(texts[i : i + 4]) for i in range(0, len(texts), 4)]
    model = embedder()
    model.passages(texts[:8])  # warm
    keyword = compile_rules([Rule(n, r) for n, rules in enumerate(load_rules().values(), 1) for r in rules["keywords"]])
    print(f"\n## Embedding speed, one core (TGMON_EMBED_THREADS={os.environ['TGMON_EMBED_THREADS']}), CPU time, median of {repeat}")
    print("| posts | mean length | batched (32) posts/s | one at a time posts/s | keyword matcher posts/s (baseline) |")
    print("|---|---|---|---|---|")
    for name, items in (("labelled", texts), ("4x longer", long_texts)):
        batched = median_time(lambda items=items: [model.passages(items[i : i + 32]) for i in range(0, len(items), 32)], repeat)
        single = median_time(lambda items=items: [model.passages([t]) for t in items], repeat)
        words = median_time(lambda items=items: [keyword.match(t) for t in items], repeat)
        mean = sum(map(len, items)) / len(items)
        print(f"| {name} ({len(items)}) | {mean:.0f} chars | {len(items) / batched:.0f} | {len(items) / single:.0f} | "
              f"{len(items) / words:,.0f} ({words / batched * 100:.2f}% of embedding's time) |")


# ---- alert delay ----------------------------------------------------------------------------------

async def _alert_once(burst: int) -> tuple[float, float, float]:
    from sqlalchemy import func, select

    from bot import domain
    from bot.ingest.pipeline import Pipeline
    from bot.matching import compile_rules
    from bot.storage import models as m
    from bot.storage.database import Database

    with tempfile.TemporaryDirectory() as tmp:
        db = Database.from_url(f"sqlite:///{tmp}/bench.db")
        await db.upgrade()
        async with db.uow() as session:
            sub = m.Subscriber(chat_id=1)
            session.add(sub)
            await session.flush()
            session.add_all([m.Rule(subscriber_id=sub.id, source='~"удар по энергосистеме"', channels=[]),
                             m.Rule(subscriber_id=sub.id, source="підстанці*", channels=[])])
        pipeline = Pipeline(db, compile_rules, embed_posts=True)
        await pipeline.reload_rules()
        channel = domain.ChannelRef(1, "bench", "Bench")
        # a warm-up post, so the timed ones meet a running worker as a live service's do
        await pipeline.ingest([domain.Post(channel, 1, datetime.now(UTC), "Погода: солнечно")])
        assert pipeline.topics is not None and pipeline.topics._task is not None
        await pipeline.topics._task
        text = "Обстріл енергетичної інфраструктури: пошкоджено підстанцію у Харкові, частина міста без світла."
        posts = [domain.Post(channel, 10 + n, datetime.now(UTC) - timedelta(seconds=n), f"{text} ({n})") for n in range(burst)]
        began, cpu = time.perf_counter(), time.process_time()
        await pipeline.ingest(posts)
        keyword = time.perf_counter() - began
        await pipeline.topics._task
        topic = time.perf_counter() - began
        topic_cpu = time.process_time() - cpu
        async with db.uow(read_only=True) as session:
            matched = await session.scalar(select(func.count()).select_from(m.Match))
        assert matched == 2 * burst, matched
        await pipeline.close()
        await db.dispose()
        return keyword, topic, topic_cpu


def bench_alert(repeat: int) -> None:
    print(f"\n## Delay added to an instant alert (SQLite, one thread for the model, wall time), median of {repeat}")
    print("| posts in the batch | keyword match stored after | topic match stored after | added by the topic | CPU time of it all |")
    print("|---|---|---|---|---|")
    for burst in (1, 32):
        runs = [asyncio.run(_alert_once(burst)) for _ in range(repeat)]
        keyword = statistics.median(r[0] for r in runs)
        topic = statistics.median(r[1] for r in runs)
        cpu = statistics.median(r[2] for r in runs)
        print(f"| {burst} | {keyword * 1000:.0f} ms | {topic * 1000:.0f} ms | {(topic - keyword) * 1000:.0f} ms | {cpu * 1000:.0f} ms |")


# ---- archive search at scale ----------------------------------------------------------------------

PLANTED = 200
# pgvector's HNSW index is kept while filling archives up to this size only (--hnsw-up-to): inserting
# into it is slow, and a search's candidates come from pgvector's exact scan anyway
HNSW_UP_TO = int(os.environ.get("TGMON_BENCH_HNSW_UP_TO", "200000"))


def _synthetic(n: int, query: Any, seed: int = 7) -> Any:
    """Yield (start, matrix) chunks of n unit vectors; PLANTED of them, spread evenly over the
    archive (every n / PLANTED-th post), lie near ``query``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    every = max(1, n // PLANTED)
    for start in range(0, n, 50_000):
        size = min(50_000, n - start)
        matrix = rng.standard_normal((size, len(query)), dtype=np.float32)
        planted = [i for i in range(size) if (start + i) % every == 0 and (start + i) // every < PLANTED]
        matrix[planted] = query * 60 + matrix[planted]  # cosine ~0.95: a match at the default strictness
        matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
        yield start, matrix


async def _fill(url: str, n: int, query: Any, model: str) -> None:
    """N posts in one channel over the last 365 days, each with a synthetic vector."""
    import numpy as np
    import sqlalchemy as sa

    from bot.storage.database import Database

    db = Database.from_url(url)
    await db.upgrade()
    now = datetime.now(UTC)
    from bot.storage import models as m

    async with db.uow() as session:
        channel = m.Channel(telegram_id=1, username="bench", title="Bench")
        session.add(channel)
        await session.flush()
        channel_id = channel.id
    async with db.engine.connect() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        assert driver is not None
        if db.dialect == "postgresql" and await conn.scalar(sa.text(
                "SELECT 1 FROM pg_type WHERE typname = 'vector'")):
            # pgvector's binary form for COPY: dimensions, a reserved int16, big-endian float4s
            await driver.set_type_codec(
                "vector", schema="public", format="binary",
                encoder=lambda raw: struct.pack(">HH", len(raw) // 4, 0) + np.frombuffer(raw, "<f4").astype(">f4").tobytes(),
                decoder=lambda data: data)
            if n > HNSW_UP_TO:  # the index would take hours to build here; search does not use it
                await conn.execute(sa.text("DROP INDEX ix_post_vectors_hnsw"))
        for start, matrix in _synthetic(n, query):
            posts = []
            vectors = []
            for i in range(len(matrix)):
                pid = start + i + 1
                date = now - timedelta(seconds=(pid * 31_536_000) // n)
                posts.append((pid, channel_id, pid, date, f"post {pid}", f"h{pid}", False, "", date))
                vectors.append((pid, model, f"h{pid}", matrix[i].astype("<f4").tobytes()))
            if db.dialect == "sqlite":
                await driver.executemany(
                    "INSERT INTO posts (id, channel_id, message_id, date, text, text_hash, deleted, lemma_text, stored_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(*p[:3], _text_date(p[3]), *p[4:8], _text_date(p[8])) for p in posts])
                await driver.executemany("INSERT INTO post_vectors VALUES (?, ?, ?, ?)", vectors)
            else:
                await driver.copy_records_to_table(
                    "posts", records=posts,
                    columns=["id", "channel_id", "message_id", "date", "text", "text_hash", "deleted", "lemma_text",
                             "stored_at"])
                await driver.copy_records_to_table("post_vectors", records=vectors,
                                                   columns=["post_id", "model", "text_hash", "embedding"])
        await conn.commit()
    await db.dispose()


def _text_date(value: datetime) -> str:
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


async def _has_index(url: str, name: str) -> bool:
    import sqlalchemy as sa

    from bot.storage.database import Database

    db = Database.from_url(url)
    try:
        async with db.engine.connect() as conn:
            return bool(await conn.scalar(sa.text("SELECT count(*) FROM pg_indexes WHERE indexname = :n"), {"n": name}))
    finally:
        await db.dispose()


async def _page(url: str) -> tuple[float, int, bool]:
    """`tgmon search '~"..."'` over the whole archive: its first page (10 posts), newest first."""
    from bot.search import search_posts
    from bot.storage.database import Database

    db = Database.from_url(url)
    try:
        began = time.perf_counter()
        found = await search_posts(db, '~"удар по энергосистеме"', limit=10)
        return time.perf_counter() - began, found.total, found.exact
    finally:
        await db.dispose()


def _page_cell(runs: list[tuple[float, int, bool]]) -> str:
    total, exact = runs[0][1], runs[0][2]
    return f"{statistics.median(r[0] for r in runs):.2f} s ({'' if exact else 'at least '}{total} found)"


async def _server_version(url: str) -> str:
    import sqlalchemy as sa

    from bot.storage.database import Database

    db = Database.from_url(url)
    try:
        async with db.engine.connect() as conn:
            return str(await conn.scalar(sa.text("SHOW server_version"))).split()[0]
    finally:
        await db.dispose()


async def _scan(url: str, query: Any, model: str, days: int | None, limit: int = 2000) -> tuple[float, int]:
    from bot.search import vectors
    from bot.storage.database import Database

    db = Database.from_url(url)
    try:
        since = datetime.now(UTC) - timedelta(days=days) if days else None
        began = time.perf_counter()
        async with db.uow(read_only=True) as session:
            found = await vectors.nearest(session, query, model, limit=limit, min_score=0.3, since=since)
        return time.perf_counter() - began, len(found)
    finally:
        await db.dispose()


def _sqlite_vec(path: str, query: Any, model: str) -> tuple[float, int]:
    """sqlite-vec's brute force over the same rows as tgmon's scan (the posts joined, deleted ones
    left out, at most 2,000 with cosine >= 0.3, best first), the answer fetched into Python. Through
    apsw, whose SQLite can load extensions (this Python's sqlite3 module cannot: built without
    --enable-loadable-sqlite-extensions), so it is measured here and not usable by tgmon itself."""
    import apsw
    import sqlite_vec

    conn = apsw.Connection(path, flags=apsw.SQLITE_OPEN_READONLY)
    try:
        conn.enable_load_extension(True)
        conn.load_extension(sqlite_vec.loadable_path())
        began = time.perf_counter()
        rows = list(conn.execute(
            "SELECT v.post_id, vec_distance_cosine(v.embedding, ?) AS d FROM post_vectors v "
            "JOIN posts p ON p.id = v.post_id WHERE p.deleted = 0 AND v.model = ? AND d <= 0.7 "
            "ORDER BY d LIMIT 2000", (query.astype("<f4").tobytes(), model)))
        return time.perf_counter() - began, len(rows)
    finally:
        conn.close()


def bench_search(sizes: list[int], pg: str | None, repeat: int, pgvector: Any = None) -> None:
    from bot.matching.topics import embedder, topic

    query = topic("удар по энергосистеме").vector
    model = embedder().model_id
    print(f"\n## Topic search over stored posts (synthetic vectors, {PLANTED} planted near the phrase), median of {repeat}")
    print("| posts | database | backend | whole archive (nearest) | last 7 days | found | search's first page, whole archive |")
    print("|---|---|---|---|---|---|---|")
    for n in sizes:
        if os.environ.get("TGMON_BENCH_SKIP_SQLITE"):
            if pg:
                asyncio.run(_bench_pg(pg, n, query, model, repeat))
            if pgvector is not None:
                asyncio.run(_bench_pg(pgvector.url(), n, query, model, repeat))
            continue
        with tempfile.TemporaryDirectory() as tmp:
            path = f"{tmp}/bench.db"
            url = f"sqlite:///{path}"
            asyncio.run(_fill(url, n, query, model))
            whole = [asyncio.run(_scan(url, query, model, None)) for _ in range(repeat)]
            week = [asyncio.run(_scan(url, query, model, 7)) for _ in range(repeat)]
            page = [asyncio.run(_page(url)) for _ in range(repeat)]
            print(f"| {n:,} | SQLite | numpy scan (tgmon) | {statistics.median(w[0] for w in whole):.2f} s | "
                  f"{statistics.median(w[0] for w in week):.3f} s | {whole[0][1]} | {_page_cell(page)} |")
            try:
                vec = [_sqlite_vec(path, query, model) for _ in range(repeat)]
                print(f"| {n:,} | SQLite | sqlite-vec 0.1.9 brute force (through apsw) | "
                      f"{statistics.median(v[0] for v in vec):.2f} s | | {vec[0][1]} |")
            except ImportError as exc:
                print(f"| {n:,} | SQLite | sqlite-vec | not measured (pip install apsw sqlite-vec: {exc}) | | |")
        if pg:
            asyncio.run(_bench_pg(pg, n, query, model, repeat))
        if pgvector is not None:
            asyncio.run(_bench_pg(pgvector.url(), n, query, model, repeat))


async def _bench_pg(admin: str, n: int, query: Any, model: str, repeat: int) -> None:
    import sqlalchemy as sa

    from bot.storage.database import Database

    name = f"tgmon_bench_topics_{os.getpid()}"
    server = Database.from_url(admin)
    async with server.engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    await server.dispose()
    url = admin.rsplit("/", 1)[0] + "/" + name
    try:
        await _fill(url, n, query, model)
        db = Database.from_url(url)
        async with db.engine.connect() as conn:
            await conn.execute(sa.text("ANALYZE"))
            kind = await conn.scalar(sa.text("SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                                             "WHERE attrelid = 'post_vectors'::regclass AND attname = 'embedding'"))
        await db.dispose()
        whole = [await _scan(url, query, model, None) for _ in range(repeat)]
        week = [await _scan(url, query, model, 7) for _ in range(repeat)]
        version = await _server_version(url)
        if str(kind).startswith("vector"):
            backend = f"pgvector, exact scan in C (PostgreSQL {version})"
        else:
            backend = f"numpy scan over BYTEA (PostgreSQL {version}, no pgvector)"
        page = [await _page(url) for _ in range(repeat)]
        print(f"| {n:,} | PostgreSQL | {backend} | {statistics.median(w[0] for w in whole):.2f} s | "
              f"{statistics.median(w[0] for w in week):.3f} s | {whole[0][1]} | {_page_cell(page)} |")
        has_hnsw = await _has_index(url, "ix_post_vectors_hnsw")
        if str(kind).startswith("vector") and has_hnsw:
            top = [await _scan(url, query, model, None, limit=1000) for _ in range(repeat)]
            print(f"| {n:,} | PostgreSQL | pgvector HNSW, top 1,000 of the archive (PostgreSQL {version}) | "
                  f"{statistics.median(w[0] for w in top):.3f} s | | {top[0][1]} |")
    finally:
        server = Database.from_url(admin)
        async with server.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await server.dispose()


# ---- memory ---------------------------------------------------------------------------------------

def _rss_of_run(embed: bool, seconds: float) -> int:
    """Peak RSS in KiB of `tgmon run` (the offline demo when no Telegram credentials are set), as the
    OS counts it for a child process (getrusage), run in a wrapper of its own."""
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "tgmon.toml"
        config.write_text(f"[matching]\nembed_posts = {'true' if embed else 'false'}\n", encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "TGMON_"))}
        env |= {"TGMON_CONFIG": str(config), "TGMON_DATA_DIR": tmp, "TGMON_DATABASE_URL": f"sqlite:///{tmp}/run.db",
                "TGMON_METRICS_PORT": "0", "TGMON_EMBED_THREADS": "1"}
        wrapper = ("import resource, subprocess, sys; "
                   f"subprocess.run([sys.executable, '-m', 'bot', 'run'], timeout={seconds}, "
                   "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
                   "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
        out = subprocess.run([sys.executable, "-c", wrapper], env=env, cwd=tmp, capture_output=True, text=True,
                             timeout=seconds + 60, check=True)
        return int(out.stdout.strip().splitlines()[-1])


def bench_memory(seconds: float) -> None:
    print("\n## Memory of `tgmon run` (the offline demo: replays its export, builds digests), peak RSS")
    off = _rss_of_run(False, seconds)
    on = _rss_of_run(True, seconds)
    print("| post embedding | peak RSS |")
    print("|---|---|")
    print(f"| off (`embed_posts = false`: nothing of the extra is imported, as without it) | {off / 1024:.0f} MiB |")
    print(f"| on (the model loaded, posts embedded) | {on / 1024:.0f} MiB (+{(on - off) / 1024:.0f} MiB) |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="quality,speed,alert,search,memory")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--search-posts", default="100000,1000000")
    parser.add_argument("--pg", default=os.environ.get("TGMON_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--pgvector", action=argparse.BooleanOptionalAction, default=True,
                        help="also on a throwaway PostgreSQL 16 with pgvector from the pgserver wheel")
    parser.add_argument("--memory-seconds", type=float, default=300.0)
    args = parser.parse_args()
    parts = set(args.only.split(","))
    from bot.matching.topics import available

    if not available():
        sys.exit("benchmarks.topics needs the semantic extra: pip install -e '.[semantic]'")
    if "quality" in parts:
        bench_quality()
        bench_quality_split()
    if "speed" in parts:
        bench_speed(args.repeat)
    if "alert" in parts:
        bench_alert(args.repeat)
    if "search" in parts:
        sizes = [int(n) for n in args.search_posts.split(",") if n]
        if args.pgvector:
            from tests.pgvector_support import PgvectorServer

            with PgvectorServer() as server:
                bench_search(sizes, args.pg or None, args.repeat, server)
        else:
            bench_search(sizes, args.pg or None, args.repeat)
    if "memory" in parts:
        bench_memory(args.memory_seconds)


if __name__ == "__main__":
    main()
