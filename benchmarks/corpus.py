"""A realistic archive for the benchmarks, and a fast way to load it into either database.

Every post is generated, none repeated (but reposts, which carry their origin's text and say where
it came from, as Telegram's forwards do): a Zipf law over real Russian and Ukrainian lexemes from
the pymorphy3 dictionaries (each occurrence one of the lexeme's inflected forms, its first forms the
common ones) and an English vocabulary with its -s/-ed/-ing forms; about a third of the running text
function words; sentences, commas, line breaks, numbers, emoji and the odd hashtag. Lengths follow a
log-normal law from one line to Telegram's 4,096 characters (median about 40 words), dates spread
over two years up to ``now``, posts over 500 channels of very unequal activity, 4% reposts.

    python -m benchmarks.corpus --posts 100000 --url sqlite:///archive.db
    python -m benchmarks.corpus --posts 1000000 --url postgresql://postgres@127.0.0.1:5432/bench \\
        --cache /tmp/corpus-1m.tsv

`load` stores the posts in bulk: PostgreSQL's COPY (asyncpg), SQLite's executemany in one
transaction, the full-text index dropped first and built once at the end. Each post's
``lemma_text`` is made by `bot.matching.index_text`, the function the search indexer runs, so the
index holds exactly what ingestion would have put there. Generating and analysing the posts is most
of the time, so ``--cache`` keeps them in a file that the next load (the other database) reads.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import random
import struct
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

CORPUS_VERSION = 1
CHANNELS = 500
DAYS = 730
REPOST_SHARE = 0.04
TELEGRAM_ID_BASE = 1_900_000_000  # channel i is telegram id TELEGRAM_ID_BASE + i, username bench_<i>
MAX_TEXT = 4096


def _words(text: str) -> list[str]:
    return text.split()


_STOP = {
    "ru": _words("и в не на что с по как а то это к у из за о от же для так но да бы до только уже ли или его ее "
                 "их он она они мы вы мне был была были будет есть все при также этом где после"),
    "uk": _words("і в не на що з по як а то це до у із за про від ж для так але та би тільки вже чи або його її "
                 "їх він вона вони ми ви був була були буде є все при також цьому де після"),
    "en": _words("the a an of to and in on for with at by from is are was were be been it this that as or not"),
}
_EN = _words(
    "shelling battalion defense drone missile border region governor attack night city village shelter "
    "evacuation damage house people report police power line school road train bridge fire smoke alarm "
    "unit force army soldier volunteer strike resident official week month year news update support water "
    "heat price market bank rate oil gas grain export import budget tax court judge law vote election "
    "minister president parliament party leader deal talk meeting summit crisis war peace ship port plane "
    "airport station hospital doctor patient child family student teacher worker factory plant company "
    "share profit loss growth storm flood snow rain wind temperature weather forecast match team player "
    "goal coach season league club fan ticket concert film book author museum church festival holiday "
    "road car bus accident driver traffic street bridge tunnel river lake sea coast island mountain "
    "forest field farm farmer harvest bread milk meat store shop online phone internet network server "
    "hacker leak account password camera satellite launch rocket engine fuel energy grid outage repair"
)
_EMOJI = ["🔥", "⚡️", "❗️", "👉", "📍", "✅", "🇺🇦", "🇷🇺", "😢", "👍"]


@dataclass(frozen=True, slots=True)
class CorpusPost:
    channel: int  # 0 .. channels - 1
    message_id: int
    date: datetime
    text: str
    forward: tuple[int, int] | None  # a repost: (the origin's channel, its message id)


def _en_lexemes(rng: random.Random) -> list[tuple[str, list[str]]]:
    def forms(word: str) -> list[str]:
        stem = word[:-1] if word.endswith("e") else word
        return [word, word + "s", stem + "ed", stem + "ing"]

    words = sorted(set(_EN))
    rng.shuffle(words)
    return [(w, forms(w)) for w in words]


class Generator:
    """Deterministic for a seed: the same posts every time (their dates relative to ``now``)."""

    def __init__(self, *, seed: int = 7, channels: int = CHANNELS, days: int = DAYS, now: datetime | None = None) -> None:
        from benchmarks.matching import _lexemes

        self.seed = seed
        self.channels = channels
        self.now = (now or datetime.now(UTC)).replace(microsecond=0)
        self.start = self.now - timedelta(days=days)
        rng = random.Random(seed)
        # the dictionaries know no frequencies: a shorter lemma is likelier a common one (as in real text)
        self.lexemes = {lang: sorted(lex, key=lambda lexeme: len(lexeme[0]) + 8 * rng.random())
                        for lang, lex in (("ru", _lexemes("ru", 2500, rng)), ("uk", _lexemes("uk", 800, rng)),
                                          ("en", _en_lexemes(rng)))}
        # a lexeme's weight is 1 / (rank + 8): the most common content word is in about 40% of posts
        self._cum = {lang: list(itertools.accumulate(1.0 / (r + 8) for r in range(len(lex))))
                     for lang, lex in self.lexemes.items()}
        # channel activity: a few channels post most (weights 1 / (rank + 5))
        self._channel_cum = list(itertools.accumulate(1.0 / (r + 5) for r in range(channels)))

    def _text(self, rng: random.Random) -> str:
        roll = rng.random()
        lang = "ru" if roll < 0.75 else "uk" if roll < 0.9 else "en"
        n = max(2, min(700, int(rng.lognormvariate(3.6, 0.9))))
        content = math.ceil(n * 0.68)
        lexemes = rng.choices(self.lexemes[lang], cum_weights=self._cum[lang], k=content)
        words = [forms[min(int(rng.paretovariate(1.3)) - 1, len(forms) - 1)] for _, forms in lexemes]
        words += rng.choices(_STOP[lang], k=n - content)
        rng.shuffle(words)
        out: list[str] = []
        size = 0
        sentence = 0
        length = rng.randint(5, 16)
        for word in words:
            if sentence == 0:
                word = word.capitalize()
            elif rng.random() < 0.02:
                word = str(rng.randint(2, 2000))
            sentence += 1
            if sentence >= length:
                word += rng.choice((".", ".", ".", "!", "?", ":")) + ("\n" if rng.random() < 0.25 else "")
                sentence, length = 0, rng.randint(5, 16)
            elif rng.random() < 0.06:
                word += ","
            if rng.random() < 0.008:
                word += " " + rng.choice(_EMOJI)
            if size + len(word) + 1 > MAX_TEXT:
                break
            out.append(word)
            size += len(word) + 1
        text = " ".join(out).replace("\n ", "\n").strip()
        if rng.random() < 0.03:
            text += f"\n#{rng.choice(self.lexemes[lang][:200])[0]}"
        return text[:MAX_TEXT]

    def posts(self, n: int) -> Iterator[CorpusPost]:
        """``n`` posts in date order (oldest first), spread evenly with jitter over the span."""
        rng = random.Random(self.seed * 1_000_003 + n)
        span = (self.now - self.start).total_seconds()
        next_id = [0] * self.channels
        recent: list[tuple[int, int, str]] = []  # (channel, message id, text): what a repost may copy
        for i in range(n):
            channel = rng.choices(range(self.channels), cum_weights=self._channel_cum)[0]
            next_id[channel] += 1
            date = self.start + timedelta(seconds=span * (i + rng.random()) / n)
            forward = None
            if recent and rng.random() < REPOST_SHARE:
                origin, origin_id, text = recent[rng.randrange(len(recent))]
                if origin != channel:
                    forward = (origin, origin_id)
                else:
                    text = self._text(rng)
            else:
                text = self._text(rng)
            if forward is None:
                if len(recent) < 2000:
                    recent.append((channel, next_id[channel], text))
                else:
                    recent[rng.randrange(2000)] = (channel, next_id[channel], text)
            yield CorpusPost(channel, next_id[channel], date, text, forward)


# ---- the cache file: one post a line, tab-separated, text escaped -----------------------------------

def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            out.append({"t": "\t", "n": "\n", "r": "\r", "\\": "\\"}.get(text[i + 1], text[i + 1]))
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


@dataclass(frozen=True, slots=True)
class Row:
    """A post as stored: the corpus post and its lemma text."""

    post: CorpusPost
    lemma_text: str


def _header(n: int, gen: Generator) -> str:
    return f"tgmon-corpus v{CORPUS_VERSION} posts={n} seed={gen.seed} channels={gen.channels} now={gen.now.isoformat()}\n"


def rows(n: int, gen: Generator, cache: Path | None = None) -> Iterator[Row]:
    """The corpus with each post's lemma text, read from ``cache`` when it holds this very corpus
    (same size, seed, channels and version), else generated and analysed (and written to ``cache``)."""
    from bot.matching import index_text

    if cache is not None and cache.exists():
        with cache.open(encoding="utf-8") as f:
            head = f.readline()
            _, _, *fields = head.split()
            info = dict(field.split("=", 1) for field in fields)
            if head.startswith(f"tgmon-corpus v{CORPUS_VERSION} ") and info.get("posts") == str(n) and \
                    info.get("seed") == str(gen.seed) and info.get("channels") == str(gen.channels):
                for line in f:
                    ch, mid, date, fch, fmid, text, lemmas = line.rstrip("\n").split("\t")
                    forward = (int(fch), int(fmid)) if fch else None
                    yield Row(CorpusPost(int(ch), int(mid), datetime.fromisoformat(date), _unescape(text), forward),
                              lemmas)
                return
    out = cache.open("w", encoding="utf-8") if cache is not None else None
    try:
        if out is not None:
            out.write(_header(n, gen))
        for post in gen.posts(n):
            row = Row(post, index_text(post.text))
            if out is not None:
                fch, fmid = post.forward or ("", "")
                out.write(f"{post.channel}\t{post.message_id}\t{post.date.isoformat()}\t{fch}\t{fmid}\t"
                          f"{_escape(post.text)}\t{row.lemma_text}\n")
            yield row
    finally:
        if out is not None:
            out.close()


# ---- loading -----------------------------------------------------------------------------------

_COLUMNS = ("channel_id", "message_id", "date", "text", "text_hash", "lemma_text", "deleted",
            "forward_channel_id", "forward_message_id", "stored_at")


def _positions(text: str) -> dict[str, list[int]] | None:
    from bot.matching.index import MAX_INDEX_TEXT, key_positions
    from bot.matching.text import tokenize

    return key_positions(tokenize(text[:MAX_INDEX_TEXT])) if text else None


def _pairs(text: str) -> str | None:
    from bot.matching.index import MAX_INDEX_TEXT, phrase_pairs
    from bot.matching.text import tokenize

    return phrase_pairs(tokenize(text[:MAX_INDEX_TEXT])) if text else None


def tsvector_binary(positions: dict[str, list[int]]) -> bytes:
    """A tsvector in PostgreSQL's binary form (what ``tsvectorsend`` writes and ``tsvectorrecv``
    reads): the count of lexemes, then each lexeme's UTF-8 bytes, a NUL, its count of positions and
    the positions (16 bits each, weight D: 0)."""
    out = [struct.pack("!i", len(positions))]
    for key, where in positions.items():
        out.append(key.encode("utf-8") + b"\0" + struct.pack(f"!H{len(where)}H", len(where), *where))
    return b"".join(out)


def channel_username(i: int) -> str:
    return f"bench_{i:03d}"


@dataclass
class LoadStats:
    posts: int
    seconds: float  # storing the posts (generation and analysis included unless read from a cache)
    index_seconds: float  # building the full-text index at the end

    @property
    def rate(self) -> float:
        return self.posts / max(self.seconds, 1e-9)


async def load(
    db: Any, source: Iterable[Row], *, channels: int = CHANNELS, batch: int = 5000,
    progress: Callable[[int], None] | None = None,
) -> LoadStats:
    """Store ``source`` in the (migrated, empty) database ``db``: channels, posts, then the index."""
    from sqlalchemy import text

    from bot.domain import text_hash
    from bot.search.fts import drop_index, ensure_index

    began = time.perf_counter()
    now = datetime.now(UTC)
    pg = db.dialect != "sqlite"
    async with db.engine.begin() as conn:
        await conn.run_sync(drop_index)
        await conn.execute(
            text("INSERT INTO channels (id, telegram_id, username, title, last_message_id, history_id, status, joined, "
                 "gaps_recovered, flood_wait_seconds, created_at, updated_at) VALUES (:id, :tid, :u, :t, 0, 0, "
                 "'active', :j, 0, 0, :now, :now)"),
            [{"id": i + 1, "tid": TELEGRAM_ID_BASE + i, "u": channel_username(i), "t": f"Bench channel {i}",
              "j": True, "now": now if pg else now.replace(tzinfo=None)} for i in range(channels)],
        )
    count = 0

    def record(row: Row) -> tuple[Any, ...]:
        post = row.post
        fwd_channel = TELEGRAM_ID_BASE + post.forward[0] if post.forward else None
        fwd_message = post.forward[1] if post.forward else None
        date: Any = post.date if pg else post.date.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        stored: Any = now if pg else now.strftime("%Y-%m-%d %H:%M:%S.%f")
        return (post.channel + 1, post.message_id, date, post.text, text_hash(post.text), row.lemma_text,
                False, fwd_channel, fwd_message, stored)

    async with db.engine.begin() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        insert = f"INSERT INTO posts ({', '.join(_COLUMNS)}, phrase_pairs) VALUES ({', '.join('?' * (len(_COLUMNS) + 1))})"
        source_iter = iter(source)
        if pg:  # the phrase positions too, as the search indexer writes them (COPY's binary tsvector)
            await raw.set_type_codec("tsvector", schema="pg_catalog", encoder=tsvector_binary,
                                     decoder=bytes, format="binary")
        while chunk := [record(r) for r in itertools.islice(source_iter, batch)]:
            if pg:
                await raw.copy_records_to_table(
                    "posts", records=[(*row, _positions(row[3])) for row in chunk], columns=[*_COLUMNS, "phrase_tsv"])
            else:  # SQLite: the pairs of adjacent words' keys, as the search indexer writes them
                await raw.executemany(insert, [(*row, _pairs(row[3])) for row in chunk])
            count += len(chunk)
            if progress is not None:
                progress(count)
    stored_in = time.perf_counter() - began
    began = time.perf_counter()
    async with db.engine.begin() as conn:
        await conn.run_sync(lambda sync: ensure_index(sync, rebuild=True))
        if pg:  # serial ids taken by COPY: the sequence must go on after them
            await conn.execute(text("SELECT setval(pg_get_serial_sequence('posts', 'id'), (SELECT max(id) FROM posts))"))
    async with db.engine.connect() as conn:
        await conn.execute(text("ANALYZE"))
        await conn.commit()
    return LoadStats(count, stored_in, time.perf_counter() - began)


async def build(url: str, n: int, *, seed: int = 7, channels: int = CHANNELS, cache: Path | None = None,
                quiet: bool = False) -> LoadStats:
    """Migrate the database at ``url`` and load ``n`` corpus posts into it."""
    from bot.storage.database import Database

    db = Database.from_url(url)
    try:
        await db.upgrade()
        gen = Generator(seed=seed, channels=channels)
        step = max(n // 20, 1000)

        def progress(done: int) -> None:
            if not quiet and done % step < 5000:
                print(f"  {done:,} / {n:,} posts stored", file=sys.stderr, flush=True)

        return await load(db, rows(n, gen, cache), channels=channels, progress=progress)
    finally:
        await db.dispose()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.corpus", description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--url", required=True, help="database URL (sqlite:///path or postgresql://...): must be new")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--channels", type=int, default=CHANNELS)
    parser.add_argument("--cache", type=Path, help="file of generated posts: read when it holds this corpus, else written")
    args = parser.parse_args(argv)
    from bot.storage.database import DatabaseUnavailable

    try:
        stats = asyncio.run(build(args.url, args.posts, seed=args.seed, channels=args.channels, cache=args.cache))
    except DatabaseUnavailable as exc:  # its message says what is wrong and how to fix it
        parser.exit(2, f"python -m benchmarks.corpus: {exc}\n")
    print(f"{stats.posts:,} posts stored in {stats.seconds:.1f} s ({stats.rate:,.0f} posts/s), "
          f"full-text index built in {stats.index_seconds:.1f} s")


if __name__ == "__main__":
    main()
