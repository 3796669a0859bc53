"""Outbox rows through their states: pending -> sending -> sent | uncertain | failed.

A row is written (pending) before anything is sent. A worker claims rows right before sending them
(state 'sending', claimed_at, attempts + 1): `claim_heads` takes up to N due rows of distinct chats
in ONE short transaction, only as many as the rate limiter lets go at once, so each claimed row is
on the wire moments later. A row is marked right after Telegram answered: `mark_sent_many` records
a batch of answered sends in one transaction (never before the answer); a retry, a failure or an
unknown outcome is recorded at once by itself.

A claim is a lease: the worker renews `claimed_at` while the send is in flight (`renew`). A row
still 'sending' past its lease lost its worker (killed, frozen, cut off): `reclaim_expired` puts it
back to pending and it is sent again with the SAME `random_id`, which Telegram uses to drop a
repeat (RANDOM_ID_DUPLICATE counts as sent). So a crash loses nothing and shows nothing twice.

Order inside a chat: only a chat's head row (no earlier row of the same chat still pending or
sending) is ever due, so chunks arrive numbered in order and a FloodWait on chunk 2 holds 3, 4, 5.
The partial index ix_outbox_chat_active (chat_id, id) WHERE state IN ('pending', 'sending') answers
that head-of-chat test from the few active rows, however many sent rows the table holds.
On PostgreSQL the claim is `SELECT ... FOR UPDATE SKIP LOCKED`, so parallel workers never take
the same row; on SQLite the claim runs inside BEGIN IMMEDIATE, which serialises writers.

The queries are the outbox repository's (`bot/storage/outbox.py`); this module decides and owns
the transactions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from bot.domain import OutboxState
from bot.storage import outbox as rows
from bot.storage.database import Database, Session
from bot.storage.outbox import ACTIVE, DONE, ChatGap, Job

__all__ = ["ACTIVE", "DONE", "ChatGap", "Job", "chat_unavailable", "claim_heads", "mark_done", "mark_retry",
           "mark_sent", "mark_sent_many", "on_wire", "queue_notice", "reclaim_expired", "release", "renew"]


async def claim_heads(
    db: Database, now: datetime, *, limit: int, exclude: set[int] | None = None,
    pick: Callable[[Sequence[Job]], Sequence[Job]] | None = None,
) -> tuple[list[Job], list[Job]]:
    """Claim due head rows (one per chat; instant alerts first, then the oldest) in one transaction.

    Reads up to `limit` candidates (locking them on PostgreSQL, skipping rows another worker holds),
    lets `pick` choose the ones to send now (all of them without `pick`), and claims those.
    Returns (claimed, candidates); a candidate not picked stays pending and unlocked."""
    async with db.uow() as session:
        candidates = await rows.due_heads(session, now, limit=limit, exclude=exclude)
        chosen = list(pick(candidates)) if pick is not None else candidates
        if not chosen:
            return [], candidates
        await rows.claim(session, chosen, now)
    return [replace(j, attempts=j.attempts + 1) for j in chosen], candidates


async def release(db: Database, jobs: Sequence[Job]) -> None:
    """Give claimed rows back unsent (the worker was told to stop while it claimed them)."""
    if not jobs:
        return
    async with db.uow() as session:
        await rows.release(session, [j.id for j in jobs])


async def mark_sent(db: Database, job: Job, now: datetime, message_id: int | None, gap: ChatGap | None = None) -> None:
    """Record a send Telegram has answered. The next message to a chat just written to waits its gap
    (1 s a private chat, 3 s a group), in the database, so the per-chat limits hold whichever worker
    sends it: a worker's limiter knows only its own sends."""
    async with db.uow() as session:
        await rows.mark_sent(session, [(job.id, message_id)], now)
        await rows.space_next(session, [job], now, gap)
        await rows.finish_digest(session, job.digest_id, now)


