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
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.domain import DigestState, OutboxState
from bot.storage import models as m
from bot.storage.database import Database

ACTIVE = (OutboxState.PENDING, OutboxState.SENDING)
DONE = (OutboxState.SENT, OutboxState.UNCERTAIN, OutboxState.FAILED)


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    digest_id: int | None
    subscriber_id: int
    chat_id: int
    chunk_no: int
    chunk_total: int
    text: str
    attachment: bytes | None
    random_id: int
    attempts: int
    target_id: int | None = None  # None: the Telegram chat; else a notification target (bot/notify)
    silent: bool = False  # Telegram's silent send: the message arrives without a sound
    buttons: tuple[tuple[tuple[str, str], ...], ...] = ()  # rows of (label, callback data) under it

    @property
    def key(self) -> str:
        """The row's idempotency key for a notification service: stable across every attempt."""
        return f"tgmon-{self.random_id}"


def _head_of_chat() -> object:
    earlier = aliased(m.Outbox)
    return ~exists().where(
        earlier.chat_id == m.Outbox.chat_id, earlier.id < m.Outbox.id, earlier.state.in_(ACTIVE),
        # one queue per destination: a notification target never waits behind the chat, nor the other way
        func.coalesce(earlier.target_id, 0) == func.coalesce(m.Outbox.target_id, 0),
    )


def _job(r: m.Outbox) -> Job:
    return Job(r.id, r.digest_id, r.subscriber_id, r.chat_id, r.chunk_no, r.chunk_total, r.text, r.attachment,
               r.random_id, r.attempts, r.target_id, bool(r.silent), _buttons(r.buttons))


def _buttons(stored: list[Any] | None) -> tuple[tuple[tuple[str, str], ...], ...]:
    return tuple(tuple((str(b["text"]), str(b["data"])) for b in row) for row in stored or ())


async def claim_heads(
    db: Database, now: datetime, *, limit: int, exclude: set[int] | None = None,
    pick: Callable[[Sequence[Job]], Sequence[Job]] | None = None,
) -> tuple[list[Job], list[Job]]:
    """Claim due head rows (one per chat, oldest first) in one transaction.

    Reads up to `limit` candidates (locking them on PostgreSQL, skipping rows another worker holds),
    lets `pick` choose the ones to send now (all of them without `pick`), and claims those.
    Returns (claimed, candidates); a candidate not picked stays pending and unlocked."""
    query = (
        select(m.Outbox)
        .where(m.Outbox.state == OutboxState.PENDING, m.Outbox.not_before <= now, _head_of_chat())  # type: ignore[arg-type]
        .order_by(m.Outbox.not_before, m.Outbox.id)
        .limit(limit)
    )
    if exclude:
        query = query.where(m.Outbox.chat_id.not_in(exclude))
    if db.dialect == "postgresql":
        query = query.with_for_update(skip_locked=True, of=m.Outbox)
    async with db.uow() as session:
        candidates = [_job(r) for r in (await session.scalars(query)).all()]
        chosen = list(pick(candidates)) if pick is not None else candidates
        if not chosen:
            return [], candidates
        ids = [j.id for j in chosen]
        await session.execute(
            update(m.Outbox).where(m.Outbox.id.in_(ids))
            .values(state=OutboxState.SENDING, claimed_at=now, attempts=m.Outbox.attempts + 1)
            .execution_options(synchronize_session=False)
        )
        digest_ids = {j.digest_id for j in chosen if j.digest_id is not None}
        if digest_ids:
            await session.execute(
                update(m.Digest)
                .where(m.Digest.id.in_(digest_ids), m.Digest.state == DigestState.BUILT)
                .values(state=DigestState.SENDING)
                .execution_options(synchronize_session=False)
            )
    return [replace(j, attempts=j.attempts + 1) for j in chosen], candidates


async def release(db: Database, jobs: Sequence[Job]) -> None:
    """Give claimed rows back unsent (the worker was told to stop while it claimed them)."""
    if not jobs:
        return
    async with db.uow() as session:
        await session.execute(
            update(m.Outbox)
            .where(m.Outbox.id.in_([j.id for j in jobs]), m.Outbox.state == OutboxState.SENDING)
            .values(state=OutboxState.PENDING, claimed_at=None, attempts=m.Outbox.attempts - 1, sent_at=None)
            .execution_options(synchronize_session=False)
        )


