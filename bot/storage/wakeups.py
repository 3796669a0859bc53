"""Wake-ups between processes: PostgreSQL LISTEN/NOTIFY.

A writer calls `notify(session, channel)` in the transaction that stores what another process waits
for (new matches: `matches.insert`; new outbox rows: `outbox.add_rows`); PostgreSQL delivers the
notification when that transaction commits, and never when it rolls back. Each process that waits
holds one `PgWakeups`: a connection of its own (not the pool's) that LISTENs on the channels and
sets an `asyncio.Event` per channel when a notification arrives.

The listener is a hint, never the only path: while its connection is down (cut, the server
restarting) `listening` is False and the waiting services look every second, as they do on SQLite,
and each (re)connection sets every event once, for what was notified while nobody listened. On
SQLite (one machine, often one process) there is no listener: `Wakeups` keeps the events, which a
service of the same process sets with `tell` (the scheduler, for the delivery worker beside it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

if TYPE_CHECKING:
    from asyncpg import Connection

log = logging.getLogger(__name__)

MATCHES = "tgmon_matches"  # new matches stored: the schedulers build instant alerts
OUTBOX = "tgmon_outbox"  # new outbox rows queued: the delivery workers claim them
CHANNELS = (MATCHES, OUTBOX)
CHECK_SECONDS = 10.0  # how often a quiet listening connection is asked whether it still lives
FIRST_BACKOFF, MAX_BACKOFF = 1.0, 30.0  # reconnect after 1 s, doubling to 30 s


async def notify(session: AsyncSession, channel: str) -> None:
    """Wake the listeners of `channel` when the caller's transaction commits (PostgreSQL; nothing on
    SQLite). Notifications with the same channel and payload in one transaction are delivered once."""
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        await session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": channel})


class Wakeups:
    """An event per channel, set when something for it may be waiting. This base class has no
    listener (SQLite, or LISTEN turned off): `listening` stays False and only `tell` sets them."""

    def __init__(self, channels: Iterable[str] = CHANNELS) -> None:
        self.events = {channel: asyncio.Event() for channel in channels}

    @property
    def listening(self) -> bool:
        """Whether notifications from other processes arrive now (else: look for yourself, often)."""
        return False

    def event(self, channel: str) -> asyncio.Event:
        return self.events[channel]

    def tell(self, channel: str) -> None:
        """Something for `channel` was stored by this process (committed)."""
        self.events[channel].set()

    def start(self) -> None:
        """Begin listening, if this kind listens at all; a second call does nothing."""

    async def close(self) -> None:
        return None


class PgWakeups(Wakeups):
    """LISTEN on a connection of its own, reconnecting with backoff (one log line a drop)."""

    def __init__(self, dsn: str, channels: Iterable[str] = CHANNELS, *, timeout: float = 5.0,
                 check_seconds: float = CHECK_SECONDS) -> None:
        super().__init__(channels)
        self.dsn = dsn  # a plain postgresql:// URL (asyncpg's own)
        self.timeout = timeout
        self.check_seconds = check_seconds
        self._conn: Connection | None = None
        self._lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def listening(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="wakeups")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._drop()

    async def backend_pid(self) -> int | None:
        """The server process of the listening connection (tests cut it with pg_terminate_backend)."""
        conn = self._conn
        return None if conn is None or conn.is_closed() else int(conn.get_server_pid())

    def _on_notification(self, _conn: object, _pid: int, channel: str, _payload: object) -> None:
        event = self.events.get(channel)
        if event is not None:
            event.set()

    def _on_termination(self, _conn: object) -> None:
        self._lost.set()

    async def _connect(self) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.dsn, timeout=self.timeout, server_settings={
            "application_name": "tgmon-wakeups",
            # the server notices a client that vanished without a word within seconds
            "tcp_keepalives_idle": "5", "tcp_keepalives_interval": "2", "tcp_keepalives_count": "3"})
        try:
            for channel in self.events:
                await conn.add_listener(channel, self._on_notification)
        except BaseException:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 2)
            raise
        self._lost.clear()
        conn.add_termination_listener(self._on_termination)
        self._conn = conn

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 2)

    async def _alive(self) -> bool:
        """Wait until the connection is lost or `check_seconds` pass; then ask the server once, so a
        connection that died without a word (a dropped network) is found too."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._lost.wait(), self.check_seconds)
        conn = self._conn
        if self._lost.is_set() or conn is None or conn.is_closed():
            return False
        try:
            await conn.fetchval("SELECT 1", timeout=self.timeout)
        except Exception:
            return False
        return True

    async def _run(self) -> None:
        backoff = FIRST_BACKOFF
        failing = False
        while True:
            try:
                await self._connect()
            except Exception as exc:  # OSError, a timeout, the server refusing: try again later
                if not failing:
                    log.warning("wake-ups: cannot listen (%s); looking every second until it can", type(exc).__name__)
                    failing = True
                await asyncio.sleep(backoff)
                backoff = min(MAX_BACKOFF, backoff * 2)
                continue
            log.info("wake-ups: listening on %s", ", ".join(self.events))
            failing, backoff = False, FIRST_BACKOFF
            for event in self.events.values():
                event.set()  # what was notified while nobody listened is looked for once
            while await self._alive():
                pass
            await self._drop()
            log.warning("wake-ups: the listening connection was lost; looking every second until it is back")
            failing = True
            await asyncio.sleep(backoff)


def for_database(url: str, *, listen: bool = True) -> Wakeups:
    """A PostgreSQL database's listener (`listen`: LISTEN/NOTIFY is not turned off), else the events
    alone."""
    parsed = make_url(url)
    if not listen or parsed.get_backend_name() != "postgresql":
        return Wakeups()
    return PgWakeups(parsed.set(drivername="postgresql").render_as_string(hide_password=False))
