"""The delivery worker: sends due outbox rows through the Sender, paced by the shared limiter.

One loop, each turn: record the answered sends (one transaction for the batch), then claim as
many due rows as the limiter lets go right now (up to 32 in flight; one transaction for the batch,
a chat's head row only, so chunks go in order) and hand each send to a task, so a slow request to
one chat never holds the others. With nothing to claim it waits for a send to end, a limiter slot,
or the stop event.

Waking: with nothing to send, a worker looks for due rows every `delivery.poll_seconds` (1 s; rows
due later, a retry or a chat's gap, are found so), and at once when a row is queued: the
transaction that queues rows sends `tgmon_outbox`, which the process's LISTEN connection turns into
the `OUTBOX` event (PostgreSQL, `bot/storage/wakeups.py`); a scheduler in the same process sets it
too (SQLite).

Stop: once `stop` is set no new row is claimed; the sends already on the wire are awaited and
recorded. A claim is a lease (`delivery.lease_seconds`), renewed while its send is in flight; a
kill, a freeze or a cut connection leaves rows 'sending' whose lease runs out, and any worker then
sends them again with the same random_id (Telegram drops a repeat), ahead of the later chunks of
their chat. An answer that leaves the outcome unknown (a timeout) is retried the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from functools import partial
from typing import Any

from bot.config import Settings
from bot.delivery import outbox
from bot.delivery.errors import (
    ChatFloodWait,
    ChatUnavailable,
    DestinationGone,
    SendError,
    SendFailed,
    SendInDoubt,
    SendUncertain,
)
from bot.delivery.limiter import RateLimiter, chat_gap
from bot.delivery.share import BEAT_SECONDS, JOIN_SECONDS, WorkerShare
from bot.domain import Clock, Notifier, OutboxState, Sender, SendResult
from bot.storage.database import Database
from bot.storage.wakeups import OUTBOX, Wakeups

log = logging.getLogger(__name__)

MAX_IN_FLIGHT = 32
BATCH_SLOTS = 8  # when the global limit is reached, wait until this many slots are free: batched claims
CANDIDATE_SLACK = 16  # extra candidate rows read per claim, for chats whose own window is still closed
POLL_SECONDS = 1.0  # the default of `delivery.poll_seconds`, for callers without settings


def _backoff(attempts: int) -> float:
    return float(min(300, 2 ** max(0, attempts)))


async def send_one(
    db: Database, sender: Sender, limiter: RateLimiter, clock: Clock, job: outbox.Job, max_attempts: int,
    *, on_sent: Callable[[int | None], None] | None = None, notifier: Notifier | None = None,
) -> bool:
    """Send one claimed row and record the outcome. True when it was delivered.

    A row with a `target_id` goes to that notification target through `notifier`, any other to the
    Telegram chat through `sender`. With `on_sent`, a delivered row is handed over (its message id)
    to be recorded in a batch instead of in a transaction of its own; every other outcome is
    recorded here at once."""
    try:
        result = await _dispatch(db, clock, sender, notifier, job)
    except DestinationGone as exc:
        await outbox.mark_done(db, job, OutboxState.FAILED, clock.now(), str(exc))
        log.warning("outbox %s (chat %s): %s", job.id, job.chat_id, exc)
        return False
    except SendInDoubt as exc:  # may have been delivered, and the service cannot recognise a repeat
        await outbox.mark_done(db, job, OutboxState.UNCERTAIN, clock.now(), f"outcome unknown: {exc}")
        log.warning("outbox %s (chat %s): outcome unknown, not sent again: %s", job.id, job.chat_id, exc)
        return False
    except ChatFloodWait as exc:
        limiter.flood_wait(exc.seconds)
        when = clock.now() + timedelta(seconds=exc.seconds)
        log.warning("flood wait %.0f s for chat %s: its messages wait until %s", exc.seconds, job.chat_id, when)
        await outbox.mark_retry(db, job, when, str(exc), count_attempt=False)
        return False
    except ChatUnavailable as exc:
        dropped = await outbox.chat_unavailable(db, job, clock.now(), f"chat unavailable: {exc}")
        log.warning("chat %s is unavailable (%s): subscriber marked inactive, %d messages dropped",
                    job.chat_id, exc, dropped)
        return False
    except SendUncertain as exc:  # maybe delivered: asked again with the same random_id, Telegram drops a repeat
        if job.attempts >= max_attempts:
            await outbox.mark_done(db, job, OutboxState.UNCERTAIN, clock.now(), f"outcome unknown: {exc}")
            log.warning("outbox %s (chat %s, chunk %d/%d): outcome still unknown after %d attempts: %s",
                        job.id, job.chat_id, job.chunk_no, job.chunk_total, job.attempts, exc)
        else:
            await outbox.mark_retry(db, job, clock.now() + timedelta(seconds=_backoff(job.attempts)),
                                    f"outcome unknown: {exc}", count_attempt=True)
        return False
    except SendError as exc:
        if job.attempts >= max_attempts:
            await outbox.mark_done(db, job, OutboxState.FAILED, clock.now(), f"gave up: {exc}")
            log.error("outbox %s (chat %s): failed %d times, given up: %s", job.id, job.chat_id, job.attempts, exc)
        else:
            await outbox.mark_retry(db, job, clock.now() + timedelta(seconds=_backoff(job.attempts)), str(exc),
                                    count_attempt=True)
        return False
    except Exception as exc:  # a bug or an unknown library error: the request may have gone out
        log.exception("outbox %s (chat %s): unexpected error while sending", job.id, job.chat_id)
        await outbox.mark_done(db, job, OutboxState.UNCERTAIN, clock.now(), f"unexpected error: {type(exc).__name__}")
        return False
    limiter.success()
    if on_sent is not None:
        on_sent(result.message_id)
    else:
        await outbox.mark_sent(db, job, clock.now(), result.message_id, partial(chat_gap, limiter.settings))
    return True


async def _dispatch(db: Database, clock: Clock, sender: Sender, notifier: Notifier | None,
                    job: outbox.Job) -> SendResult:
    if job.target_id is None:
        return await sender.send_html(job.chat_id, job.text, random_id=job.random_id, attachment=job.attachment,
                                      silent=job.silent, buttons=job.buttons)
    if notifier is None:
        raise SendFailed("this worker has no notification sender")

    async def on_wire() -> None:
        await outbox.on_wire(db, job, clock.now())

    return await notifier.notify(job.target_id, job.text, key=job.key, on_wire=on_wire,
                                 subscriber_id=job.subscriber_id)


async def deliver_due(
    db: Database, sender: Sender, limiter: RateLimiter, clock: Clock, stop: asyncio.Event | None = None,
    *, notifier: Notifier | None = None, wake: asyncio.Event | None = None,
) -> int:
    """Send every due outbox row once (until `stop` is set); returns how many were delivered. `wake`
    (set when rows are queued) cuts a wait short; it is cleared before each claim."""
    return await _Pass(db, sender, limiter, clock, stop, notifier, wake).run()


class _Pass:
    """One `deliver_due` call: its in-flight sends and the answers not yet recorded."""

    def __init__(self, db: Database, sender: Sender, limiter: RateLimiter, clock: Clock,
                 stop: asyncio.Event | None, notifier: Notifier | None = None,
                 wake: asyncio.Event | None = None) -> None:
        self.db, self.sender, self.limiter, self.clock, self.stop = db, sender, limiter, clock, stop
        self.notifier = notifier
        self.wake = wake
        self.max_attempts = limiter.settings.max_attempts
        self.lease = timedelta(seconds=limiter.settings.lease_seconds)
        self.renew_every = limiter.settings.lease_seconds / 4
        self.renewed_at = clock.now()
        self.in_flight: dict[int, outbox.Job] = {}  # claimed rows whose send has not ended
        self.tasks: set[asyncio.Task[bool]] = set()
        self.busy: set[int] = set()  # chats with a send in flight or an answer not yet recorded
        self.answered: list[tuple[outbox.Job, int | None]] = []
        self.sent = 0

    def stopping(self) -> bool:
        return self.stop is not None and self.stop.is_set()

    async def run(self) -> int:
        try:
            while True:
                await self.flush()
                await self.renew()
                if self.stopping():
                    break
                if self.wake is not None:
                    self.wake.clear()  # this claim sees what was queued so far; a later row sets it again
                claimed, seen, wait = await self.claim()
                if claimed or self.answered:
                    # let the sends start now, in their slots; answers that came in while the last
                    # flush or this claim ran are recorded first (they also hold room and their chats)
                    await asyncio.sleep(0)
                    continue
                if not seen and not self.tasks and not self.answered:
                    break
                await self.wait(wait)
            while self.tasks:  # stopping or done: the sends on the wire end and are recorded
                await asyncio.wait(set(self.tasks), timeout=self.renew_every)
                await self.renew()
            await self.flush()
        except Exception:
            # a database error: the sends on the wire still end and their answers are recorded if
            # the database lets us; then the caller retries the pass
            if self.tasks:
                await asyncio.wait(set(self.tasks))
            await self.flush_quietly()
            raise
        finally:
            if self.tasks:  # a cancellation: what is on the wire stays 'sending' (uncertain later)
                for task in list(self.tasks):
                    task.cancel()
                await self.flush_quietly()  # answers that came back did reach Telegram
        return self.sent

    async def flush(self) -> None:
        if not self.answered:
            return
        batch, self.answered = self.answered, []
        try:
            await outbox.mark_sent_many(self.db, batch, self.clock.now(), partial(chat_gap, self.limiter.settings))
        except BaseException:
            self.answered[:0] = batch  # still unrecorded: a later flush (or the stale check) has them
            raise
        for job, _ in batch:
            self.busy.discard(job.chat_id)
        self.sent += len(batch)

    async def renew(self) -> None:
        """Extend the lease of every row this pass still holds, a few times per lease; and take back
        what a worker that stopped left mid-send (a long pass must not keep those waiting)."""
        now = self.clock.now()
        if (now - self.renewed_at).total_seconds() < self.renew_every:
            return
        self.renewed_at = now
        await outbox.renew(self.db, [*self.in_flight, *(job.id for job, _ in self.answered)], now)
        await outbox.reclaim_expired(self.db, now, self.lease, self.max_attempts)

    async def flush_quietly(self) -> None:
        try:
            await self.flush()
        except Exception:  # already failing: these rows stay 'sending' and are found as stale
            log.warning("%d answered sends could not be recorded: left 'sending', reported uncertain later",
                        len(self.answered))

    async def claim(self) -> tuple[int, bool, float | None]:
        """Claim and start what may go now. Returns (claimed, any row due, seconds to wait for a slot)."""
        room = MAX_IN_FLIGHT - len(self.tasks) - len(self.answered)
        if room <= 0:
            return 0, True, None  # wait for a send to end
        free = self.limiter.free_now()
        if free <= 0:
            return 0, True, self.limiter.global_delay(min(room, BATCH_SLOTS))
        want = min(room, free)
        blocked: list[float] = []

        def pick(candidates: Sequence[outbox.Job]) -> list[outbox.Job]:
            chosen: list[outbox.Job] = []
            for job in candidates:
                if len(chosen) >= want:
                    break
                delay = self.limiter.chat_delay(job.chat_id)
                if delay > 0:
                    blocked.append(delay)
                else:
                    chosen.append(job)
            return chosen

        claimed, seen = await outbox.claim_heads(
            self.db, self.clock.now(), limit=want + CANDIDATE_SLACK, exclude=set(self.busy), pick=pick
        )
        if claimed and self.stopping():  # stop came while the claim ran: nothing of it goes out
            await outbox.release(self.db, claimed)
            return 0, bool(seen), None
        for job in claimed:
            self.limiter.begin(job.chat_id)  # holds its slots until the answer (bot/delivery/limiter.py)
            self.busy.add(job.chat_id)
            task = asyncio.create_task(self.send(job))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        return len(claimed), bool(seen), (min(blocked) if blocked and not claimed else None)

    async def send(self, job: outbox.Job) -> bool:
        def answered(message_id: int | None) -> None:
            self.answered.append((job, message_id))

        self.in_flight[job.id] = job
        try:
            ok = await send_one(self.db, self.sender, self.limiter, self.clock, job, self.max_attempts,
                                on_sent=answered, notifier=self.notifier)
        finally:
            self.limiter.end(job.chat_id)
            self.in_flight.pop(job.id, None)
            if not any(j is job for j, _ in self.answered):
                self.busy.discard(job.chat_id)  # recorded by itself (retry, failure, in doubt)
        return ok

    async def wait(self, seconds: float | None) -> None:
        """Until a send ends, `seconds` pass on the clock, or stop is set."""
        if not self.tasks and self.stop is None:
            if seconds is not None:
                await self.clock.sleep(seconds)
            return
        if not self.tasks and seconds is None:
            seconds = POLL_SECONDS  # nothing on the wire to end: never wait on the stop event alone
        if self.tasks:  # wake up in time to renew the lease of a slow send
            seconds = min(seconds, self.renew_every) if seconds is not None else self.renew_every
        waiters: set[asyncio.Future[Any]] = set(self.tasks)
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds)) if seconds is not None else None
        stopper = asyncio.ensure_future(self.stop.wait()) if self.stop is not None else None
        waker = asyncio.ensure_future(self.wake.wait()) if self.wake is not None else None
        for extra in (sleeper, stopper, waker):
            if extra is not None:
                waiters.add(extra)
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for extra in (sleeper, stopper, waker):
                if extra is not None and not extra.done():
                    extra.cancel()
        if sleeper is not None and sleeper.done():
            if sleeper.cancelled():
                raise asyncio.CancelledError  # the clock's sleep was cancelled: so is this pass
            sleeper.result()


async def sleep_or_stop(clock: Clock, stop: asyncio.Event, seconds: float, wake: asyncio.Event | None = None) -> None:
    """Sleep on the clock (so a heartbeat clock beats), returning early when `stop` (or `wake`) is set."""
    waiters = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(clock.sleep(seconds))}
    if wake is not None:
        waiters.add(asyncio.ensure_future(wake.wait()))
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in waiters:
            task.cancel()


class DeliveryWorker:
    def __init__(self, db: Database, sender: Sender, settings: Settings, clock: Clock,
                 notifier: Notifier | None = None, wakeups: Wakeups | None = None) -> None:
        self.db = db
        self.sender = sender
        self.notifier = notifier
        self.settings = settings
        self.clock = clock
        self.limiter = RateLimiter(settings.delivery, clock)
        self.share = WorkerShare(db, clock)
        self.wakeups = wakeups if wakeups is not None else Wakeups()

    async def run(self, stop: asyncio.Event) -> None:
        log.info("delivery worker started")
        live = 0
        try:  # our share before the first send, and the others' time to see us (bot/delivery/share.py)
            self.limiter.set_share(1 / await self.share.beat())
        except Exception:
            log.warning("delivery heartbeat failed; starting at the full rate", exc_info=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), JOIN_SECONDS)
        with contextlib.suppress(Exception):  # the workers that joined while we waited, before any send
            live = await self.share.beat()
            self.limiter.set_share(1 / live)
        sharing = asyncio.create_task(self._share_limit(stop, live))
        try:
            await self._deliver(stop)
        finally:
            sharing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sharing
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.share.leave(), 2)
        log.info("delivery worker stopped")

    async def _share_limit(self, stop: asyncio.Event, live: int = 0) -> None:
        """Every few seconds: heartbeat, and pace at global_per_second / live workers."""
        while not stop.is_set():
            # real time, not self.clock: the clock's sleeps are the delivery loop's health heartbeats
            if live:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), BEAT_SECONDS)
                if stop.is_set():
                    break
            try:
                now_live = await self.share.beat()
            except Exception:  # a database hiccup: keep the last share
                log.warning("delivery heartbeat failed; keeping the current rate", exc_info=True)
                live = live or 1
            else:
                if now_live != live:
                    live = now_live
                    self.limiter.set_share(1 / live)
                    log.info("%d delivery worker(s) alive: this one sends up to %.1f messages a second",
                             live, self.settings.delivery.global_per_second / live)

    async def _deliver(self, stop: asyncio.Event) -> None:
        wake = self.wakeups.event(OUTBOX)
        while not stop.is_set():
            delivery = self.settings.delivery
            again = await outbox.reclaim_expired(self.db, self.clock.now(), timedelta(seconds=delivery.lease_seconds),
                                                 delivery.max_attempts)
            if again:
                log.warning("%d outbox rows were left mid-send by a worker that stopped: sending them again "
                            "with the same random_id (Telegram drops a repeat)", len(again))
            try:
                await deliver_due(self.db, self.sender, self.limiter, self.clock, stop, notifier=self.notifier,
                                  wake=wake)
            except Exception:  # keep delivering: a database hiccup must not end the worker
                log.exception("delivery pass failed; retrying")
                await sleep_or_stop(self.clock, stop, POLL_SECONDS)
                continue
            # set since the pass's last claim: rows queued meanwhile, claimed now
            await sleep_or_stop(self.clock, stop, delivery.poll_seconds, wake)
