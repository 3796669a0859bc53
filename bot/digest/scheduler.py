"""The digest scheduler: one tick a minute builds every due digest; instant alerts go at once.

APScheduler runs a single interval job in memory (no shared job store, no job per subscriber):
`misfire_grace_time` is large and `coalesce` is on, so a late or missed run still runs once. What
is due comes from the database on each tick, so restarts, DST changes and timezone changes cannot
double or drop a digest: see `bot.digest.schedule`.

Paused subscribers: every tick moves their watermark (`last_digest_at`) to now, so what matched
while they were paused is skipped and resuming does not flood them; their next digest covers the
time since they resumed.

Instant alerts do not wait for the tick. A match stored in this process sets `wake` (the pipeline's
`on_matches`); a match stored by another process is seen by a one-row query a second
(`max(matches.id)`, answered from the primary key). Either way the instant subscribers with new
matches are built at once, still at most one alert per `delivery.instant_batch_seconds` per chat
(matches that close together go as one message), never in quiet hours; the tick stays as a safety net.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import date, datetime, timedelta

from sqlalchemy import exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.delivery.worker import sleep_or_stop
from bot.digest.schedule import Schedule, day_of_key, due_occurrence, in_quiet_hours
from bot.digest.service import DigestJob, queue_digests
from bot.digest.streams import (
    STREAMS,
    RuleState,
    instant_ready,
    partition,
    rules_by_subscriber,
    scheduled_overrides,
)
from bot.domain import Clock, Frequency, StaleLeader
from bot.storage import models as m
from bot.storage.database import Database

log = logging.getLogger(__name__)

BATCH = 200  # subscribers built per transaction
INSTANT_POLL_SECONDS = 1.0  # how often another process's new matches are looked for


def schedule_of(sub: m.Subscriber) -> Schedule:
    return Schedule(sub.frequency, sub.timezone, sub.digest_hour, sub.digest_minute, sub.digest_weekday,
                    sub.quiet_start, sub.quiet_end)


class DigestScheduler:
    def __init__(self, db: Database, settings: Settings, clock: Clock) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.wake = asyncio.Event()  # set when this process stores a match
        # the leader's fencing check, run first in each write transaction (bot/runtime/leader.py)
        self.fence: Callable[[AsyncSession], Awaitable[None]] | None = None
        self._stale: StaleLeader | None = None

    def matches_stored(self) -> None:
        """For the pipeline of this process: new matches, so instant alerts may be due now."""
        self.wake.set()

    async def tick(self) -> int:
        """One pass: build every due digest. Returns how many digests were built (empty ones included)."""
        now = self.clock.now()
        await self._skip_paused(now)
        candidates = await self._candidates(now)
        built = 0
        for first in range(0, len(candidates), BATCH):
            batch = candidates[first : first + BATCH]
            try:
                built += await self._build(batch, now)
            except StaleLeader:
                raise
            except Exception:  # one broken subscriber must not stop the others' digests
                log.exception("digest batch failed; building its subscribers one by one")
                for sub_id in batch:
                    try:
                        built += await self._build([sub_id], now)
                    except StaleLeader:
                        raise
                    except Exception:
                        log.exception("digest for subscriber %s failed; it is retried on the next tick", sub_id)
        return built

    async def _skip_paused(self, now: datetime) -> None:
        paused = (m.Subscriber.paused.is_(True), m.Subscriber.active.is_(True))
        async with self.db.uow(read_only=True) as session:
            if not await session.scalar(select(exists().where(*paused))):
                return  # no write transaction on a tick with nobody paused
        async with self.db.uow() as session:
            if self.fence is not None:
                await self.fence(session)
            await session.execute(update(m.Subscriber).where(*paused).values(last_digest_at=now))
            await session.execute(update(m.Rule).where(  # their rules' watermarks too (bot/digest/streams.py)
                m.Rule.subscriber_id.in_(select(m.Subscriber.id).where(*paused))).values(delivered_until=now))

    async def _candidates(self, now: datetime) -> list[int]:
        """Subscriber ids that may be due: scheduled subscribers whose schedule says so, and instant
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
                try:
                    due = due_occurrence(schedule_of(sub), now, sub.last_digest_at or sub.created_at,
                                         last_days.get((sub.id, sub.frequency)))
                except (ValueError, LookupError):  # a timezone this machine does not know: skip, say so
                    log.warning("subscriber %s has an unusable schedule (timezone %r); no digest", sub.id,
                                sub.timezone)
                    continue
                if due:
                    chats.append(sub.id)
            chats.extend(await self._overrides_due(session, now, last_days))
            instant, _ = await self._instant_due(session, now)
            chats.extend(instant)
        return list(dict.fromkeys(chats))

    async def _overrides_due(self, session: AsyncSession, now: datetime,
                             last_days: dict[tuple[int, str], date]) -> list[int]:
        """Subscribers with a rule set to a daily or weekly delivery other than the chat's, due now."""
        overrides = await scheduled_overrides(session)
        if not overrides:
            return []
        subs = await session.scalars(select(m.Subscriber).where(m.Subscriber.id.in_(list(overrides))))
        due = []
        for sub in subs:
            for kind, covered in overrides[sub.id].items():
                try:
                    occurrence = due_occurrence(replace(schedule_of(sub), frequency=kind), now, covered,
                                                last_days.get((sub.id, kind)))
                except (ValueError, LookupError):
                    continue  # said once by _candidates
                if occurrence is not None:
                    due.append(sub.id)
        return due

    async def _instant_due(self, session: AsyncSession, now: datetime) -> tuple[list[int], datetime | None]:
        """Subscribers with unsent matches in their instant stream (the chat's frequency, or rules set
        to instant), and the earliest moment one held back by `instant_batch_seconds` (an alert went a
        moment ago) may go."""
        return await instant_ready(session, now, timedelta(seconds=self.settings.delivery.instant_batch_seconds))

    async def instant_tick(self) -> tuple[int, datetime | None]:
        """Build the instant alerts due now. Returns how many, and when to look again for the ones
        held back by the batch window (None: none held)."""
        now = self.clock.now()
        async with self.db.uow(read_only=True) as session:
            due, retry_at = await self._instant_due(session, now)
        built = await self._build(due, now) if due else 0
        return built, retry_at

    async def _newest_match(self) -> int:
        async with self.db.uow(read_only=True) as session:
            return int(await session.scalar(select(func.max(m.Match.id))) or 0)

    async def _instant_loop(self, stop: asyncio.Event) -> None:
        """Instant alerts as their matches are stored (module doc)."""
        seen = await self._newest_match()
        retry_at: datetime | None = None
        while not stop.is_set():
            await self._wait_for_matches(stop, INSTANT_POLL_SECONDS)
            woken = self.wake.is_set()
            self.wake.clear()
            try:
                newest = await self._newest_match()
                due_again = retry_at is not None and self.clock.now() >= retry_at
                if not woken and newest <= seen and not due_again:
                    continue
                seen = newest
                built, retry_at = await self.instant_tick()
                if built:
                    log.info("%d instant alerts built", built)
            except StaleLeader as exc:
                self._stale = exc
                return
            except Exception:
                log.exception("instant alerts failed; trying again in a second")

    async def _wait_for_matches(self, stop: asyncio.Event, seconds: float) -> None:
        waiters = [asyncio.ensure_future(self.wake.wait()), asyncio.ensure_future(stop.wait()),
                   asyncio.ensure_future(asyncio.sleep(seconds))]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waiters:
                task.cancel()

    @staticmethod
    async def _last_days(session: AsyncSession, subscriber_ids: list[int] | None = None) -> dict[tuple[int, str], date]:
        """Per subscriber and kind (daily, weekly), the local date of its latest scheduled digest."""
        query = (
            select(m.Digest.subscriber_id, func.max(m.Digest.period_key))
            .where(m.Digest.kind.in_(["daily", "weekly"]))
            .group_by(m.Digest.subscriber_id, m.Digest.kind)
        )
        if subscriber_ids is not None:
            query = query.where(m.Digest.subscriber_id.in_(subscriber_ids))
        out: dict[tuple[int, str], date] = {}
        for sub_id, key in await session.execute(query):
            day = day_of_key(str(key))
            if day is not None:
                out[(int(sub_id), str(key).partition(":")[0])] = day
        return out

    async def _build(self, subscriber_ids: list[int], now: datetime) -> int:
        """Build the due digests of these subscribers in one transaction (their rows locked on
        PostgreSQL; SQLite's BEGIN IMMEDIATE serialises writers), deciding again under the lock."""
        async with self.db.uow() as session:
            if self.fence is not None:
                await self.fence(session)
            query = select(m.Subscriber).where(m.Subscriber.id.in_(subscriber_ids)).order_by(m.Subscriber.id)
            if self.db.dialect == "postgresql":
                query = query.with_for_update()
            subs = (await session.scalars(query)).all()
            last_days = await self._last_days(session, subscriber_ids)
            rules = await rules_by_subscriber(session, subscriber_ids)
            gap = timedelta(seconds=self.settings.delivery.instant_batch_seconds)
            ready = set((await instant_ready(session, now, gap, subscriber_ids))[0])
            jobs = []
            for sub in subs:
                try:
                    jobs.extend(self._jobs(sub, now, last_days, rules.get(sub.id, []), sub.id in ready))
                except (ValueError, LookupError):
                    log.warning("subscriber %s has an unusable schedule (timezone %r); no digest", sub.id, sub.timezone)
                    continue
            results = await queue_digests(session, self.settings, jobs, now=now)
        built = 0
        for job, result in zip(jobs, results, strict=True):
            if result is not None:
                built += 1
                log.info("digest %s (%s) for chat %s: %d items in %d chunks", result.digest_id, job.period_key,
                         job.sub.chat_id, result.items, result.chunks)
        return built

    def _jobs(self, sub: m.Subscriber, now: datetime, last_days: dict[tuple[int, str], date],
              rules: list[RuleState], instant_ready: bool) -> list[DigestJob]:
        """The digests due now for one chat: one per stream (bot/digest/streams.py). The chat's own
        stream moves its watermark (`last_digest_at`); the others cover their rules only."""
        if not sub.active or sub.paused:
            return []
        schedule = schedule_of(sub)
        streams = partition(rules, sub.frequency)
        jobs = []
        for kind in STREAMS:
            own = kind == sub.frequency
            members = tuple(r.rule_id for r in streams.get(kind, ()))
            if not own and not members:
                continue
            if kind == Frequency.INSTANT:
                if not instant_ready or in_quiet_hours(schedule, now):
                    continue  # held: the first tick after quiet hours sends them in one batch
                jobs.append(DigestJob(sub, "instant", f"instant:{now.isoformat()}", sub.last_digest_at if own else None,
                                      now, advance=own, rule_ids=members))
                continue
            covered = (sub.last_digest_at or sub.created_at) if own else max(r.covered for r in streams[kind])
            occurrence = due_occurrence(replace(schedule, frequency=kind), now, covered, last_days.get((sub.id, kind)))
            if occurrence is not None:
                jobs.append(DigestJob(sub, occurrence.kind, occurrence.key, sub.last_digest_at if own else covered,
                                      now, chart=occurrence.kind == "weekly", advance=own, rule_ids=members))
        return jobs

    async def _safe_tick(self) -> None:
        try:
            await self.tick()
        except StaleLeader as exc:
            self._stale = exc  # run() ends with it: the process steps down
        except Exception:
            log.exception("digest tick failed; the next one retries")

    async def run(self, stop: asyncio.Event) -> None:
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        scheduler = AsyncIOScheduler(timezone="UTC")  # in-memory job store: never shared between processes
        tick = self.settings.digest.tick_seconds
        scheduler.add_job(
            self._safe_tick, "interval", seconds=tick, id="digest-tick", next_run_time=datetime.now().astimezone(),
            misfire_grace_time=3600, coalesce=True, max_instances=1,
        )
        scheduler.start()
        instant = asyncio.create_task(self._instant_loop(stop))
        log.info("digest scheduler started: a tick every %.0f s, instant alerts as matches are stored", tick)
        try:
            while not stop.is_set() and self._stale is None:
                await sleep_or_stop(self.clock, stop, 1)
        finally:
            scheduler.shutdown(wait=False)
            instant.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await instant
            log.info("digest scheduler stopped")
        if self._stale is not None:
            raise self._stale
