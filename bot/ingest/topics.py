"""Post vectors at ingestion, and the topic rules they make match (``~"..."``, bot/matching/topics.py).

A post is stored and keyword-matched first (pipeline.py): embedding never holds up that path. Then
this worker embeds the new and edited posts in batches (the model runs in a thread, off the event
loop), stores their vectors, and matches the rules that hold a topic term against them, storing
their matches as the keyword path does: they go to digests and instant alerts the same way.

The worker follows post ids: it embeds the posts above the newest one that has a vector, so posts
stored while the process was down are embedded when it starts again (but only posts stored since
it started are matched: an archive's old posts must not arrive as alerts). An edited post (its vector
stale) is handed over by the pipeline. `tgmon reindex --vectors` fills the rest of an archive.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from bot.search import vectors
from bot.storage import posts as stored_posts
from bot.storage.database import Database

if TYPE_CHECKING:
    from bot.domain import Matcher, RuleMatch

log = logging.getLogger(__name__)

_LOOK_BACK = 1_000  # ids below the newest vector looked at again: a post another process committed late


class TopicWorker:
    """Embeds posts behind ingestion and matches topic rules against them."""

    def __init__(
        self,
        db: Database,
        matcher: Callable[[], Any],  # async: the pipeline's current matcher
        insert_matches: Callable[[Any, list[tuple[RuleMatch, int]]], Any],  # async (session, hits) -> new ids
        *,
        batch: int = 32,
        retry_seconds: float = 30.0,
    ) -> None:
        from bot.matching.topics import embedder

        self.db = db
        self._matcher = matcher
        self._insert = insert_matches
        self.batch = batch
        self.retry_seconds = retry_seconds
        self.model = embedder()
        self.on_matches: list[Callable[[], None]] = []
        self._floor: int | None = None  # the newest post id embedded (None: not read yet)
        # posts up to this id were stored before this worker began: embedded, never matched (an
        # archive's old posts must not come as alerts when the extra is installed)
        self._match_from: int | None = None
        self._edited: set[int] = set()
        self._task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[int]] = set()
        self._woken = False
        self.embedded = 0  # posts embedded by this worker
        self.last_batch_seconds = 0.0  # time of the last batch: embedding, storing, matching

    async def prepare(self) -> None:
        """Before the first batch this process ingests: note where its own posts begin."""
        if self._match_from is None:
            async with self.db.uow(read_only=True) as session:
                self._match_from = await stored_posts.newest_id(session)

    def wake(self, edited: Sequence[int] = ()) -> None:
        """Posts were stored (or edited): embed them in the background."""
        self._edited.update(edited)
        self._woken = True
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="topic-worker")

    async def close(self) -> None:
        for job in list(self._background):
            job.cancel()
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def catch_up(self) -> int:
        """Embed (and match) everything waiting now. Returns how many posts."""
        total = 0
        while done := await self.run_batch():
            total += done
        return total

    async def run_batch(self) -> int:
        """One batch: read waiting posts, embed them, store vectors and topic matches. How many."""
        began = time.perf_counter()
        model_id = self.model.model_id
        async with self.db.uow(read_only=True) as session:
            if self._floor is None:
                self._floor = await vectors.latest_id(session)
                self._start_model_change(await vectors.count_other_model(session, model_id))
            rows = await vectors.pending(session, model_id, after=max(0, self._floor - _LOOK_BACK), limit=self.batch)
            edited, self._edited = sorted(self._edited), set()
            if edited:
                rows += await vectors.texts(session, edited)
            rows = list({r[0]: r for r in rows}.values())
            keys = await stored_posts.channel_keys(session, [r[0] for r in rows])
        if not rows:
            return 0
        texts = [r[1] for r in rows]
        matrix = await asyncio.to_thread(self.model.passages, texts)
        matcher: Matcher = await self._matcher()
        hits: list[tuple[RuleMatch, int]] = []
        if getattr(matcher, "has_topics", lambda: False)():
            for (pid, text, _), vector in zip(rows, matrix, strict=True):
                if pid <= (self._match_from or 0) and pid not in edited:
                    continue
                hits += [(hit, pid) for hit in matcher.match_topics(text, vector, keys.get(pid))]  # type: ignore[attr-defined]
        async with self.db.uow() as session:
            await vectors.store(session, [(pid, text_hash, matrix[n]) for n, (pid, _, text_hash) in enumerate(rows)], model_id)
            new = await self._insert(session, hits) if hits else []
        self._floor = max(self._floor, max(r[0] for r in rows))
        self.embedded += len(rows)
        self.last_batch_seconds = time.perf_counter() - began
        if new:
            for listener in self.on_matches:
                listener()
        return len(rows)

    def _start_model_change(self, others: int) -> None:
        """Vectors made by another model (the extra was upgraded): embed them again in the background,
        as `tgmon reindex --vectors` does. Until then those posts are found by no topic."""
        if not others:
            return
        log.warning("%d post vectors were made by another model than %s; embedding them again in the background",
                    others, self.model.model_id)
        task = asyncio.get_running_loop().create_task(reindex_vectors(self.db), name="topic-model-change")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _run(self) -> None:
        retry = self.retry_seconds
        while True:
            self._woken = False
            try:
                done = await self.run_batch()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # nothing was stored: the posts are still waiting, and are retried
                log.warning("embedding posts failed (%s: %s); retrying in %.0f s", exc.__class__.__name__, exc, retry)
                await asyncio.sleep(retry)
                retry = min(retry * 2, 600.0)
                continue
            retry = self.retry_seconds
            if done == 0 and not self._woken:
                return
            await asyncio.sleep(0)  # let ingestion in between batches


async def reindex_vectors(db: Database, *, batch: int = 64, progress: Callable[[int, int], None] | None = None) -> int:
    """Embed every post whose vector is missing, stale or made by another model (a model change).
    Matches nothing: an archive's old posts are not news. ``progress(done, total)`` after each batch."""
    from bot.matching.topics import embedder

    model = embedder()
    async with db.uow(read_only=True) as session:
        total = await vectors.count_pending(session, model.model_id)
    done, last = 0, 0
    while True:
        async with db.uow(read_only=True) as session:
            rows = await vectors.pending(session, model.model_id, after=last, limit=batch)
        if not rows:
            break
        matrix = await asyncio.to_thread(model.passages, [r[1] for r in rows])
        async with db.uow() as session:
            await vectors.store(session, [(pid, h, matrix[n]) for n, (pid, _, h) in enumerate(rows)], model.model_id)
        last = rows[-1][0]
        done += len(rows)
        if progress is not None:
            progress(done, max(total, done))
    return done


async def other_model_count(db: Database) -> int:
    """Vectors made by another model than the installed one (a model change: reindex them)."""
    from bot.matching.topics import embedder

    async with db.uow(read_only=True) as session:
        return await vectors.count_other_model(session, embedder().model_id)
