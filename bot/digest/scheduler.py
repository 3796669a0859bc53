"""The digest scheduler: one tick a minute builds every due digest.

APScheduler runs a single interval job in memory (no shared job store, no job per subscriber):
`misfire_grace_time` is large and `coalesce` is on, so a late or missed run still runs once. What
is due comes from the database on each tick, so restarts, DST changes and timezone changes cannot
double or drop a digest: see `bot.digest.schedule`.

Paused subscribers: every tick moves their watermark (`last_digest_at`) to now, so what matched
while they were paused is skipped and resuming does not flood them; their next digest covers the
time since they resumed.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date, datetime, timedelta

from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.delivery.worker import sleep_or_stop
from bot.digest.schedule import Schedule, day_of_key, due_occurrence, in_quiet_hours
from bot.digest.service import lock_subscriber, queue_digest
from bot.domain import Clock, Frequency
from bot.storage import models as m
from bot.storage.database import Database

log = logging.getLogger(__name__)


def schedule_of(sub: m.Subscriber) -> Schedule:
    return Schedule(sub.frequency, sub.timezone, sub.digest_hour, sub.digest_minute, sub.digest_weekday,
                    sub.quiet_start, sub.quiet_end)


class DigestScheduler:
    def __init__(self, db: Database, settings: Settings, clock: Clock) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock

    async def tick(self) -> int:
        """One pass: build every due digest. Returns how many digests were built (empty ones included)."""
        now = self.clock.now()
        await self._skip_paused(now)
        built = 0
        for chat_id in await self._candidates(now):
            try:
                built += await self._build(chat_id, now)
            except Exception:  # one broken subscriber must not stop the others' digests
                log.exception("digest for chat %s failed; it is retried on the next tick", chat_id)
        return built

    async def _skip_paused(self, now: datetime) -> None:
        paused = (m.Subscriber.paused.is_(True), m.Subscriber.active.is_(True))
        async with self.db.uow(read_only=True) as session:
            if not await session.scalar(select(exists().where(*paused))):
                return  # no write transaction on a tick with nobody paused
        async with self.db.uow() as session:
            await session.execute(update(m.Subscriber).where(*paused).values(last_digest_at=now))

    async def _candidates(self, now: datetime) -> list[int]:
        """Chat ids that may be due: scheduled subscribers whose schedule says so, and instant
        subscribers with new matches (checked in SQL)."""
        chats: list[int] = []
        async with self.db.uow(read_only=True) as session:
            scheduled = await session.execute(
                select(m.Subscriber).where(
                    m.Subscriber.active.is_(True), m.Subscriber.paused.is_(False),
                    m.Subscriber.frequency.in_([Frequency.DAILY, Frequency.WEEKLY]),
                )
            )
            last_days = await self._last_days(session)
            for sub in scheduled.scalars():
                if due_occurrence(schedule_of(sub), now, sub.last_digest_at or sub.created_at, last_days.get(sub.id)):
                    chats.append(sub.chat_id)
            fresh = exists().where(
                m.Rule.subscriber_id == m.Subscriber.id, m.Match.rule_id == m.Rule.id,
                m.Match.matched_at > func.coalesce(m.Subscriber.last_digest_at, m.Subscriber.created_at),
                m.Match.matched_at <= now,
            )
            instant = await session.scalars(
                select(m.Subscriber.chat_id).where(
                    m.Subscriber.active.is_(True), m.Subscriber.paused.is_(False),
                    m.Subscriber.frequency == Frequency.INSTANT, fresh,
                    or_(m.Subscriber.last_digest_at.is_(None),
                        m.Subscriber.last_digest_at
                        <= now - timedelta(seconds=self.settings.delivery.instant_batch_seconds)),
                )
            )
            chats.extend(instant.all())
        return chats

    @staticmethod
    async def _last_days(session: AsyncSession, subscriber_id: int | None = None) -> dict[int, date]:
        """Per subscriber, the local date of its latest scheduled digest."""
        query = (
            select(m.Digest.subscriber_id, func.max(m.Digest.period_key))
            .where(m.Digest.kind.in_(["daily", "weekly"]))
            .group_by(m.Digest.subscriber_id, m.Digest.kind)
        )
        if subscriber_id is not None:
            query = query.where(m.Digest.subscriber_id == subscriber_id)
        out: dict[int, date] = {}
        for sub_id, key in await session.execute(query):
            day = day_of_key(str(key))
            if day is not None and day > out.get(int(sub_id), date.min):
                out[int(sub_id)] = day
        return out

    async def _build(self, chat_id: int, now: datetime) -> int:
        async with self.db.uow() as session:
            sub = await lock_subscriber(session, chat_id)
            if sub is None or not sub.active or sub.paused:
                return 0
            schedule = schedule_of(sub)
            if sub.frequency == Frequency.INSTANT:
                if in_quiet_hours(schedule, now):
                    return 0  # held: the first tick after quiet hours sends them in one batch
                result = await queue_digest(
                    session, self.settings, sub, kind="instant", period_key=f"instant:{now.isoformat()}",
                    since=sub.last_digest_at, until=now, now=now,
                )
            else:
                last_day = (await self._last_days(session, sub.id)).get(sub.id)
                occurrence = due_occurrence(schedule, now, sub.last_digest_at or sub.created_at, last_day)
                if occurrence is None:
                    return 0
                result = await queue_digest(
                    session, self.settings, sub, kind=occurrence.kind, period_key=occurrence.key,
                    since=sub.last_digest_at, until=now, now=now, chart=occurrence.kind == "weekly",
                )
            if result is None:
                return 0
            log.info("digest %s for chat %s: %d items in %d chunks", result.digest_id, chat_id, result.items,
                     result.chunks)
            return 1

    async def _safe_tick(self) -> None:
        try:
            await self.tick()
        except Exception:
            log.exception("digest tick failed; the next one retries")

    async def run(self, stop: asyncio.Event) -> None:
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        scheduler = AsyncIOScheduler(timezone="UTC")  # in-memory job store: never shared between processes
        scheduler.add_job(
            self._safe_tick, "interval", minutes=1, id="digest-tick", next_run_time=datetime.now().astimezone(),
            misfire_grace_time=3600, coalesce=True, max_instances=1,
        )
        scheduler.start()
        log.info("digest scheduler started: one tick a minute")
        try:
            while not stop.is_set():
                await sleep_or_stop(self.clock, stop, 30)
        finally:
            scheduler.shutdown(wait=False)
            log.info("digest scheduler stopped")
