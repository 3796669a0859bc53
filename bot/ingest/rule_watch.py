"""Rule changes made by another process reach this process's matcher.

In a scaled-out deployment the bot role of one process edits rules while the ingest role of another
matches. The pipeline asks `changed()` before it matches a batch: at most every `every_seconds` a
one-row query fingerprints the active rules (count, max id, sum of ids), and a different fingerprint
means the matcher is built again. Rule changes made in this very process reload at once
(`Pipeline.reload_rules`, called by the bot's commands).
"""

from __future__ import annotations

import time

from bot.storage.database import Database
from bot.storage.rules import rules_fingerprint


class RuleChangeWatcher:
    def __init__(self, db: Database, every_seconds: float = 10.0) -> None:
        self.db = db
        self.every_seconds = every_seconds
        self._fingerprint: tuple[int, ...] | None = None
        self._checked_at = float("-inf")

    async def remember(self) -> None:
        """The rules as they are now went into the matcher just built."""
        self._fingerprint = await self._read()
        self._checked_at = time.monotonic()

    async def changed(self) -> bool:
        """True when the active rules differ from the remembered ones (checked at most every `every_seconds`)."""
        if time.monotonic() - self._checked_at < self.every_seconds:
            return False
        self._checked_at = time.monotonic()
        return await self._read() != self._fingerprint

    async def _read(self) -> tuple[int, ...]:
        async with self.db.uow(read_only=True) as session:
            return await rules_fingerprint(session)
