"""A periodic probe of the database: outbox depth and the search index backlog for the metrics,
reachability for /healthz."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from bot import metrics
from bot.runtime.health import Health
from bot.storage import outbox, posts
from bot.storage.database import Database

log = logging.getLogger(__name__)


async def probe(db: Database, health: Health, *, report_database: bool = True) -> None:
    """Read the outbox and the index backlog. The whole-database gauges are set only where
    `report_database` (the scheduler's leader, in `monitor`) and cleared elsewhere, so summing a gauge
    over every process never counts the same rows twice."""
    now = datetime.now(UTC)
    async with db.uow(read_only=True) as session:
        counts = await outbox.state_counts(session)
        oldest = await outbox.oldest_due(session, now)
        unindexed = await posts.unindexed(session)
    if report_database:
        metrics.set_outbox(counts, oldest, now)
        metrics.set_search_pending(unindexed)
    else:
        metrics.clear_database_gauges()
    health.oldest_due_seconds = max(0.0, (now - oldest).total_seconds()) if oldest else 0.0
    health.db_probe(None)


async def monitor(db: Database, health: Health, stop: asyncio.Event, every: float) -> None:
    failing = False
    while not stop.is_set():
        try:
            await probe(db, health, report_database=metrics.value("tgmon_scheduler_leader") == 1)
            if failing:
                log.info("database reachable again")
            failing = False
        except Exception as exc:  # a down database is reported, never fatal here
            health.db_probe(type(exc).__name__)
            if not failing:
                log.warning("database probe failed (%s); retrying every %.0f s", type(exc).__name__, every)
            failing = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
