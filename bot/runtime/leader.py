"""Scheduler leadership: one scheduler at a time, a standby takes over when the leader dies.

On PostgreSQL the leader holds a session-level advisory lock on a connection of its own. The
server releases it the moment that session ends (the process died, the connection broke, the
server restarted), and a standby's next `pg_try_advisory_lock` wins. The leader checks its
connection every retry interval and steps down at once when it is lost, before anyone else can
take over. On SQLite there is only one process (see `instance_lock`), so it always leads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from sqlalchemy.engine import make_url

from bot import metrics

log = logging.getLogger(__name__)

# pg advisory lock key: a fixed 64-bit number, "tgmon.scheduler" (other tools will not pick it)
SCHEDULER_LOCK_KEY = 0x7467_6D6F_6E5F_7363


class LeaderLock(Protocol):
    async def try_acquire(self) -> bool: ...

    async def still_held(self) -> bool: ...

    async def release(self) -> None: ...


class AlwaysLeader:
    async def try_acquire(self) -> bool:
        return True

    async def still_held(self) -> bool:
        return True

    async def release(self) -> None:
        return None


def asyncpg_dsn(database_url: str) -> str:
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


class PgAdvisoryLock:
    def __init__(self, database_url: str, key: int = SCHEDULER_LOCK_KEY, timeout: float = 5.0) -> None:
        self.dsn = asyncpg_dsn(database_url)
        self.key = key
        self.timeout = timeout
        self._conn: object | None = None

    async def try_acquire(self) -> bool:
        import asyncpg

        await self.release()
        try:
            conn = await asyncpg.connect(self.dsn, timeout=self.timeout, server_settings={
                "application_name": "tgmon-scheduler-lock"})
        except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
            log.warning("scheduler lock: database unreachable (%s); retrying", type(exc).__name__)
            return False
        try:
            got = bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", self.key, timeout=self.timeout))
        except (TimeoutError, OSError, asyncpg.PostgresError):
            got = False
        if got:
            self._conn = conn
        else:
            await _close(conn)
        return got

    async def still_held(self) -> bool:
        conn = self._conn
        if conn is None:
            return False
        try:
            # the lock is ours as long as our session lives; ask the server to be sure
            held = await conn.fetchval(  # type: ignore[attr-defined]
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() "
                "AND granted AND ((classid::bigint << 32) | objid::bigint) = $1",
                self.key & 0xFFFF_FFFF_FFFF_FFFF,
                timeout=self.timeout,
            )
        except Exception as exc:  # any doubt about our session means we may have lost the lock
            log.debug("scheduler lock check failed: %s", type(exc).__name__)
            return False
        return bool(held)

    async def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await _close(conn)  # ending the session releases the lock


async def _close(conn: object) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(conn.close(), 2)  # type: ignore[attr-defined]


async def lead(
    lock: LeaderLock,
    work: Callable[[asyncio.Event], Awaitable[None]],
    stop: asyncio.Event,
    *,
    retry_seconds: float,
    grace_seconds: float = 8,
) -> None:
    """Run `work` while holding `lock`; wait as a standby while another process holds it."""
    standby_logged = False
    while not stop.is_set():
        if not await lock.try_acquire():
            if not standby_logged:
                log.info("scheduler: standby (another process holds the lock); retrying every %.0f s", retry_seconds)
                standby_logged = True
            await _wait(stop, retry_seconds)
            continue
        standby_logged = False
        log.info("scheduler: this process is the leader")
        metrics.set_leader(True)
        inner = asyncio.Event()
        task: asyncio.Future[None] = asyncio.ensure_future(work(inner))
        try:
            while not stop.is_set() and not task.done():
                await _wait(stop, retry_seconds, task)
                if not stop.is_set() and not task.done() and not await lock.still_held():
                    log.warning("scheduler: lost the lock (database connection lost); stepping down")
                    break
        finally:
            inner.set()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait({task}, timeout=grace_seconds)
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            metrics.set_leader(False)
            await lock.release()
        if task.done() and not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
    await lock.release()


async def _wait(stop: asyncio.Event, seconds: float, task: asyncio.Future[None] | None = None) -> None:
    waiter: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
    waits: set[asyncio.Future[Any]] = {waiter} if task is None else {waiter, task}
    try:
        await asyncio.wait(waits, timeout=seconds,
                           return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
