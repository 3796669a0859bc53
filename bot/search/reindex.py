"""Recompute every post's lemma text (after a dictionary or normalisation upgrade) and make sure
the full-text index and its triggers exist. One short transaction per batch: ingestion keeps going."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from bot.matching.index import INDEX_VERSION
from bot.search.fts import ensure_index
from bot.search.indexer import entries, index_pending
from bot.storage import models as m
from bot.storage.database import Database

VERSION_KEY = "matching.index_version"
_REWRITE = sa.text("UPDATE posts SET lemma_text = :lemmas, phrase_pairs = :pairs WHERE id = :pid")
_REWRITE_PG = sa.text("UPDATE posts SET lemma_text = :lemmas, phrase_tsv = CAST(:vector AS tsvector) WHERE id = :pid")


async def reindex(
    db: Database, *, only_missing: bool = False, batch: int = 1000, progress: Callable[[int], None] | None = None
) -> int:
    """Rewrite posts.lemma_text with posts.phrase_tsv (PostgreSQL) or posts.phrase_pairs (SQLite),
    all, or only the posts not indexed yet. Returns how many posts were rewritten."""
    last, done = 0, 0
    while not only_missing:
        async with db.uow() as session:
            query = sa.select(m.Post.id, m.Post.text).where(m.Post.id > last).order_by(m.Post.id).limit(batch)
            rows = (await session.execute(query)).all()
            if not rows:
                break
            await session.execute(
                _REWRITE_PG if db.dialect == "postgresql" else _REWRITE,
                [{"pid": r.id, **entries(r.text or "", db.dialect)} for r in rows],
            )
        done += len(rows)
        last = rows[-1].id
        if progress is not None:
            progress(done)
    while only_missing:  # what the search indexer has not reached yet
        async with db.uow() as session:
            count = await index_pending(session, batch)
        if not count:
            break
        done += count
        if progress is not None:
            progress(done)
    async with db.engine.begin() as conn:
        await conn.run_sync(lambda sync: ensure_index(sync))
    async with db.uow() as session:
        row = await session.get(m.Meta, VERSION_KEY)
        if row is None:
            session.add(m.Meta(key=VERSION_KEY, value=INDEX_VERSION))
        else:
            row.value = INDEX_VERSION
    return done