async def _finish_digest(session: AsyncSession, digest_id: int | None, now: datetime) -> None:
    if digest_id is None:
        return
    left = await session.scalar(
        select(func.count()).select_from(m.Outbox).where(m.Outbox.digest_id == digest_id, m.Outbox.state.in_(ACTIVE))
    )
    if not left:
        await session.execute(
            update(m.Digest).where(m.Digest.id == digest_id).values(state=DigestState.SENT, sent_at=now)
        )


ChatGap = Callable[[int], timedelta]  # chat id -> how long its next message waits after one is sent


async def _space_next(session: AsyncSession, jobs: Sequence[Job], now: datetime, gap: ChatGap | None) -> None:
    """The next message to a chat just written to waits its gap (1 s a private chat, 3 s a group), in
    the database, so the per-chat limits hold whichever worker sends it: a worker's limiter knows
    only its own sends."""
    chats = sorted({job.chat_id for job in jobs if job.target_id is None})
    if gap is None or not chats:
        return
    table = cast(Table, m.Outbox.__table__)
    await session.execute(
        update(table)  # Core, not the ORM's bulk update by primary key
        .where(table.c.chat_id == bindparam("b_chat"), table.c.state == OutboxState.PENDING,
               table.c.target_id.is_(None), table.c.not_before < bindparam("b_at"))
        .values(not_before=bindparam("b_at")),
        [{"b_chat": chat, "b_at": now + gap(chat)} for chat in chats],
    )


async def mark_sent(db: Database, job: Job, now: datetime, message_id: int | None, gap: ChatGap | None = None) -> None:
    async with db.uow() as session:
        await session.execute(
            update(m.Outbox).where(m.Outbox.id == job.id)
            .values(state=OutboxState.SENT, sent_at=now, message_id=message_id, last_error=None)
        )
        await _space_next(session, [job], now, gap)
        await _finish_digest(session, job.digest_id, now)


async def mark_sent_many(db: Database, answered: Sequence[tuple[Job, int | None]], now: datetime,
                         gap: ChatGap | None = None) -> None:
    """Record sends Telegram has answered (job, message id), all in one transaction."""
    if not answered:
        return
    async with db.uow() as session:
        await session.execute(
            update(m.Outbox),
            [{"id": job.id, "state": OutboxState.SENT, "sent_at": now, "message_id": message_id, "last_error": None}
             for job, message_id in answered],
        )
        await _space_next(session, [job for job, _ in answered], now, gap)
        digest_ids = sorted({job.digest_id for job, _ in answered if job.digest_id is not None})
        if digest_ids:
            active = aliased(m.Outbox)
            await session.execute(
                update(m.Digest)
                .where(m.Digest.id.in_(digest_ids),
                       ~exists().where(active.digest_id == m.Digest.id, active.state.in_(ACTIVE)))
                .values(state=DigestState.SENT, sent_at=now)
                .execution_options(synchronize_session=False)
            )


async def mark_retry(db: Database, job: Job, not_before: datetime, error: str, *, count_attempt: bool) -> None:
    """Back to pending, due again at `not_before` (a FloodWait does not count as an attempt)."""
    values: dict[str, object] = {"state": OutboxState.PENDING, "not_before": not_before, "last_error": error[:500],
                                 "sent_at": None}
    if not count_attempt:
        values["attempts"] = m.Outbox.attempts - 1
    async with db.uow() as session:
        await session.execute(update(m.Outbox).where(m.Outbox.id == job.id).values(**values))


async def mark_done(db: Database, job: Job, state: OutboxState, now: datetime, error: str) -> None:
    """A final state other than sent: uncertain (reported, never resent) or failed."""
    async with db.uow() as session:
        await session.execute(
            update(m.Outbox).where(m.Outbox.id == job.id).values(state=state, last_error=error[:500])
        )
        await _finish_digest(session, job.digest_id, now)


async def chat_unavailable(db: Database, job: Job, now: datetime, error: str) -> int:
    """The chat blocked the bot or is gone: this and every other waiting row for it fail, and the
    subscriber is marked inactive. Returns how many rows were dropped with it."""
    async with db.uow() as session:
        result = await session.execute(
            update(m.Outbox)
            .where(m.Outbox.chat_id == job.chat_id, m.Outbox.state.in_(ACTIVE), m.Outbox.target_id.is_(None))
            .values(state=OutboxState.FAILED, last_error=error[:500])
        )
        await session.execute(update(m.Subscriber).where(m.Subscriber.chat_id == job.chat_id).values(active=False))
        digests = await session.scalars(
            select(m.Outbox.digest_id).where(m.Outbox.chat_id == job.chat_id, m.Outbox.digest_id.is_not(None)).distinct()
        )
        for digest_id in digests.all():
            await _finish_digest(session, digest_id, now)
        return int(getattr(result, "rowcount", 0) or 0)