async def mark_sent_many(db: Database, answered: Sequence[tuple[Job, int | None]], now: datetime,
                         gap: ChatGap | None = None) -> None:
    """Record sends Telegram has answered (job, message id), all in one transaction."""
    if not answered:
        return
    async with db.uow() as session:
        await rows.mark_sent(session, [(job.id, message_id) for job, message_id in answered], now)
        await rows.space_next(session, [job for job, _ in answered], now, gap)
        await rows.finish_digests(session, (job.digest_id for job, _ in answered if job.digest_id is not None), now)


async def mark_retry(db: Database, job: Job, not_before: datetime, error: str, *, count_attempt: bool) -> None:
    """Back to pending, due again at `not_before` (a FloodWait does not count as an attempt)."""
    async with db.uow() as session:
        await rows.mark_retry(session, job.id, not_before, error, count_attempt=count_attempt)


async def mark_done(db: Database, job: Job, state: OutboxState, now: datetime, error: str) -> None:
    """A final state other than sent: uncertain (reported, never resent) or failed."""
    async with db.uow() as session:
        await rows.mark_done(session, job.id, state, error)
        await rows.finish_digest(session, job.digest_id, now)


async def chat_unavailable(db: Database, job: Job, now: datetime, error: str) -> int:
    """The chat blocked the bot or is gone: this and every other waiting row for it fail, and the
    subscriber is marked inactive. Returns how many rows were dropped with it."""
    async with db.uow() as session:
        dropped = await rows.fail_chat(session, job.chat_id, error)
        await rows.deactivate_chat(session, job.chat_id)
        for digest_id in await rows.digests_of_chat(session, job.chat_id):
            await rows.finish_digest(session, digest_id, now)
        return dropped


async def on_wire(db: Database, job: Job, now: datetime) -> None:
    """A claimed row's request is leaving now (a notification service that cannot recognise a repeat):
    `sent_at` on a 'sending' row says so, and a row found so after a crash is never sent again."""
    async with db.uow() as session:
        await rows.on_wire(session, job.id, now)


async def renew(db: Database, ids: Sequence[int], now: datetime) -> None:
    """The worker still holds these claimed rows (their sends are in flight): extend the lease."""
    if not ids:
        return
    async with db.uow() as session:
        await rows.renew(session, ids, now)


async def reclaim_expired(db: Database, now: datetime, lease: timedelta, max_attempts: int) -> list[int]:
    """Rows left 'sending' past their lease (their worker died mid-send) go back to pending, to be sent
    again with the same random_id; one that already used every attempt is reported uncertain.
    Returns the ids put back. Each stays its chat's head row, so later chunks keep waiting behind it.
    A row for a notification target that cannot recognise a repeat (no idempotency key) whose request
    had left (`on_wire` stamped it) is reported uncertain instead: it may have reached the service,
    and sending it again could show it twice. One whose request never left goes back to pending."""
    async with db.uow() as session:
        expired = await rows.expired(session, now - lease)
        again = [r.id for r in expired
                 if r.attempts < max_attempts and (r.target_id is None or r.keyed or not r.on_wire)]
        doubt = [r.id for r in expired
                 if r.attempts < max_attempts and r.target_id is not None and not r.keyed and r.on_wire]
        spent = [r.id for r in expired if r.attempts >= max_attempts]
        if doubt:
            await rows.set_uncertain(session, doubt, "its worker stopped mid-send; this service cannot recognise a repeat")
        if again:
            await rows.requeue(session, again, now, "its worker stopped mid-send; sent again with the same random_id")
        if spent:
            await rows.set_uncertain(session, spent, "every attempt ended with its worker gone")
        if spent or doubt:
            for digest_id in await rows.digests_of_rows(session, spent + doubt):
                await rows.finish_digest(session, digest_id, now)
        return again


async def queue_notice(session: Session, chat_ids: Sequence[int], text: Callable[[str], str],
                       now: datetime) -> int:
    """One message to each of these chats that has talked to the bot (a subscriber row), in its own
    language (`text(lang)` gives the HTML), through the outbox like any other. Returns how many."""
    if not chat_ids:
        return 0
    subscribers = await rows.subscribers_of_chats(session, chat_ids)
    for subscriber_id, chat_id, language in subscribers:
        rows.add_notice(session, subscriber_id, chat_id, text(language), now)
    return len(subscribers)
