"""The search indexer: writes stored posts into the full-text index, behind ingestion.

Ingestion stores a post with ``lemma_text`` NULL, meaning "not in the search index yet", and goes
on: matching and alerts never wait for the index. The indexer then computes the lemma text of
the pending posts, oldest first, a short transaction per batch; writing ``lemma_text`` is what
updates the index (SQLite: the FTS5 triggers; PostgreSQL: the GIN index over the generated
``lemma_tsv``). The same statement writes what phrases are found by: on PostgreSQL the post's
``phrase_tsv`` (its keys at their words' positions: migration 0030), on SQLite its ``phrase_pairs``
(a token for each two keys of adjacent words: migration 0032).

Ingestion comes first. The indexer runs a batch when ingestion has been quiet for `idle_seconds`,
or when it has waited `max_wait_seconds` (so a long burst cannot starve it). Search stays exact
meanwhile: it reads the pending posts as candidates too (bot/search/query.py). Pending posts
are rows in the database, so nothing is lost to a restart: the next indexer finds them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.matching.index import index_entries, index_pairs
from bot.storage import models as m
from bot.storage.database import Database

log = logging.getLogger(__name__)

# lemma_text of a post the database refused to index: no keys, so it
# leaves the indexer's queue (NULL) for good; search finds it only through rules with no words
# (a regex alone), which read every post
UNINDEXABLE = ""

_POSTS = m.Post.__table__
assert isinstance(_POSTS, sa.Table)

# PostgreSQL: the positions too, in the same statement (the column is PostgreSQL's alone)
_FILL_PG = sa.text(
    "UPDATE posts SET lemma_text = :lemmas, phrase_tsv = CAST(:vector AS tsvector) "
    "WHERE id = :pid AND lemma_text IS NULL AND text_hash = :hash"
)
# SQLite: the pairs too (the column is SQLite's alone). Only a row still pending and still holding
# the text that was read (an edit in between sets the row pending again with a new text: its own
# pass indexes that)
_FILL = sa.text(
    "UPDATE posts SET lemma_text = :lemmas, phrase_pairs = :pairs "
    "WHERE id = :pid AND lemma_text IS NULL AND text_hash = :hash"
)


def fill_statement(session: AsyncSession) -> Any:
    """The statement that indexes a pending post (parameters pid, hash, lemmas, vector, pairs)."""
    return _FILL_PG if _dialect(session) == "postgresql" else _FILL


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else ""


async def index_pending(session: AsyncSession, limit: int) -> int:
    """Index up to ``limit`` pending posts, oldest first, in the caller's transaction. Returns how
    many were read (0: nothing pending)."""
    query = sa.select(_POSTS.c.id, _POSTS.c.text, _POSTS.c.text_hash).where(_POSTS.c.lemma_text.is_(None))
    query = query.order_by(_POSTS.c.id).limit(limit)
    if _dialect(session) == "postgresql":
        query = query.with_for_update(skip_locked=True)  # two ingest processes split the work
    rows = (await session.execute(query)).all()
    if not rows:
        return 0
    fill = fill_statement(session)
    # an error in the analysis itself (a bug, not the post) rolls the batch back and is retried
    dialect = _dialect(session)
    params = [{"pid": r.id, "hash": r.text_hash, **entries(r.text or "", dialect)} for r in rows]
    try:
        async with session.begin_nested():  # a savepoint: a refused row must not cost the batch
            await session.execute(fill, params)
    except DBAPIError:
        # one post the database cannot index must never block the others: each row on its own,
        # and a row still refused is marked (lemma_text '') so it leaves the queue for good
        for row in params:
            try:
                async with session.begin_nested():
                    await session.execute(fill, [row])
            except DBAPIError as exc:
                log.warning("post %s cannot be indexed (%s); it is left out of the search index",
                            row["pid"], exc.orig.__class__.__name__ if exc.orig is not None else "error")
                async with session.begin_nested():
                    await session.execute(fill, [{**row, "lemmas": UNINDEXABLE, "vector": None, "pairs": None}])
    return len(rows)


def entries(text: str, dialect: str) -> dict[str, str | None]:
    """A post's index parameters: its lemma text and what finds its phrases, PostgreSQL's phrase
    vector (`index_entries`) or SQLite's pairs (`index_pairs`)."""
    if dialect == "postgresql":
        lemmas, vector = index_entries(text)
        return {"lemmas": lemmas, "vector": vector, "pairs": None}
    lemmas, pairs = index_pairs(text)
    return {"lemmas": lemmas, "vector": None, "pairs": pairs}


async def pending_count(db: Database) -> int:
    async with db.uow(read_only=True) as session:
        query = sa.select(sa.func.count()).select_from(_POSTS).where(_POSTS.c.lemma_text.is_(None))
        return int(await session.scalar(query) or 0)


class SearchIndexer:
    """Runs `index_pending` in the background of a process that ingests."""

    def __init__(
        self,
        db: Database,
        *,
        batch: int = 250,
        idle_seconds: float = 0.2,
        max_wait_seconds: float = 5.0,
        retry_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.batch = batch
        self.idle_seconds = idle_seconds
        self.max_wait_seconds = max_wait_seconds
        self.retry_seconds = retry_seconds  # after a failed batch; doubles up to ten minutes
        self._clock = clock
        self._ingesting = 0
        self._last_ingest = float("-inf")
        self._task: asyncio.Task[None] | None = None
        self._woken = False  # posts stored since the running task last looked
        self.indexed = 0  # posts indexed by this indexer since it was made

    # --- what ingestion tells it ------------------------------------------------------------------
    @contextlib.contextmanager
    def ingesting(self) -> Iterator[None]:
        """Wrap an ingest batch: the indexer holds back while it runs and for `idle_seconds` after."""
        self._ingesting += 1
        try:
            yield
        finally:
            self._ingesting -= 1
            self._last_ingest = self._clock()

    def wake(self) -> None:
        """Posts were stored: index them once ingestion is quiet (starts the background task)."""
        self._woken = True
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="search-indexer")

    # --- running --------------------------------------------------------------------------------
    async def run_batch(self) -> int:
        async with self.db.uow() as session:
            done = await index_pending(session, self.batch)
        self.indexed += done
        return done

    async def catch_up(self) -> int:
        """Index everything pending now, without waiting for ingestion to be quiet. Returns the count."""
        total = 0
        while done := await self.run_batch():
            total += done
        return total

    async def flush(self) -> int:
        """Stop the background task and index whatever is pending (one-shot commands, before exit)."""
        await self.close()
        return await self.catch_up()

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _hold_back(self, last_batch: float) -> float:
        """Seconds to wait before the next batch (0: go)."""
        now = self._clock()
        if now - last_batch >= self.max_wait_seconds:
            return 0.0
        if self._ingesting:
            return min(self.idle_seconds, self.max_wait_seconds - (now - last_batch))
        return max(0.0, min(self.idle_seconds - (now - self._last_ingest), self.max_wait_seconds - (now - last_batch)))

    async def _run(self) -> None:
        last_batch = self._clock()
        retry = self.retry_seconds
        while True:
            wait = self._hold_back(last_batch)
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            self._woken = False
            try:
                done = await self.run_batch()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the batch rolled back whole: its posts stay pending, and are retried
                log.warning("search indexing failed (%s: %s); retrying in %.0f s", exc.__class__.__name__, exc, retry)
                await asyncio.sleep(retry)
                retry = min(retry * 2, 600.0)
                continue
            retry = self.retry_seconds
            last_batch = self._clock()
            if done == 0 and not self._woken:  # a wake during the last pass means more to read
                return
