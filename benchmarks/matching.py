"""Matching: posts/s and peak memory of tgmon's matcher at 10 / 1,000 / 10,000 rules, next to a
baseline measured in the same run (one compiled `re` per keyword, IGNORECASE, word boundaries,
tried in a loop: what keyword bots do), the rebuild time after one rule change, and archive search
over 1,000,000 stored posts on SQLite (FTS5) and PostgreSQL (GIN).

The matcher is timed on posts it has NOT seen: the corpus is split in two halves, the matcher (and
the process-wide word analyses, emptied first) warm up on the first and are timed on the second,
whose rarer words are cache misses as a new post's are in a running service. The first half's pass
is reported too ("cold": from empty caches, rules compiled afresh), next to the timed second ("warm").
Each size is run with no /pattern/ rules and with 5% of them (`--regex-shares`), and the rate with
patterns is given as a share of the rate without them, both from the same run.

    python -m benchmarks.matching            # the full run (20,000 posts; 1,000,000 stored posts)
    python -m benchmarks.matching --quick    # a few minutes: 4,000 posts, 100,000 stored posts
    python -m benchmarks.matching --skip-search   # matching only

Everything is generated deterministically (mostly Russian, some Ukrainian and English). Medians of
``--repeat`` (3) independent trials, in CPU time of one core.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import re
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.domain import Rule


def _w(words: str) -> list[str]:
    return words.split()


# Words the rules care about, inflected in the corpus (news of a border region)
TOPIC = [
    "батальон", "обстрел", "самооборона", "оборона", "беспилотник", "Белгород", "Шебекино", "ракета",
    "укрытие", "эвакуация", "граница", "губернатор", "ранение", "пожар", "взрыв", "учение", "техника",
    "территориальный", "отряд", "район", "село", "дорога", "электроснабжение", "сирена", "тревога",
]
UK_TOPIC = ["батальйон", "обстріл", "оборона", "безпілотник", "укриття", "евакуація", "кордон", "тривога"]
EN_WORDS = _w(
    "the a of to and in on for with shelling battalion defense drone missile border region governor "
    "attack night city village shelter evacuation damage house people report said killed injured police "
    "power line school road train bridge fire smoke alarm air unit units forces army soldier soldiers "
    "volunteer volunteers territorial self-defense strike strikes damaged residents official officials "
    "yesterday today morning evening week month year news update support help water heating"
)
# Function words make up about a third of real running text; nobody subscribes to them.
STOP = {
    "ru": _w("и в не на что с по как а то это к у из за о от же для так но да бы до только уже ли или "
          "его ее их он она они мы вы мне был была были будет есть все при также этом где после"),
    "uk": _w("і в не на що з по як а то це до у із за про від ж для так але та би тільки вже чи або "
          "його її їх він вона вони ми ви був була були буде є все при також цьому де після"),
    "en": _w("the a an of to and in on for with at by from is are was were be been it this that as"),
}
EMOJI = ["🔥", "⚡️", "❗️", "🇷🇺", "👉", "📍", "✅"]


def _lexemes(lang: str, per_prefix: int, rng: random.Random) -> list[tuple[str, list[str]]]:
    """(normal form, surface forms) from the pymorphy3 dictionary, in a shuffled order (the Zipf rank)."""
    from bot.matching.morph import morphology

    morph = morphology()
    dictionary = (morph._ru if lang == "ru" else morph._uk).dictionary
    first = "абвгдежзиклмнопрстуфхцчшэюя" if lang == "ru" else "абвгдежзиклмнопрстуфхцчшюяєі"
    groups: dict[str, set[str]] = {}
    for a in first:
        for b in "аеиоуыяклмнпрствді":
            for word, (paradigm, index) in itertools.islice(dictionary.words.iteritems(a + b), per_prefix):
                if word.isalpha():
                    groups.setdefault(dictionary.build_normal_form(paradigm, index, word), set()).add(word)
    lexemes = []
    for lemma, forms in sorted(groups.items()):
        if len(lemma) >= 3:
            ordered = sorted(forms)
            rng.shuffle(ordered)  # which forms are common: arbitrary but fixed
            lexemes.append((lemma.replace("ё", "е"), ordered))
    rng.shuffle(lexemes)
    return lexemes


def _forms(word: str, lang: str) -> list[str]:
    from bot.matching.morph import morphology

    morph = morphology()
    analyzer = morph._ru if lang == "ru" else morph._uk
    parses = analyzer.parse(word.lower())
    return sorted({f.word for f in parses[0].lexeme}) if parses else [word]


@dataclass
class Corpus:
    posts: list[str]
    lemmas: list[str]  # rule material: normal forms that occur in the corpus, frequent to rare
    bigrams: list[str]  # adjacent word pairs seen in the corpus, for phrase rules


def build_corpus(n_posts: int, seed: int = 7) -> Corpus:
    """Posts of 50-300 words: a Zipf law over lexemes (each occurrence a random form of it), a third
    function words, topic words sprinkled in, punctuation, line breaks and emoji."""
    from bot.matching.morph import morphology

    rng = random.Random(seed)
    ru = _lexemes("ru", 2500, rng)
    uk = _lexemes("uk", 800, rng)
    en = [(w, [w]) for w in EN_WORDS]
    topic_ru = [f for w in TOPIC for f in _forms(w, "ru")]
    topic_uk = [f for w in UK_TOPIC for f in _forms(w, "uk")]

    def zipf(lexemes: list[tuple[str, list[str]]]) -> Callable[[int], list[str]]:
        cum = list(itertools.accumulate(1.0 / (rank + 8) for rank in range(len(lexemes))))
        # a lexeme's forms are not equally common either: the first few carry most occurrences
        def form(forms: list[str]) -> str:
            return forms[min(int(rng.paretovariate(1.2)) - 1, len(forms) - 1)]

        return lambda k: [form(forms) for _, forms in rng.choices(lexemes, cum_weights=cum, k=k)]

    draw = {"ru": zipf(ru), "uk": zipf(uk), "en": zipf(en)}
    topic = {"ru": topic_ru, "uk": topic_uk, "en": EN_WORDS[20:40]}
    posts: list[str] = []
    for _ in range(n_posts):
        roll = rng.random()
        lang = "ru" if roll < 0.85 else "uk" if roll < 0.95 else "en"
        words = draw[lang](rng.randint(50, 300))
        for i in range(len(words)):
            if rng.random() < 0.35:
                words[i] = rng.choice(STOP[lang])
        for _ in range(rng.randint(0, 4)):
            words[rng.randrange(len(words))] = rng.choice(topic[lang])
        out: list[str] = []
        sentence = 0
        for word in words:
            out.append(word.capitalize() if sentence == 0 else word)
            sentence += 1
            if sentence > rng.randint(6, 16):
                out[-1] += rng.choice([".", ".", "!", ",", ":"]) + ("\n" if rng.random() < 0.2 else "")
                sentence = 0
            if rng.random() < 0.01:
                out.append(rng.choice(EMOJI))
        posts.append(" ".join(out))
    # rule words: not the 300 most frequent lexemes of a language (what nobody subscribes to)
    lemmas: dict[str, None] = {w.lower(): None for w in TOPIC}
    morph = morphology()
    stop_lemmas = {lemma for words in STOP.values() for w in words for lemma in morph.lemmas(w)}
    for lemma, _ in [*ru[300:], *uk[300:], *en[20:]]:
        if lemma not in stop_lemmas:
            lemmas[lemma] = None
    stop = {w for ws in STOP.values() for w in ws}
    bigrams = sorted({
        f"{a} {b}" for p in posts[:2000] for a, b in itertools.pairwise(p.lower().split())
        if a.isalpha() and b.isalpha() and a not in stop and b not in stop
    })
    rng.shuffle(bigrams)
    return Corpus(posts, list(lemmas), bigrams)


def build_rules(corpus: Corpus, n: int, seed: int = 11) -> list[Rule]:
    """A realistic mix: single words, AND, phrases, OR, prefixes, exclusions, exact forms."""
    rng = random.Random(seed + n)
    lemmas = corpus.lemmas
    sources: dict[str, None] = {}
    topic = [t.lower() for t in TOPIC]
    while len(sources) < n:
        roll = rng.random()
        pick = rng.choice(topic) if rng.random() < 0.05 else rng.choice(lemmas)
        other = rng.choice(lemmas)
        if roll < 0.55:
            source = pick
        elif roll < 0.70:
            source = f"{pick} {other}"
        elif roll < 0.80:
            source = f'"{rng.choice(corpus.bigrams)}"'
        elif roll < 0.88:
            source = f"{pick} OR {other}"
        elif roll < 0.93:
            if len(pick) < 6:
                continue
            source = f"{pick[: len(pick) - 2]}*"
        elif roll < 0.97:
            source = f"{pick} -{other}"
        else:
            source = f"={pick}"
        sources[source] = None
    return [Rule(i + 1, s, subscriber_id=i // 20 + 1) for i, s in enumerate(sources)]


# ---- the baseline: one compiled `re` per keyword, tried in a loop --------------------------------

_WORD = re.compile(r"[^\W_]+")


class Baseline:
    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = []
        for rule in rules:
            if len(rule.source) > 2 and rule.source[0] == rule.source[-1] == "/":  # a /pattern/: itself
                self.rules.append((rule.id, [re.compile(rule.source[1:-1], re.IGNORECASE)]))
                continue
            words = [w for w in _WORD.findall(rule.source) if w.upper() not in ("OR", "AND", "NOT")]
            self.rules.append((rule.id, [re.compile(rf"\b{re.escape(w)}\b", re.IGNORECASE) for w in words]))

    def match(self, text: str) -> list[int]:
        return [rid for rid, patterns in self.rules if all(p.search(text) for p in patterns)]


def _rate(func: Callable[[str], object], posts: Sequence[str], *, min_posts: int, max_seconds: float) -> float:
    """Posts per second of CPU time of this process: on a shared machine, wall time measures the
    neighbours; CPU time measures the one core this code runs on."""
    start = time.process_time()
    for done, text in enumerate(itertools.cycle(posts), 1):
        func(text)
        elapsed = time.process_time() - start
        if done >= min_posts and (done >= len(posts) or elapsed >= max_seconds):
            return done / elapsed
    raise AssertionError("unreachable")


def _mib(n: float) -> str:
    return f"{n / (1 << 20):.0f} MiB"


def memory_probe(n_posts: int, n_rules: int) -> dict[str, float]:
    """Run in a fresh process: peak memory of loading the analyzers, compiling and matching."""
    from bot.matching import compile_rules, morph

    corpus = build_corpus(n_posts)
    rules = build_rules(corpus, n_rules)
    morph._shared = None  # the analyzers are part of what is measured
    import gc

    gc.collect()
    tracemalloc.start()
    matcher = compile_rules(rules)
    for text in corpus.posts:
        matcher.match(text)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"traced_peak": peak, "max_rss": rss}


def _forget_words() -> None:
    """Empty the process-wide word analyses, so the next posts meet only what a warm-up taught them,
    and the parsed rules, so each /pattern/ is compiled afresh (RE2 builds its automaton as it reads
    text: a regex kept from an earlier trial would start warm)."""
    from bot.matching.morph import morphology
    from bot.matching.rules import parse_rule

    morph = morphology()
    morph.analyses.clear()
    morph.lemmas.cache_clear()  # type: ignore[attr-defined]
    parse_rule.cache_clear()


def rule_set(corpus: Corpus, n: int, regex_share: float) -> list[Rule]:
    """``n`` rules of `build_rules`, of which ``regex_share`` (at least one when not 0) are /patterns/
    of the kinds subscribers write (`benchmarks.regex_rules`)."""
    from benchmarks.regex_rules import regex_rules

    k = max(1, round(n * regex_share)) if regex_share else 0
    words = build_rules(corpus, n - k)
    return words + regex_rules(corpus.lemmas, k, first_id=len(words) + 1)


def _split(corpus: Corpus) -> tuple[list[str], list[str]]:
    """The posts the matcher warms up on, and the posts it is timed on: disjoint halves."""
    half = len(corpus.posts) // 2
    return corpus.posts[:half], corpus.posts[half:]


def bench_matching(corpus: Corpus, sizes: Sequence[int], repeat: int, baseline_seconds: float,
                   shares: Sequence[float] = (0.0, 0.05)) -> list[dict[str, object]]:
    """For each rule set size and share of /pattern/ rules, ``repeat`` independent trials: empty word
    caches, rules parsed and compiled afresh, then the first half of the corpus matched from those
    empty caches ("cold": every post unseen, every word new) and the SECOND half timed once ("warm":
    posts it has never seen, with the caches the first half left, as in a running service). Medians.
    The baseline is timed on the unseen half too."""
    from bot.matching import compile_rules

    warm, unseen = _split(corpus)
    rows: list[dict[str, object]] = []
    for n, share in itertools.product(sizes, shares):
        rules = rule_set(corpus, n, share)
        builds, colds, rates = [], [], []
        for _ in range(repeat):
            _forget_words()
            t = time.perf_counter()
            matcher = compile_rules(rules)
            builds.append(time.perf_counter() - t)
            t = time.process_time()
            for text in warm:
                matcher.match(text)
            colds.append(len(warm) / (time.process_time() - t))
            rates.append(_rate(matcher.match, unseen, min_posts=len(unseen), max_seconds=0))
        sample = unseen[:2000]
        hits = sum(1 for text in sample if matcher.match(text))
        per_post = sum(len(matcher.match(text)) for text in sample) / len(sample)
        baseline = Baseline(rules)
        base = _rate(baseline.match, unseen, min_posts=20, max_seconds=baseline_seconds)
        tgmon = statistics.median(rates)
        cold = statistics.median(colds)
        without = next((r for r in rows if r["rules"] == n and r["share"] == 0.0), None)
        rows.append({
            "rules": n, "share": share, "tgmon_posts_s": tgmon, "cold_posts_s": cold, "baseline_posts_s": base,
            "ratio": tgmon / base, "build_s": statistics.median(builds), "posts_with_hits": hits / len(sample),
            "matches_per_post": per_post, "trials": rates, "cold_trials": colds,
            "of_no_regex": tgmon / float(without["tgmon_posts_s"]) if without else None,  # type: ignore[arg-type]
            "cold_of_no_regex": cold / float(without["cold_posts_s"]) if without else None,  # type: ignore[arg-type]
        })
        against = (f"; {rows[-1]['of_no_regex']:.0%} warm, {rows[-1]['cold_of_no_regex']:.0%} cold of the same "
                   f"rules without patterns" if without and share else "")
        print(f"  {n:>6} rules, {share:.0%} /patterns/: tgmon warm {tgmon:8.0f} unseen posts/s "
              f"(trials {', '.join(f'{r:.0f}' for r in rates)}), cold {cold:.0f} (trials "
              f"{', '.join(f'{r:.0f}' for r in colds)}); baseline {base:8.1f} posts/s, x{tgmon / base:.1f}{against}; "
              f"full build {statistics.median(builds):.2f} s; "
              f"{hits / len(sample):.0%} of posts match a rule, {per_post:.1f} rules a post", flush=True)
    return rows


def bench_rebuild(corpus: Corpus, n: int) -> dict[str, float]:
    """After one rule change: a full rebuild (what the pipeline does) and an incremental add."""
    from bot.matching import compile_rules

    rules = build_rules(corpus, n)
    compile_rules(rules)  # the running app has parsed these before
    full, incremental = [], []
    for k in range(5):
        changed = [*rules[:-1], Rule(rules[-1].id, f"новое правило {k}", rules[-1].subscriber_id)]
        t = time.perf_counter()
        matcher = compile_rules(changed)
        full.append(time.perf_counter() - t)
        t = time.perf_counter()
        matcher.add(Rule(n + 100 + k, f"батальон -учение{k}", 1))
        incremental.append(time.perf_counter() - t)
    return {"full_rebuild_s": statistics.median(full), "incremental_add_s": statistics.median(incremental)}


# ---- archive search over N stored posts -------------------------------------------------------

SEARCH_RULES = ["батальон", "беспилотник Белгород", "батальон -учения", '"территориальная оборона"',
                "обстрел*", "эвакуация OR укрытие"]


async def _load(db: Any, corpus: Corpus, n: int) -> None:
    """N posts from 5,000 distinct texts (20-60 words each) with bulk SQL, then the index."""
    from sqlalchemy import text

    from bot.matching import index_text
    from bot.search.fts import drop_index, ensure_index

    rng = random.Random(5)
    templates = []
    for post in corpus.posts[:5000]:
        words = post.split()
        start = rng.randrange(max(1, len(words) - 60))
        body = " ".join(words[start : start + rng.randint(20, 60)])
        templates.append({"id": len(templates), "text": body, "lemma_text": index_text(body)})
    k = len(templates)
    async with db.engine.begin() as conn:
        await conn.run_sync(drop_index)  # build the index once at the end, not row by row
        await conn.execute(text("INSERT INTO channels (id, telegram_id, username, title, last_message_id, status, "
                                "joined, gaps_recovered, flood_wait_seconds, created_at, updated_at) VALUES "
                                "(1, 1302282372, 'vvgladkov', 'Гладков', 0, 'active', false, 0, 0, "
                                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
        await conn.execute(text("CREATE TEMPORARY TABLE bench_templates (id INTEGER PRIMARY KEY, text TEXT, lemma_text TEXT)"))
        await conn.execute(text("INSERT INTO bench_templates VALUES (:id, :text, :lemma_text)"), templates)
        if db.dialect == "sqlite":
            await conn.execute(text(
                "INSERT INTO posts (channel_id, message_id, date, text, text_hash, lemma_text, deleted, stored_at) "
                "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < :n) "
                "SELECT 1, n, strftime('%Y-%m-%d %H:%M:%S.000000', 'now', '-' || (n % 525600) || ' minutes'), "
                "t.text, 'h', t.lemma_text, 0, CURRENT_TIMESTAMP FROM seq JOIN bench_templates t ON t.id = n % :k"
            ), {"n": n, "k": k})
        else:
            await conn.execute(text(
                "INSERT INTO posts (channel_id, message_id, date, text, text_hash, lemma_text, deleted, stored_at) "
                "SELECT 1, n, now() - (n % 525600) * interval '1 minute', t.text, 'h', t.lemma_text, false, now() "
                "FROM generate_series(1, :n) n JOIN bench_templates t ON t.id = n % :k"
            ), {"n": n, "k": k})
        await conn.run_sync(lambda sync: ensure_index(sync, rebuild=True))
    async with db.engine.connect() as conn:
        await conn.execute(text("ANALYZE"))
        await conn.commit()


async def bench_search(corpus: Corpus, n: int, pg_url: str | None) -> None:
    import tempfile
    import uuid
    from datetime import UTC, datetime, timedelta
    from pathlib import Path

    from bot.search import search_posts
    from bot.storage.database import Database

    targets: list[tuple[str, str, Callable[[], Any] | None]] = []
    tmp = tempfile.TemporaryDirectory()
    targets.append(("SQLite FTS5", f"sqlite:///{Path(tmp.name) / 'search.db'}", None))
    if pg_url:
        import asyncpg

        name = f"tgmon_bench_{uuid.uuid4().hex[:8]}"
        admin = pg_url.rsplit("/", 1)[0]
        try:
            conn = await asyncpg.connect(pg_url, timeout=5)
            await conn.execute(f'CREATE DATABASE "{name}"')
            await conn.close()

            async def drop() -> None:
                c = await asyncpg.connect(pg_url, timeout=5)
                await c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                await c.close()

            targets.append(("PostgreSQL GIN", f"{admin}/{name}", drop))
        except (OSError, asyncpg.PostgresError) as exc:
            print(f"PostgreSQL skipped ({exc})")
    print(f"archive search over {n:,} stored posts (medians of 5; last 7 days / all time, 20 newest shown):")
    try:
        for label, url, _ in targets:
            db = Database.from_url(url)
            try:
                await db.upgrade()
                t = time.perf_counter()
                await _load(db, corpus, n)
                print(f"  {label}: {n:,} posts stored and indexed in {time.perf_counter() - t:.0f} s")
                week = datetime.now(UTC) - timedelta(days=7)
                for rule in [*SEARCH_RULES, f'"{corpus.bigrams[0]}"']:
                    line = []
                    for since in (week, None):
                        await search_posts(db, rule, since=since)  # warm
                        times = []
                        for _ in range(5):
                            t = time.perf_counter()
                            result = await search_posts(db, rule, since=since)
                            times.append(time.perf_counter() - t)
                        about = "" if result.exact else "~"
                        line.append(f"{statistics.median(times) * 1000:6.0f} ms ({about}{result.total:,})")
                    print(f"    {rule:<28} 7 days {line[0]}   all {line[1]}", flush=True)
            finally:
                await db.dispose()
    finally:
        for _, _, drop in targets:
            if drop is not None:
                await drop()
        tmp.cleanup()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.matching", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes: a few minutes")
    parser.add_argument("--posts", type=int, help="corpus size (default 20000; --quick 4000)")
    parser.add_argument("--rules", default="10,1000,10000", help="rule set sizes, comma-separated")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--regex-shares", default="0,0.05", help="shares of /pattern/ rules, comma-separated")
    parser.add_argument("--baseline-seconds", type=float, help="time spent measuring each baseline (default 20; --quick 5)")
    parser.add_argument("--search-posts", type=int, help="stored posts for archive search (default 1000000; --quick 100000)")
    parser.add_argument("--pg", default=os.environ.get("TGMON_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres"),
                        help="PostgreSQL server for the search benchmark ('' to skip)")
    parser.add_argument("--skip-search", action="store_true")
    parser.add_argument("--matching-only", action="store_true", help="only posts/s (no rebuild, memory, search)")
    parser.add_argument("--memory-probe", nargs=2, type=int, metavar=("POSTS", "RULES"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_probe:
        print(json.dumps(memory_probe(*args.memory_probe)))
        return
    n_posts = args.posts or (4000 if args.quick else 20000)
    sizes = [int(s) for s in args.rules.split(",") if s]
    baseline_seconds = args.baseline_seconds or (5.0 if args.quick else 20.0)

    t = time.perf_counter()
    corpus = build_corpus(n_posts)
    words = [w for p in corpus.posts for w in p.lower().split()]
    print(f"corpus: {n_posts} posts, {len(words) / n_posts:.0f} words a post on average, {len(set(words)):,} distinct "
          f"words, built in {time.perf_counter() - t:.1f} s")
    warm, unseen = _split(corpus)
    print(f"matching (one core, pure Python; warm-up on {len(warm):,} posts, timed on {len(unseen):,} unseen "
          f"posts; medians of {args.repeat}):")
    shares = [float(s) for s in args.regex_shares.split(",") if s]
    rows = bench_matching(corpus, sizes, args.repeat, baseline_seconds, shares)
    if not args.matching_only:
        _extras(corpus, sizes, n_posts, args)
    print("\n| rules | /patterns/ | tgmon cold posts/s | tgmon warm posts/s | of the same without patterns "
          "(warm / cold) | baseline posts/s | warm / baseline | full build |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        of = (f"{row['of_no_regex']:.0%} / {row['cold_of_no_regex']:.0%}" if row["share"] and row["of_no_regex"]
              else "")
        print(f"| {row['rules']:,} | {row['share']:.0%} | {row['cold_posts_s']:,.0f} | {row['tgmon_posts_s']:,.0f} | "
              f"{of} | {row['baseline_posts_s']:,.1f} | {row['ratio']:,.1f}x | {row['build_s']:.2f} s |")


def _extras(corpus: Corpus, sizes: Sequence[int], n_posts: int, args: argparse.Namespace) -> None:
    """Rebuild time, memory and archive search."""
    biggest = max(sizes)
    rebuild = bench_rebuild(corpus, biggest)
    print(f"rebuild after one rule change at {biggest} rules: full {rebuild['full_rebuild_s']:.2f} s, "
          f"incremental add {rebuild['incremental_add_s'] * 1000:.1f} ms")
    probe_posts = n_posts
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.matching", "--memory-probe", str(probe_posts), str(biggest)],
        capture_output=True, text=True, check=True,
    )
    memory = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"memory at {biggest} rules ({probe_posts} posts matched, fresh process): matcher + analyzers "
          f"{_mib(memory['traced_peak'])} traced peak; process peak RSS {_mib(memory['max_rss'])} (with the corpus)")
    if not args.skip_search:
        asyncio.run(bench_search(corpus, args.search_posts or (100_000 if args.quick else 1_000_000), args.pg or None))


if __name__ == "__main__":
    main()
