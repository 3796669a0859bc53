"""The delivery worker: sends due outbox rows through the Sender, paced by the shared limiter.

One loop picks due rows (a chat's head row only, so chunks go in order), waits for the limiter's
slot, claims the row and hands the send to a task, so a slow request to one chat never holds the
others; a chat with a send in flight is skipped until it is marked.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from datetime import timedelta

from bot.config import Settings
from bot.delivery import outbox
from bot.delivery.errors import ChatFloodWait, ChatUnavailable, SendError, SendUncertain
from bot.delivery.limiter import RateLimiter
from bot.domain import Clock, OutboxState, Sender
from bot.storage.database import Database

log = logging.getLogger(__name__)

MAX_IN_FLIGHT = 32
STALE_AFTER = timedelta(minutes=10)  # a 'sending' row older than this lost its worker
POLL_SECONDS = 1.0


async def _wait_slot(limiter: RateLimiter, clock: Clock, chat_id: int) -> None:
    while (wait := limiter.delay(chat_id)) > 0:
        await clock.sleep(wait)


def _backoff(attempts: int) -> float:
    return float(min(300, 2 ** max(0, attempts)))


async def send_one(
    db: Database, sender: Sender, limiter: RateLimiter, clock: Clock, job: outbox.Job, max_attempts: int
) -> bool:
    """Send one claimed row and record the outcome. True when it was delivered."""
    try:
        result = await sender.send_html(job.chat_id, job.text, random_id=job.random_id, attachment=job.attachment)
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
    except SendUncertain as exc:
        await outbox.mark_done(db, job, OutboxState.UNCERTAIN, clock.now(), f"outcome unknown: {exc}")
        log.warning("outbox %s (chat %s, chunk %d/%d): outcome unknown, not resent: %s",
                    job.id, job.chat_id, job.chunk_no, job.chunk_total, exc)
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
    await outbox.mark_sent(db, job, clock.now(), result.message_id)
    limiter.success()
    return True


async def deliver_due(db: Database, sender: Sender, limiter: RateLimiter, clock: Clock) -> int:
    """Send every due outbox row once; returns how many were delivered."""
    max_attempts = limiter.settings.max_attempts
    busy: set[int] = set()
    tasks: set[asyncio.Task[bool]] = set()
    sent = 0

    def done(task: asyncio.Task[bool], *, chat_id: int) -> None:
        nonlocal sent
        busy.discard(chat_id)
        tasks.discard(task)
        if not task.cancelled() and task.exception() is None and task.result():
            sent += 1

    try:
        while True:
            excluded = set(busy)
            jobs = await outbox.due_heads(db, clock.now(), limit=MAX_IN_FLIGHT * 2, exclude=excluded)
            if not jobs:
                if not tasks:
                    if excluded:
                        continue  # a send finished while we looked: its chat's next chunk may be due now
                    break
                await asyncio.wait(set(tasks), return_when=asyncio.FIRST_COMPLETED)
                continue
            jobs.sort(key=lambda j: limiter.delay(j.chat_id))
            for job in jobs:
                while len(tasks) >= MAX_IN_FLIGHT:
                    await asyncio.wait(set(tasks), return_when=asyncio.FIRST_COMPLETED)
                await _wait_slot(limiter, clock, job.chat_id)
                claimed = await outbox.claim(db, job.id, clock.now())
                if claimed is None:
                    continue  # another worker took it, or it is no longer the chat's head
                limiter.record(job.chat_id)
                busy.add(job.chat_id)
                task = asyncio.create_task(send_one(db, sender, limiter, clock, claimed, max_attempts))
                tasks.add(task)
                task.add_done_callback(functools.partial(done, chat_id=job.chat_id))
                await asyncio.sleep(0)  # let the send start now, in its slot, before this loop waits again
    finally:
        for task in list(tasks):
            task.cancel()  # a kill: whatever was on the wire stays 'sending' and is found as uncertain later
    return sent


async def sleep_or_stop(clock: Clock, stop: asyncio.Event, seconds: float) -> None:
    """Sleep on the clock (so a heartbeat clock beats), returning early when `stop` is set."""
    waiter = asyncio.ensure_future(stop.wait())
    sleeper = asyncio.ensure_future(clock.sleep(seconds))
    try:
        await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (waiter, sleeper):
            task.cancel()


class DeliveryWorker:
    def __init__(self, db: Database, sender: Sender, settings: Settings, clock: Clock) -> None:
        self.db = db
        self.sender = sender
        self.settings = settings
        self.clock = clock
        self.limiter = RateLimiter(settings.delivery, clock)

    async def run(self, stop: asyncio.Event) -> None:
        log.info("delivery worker started")
        while not stop.is_set():
            stale = await outbox.recover_stale(self.db, self.clock.now(), STALE_AFTER)
            if stale:
                log.warning("%d outbox rows were left mid-send by a stopped worker: marked uncertain, not resent",
                            len(stale))
            try:
                await deliver_due(self.db, self.sender, self.limiter, self.clock)
            except Exception:  # keep delivering: a database hiccup must not end the worker
                log.exception("delivery pass failed; retrying")
            await sleep_or_stop(self.clock, stop, POLL_SECONDS)
        log.info("delivery worker stopped")
