"""Scheduler leadership: one scheduler at a time, a standby takes over when the leader dies.

On PostgreSQL the leader holds a session-level advisory lock on a connection of its own. The
server releases it the moment that session ends (the process died, the connection broke, the
server restarted), and a standby's next `pg_try_advisory_lock` wins. On SQLite there is only one
process (see `instance_lock`), so it always leads.

A lock alone is not a lease: a frozen leader (SIGSTOP, a stalled VM) or one whose host dropped off
the network keeps its session, and so the lock, until TCP gives up (hours by default). Hence:
- the lock's session is a lease: `idle_session_timeout` (`runtime.leader_lease_seconds`, 15 s) makes
  the server end it when the leader stops talking, and TCP keepalives find a dead peer; the leader
  checks the lock every retry interval (well inside the lease), which also keeps the session alive;
- a fencing token: each new term increments `leader_terms.generation`; the leader's writes check it
  in their own transaction (`fence`), so a leader that lost the lock without knowing writes nothing
  once its successor has begun (`StaleLeader`), and steps down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from sqlalchemy.engine import make_url

from bot import metrics
from bot.domain import StaleLeader
from bot.storage import leadership
from bot.storage.database import Session

log = logging.getLogger(__name__)

# pg advisory lock key: a fixed 64-bit number, "tgmon.scheduler" (other tools will not pick it)
SCHEDULER_LOCK_KEY = 0x7467_6D6F_6E5F_7363


class LeaderLock(Protocol):
    generation: int | None  # the fencing token of the term held; None where no fencing is needed

    async def try_acquire(self) -> bool: ...

    async def still_held(self) -> bool: ...

    async def release(self) -> None: ...


class AlwaysLeader:
    generation: int | None = None

    async def try_acquire(self) -> bool:
        return True

    async def still_held(self) -> bool:
        return True

    async def release(self) -> None:
        return None


def asyncpg_dsn(database_url: str) -> str:
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


class PgAdvisoryLock:
    def __init__(self, database_url: str, key: int = SCHEDULER_LOCK_KEY, timeout: float = 5.0,
                 lease_seconds: float = 15.0, name: str = "scheduler") -> None:
        self.dsn = asyncpg_dsn(database_url)
        self.key = key
        self.timeout = timeout
        self.lease_seconds = lease_seconds
        self.name = name
        self.generation: int | None = None
        self._conn: object | None = None
        self._warned_no_lease = False

    def _session_settings(self) -> dict[str, str]:
        return {
            "application_name": "tgmon-scheduler-lock",
            # the lease: a leader that stops talking (frozen, cut off) loses its session, so its lock
            "idle_session_timeout": str(int(self.lease_seconds * 1000)),
            # a peer that vanished without a word is found within seconds, not hours
            "tcp_keepalives_idle": "5", "tcp_keepalives_interval": "2", "tcp_keepalives_count": "3",
        }

    async def try_acquire(self) -> bool:
        import asyncpg

        await self.release()
        settings = self._session_settings()
        try:
            try:
                conn = await asyncpg.connect(self.dsn, timeout=self.timeout, server_settings=settings)
            except asyncpg.UndefinedObjectError:  # PostgreSQL before 14 has no idle_session_timeout
                if not self._warned_no_lease:
                    log.warning("scheduler lock: this PostgreSQL has no idle_session_timeout (it came in 14): a "
                                "frozen leader is replaced only when TCP keepalives find it gone")
                    self._warned_no_lease = True
                del settings["idle_session_timeout"]
                conn = await asyncpg.connect(self.dsn, timeout=self.timeout, server_settings=settings)
        except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
            log.warning("scheduler lock: database unreachable (%s); retrying", type(exc).__name__)
            return False
        try:
            got = await leadership.try_lock(conn, self.key, self.timeout)
            if got:  # a new term: the fencing token every write of this leader checks
                self.generation = await leadership.begin_term(conn, self.name, _holder(), self.timeout)
        except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
            log.warning("scheduler lock: could not begin a term (%s); retrying", type(exc).__name__)
            got = False
        if got:
            self._conn = conn
        else:
            self.generation = None
            await _close(conn)
        return got

    async def still_held(self) -> bool:
        conn = self._conn
        if conn is None:
            return False
        try:
            # the lock is ours as long as our session lives; ask the server to be sure
            held = await leadership.lock_held(conn, self.key, self.timeout)
        except Exception as exc:  # any doubt about our session means we may have lost the lock
            log.debug("scheduler lock check failed: %s", type(exc).__name__)
            return False
        return bool(held)

    async def release(self) -> None:
        conn, self._conn = self._conn, None
        self.generation = None
        if conn is not None:
            await _close(conn)  # ending the session releases the lock


def _holder() -> str:
    import os
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"[:128]


def fence(name: str, generation: int | None) -> Callable[[Session], Awaitable[None]]:
    """A check for the start of each of the leader's write transactions: the term is still the
    current one (read FOR SHARE, so a successor's new term waits for this transaction to end)."""

    async def check(session: Session) -> None:
        if generation is None:
            return
        current = await leadership.current_generation(session, name)
        if current != generation:
            raise StaleLeader(f"term {generation} of {name} is over (now {current}): stepping down")

    return check


async def _close(conn: object) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(conn.close(), 2)  # type: ignore[attr-defined]


async def lead(
    lock: LeaderLock,
    work: Callable[[asyncio.Event], Awaitable[None]],  # reads lock.generation for its fence
    stop: asyncio.Event,
    *,
    retry_seconds: float,
    grace_seconds: float = 8,
    check_seconds: float | None = None,
) -> None:
    """Run `work` while holding `lock`; wait as a standby while another process holds it. The leader
    checks its lock every `check_seconds` (default `retry_seconds`): keep it well inside the lease."""
    check_every = check_seconds or retry_seconds
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
                await _wait(stop, check_every, task)
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
        if task.done() and not task.cancelled() and isinstance(task.exception(), StaleLeader):
            log.warning("scheduler: %s", task.exception())
            continue  # a standby again: a newer leader runs the schedule
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
