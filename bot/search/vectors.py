"""Stored post vectors (table ``post_vectors``, migration 0023) and the nearest posts to a topic.

Three backends, chosen by what the database has:

- ``pgvector``: PostgreSQL with the extension; the column is ``vector(384)`` with an HNSW index.
  A whole-archive top-k of at most HNSW_MAX comes from the index (``ORDER BY embedding <#> query``,
  negative inner product, with ``hnsw.ef_search`` raised to k); every other ask (a window, or every
  post above a threshold, as search asks) is an exact scan with the distance computed in C, since an
  HNSW index returns at most ef_search posts and filters a window after it.
- ``bytea`` (PostgreSQL without the extension) and ``blob`` (SQLite): the raw float32 bytes, and the
  nearest posts from a scan in numpy over the vectors of the posts in the search's window (measured
  against sqlite-vec in docs/benchmarks.md).

numpy is imported only here and only when called: it comes with the semantic extra.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.types import UTCDateTime

_SCAN_BATCH = 20_000  # vectors read at a time by the scan
_WINDOW_BY_ID = 200_000  # a window of at most this many posts reads their vectors by id (5,000 a query)
HNSW_MAX = 1_000  # pgvector's HNSW index answers a whole-archive top-k of at most this many (its ef_search limit)

_backends: dict[str, str] = {}  # database url -> backend (a server does not change its column type)


async def backend(session: AsyncSession) -> str:
    """"pgvector", "bytea" or "blob"."""
    bind = session.bind
    key = str(getattr(bind, "url", ""))
    found = _backends.get(key)
    if found is None:
        if bind is not None and bind.dialect.name == "postgresql":
            kind = await session.scalar(sa.text(
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                "WHERE attrelid = 'post_vectors'::regclass AND attname = 'embedding'"))
            found = "pgvector" if str(kind).startswith("vector") else "bytea"
        else:
            found = "blob"
        _backends[key] = found
    return found


def _encode(vector: Any, kind: str) -> object:
    import numpy as np

    values = np.asarray(vector, dtype="<f4")
    if kind == "pgvector":
        return "[" + ",".join(f"{v:.7g}" for v in values.tolist()) + "]"
    return values.tobytes()


def _decode(value: Any) -> Any:
    import numpy as np

    if isinstance(value, str):  # pgvector's text form: [0.1,0.2,...]
        return np.array(value.strip("[]").split(","), dtype=np.float32)
    return np.frombuffer(bytes(value), dtype="<f4")


async def store(session: AsyncSession, rows: Sequence[tuple[int, str, Any]], model: str) -> None:
    """Write (post id, text hash, vector) rows, replacing older vectors of the same posts."""
    if not rows:
        return
    kind = await backend(session)
    value = "CAST(:embedding AS vector)" if kind == "pgvector" else ":embedding"
    await session.execute(
        sa.text(
            f"INSERT INTO post_vectors (post_id, model, text_hash, embedding) VALUES (:pid, :model, :hash, {value}) "
            "ON CONFLICT (post_id) DO UPDATE SET model = excluded.model, text_hash = excluded.text_hash, "
            "embedding = excluded.embedding"
        ),
        [{"pid": pid, "model": model, "hash": text_hash, "embedding": _encode(vec, kind)} for pid, text_hash, vec in rows],
    )


async def load(session: AsyncSession, post_ids: Iterable[int], model: str) -> dict[int, Any]:
    """The current vectors of these posts (made by ``model`` from their present text)."""
    ids = list(post_ids)
    if not ids:
        return {}
    kind = await backend(session)
    column = "v.embedding::text" if kind == "pgvector" else "v.embedding"
    found: dict[int, Any] = {}
    for start in range(0, len(ids), 5_000):
        rows = await session.execute(
            sa.text(f"SELECT v.post_id, {column} FROM post_vectors v JOIN posts p ON p.id = v.post_id "
                    "WHERE v.post_id IN :ids AND v.model = :model AND v.text_hash = p.text_hash")
            .bindparams(sa.bindparam("ids", expanding=True)),
            {"ids": ids[start : start + 5_000], "model": model},
        )
        found.update((int(pid), _decode(value)) for pid, value in rows)
    return found


async def pending(session: AsyncSession, model: str, *, after: int = 0, limit: int = 256) -> list[tuple[int, str, str]]:
    """Posts above id ``after`` whose vector is missing, stale (edited) or made by another model:
    (id, text, text hash), oldest first."""
    rows = await session.execute(
        sa.text(
            "SELECT p.id, p.text, p.text_hash FROM posts p LEFT JOIN post_vectors v ON v.post_id = p.id "
            "WHERE p.id > :after AND p.deleted = :no AND p.text <> '' "
            "AND (v.post_id IS NULL OR v.model <> :model OR v.text_hash <> p.text_hash) "
            "ORDER BY p.id LIMIT :limit"
        ),
        {"after": after, "model": model, "limit": limit, "no": False},
    )
    return [(int(r[0]), r[1], r[2]) for r in rows]


async def texts(session: AsyncSession, ids: Sequence[int]) -> list[tuple[int, str, str]]:
    """(id, text, text hash) of these posts, but deleted or empty ones: edited posts to embed again."""
    rows = await session.execute(
        sa.text("SELECT id, text, text_hash FROM posts WHERE id IN :ids AND deleted = :no AND text <> ''")
        .bindparams(sa.bindparam("ids", expanding=True)),
        {"ids": list(ids), "no": False},
    )
    return [(int(r[0]), r[1], r[2]) for r in rows]


async def count_pending(session: AsyncSession, model: str) -> int:
    return int(await session.scalar(sa.text(
        "SELECT count(*) FROM posts p LEFT JOIN post_vectors v ON v.post_id = p.id "
        "WHERE p.deleted = :no AND p.text <> '' "
        "AND (v.post_id IS NULL OR v.model <> :model OR v.text_hash <> p.text_hash)"), {"model": model, "no": False}) or 0)


async def count_other_model(session: AsyncSession, model: str) -> int:
    """Vectors made by another model than ``model`` (the extra was upgraded: they are embedded again)."""
    return int(await session.scalar(
        sa.text("SELECT count(*) FROM post_vectors WHERE model <> :model"), {"model": model}) or 0)


async def latest_id(session: AsyncSession) -> int:
    """The newest post that has a vector (0: none): where embedding goes on after a restart."""
    return int(await session.scalar(sa.text("SELECT max(post_id) FROM post_vectors")) or 0)


def _window(since: datetime | None, until: datetime | None,
            channel_ids: Sequence[int] | None) -> tuple[str, dict[str, Any], list[Any]]:
    """The WHERE clause of a search's window over ``posts p``, its parameters and its typed binds
    (dates as the ORM writes them, so comparisons hold on SQLite's text dates)."""
    where, params, binds = ["p.deleted = :no"], dict[str, Any]({"no": False}), list[Any]()
    if since is not None:
        where.append("p.date >= :since")
        binds.append(sa.bindparam("since", since, type_=UTCDateTime()))
    if until is not None:
        where.append("p.date <= :until")
        binds.append(sa.bindparam("until", until, type_=UTCDateTime()))
    if channel_ids is not None:
        where.append("p.channel_id IN :channels")
        params["channels"] = list(channel_ids) or [-1]
        binds.append(sa.bindparam("channels", expanding=True))
    return " AND ".join(where), params, binds


async def nearest(
    session: AsyncSession,
    query: Any,
    model: str,
    *,
    limit: int,
    min_score: float,
    since: datetime | None = None,
    until: datetime | None = None,
    channel_ids: Sequence[int] | None = None,
) -> list[tuple[int, float]]:
    """The posts closest to ``query`` (a unit vector), at most ``limit`` with an inner product of
    at least ``min_score``, best first: (post id, score)."""
    import numpy as np

    kind = await backend(session)
    where, params, expanding = _window(since, until, channel_ids)
    params |= {"model": model, "limit": limit}
    if kind == "pgvector":
        params |= {"q": _encode(query, kind), "min": min_score}
        windowed = since is not None or until is not None or channel_ids is not None
        if windowed:
            # a window (the dry run's 7 days, a channel): its posts from posts' own indexes, then
            # pgvector's distance of each by primary key (a join was planned as a hash of the table)
            posts = list(await session.scalars(
                sa.text(f"SELECT p.id FROM posts p WHERE {where}").bindparams(*expanding), params))
            if len(posts) <= _WINDOW_BY_ID:
                scored: list[tuple[int, float]] = []
                for start in range(0, len(posts), 5_000):
                    rows = await session.execute(
                        sa.text("SELECT post_id, -(embedding <#> CAST(:q AS vector)) AS score FROM post_vectors "
                                "WHERE post_id IN :ids AND model = :model "
                                "AND (embedding <#> CAST(:q AS vector)) <= -CAST(:min AS float8)")
                        .bindparams(sa.bindparam("ids", expanding=True)),
                        {"ids": posts[start : start + 5_000], "model": model, "q": params["q"], "min": min_score},
                    )
                    scored += [(int(pid), float(score)) for pid, score in rows]
                scored.sort(key=lambda item: (-item[1], item[0]))
                return scored[:limit]
        if not windowed and limit <= HNSW_MAX:
            # the best few of the whole archive: the HNSW index, asked for as many candidates as
            # wanted (its default, hnsw.ef_search = 40, would end every answer at 40 posts)
            await session.execute(sa.text(f"SET LOCAL hnsw.ef_search = {max(40, int(limit))}"))
            by = "v.embedding <#> CAST(:q AS vector)"
        else:
            # every post above the threshold (a search's candidates, a window's posts): an exact
            # scan, the distance computed by pgvector in C; ordered by the score, which the index
            # cannot answer, so the planner reads the window through the posts' own indexes. An
            # HNSW index returns at most ef_search (<= 1000) posts and filters a window after it:
            # a 7-day window of a year-long archive would keep 2% of them.
            by = "-(v.embedding <#> CAST(:q AS vector)) DESC"
        found = await session.execute(
            sa.text(
                "SELECT post_id, score FROM (SELECT v.post_id, -(v.embedding <#> CAST(:q AS vector)) AS score "
                "FROM post_vectors v JOIN posts p ON p.id = v.post_id "
                f"WHERE {where} AND v.model = :model AND (v.embedding <#> CAST(:q AS vector)) <= -CAST(:min AS float8) "
                f"ORDER BY {by} LIMIT :limit) s WHERE score >= :min ORDER BY score DESC"
            ).bindparams(*expanding),
            params,
        )
        return [(int(pid), float(score)) for pid, score in found]
    q = np.asarray(query, dtype=np.float32)
    best_ids: list[Any] = []
    best_scores: list[Any] = []
    def take(chunk: Sequence[Any]) -> None:
        ids = np.fromiter((r[0] for r in chunk), dtype=np.int64, count=len(chunk))
        matrix = np.frombuffer(b"".join(bytes(r[1]) for r in chunk), dtype="<f4").reshape(len(chunk), -1)
        scores = matrix @ q
        keep = scores >= min_score
        best_ids.append(ids[keep])
        best_scores.append(scores[keep])

    by_id = False
    if since is not None or until is not None or channel_ids is not None:
        # a window (the dry run's 7 days, a channel): its posts from posts' own indexes first, then
        # their vectors by primary key; a join let PostgreSQL read every vector to hash them
        posts = list(await session.scalars(
            sa.text(f"SELECT p.id FROM posts p WHERE {where}").bindparams(*expanding), params))
        if len(posts) <= _WINDOW_BY_ID:
            by_id = True
            for start in range(0, len(posts), 5_000):
                rows = await session.execute(
                    sa.text("SELECT post_id, embedding FROM post_vectors WHERE post_id IN :ids AND model = :model")
                    .bindparams(sa.bindparam("ids", expanding=True)),
                    {"ids": posts[start : start + 5_000], "model": model},
                )
                chunk = rows.all()
                if chunk:
                    take(chunk)
    if not by_id:
        # the whole archive (or a wide window): one streamed query, its vectors in chunks (a
        # server-side cursor on PostgreSQL, planned to be read to the end)
        if kind == "bytea":
            await session.execute(sa.text("SET LOCAL cursor_tuple_fraction = 1.0"))
        streamed = await session.stream(
            sa.text(
                "SELECT v.post_id, v.embedding FROM post_vectors v JOIN posts p ON p.id = v.post_id "
                f"WHERE {where} AND v.model = :model"
            ).bindparams(*expanding),
            params,
        )
        async for part in streamed.partitions(_SCAN_BATCH):
            take(part)
    if not best_ids:
        return []
    ids = np.concatenate(best_ids)
    scores = np.concatenate(best_scores)
    order = np.argsort(-scores, kind="stable")[:limit]
    return [(int(ids[i]), float(scores[i])) for i in order]
