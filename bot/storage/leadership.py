"""The leadership aggregate: the advisory lock a leader holds and its terms in `leader_terms`
(migration 0016), whose generation is the fencing token. When to take, keep or give up the lock is
`bot/runtime/leader.py`'s; these are its statements.

The lock's statements run on the leader's own asyncpg connection (a session that lives as long as
the term: PostgreSQL only); `current_generation` runs in any transaction, on either database.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


async def try_lock(conn: Any, key: int, seconds: float) -> bool:
    """Take the session-level advisory lock ``key`` if it is free (never waits)."""
    return bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", key, timeout=seconds))


async def begin_term(conn: Any, name: str, holder: str, seconds: float) -> int:
    """A new term of ``name`` held by ``holder``: its generation, one more than the last."""
    return int(await conn.fetchval(
        "INSERT INTO leader_terms (name, generation, holder, started_at) VALUES ($1, 1, $2, now()) "
        "ON CONFLICT (name) DO UPDATE SET generation = leader_terms.generation + 1, "
        "holder = EXCLUDED.holder, started_at = now() RETURNING generation",
        name, holder, timeout=seconds))


async def lock_held(conn: Any, key: int, seconds: float) -> bool:
    """Whether this connection's session still holds the advisory lock ``key``, as the server sees it."""
    return bool(await conn.fetchval(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() "
        "AND granted AND ((classid::bigint << 32) | objid::bigint) = $1",
        key & 0xFFFF_FFFF_FFFF_FFFF,
        timeout=seconds,
    ))


async def current_generation(session: AsyncSession, name: str) -> int | None:
    """The generation of the current term of ``name`` (None: never held). On PostgreSQL read FOR
    SHARE, so a successor's new term waits for this transaction to end."""
    query = "SELECT generation FROM leader_terms WHERE name = :name"
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        query += " FOR SHARE"
    found = await session.scalar(text(query), {"name": name})
    return int(found) if found is not None else None
