"""Several delivery workers split Telegram's global message rate between them.

Telegram allows a bot about 30 messages a second in all, whatever the number of processes sending
them. Each delivery worker heartbeats its name in `delivery_workers` every `BEAT_SECONDS`; the
workers whose heartbeat is younger than `STALE_AFTER` are the live ones, and each paces itself at
`global_per_second / live` (`RateLimiter.set_share`). A worker that stops cleanly removes its row;
one that dies stops counting after `STALE_AFTER`, and the others speed up on their next beat.

A worker that joins beats first and sends nothing for `JOIN_SECONDS` (two beats), so the workers
already running have slowed down to their new share, and their sends at the old share have left the
one-second window, before it adds its own sends; it beats again right before its first send, to
count the workers that joined while it waited. A worker that sees fewer workers takes its larger
share only a window later (`RateLimiter.set_share`). Without these, the sum of the shares went over
Telegram's limit each time a worker started or stopped.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import timedelta

from bot.domain import Clock
from bot.storage import outbox as rows
from bot.storage.database import Database

log = logging.getLogger(__name__)

BEAT_SECONDS = 2.0
JOIN_SECONDS = 2 * BEAT_SECONDS
STALE_AFTER = timedelta(seconds=30)


def worker_name() -> str:
    """Unique per process: host, pid and a random part (a pid is reused after a restart)."""
    return f"{socket.gethostname()[:64]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class WorkerShare:
    def __init__(self, db: Database, clock: Clock, name: str | None = None) -> None:
        self.db = db
        self.clock = clock
        self.name = name or worker_name()

    async def beat(self) -> int:
        """Record this worker as alive; return how many workers are alive (this one included)."""
        now = self.clock.now()
        async with self.db.uow() as session:
            await rows.worker_beat(session, self.name, now)
            live = await rows.live_workers(session, now - STALE_AFTER)
            await rows.forget_workers(session, now - 10 * STALE_AFTER)  # rows of workers dead for long are only clutter
        return max(1, live)

    async def leave(self) -> None:
        async with self.db.uow() as session:
            await rows.worker_leave(session, self.name)