async def on_wire(db: Database, job: Job, now: datetime) -> None:
    """A claimed row's request is leaving now (a notification service that cannot recognise a repeat):
    `sent_at` on a 'sending' row says so, and a row found so after a crash is never sent again."""
    async with db.uow() as session:
        await session.execute(update(m.Outbox).where(m.Outbox.id == job.id, m.Outbox.state == OutboxState.SENDING)
                              .values(sent_at=now))


async def renew(db: Database, ids: Sequence[int], now: datetime) -> None:
    """The worker still holds these claimed rows (their sends are in flight): extend the lease."""
    if not ids:
        return
    async with db.uow() as session:
        await session.execute(update(m.Outbox).where(m.Outbox.id.in_(list(ids)), m.Outbox.state == OutboxState.SENDING)
                              .values(claimed_at=now).execution_options(synchronize_session=False))


async def reclaim_expired(db: Database, now: datetime, lease: timedelta, max_attempts: int) -> list[int]:
    """Rows left 'sending' past their lease (their worker died mid-send) go back to pending, to be sent
    again with the same random_id; one that already used every attempt is reported uncertain.
    Returns the ids put back. Each stays its chat's head row, so later chunks keep waiting behind it.
    A row for a notification target that cannot recognise a repeat (no idempotency key) whose request
    had left (`on_wire` stamped it) is reported uncertain instead: it may have reached the service,
    and sending it again could show it twice. One whose request never left goes back to pending."""
    async with db.uow() as session:
        expired = (await session.execute(
            select(m.Outbox.id, m.Outbox.attempts, m.Outbox.target_id, m.NotifyTarget.keyed, m.Outbox.sent_at)
            .outerjoin(m.NotifyTarget, m.NotifyTarget.id == m.Outbox.target_id)
            .where(and_(m.Outbox.state == OutboxState.SENDING, m.Outbox.claimed_at < now - lease))
        )).all()
        again = [row_id for row_id, attempts, target, keyed, left in expired
                 if attempts < max_attempts and (target is None or keyed or left is None)]
        doubt = [row_id for row_id, attempts, target, keyed, left in expired
                 if attempts < max_attempts and target is not None and not keyed and left is not None]
        spent = [row_id for row_id, attempts, _, _, _ in expired if attempts >= max_attempts]
        if doubt:
            await session.execute(
                update(m.Outbox).where(m.Outbox.id.in_(doubt))
                .values(state=OutboxState.UNCERTAIN,
                        last_error="its worker stopped mid-send; this service cannot recognise a repeat"))
        if again:
            await session.execute(
                update(m.Outbox).where(m.Outbox.id.in_(again), m.Outbox.state == OutboxState.SENDING)
                .values(state=OutboxState.PENDING, claimed_at=None, not_before=now, sent_at=None,
                        last_error="its worker stopped mid-send; sent again with the same random_id"))
        if spent:
            await session.execute(
                update(m.Outbox).where(m.Outbox.id.in_(spent))
                .values(state=OutboxState.UNCERTAIN, last_error="every attempt ended with its worker gone"))
        if spent or doubt:
            digests = await session.scalars(
                select(m.Outbox.digest_id).where(m.Outbox.id.in_(spent + doubt)).distinct())
            for digest_id in digests.all():
                await _finish_digest(session, digest_id, now)
        return again


async def queue_notice(session: AsyncSession, chat_ids: Sequence[int], text: Callable[[str], str],
                       now: datetime) -> int:
    """One message to each of these chats that has talked to the bot (a subscriber row), in its own
    language (`text(lang)` gives the HTML), through the outbox like any other. Returns how many."""
    if not chat_ids:
        return 0
    subscribers = (await session.scalars(select(m.Subscriber).where(m.Subscriber.chat_id.in_(list(chat_ids))))).all()
    for sub in subscribers:
        session.add(m.Outbox(subscriber_id=sub.id, chat_id=sub.chat_id, kind="notice", text=text(sub.language),
                             random_id=secrets.randbits(63) or 1, not_before=now, created_at=now))
    return len(subscribers)
