"""The digest scheduler: a tick a minute builds the due digests; instant alerts go at once.

Every scheduler process builds (there is no builder leader). A tick takes the due daily and weekly
subscribers in batches, each batch one transaction that claims its subscriber rows with
`SELECT ... FOR UPDATE SKIP LOCKED` on PostgreSQL, so two or three processes split a large tick
between them and never build the same subscriber together (SQLite has one writer at a time: the
batches pause a moment between them so other writers get in, and the instant alerts of the same
process take their turn in order with them); the
digest row is unique on (subscriber, period key) besides. Only due subscribers are read: each keeps
`next_due_at` (when its next occurrence falls due, from `bot.digest.schedule.next_due`), set after
each build and reset to NULL by the database when its schedule changes (migration 0025); `due_occurrence`
still decides under the lock, so restarts, DST changes and timezone changes cannot double or drop a
digest: see `bot.digest.schedule`.

APScheduler runs a single interval job in memory (no shared job store, no job per subscriber):
`misfire_grace_time` is large and `coalesce` is on, so a late or missed run still runs once.

Paused subscribers: their watermark (`last_digest_at`) moves to now on each tick (by the leader
only, `housekeeping`), so what matched while they were paused is skipped and resuming does not
flood them; their next digest covers the time since they resumed.

Instant alerts have their own task and do not wait for the tick, however large it is. A match stored
in this process sets `wake` (the pipeline's `on_matches`); a match stored by another process wakes
it through PostgreSQL LISTEN/NOTIFY (`bot/storage/wakeups.py`: the transaction that stores matches
sends `tgmon_matches`, delivered at commit). A one-row query (`max(matches.id)`, answered from the
primary key) stays as the safety net: every `digest.instant_poll_seconds` (5 s) while the listener
listens, every second while its connection is down, on SQLite (one machine: there the matches come
from this process, or from another one seen by the 1 s look) and with `database.listen` off. A
look reads only the matches stored since the previous one (less `INSTANT_LOOKBACK`, by the index on
`matched_at`: `digests.instant_candidates`); the tick's look reads every unsent match. Either
way the instant subscribers with new matches are built at once (claimed like the scheduled ones;
one whose row another transaction holds, a tick's batch or another scheduler, is looked at again
within a second: `INSTANT_HELD_RETRY`), still at most one alert per `delivery.instant_batch_seconds` per chat (matches that close together
go as one message), never in quiet hours; the tick stays as a safety net too. The transaction that
queues an alert sends `tgmon_outbox`, which wakes the delivery workers (a worker of this process is
also told directly).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bot.config import Settings
from bot.delivery.worker import sleep_or_stop
from bot.digest.schedule import Schedule, day_of_key, due_occurrence, in_quiet_hours, next_due
from bot.digest.service import DigestJob, DigestRequest, queue_digests
from bot.digest.streams import (
    STREAMS,
    RuleState,
    instant_candidates,
    instant_ready,
    partition,
    rules_by_subscriber,
)
from bot.domain import Clock, Frequency, StaleLeader
from bot.storage import digests as store
from bot.storage import models as m
from bot.storage.database import Database, Session
from bot.storage.wakeups import MATCHES, OUTBOX, Wakeups

log = logging.getLogger(__name__)

BATCH = 200  # subscribers built per transaction
INSTANT_POLL_SECONDS = 1.0  # how often another process's new matches are looked for when nothing wakes us
# an instant subscriber whose row another transaction held (a tick's batch claiming it, another
# scheduler building its alert) is looked at again this soon, without waiting for another match
INSTANT_HELD_RETRY = timedelta(seconds=1)
# the instant loop reads the matches stored since its last look, less this much: a match whose
# transaction committed later than that after it was stamped (or one from a clock further behind) is
# the tick's, which looks at every unsent match
INSTANT_LOOKBACK = timedelta(seconds=60)
# SQLite: the pause between two batches of a tick, so that another writer (ingest storing posts, the
# bot, another process) gets the lock: a waiting SQLite writer retries every 100 ms at most
SQLITE_PAUSE_SECONDS = 0.12
UNUSABLE_RETRY = timedelta(hours=1)  # a subscriber whose timezone this machine does not know: look again then
# next_due_at of a subscriber with no daily or weekly stream: never, until a change clears it
NEVER = datetime(3000, 1, 1, tzinfo=UTC)
SCHEDULED = (Frequency.DAILY, Frequency.WEEKLY)


def schedule_of(sub: m.Subscriber) -> Schedule:
    return Schedule(sub.frequency, sub.timezone, sub.digest_hour, sub.digest_minute, sub.digest_weekday,
                    sub.quiet_start, sub.quiet_end)


class DigestScheduler:
    def __init__(self, db: Database, settings: Settings, clock: Clock, *, batch: int = BATCH,
                 housekeeping: bool = True, wakeups: Wakeups | None = None) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.batch = batch
        # the paused subscribers' watermark: one process does it (the leader, under `fence`) when
        # several run; a scheduler on its own does it in its tick
        self.housekeeping = housekeeping
        self.wake = asyncio.Event()  # set when this process stores a match
        # matches stored by other processes (LISTEN/NOTIFY on PostgreSQL); alerts queued, for delivery
        self.wakeups = wakeups if wakeups is not None else Wakeups()
        # the leader's fencing check, run first in each housekeeping transaction (bot/runtime/leader.py)
        self.fence: Callable[[Session], Awaitable[None]] | None = None
        self._stale: StaleLeader | None = None
        self._ticking: asyncio.Task[Any] | None = None  # the APScheduler job's task while a tick runs
        # SQLite has one writer: the tick's batches and the instant alerts of this process take turns
        # in order (a waiting SQLite writer would lose every race for the lock to the next batch)
        self._turns = asyncio.Lock() if db.one_writer else contextlib.nullcontext()

    def matches_stored(self) -> None:
        """For the pipeline of this process: new matches, so instant alerts may be due now."""
        self.wake.set()

    async def tick(self) -> int:
        """One pass: build every due digest, the instant ones too (the safety net of the instant
        task). Returns how many digests were built (empty ones included)."""
        now = self.clock.now()
        if self.housekeeping:
            await self.skip_paused(now)
        built = await self.build_scheduled(now)
        built += (await self.instant_tick())[0]
        return built

    async def skip_paused(self, now: datetime) -> None:
        async with self.db.uow(read_only=True) as session:
            if not await store.any_paused(session):
                return  # no write transaction on a tick with nobody paused
        async with self._turns, self.db.uow() as session:
            if self.fence is not None:
                await self.fence(session)
            await store.skip_paused(session, now)  # their rules' watermarks too (bot/digest/streams.py)

    async def build_scheduled(self, now: datetime) -> int:
        """Every due daily and weekly digest, a batch of subscribers per transaction, until none is
        left that another process has not claimed. A batch that fails is built again one subscriber
        at a time, so one broken subscriber stops only its own digest (retried on the next tick)."""
        built = 0
        failed: set[int] = set()
        while True:
            claimed: list[int] = []
            try:
                count = await self._build_due_batch(now, self.batch, failed, claimed)
            except StaleLeader:
                raise
            except Exception:
                log.exception("digest batch failed; building its subscribers one by one")
                count = 0
                for sub_id in claimed:
                    try:
                        count += await self._build_due_batch(now, 1, failed, [], only=sub_id)
                    except Exception:
                        failed.add(sub_id)
                        log.exception("digest for subscriber %s failed; it is retried on the next tick", sub_id)
                if failed.issuperset(claimed):  # none of them could be built: the database, most likely
                    return built + count
            if not claimed:
                return built
            built += count
            if self.db.one_writer:
                await asyncio.sleep(SQLITE_PAUSE_SECONDS)

    async def _build_due_batch(self, now: datetime, limit: int, failed: set[int], claimed: list[int],
                               only: int | None = None) -> int:
        """Claim up to `limit` subscribers whose `next_due_at` has come (appending their ids to
        `claimed`), build their due daily and weekly digests and move `next_due_at` on, in one
        transaction."""
        async with self._turns, self.db.uow() as session:
            subs = await store.claim_due(session, now, limit, only=only, skip=failed)
            claimed.extend(sub.id for sub in subs)
            if not subs:
                return 0
            ids = [sub.id for sub in subs]
            last_days = await self._last_days(session, ids)
            rules = await rules_by_subscriber(session, ids)
            jobs: list[DigestJob] = []
            next_at: dict[int, datetime] = {}
            for sub in subs:
                try:
                    jobs.extend(self._jobs(sub, now, last_days, rules.get(sub.id, []), instant=False))
                except (ValueError, LookupError):  # a timezone this machine does not know: skip, say so
                    log.warning("subscriber %s has an unusable schedule (timezone %r); no digest", sub.id,
                                sub.timezone)
                    next_at[sub.id] = now + UNUSABLE_RETRY
            results = await queue_digests(session, self.settings, jobs, now=now)
            built = {(job.sub.id, job.kind): day_of_key(job.period_key) for job, result in zip(jobs, results, strict=True)
                     if result is not None or day_of_key(job.period_key) is not None}
            for sub in subs:
                if sub.id not in next_at:
                    next_at[sub.id] = self._next_due(sub, now, last_days, rules.get(sub.id, []), built)
            await store.set_next_due(session, next_at)
        return self._log_built(jobs, results)

    def _next_due(self, sub: m.Subscriber, now: datetime, last_days: dict[tuple[int, str], date],
                  rules: list[RuleState], built: dict[tuple[int, str], date | None]) -> datetime:
        """When the first of the chat's daily and weekly streams falls due next, after what was just
        built (a stream built now covers up to `now`)."""
        times = []
        for kind, covered in self._scheduled_streams(sub, rules).items():
            day = last_days.get((sub.id, kind))
            if (sub.id, kind) in built:
                covered = max(covered, now)
                done = built[(sub.id, kind)]
                day = max(day, done) if day is not None and done is not None else day or done
            at = next_due(replace(schedule_of(sub), frequency=kind), covered, day)
            if at is not None:
                times.append(at)
        if not times:
            return NEVER  # instant only: a change of frequency or of a rule's delivery clears it
        soonest = min(times)
        return soonest if soonest > now else now + UNUSABLE_RETRY  # never claimed again in this tick

    @staticmethod
    def _scheduled_streams(sub: m.Subscriber, rules: list[RuleState]) -> dict[str, datetime]:
        """The chat's daily and weekly streams, each with what it covers up to (bot/digest/streams.py)."""
        streams = partition(rules, sub.frequency)
        out = {}
        for kind in SCHEDULED:
            if kind == sub.frequency:
                out[kind.value] = sub.last_digest_at or sub.created_at
            elif streams.get(kind):
                out[kind.value] = max(r.covered for r in streams[kind])
        return out

    async def _instant_due(self, session: Session, now: datetime) -> tuple[list[int], datetime | None]:
        """Subscribers with unsent matches in their instant stream (the chat's frequency, or rules set
        to instant), and the earliest moment one held back by `instant_batch_seconds` (an alert went a
        moment ago) may go."""
        return await instant_ready(session, now, timedelta(seconds=self.settings.delivery.instant_batch_seconds))

    async def instant_tick(self, since: datetime | None = None) -> tuple[int, datetime | None]:
        """Build the instant alerts due now: of every subscriber with unsent matches, or, with `since`,
        of those with a match stored after it (the instant loop). Returns how many, and when to look
        again for the ones held back by the batch window or by another transaction (None: none held)."""
        built, retry_at, _ = await self._instant_look(since)
        return built, retry_at

    async def _instant_look(self, since: datetime | None, again: Collection[int] = ()) -> tuple[int, datetime | None, set[int]]:
        """`instant_tick`, also looking at the subscribers `again` (held by another transaction at the
        last look). Returns what it built, when to look again, and the subscribers held now."""
        now = self.clock.now()
        async with self.db.uow(read_only=True) as session:
            if since is None:
                due, retry_at = await self._instant_due(session, now)
            else:
                candidates = sorted(set(await instant_candidates(session, since, now)) | set(again))
                gap = timedelta(seconds=self.settings.delivery.instant_batch_seconds)
                due, retry_at = await instant_ready(session, now, gap, candidates) if candidates else ([], None)
        held: set[int] = set()
        built = await self._build(due, now, held) if due else 0
        if held:
            # SKIP LOCKED passed them by: without a look of their own they would wait for another match
            # or, behind a large daily tick, for its end
            log.debug("instant alerts of subscribers %s held by another transaction; looking again in %.0f s",
                      sorted(held), INSTANT_HELD_RETRY.total_seconds())
            soon = now + INSTANT_HELD_RETRY
            retry_at = soon if retry_at is None else min(retry_at, soon)
        return built, retry_at, held

    async def _newest_match(self) -> int:
        async with self.db.uow(read_only=True) as session:
            return await store.newest_match(session)

    def _poll_seconds(self) -> float:
        """How long to wait for a wake-up before looking anyway (module doc)."""
        return self.settings.digest.instant_poll_seconds if self.wakeups.listening else INSTANT_POLL_SECONDS

    async def _instant_loop(self, stop: asyncio.Event) -> None:
        """Instant alerts as their matches are stored (module doc)."""
        notified = self.wakeups.event(MATCHES)
        seen = await self._newest_match()
        retry_at: datetime | None = None
        held: set[int] = set()  # subscribers another transaction held at the last look
        # what the loop has looked at: matches stored up to then (the tick looked at the rest at start)
        looked = self.clock.now()
        lookback = max(INSTANT_LOOKBACK, timedelta(seconds=2 * self.settings.delivery.instant_batch_seconds))
        while not stop.is_set():
            await self._wait_for_matches(stop, self._poll_seconds(), retry_at)
            woken = self.wake.is_set() or notified.is_set()
            self.wake.clear()
            notified.clear()  # before looking: a notification that comes while we look wakes us again
            try:
                newest = await self._newest_match()
                due_again = retry_at is not None and self.clock.now() >= retry_at
                if not woken and newest <= seen and not due_again:
                    continue
                seen = newest
                started = self.clock.now()
                built, retry_at, held = await self._instant_look(looked - lookback, held)
                looked = started
                if built:
                    log.info("%d instant alerts built", built)
                    self.wakeups.tell(OUTBOX)  # a delivery worker of this process claims them now
            except Exception:
                log.exception("instant alerts failed; trying again in a second")
                await sleep_or_stop(self.clock, stop, INSTANT_POLL_SECONDS)

    async def _wait_for_matches(self, stop: asyncio.Event, seconds: float, retry_at: datetime | None) -> None:
        """Until a match is stored (here or, notified, elsewhere), `seconds` pass, or alerts held back
        by the batch window may go."""
        if retry_at is not None:
            seconds = max(0.0, min(seconds, (retry_at - self.clock.now()).total_seconds()))
        waiters = [asyncio.ensure_future(self.wake.wait()), asyncio.ensure_future(stop.wait()),
                   asyncio.ensure_future(self.wakeups.event(MATCHES).wait()),
                   asyncio.ensure_future(asyncio.sleep(seconds))]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waiters:
                task.cancel()

    @staticmethod
    async def _last_days(session: Session, subscriber_ids: list[int] | None = None) -> dict[tuple[int, str], date]:
        """Per subscriber and kind (daily, weekly), the local date of its latest scheduled digest."""
        out: dict[tuple[int, str], date] = {}
        for sub_id, key in await store.latest_scheduled_keys(session, subscriber_ids):
            day = day_of_key(key)
            if day is not None:
                out[(sub_id, key.partition(":")[0])] = day
        return out

    async def _build(self, subscriber_ids: list[int], now: datetime, held: set[int] | None = None) -> int:
        """Build the instant alerts of these subscribers in one transaction, deciding again under the
        lock: on PostgreSQL their rows are claimed with SKIP LOCKED (one that another transaction holds
        is added to `held`: the caller looks again soon), SQLite's BEGIN IMMEDIATE serialises writers."""
        async with self._turns, self.db.uow() as session:
            subs = await store.claim_subscribers(session, subscriber_ids)
            ids = [sub.id for sub in subs]
            if held is not None:
                held.update(set(subscriber_ids) - set(ids))
            rules = await rules_by_subscriber(session, ids)
            gap = timedelta(seconds=self.settings.delivery.instant_batch_seconds)
            ready = set((await instant_ready(session, now, gap, ids))[0]) if ids else set()
            jobs = []
            for sub in subs:
                try:
                    jobs.extend(self._jobs(sub, now, {}, rules.get(sub.id, []), sub.id in ready, scheduled=False))
                except (ValueError, LookupError):
                    log.warning("subscriber %s has an unusable schedule (timezone %r); no digest", sub.id, sub.timezone)
                    continue
            results = await queue_digests(session, self.settings, jobs, now=now)
        return self._log_built(jobs, results)

    @staticmethod
    def _log_built(jobs: Sequence[DigestJob], results: Sequence[DigestRequest | None]) -> int:
        built = 0
        for job, result in zip(jobs, results, strict=True):
            if result is not None:
                built += 1
                log.info("digest %s (%s) for chat %s: %d items in %d chunks", result.digest_id, job.period_key,
                         job.sub.chat_id, result.items, result.chunks)
        return built

    def _jobs(self, sub: m.Subscriber, now: datetime, last_days: dict[tuple[int, str], date],
              rules: list[RuleState], instant: bool, *, scheduled: bool = True) -> list[DigestJob]:
        """The digests due now for one chat: one per stream (bot/digest/streams.py), the instant one
        when `instant` (it has unsent matches, its last alert is old enough), the daily and weekly ones
        when `scheduled`. The chat's own stream moves its watermark (`last_digest_at`); the others
        cover their rules only."""
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
                if not instant or in_quiet_hours(schedule, now):
                    continue  # held: the first tick after quiet hours sends them in one batch
                jobs.append(DigestJob(sub, "instant", f"instant:{now.isoformat()}", sub.last_digest_at if own else None,
                                      now, advance=own, rule_ids=members))
                continue
            if not scheduled:
                continue
            covered = (sub.last_digest_at or sub.created_at) if own else max(r.covered for r in streams[kind])
            occurrence = due_occurrence(replace(schedule, frequency=kind), now, covered, last_days.get((sub.id, kind)))
            if occurrence is not None:
                jobs.append(DigestJob(sub, occurrence.kind, occurrence.key, sub.last_digest_at if own else covered,
                                      now, chart=occurrence.kind == "weekly", advance=own, rule_ids=members))
        return jobs

    async def housekeep(self, stop: asyncio.Event) -> None:
        """What one process does when several schedulers run (the leader, with `fence` set): the
        paused subscribers' watermark, each tick. Ends with StaleLeader when its term is over."""
        while not stop.is_set():
            try:
                await self.skip_paused(self.clock.now())
            except StaleLeader:
                raise
            except Exception:
                log.exception("scheduler housekeeping failed; the next tick retries")
            await sleep_or_stop(self.clock, stop, self.settings.digest.tick_seconds)

    async def _safe_tick(self) -> None:
        self._ticking = asyncio.current_task()
        try:
            await self.tick()
        except asyncio.CancelledError:
            # `run` stopping (SIGTERM): the batch in flight rolls back, and the next tick of any
            # scheduler builds it (building is idempotent); not an error for APScheduler to log
            log.info("digest tick stopped with the process; the next tick builds what it had not committed")
        except StaleLeader as exc:
            self._stale = exc  # run() ends with it: the process steps down
        except Exception:
            log.exception("digest tick failed; the next one retries")
        finally:
            self._ticking = None

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
            scheduler.shutdown(wait=False)  # no new tick; the one in flight is stopped here
            ticking = self._ticking
            if ticking is not None and not ticking.done():
                ticking.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticking
            instant.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await instant
            log.info("digest scheduler stopped")
        if self._stale is not None:
            raise self._stale
