"""The outbox aggregate: rows waiting to be sent, their claims and leases, and the delivery workers'
heartbeats. The states and how a worker moves a row through them are `bot/delivery/outbox.py`'s;
these are its queries.

Functions over one session; they never commit (`Database.uow()` does). The dialect branches: a
claim reads its candidates `FOR UPDATE SKIP LOCKED` on PostgreSQL, so parallel workers never take
the same row, and plans them without sorting (`claim_order`); on SQLite the claim runs inside BEGIN
IMMEDIATE, which serialises writers.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Table,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.domain import DigestState, OutboxState
from bot.storage import models as m
from bot.storage.wakeups import OUTBOX, notify

ACTIVE = (OutboxState.PENDING, OutboxState.SENDING)
DONE = (OutboxState.SENT, OutboxState.UNCERTAIN, OutboxState.FAILED)
ChatGap = Callable[[int], timedelta]  # chat id -> how long its next message waits after one is sent


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


def new_random_id() -> int:
    """A random_id for messages.sendMessage: a signed 64-bit value, fixed per row once stored."""
    return secrets.randbits(63) or 1


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else "sqlite"


def _changed(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _head_of_chat() -> ColumnElement[bool]:
    """The row is the first still pending or sending of its destination: its id is the least of the
    destination's active ids. A scalar subquery, not NOT EXISTS: PostgreSQL runs it once a candidate
    with the chat as its index condition (ix_outbox_chat_active (chat_id, id) WHERE state IN
    ('pending', 'sending'), read from the chat's first active row), whatever the statistics say. The
    NOT EXISTS form became an anti-join, and on statistics taken while the outbox was nearly empty
    PostgreSQL planned it as a scan of the whole index for every candidate: 21 s a claim with tens of
    thousands of rows queued (docs/benchmarks.md, "Digests at scale")."""
    earlier = aliased(m.Outbox)
    first = (
        select(func.min(earlier.id))
        # the words inline: PostgreSQL uses the partial index only for a literal match of its predicate
        .where(earlier.chat_id == m.Outbox.chat_id, earlier.state.in_([literal_column("'pending'"),
                                                                         literal_column("'sending'")]),
               # one queue per destination: a notification target never waits behind the chat, nor the other way
               func.coalesce(earlier.target_id, 0) == func.coalesce(m.Outbox.target_id, 0))
        .scalar_subquery()
    )
    return m.Outbox.id == first


def _job(r: m.Outbox) -> Job:
    return Job(r.id, r.digest_id, r.subscriber_id, r.chat_id, r.chunk_no, r.chunk_total, r.text, r.attachment,
               r.random_id, r.attempts, r.target_id, bool(r.silent), _buttons(r.buttons))


def _buttons(stored: list[Any] | None) -> tuple[tuple[tuple[str, str], ...], ...]:
    return tuple(tuple((str(b["text"]), str(b["data"])) for b in row) for row in stored or ())


def due_query(dialect: str, now: datetime, *, alerts: bool, limit: int,
              exclude: Collection[int] | None = None) -> Any:
    """The claim's statement: up to ``limit`` due pending head rows, the alerts or the other rows,
    oldest first (not_before, id). PostgreSQL walks ix_outbox_alerts_due or ix_outbox_pending_due in
    that order and stops at ``limit``, testing each row with `_head_of_chat`, locking what it returns
    and skipping rows other workers hold."""
    # the words inline, not parameters: PostgreSQL uses a partial index only for a literal match
    alert: ColumnElement[str] = literal_column("'alert'")
    query = (
        select(m.Outbox)
        .where(m.Outbox.state == literal_column("'pending'"),
               m.Outbox.kind == alert if alerts else m.Outbox.kind != alert,
               m.Outbox.not_before <= now, _head_of_chat())
        .order_by(m.Outbox.not_before, m.Outbox.id)
        .limit(limit)
    )
    if exclude:
        query = query.where(m.Outbox.chat_id.not_in(list(exclude)))
    if dialect == "postgresql":
        query = query.with_for_update(skip_locked=True, of=m.Outbox)
    return query


async def due_heads(session: AsyncSession, now: datetime, *, limit: int,
                    exclude: Collection[int] | None = None) -> list[Job]:
    """Up to ``limit`` due pending head rows (one per destination), instant alerts first, then the
    oldest, but for the chats in ``exclude``. On PostgreSQL they are locked for the transaction,
    skipping rows another worker's transaction holds. An alert is never stuck behind a daily tick's
    backlog of digests: the due alerts are read first (ix_outbox_alerts_due), the other rows
    (ix_outbox_pending_due) only for the room left."""
    dialect = _dialect(session)
    async with claim_order(session):
        found = [_job(r) for r in (await session.scalars(
            due_query(dialect, now, alerts=True, limit=limit, exclude=exclude))).all()]
        if len(found) < limit:
            found += [_job(r) for r in (await session.scalars(
                due_query(dialect, now, alerts=False, limit=limit - len(found), exclude=exclude))).all()]
    return found


@asynccontextmanager
async def claim_order(session: AsyncSession) -> AsyncIterator[None]:
    """On PostgreSQL, the statements inside are planned without sorting: a claim walks its partial
    index in the claim's order and stops at its LIMIT. With statistics taken while the outbox was
    nearly empty (a daily tick queues tens of thousands of rows faster than autovacuum analyses them)
    the planner estimates a dozen due rows and prefers reading every one of them, testing each for
    head of its chat, and sorting: 0.16-0.33 s a claim at 50,000 queued rows, growing with the
    backlog, against about 1 ms walking the index. The settings are the transaction's (``is_local``)
    and set back to what they were after (a server configured without sorts keeps it); a statement
    that fails ends the transaction, and them with it."""
    if _dialect(session) != "postgresql":
        yield
        return
    before = (await session.execute(text(
        "WITH before AS MATERIALIZED (SELECT current_setting('enable_sort') AS sort, "
        "current_setting('enable_incremental_sort') AS incremental) "
        "SELECT sort, incremental, set_config('enable_sort', 'off', true), "
        "set_config('enable_incremental_sort', 'off', true) FROM before"))).one()
    yield
    await session.execute(text("SELECT set_config('enable_sort', :sort, true), "
                               "set_config('enable_incremental_sort', :incremental, true)"),
                          {"sort": before.sort, "incremental": before.incremental})


async def claim(session: AsyncSession, jobs: Sequence[Job], now: datetime) -> None:
    """These rows are being sent: state 'sending', the lease starts now, one more attempt; a built
    digest they belong to is being sent too."""
    await session.execute(
        update(m.Outbox).where(m.Outbox.id.in_([j.id for j in jobs]))
        .values(state=OutboxState.SENDING, claimed_at=now, attempts=m.Outbox.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    digest_ids = {j.digest_id for j in jobs if j.digest_id is not None}
    if digest_ids:
        await session.execute(
            update(m.Digest)
            .where(m.Digest.id.in_(digest_ids), m.Digest.state == DigestState.BUILT)
            .values(state=DigestState.SENDING)
            .execution_options(synchronize_session=False)
        )


async def release(session: AsyncSession, ids: Sequence[int]) -> None:
    """Claimed rows go back to pending unsent, their attempt not counted."""
    await session.execute(
        update(m.Outbox)
        .where(m.Outbox.id.in_(list(ids)), m.Outbox.state == OutboxState.SENDING)
        .values(state=OutboxState.PENDING, claimed_at=None, attempts=m.Outbox.attempts - 1, sent_at=None)
        .execution_options(synchronize_session=False)
    )


async def finish_digest(session: AsyncSession, digest_id: int | None, now: datetime) -> None:
    """The digest is sent once none of its rows is pending or sending."""
    if digest_id is None:
        return
    # the digest's rows read by the digest alone, counted by state (see `finish_digests_statement`)
    left = await session.scalar(
        select(func.count().filter(m.Outbox.state.in_(ACTIVE))).where(m.Outbox.digest_id == digest_id)
    )
    if not left:
        await session.execute(
            update(m.Digest).where(m.Digest.id == digest_id).values(state=DigestState.SENT, sent_at=now)
        )


async def finish_digests(session: AsyncSession, digest_ids: Iterable[int], now: datetime) -> None:
    """`finish_digest` for several in one statement."""
    ids = sorted(set(digest_ids))
    if ids:
        await session.execute(finish_digests_statement(ids, now))


def finish_digests_statement(ids: Sequence[int], now: datetime) -> Any:
    """The digests among ``ids`` with no row left pending or sending are sent. A digest's rows are
    read by the digest alone (uq_outbox_digest_dest_chunk, a few rows) and counted by state in a
    scalar subquery, which PostgreSQL runs once a digest whatever the statistics say. With the state
    in the condition (NOT EXISTS an active row), on statistics taken while the outbox was nearly
    empty, PostgreSQL read every active row for it: hashed once for the whole batch (an anti-join),
    or through ix_outbox_state_due once a digest (a BitmapAnd), 0.2-0.3 s a batch of answers with
    300,000 rows queued, on every flush of a delivery worker during a large daily tick
    (docs/benchmarks.md, "Instant alerts during a 100,000-subscriber tick")."""
    active = aliased(m.Outbox)
    left = (select(func.count().filter(active.state.in_(ACTIVE))).where(active.digest_id == m.Digest.id)
            .scalar_subquery())
    return (
        update(m.Digest)
        .where(m.Digest.id.in_(list(ids)), left == 0)
        .values(state=DigestState.SENT, sent_at=now)
        .execution_options(synchronize_session=False)
    )


async def space_next(session: AsyncSession, jobs: Sequence[Job], now: datetime, gap: ChatGap | None) -> None:
    """The pending rows of each Telegram chat of ``jobs`` are due no earlier than ``now`` plus the
    chat's gap."""
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


async def mark_sent(session: AsyncSession, answered: Sequence[tuple[int, int | None]], now: datetime) -> None:
    """These rows (row id, Telegram's message id) were answered: sent."""
    if len(answered) == 1:
        ((row_id, message_id),) = answered
        await session.execute(
            update(m.Outbox).where(m.Outbox.id == row_id)
            .values(state=OutboxState.SENT, sent_at=now, message_id=message_id, last_error=None)
        )
        return
    await session.execute(
        update(m.Outbox),
        [{"id": row_id, "state": OutboxState.SENT, "sent_at": now, "message_id": message_id, "last_error": None}
         for row_id, message_id in answered],
    )


async def mark_retry(session: AsyncSession, row_id: int, not_before: datetime, error: str, *,
                     count_attempt: bool) -> None:
    """Back to pending, due again at ``not_before``; ``count_attempt`` False gives the attempt back."""
    values: dict[str, object] = {"state": OutboxState.PENDING, "not_before": not_before, "last_error": error[:500],
                                 "sent_at": None}
    if not count_attempt:
        values["attempts"] = m.Outbox.attempts - 1
    await session.execute(update(m.Outbox).where(m.Outbox.id == row_id).values(**values))


async def mark_done(session: AsyncSession, row_id: int, state: OutboxState, error: str) -> None:
    """A final state other than sent, with why."""
    await session.execute(update(m.Outbox).where(m.Outbox.id == row_id).values(state=state, last_error=error[:500]))


async def fail_chat(session: AsyncSession, chat_id: int, error: str) -> int:
    """Every pending or sending row for this Telegram chat fails; how many."""
    return _changed(await session.execute(
        update(m.Outbox)
        .where(m.Outbox.chat_id == chat_id, m.Outbox.state.in_(ACTIVE), m.Outbox.target_id.is_(None))
        .values(state=OutboxState.FAILED, last_error=error[:500])
    ))


async def deactivate_chat(session: AsyncSession, chat_id: int) -> None:
    """The subscriber of this chat is no longer reachable: inactive."""
    await session.execute(update(m.Subscriber).where(m.Subscriber.chat_id == chat_id).values(active=False))


async def digests_of_chat(session: AsyncSession, chat_id: int) -> list[int]:
    """The digests with rows for this chat (any destination, any state)."""
    return [int(i) for i in (await session.scalars(
        select(m.Outbox.digest_id).where(m.Outbox.chat_id == chat_id, m.Outbox.digest_id.is_not(None)).distinct()
    )).all() if i is not None]


async def digests_of_rows(session: AsyncSession, ids: Sequence[int]) -> list[int | None]:
    """The digests these rows belong to (None for a row of no digest)."""
    return list((await session.scalars(select(m.Outbox.digest_id).where(m.Outbox.id.in_(list(ids))).distinct())).all())


async def on_wire(session: AsyncSession, row_id: int, now: datetime) -> None:
    """The claimed row's request is leaving now: `sent_at` on a 'sending' row."""
    await session.execute(update(m.Outbox).where(m.Outbox.id == row_id, m.Outbox.state == OutboxState.SENDING)
                          .values(sent_at=now))


async def renew(session: AsyncSession, ids: Sequence[int], now: datetime) -> None:
    """The lease of these rows, still 'sending', starts again now."""
    await session.execute(update(m.Outbox).where(m.Outbox.id.in_(list(ids)), m.Outbox.state == OutboxState.SENDING)
                          .values(claimed_at=now).execution_options(synchronize_session=False))


@dataclass(frozen=True, slots=True)
class Expired:
    """A row left 'sending' past its lease, with what decides its fate."""

    id: int
    attempts: int
    target_id: int | None
    keyed: bool  # its notification target recognises a repeat
    on_wire: bool  # its request had left (`on_wire`)


async def expired(session: AsyncSession, claimed_before: datetime) -> list[Expired]:
    """The rows still 'sending' whose claim (or last renewal) is older than ``claimed_before``."""
    rows = (await session.execute(
        select(m.Outbox.id, m.Outbox.attempts, m.Outbox.target_id, m.NotifyTarget.keyed, m.Outbox.sent_at)
        .outerjoin(m.NotifyTarget, m.NotifyTarget.id == m.Outbox.target_id)
        .where(and_(m.Outbox.state == OutboxState.SENDING, m.Outbox.claimed_at < claimed_before))
    )).all()
    return [Expired(int(row_id), int(attempts), target, bool(keyed), left is not None)
            for row_id, attempts, target, keyed, left in rows]


async def set_uncertain(session: AsyncSession, ids: Sequence[int], error: str) -> None:
    """These rows end uncertain: they may have been shown, and are never sent again."""
    await session.execute(update(m.Outbox).where(m.Outbox.id.in_(list(ids)))
                          .values(state=OutboxState.UNCERTAIN, last_error=error))


async def requeue(session: AsyncSession, ids: Sequence[int], now: datetime, error: str) -> None:
    """These rows, still 'sending', go back to pending, due now (same random_id, same attempts)."""
    await session.execute(
        update(m.Outbox).where(m.Outbox.id.in_(list(ids)), m.Outbox.state == OutboxState.SENDING)
        .values(state=OutboxState.PENDING, claimed_at=None, not_before=now, sent_at=None, last_error=error))


async def subscribers_of_chats(session: AsyncSession, chat_ids: Sequence[int]) -> list[tuple[int, int, str]]:
    """(subscriber id, chat id, language) of these chats' subscribers."""
    subscribers = (await session.scalars(select(m.Subscriber).where(m.Subscriber.chat_id.in_(list(chat_ids))))).all()
    return [(sub.id, sub.chat_id, sub.language) for sub in subscribers]


def add_notice(session: AsyncSession, subscriber_id: int, chat_id: int, text: str, now: datetime) -> None:
    """A one-message notice, pending, due now."""
    session.add(m.Outbox(subscriber_id=subscriber_id, chat_id=chat_id, kind="notice", text=text,
                         random_id=new_random_id(), not_before=now, created_at=now))


async def add_rows(session: AsyncSession, rows: Sequence[dict[str, object]]) -> None:
    """Outbox rows (every column given in each), in one statement; the delivery workers listening
    on PostgreSQL are woken when the transaction commits."""
    if rows:
        await session.execute(insert(m.Outbox), list(rows))
        await notify(session, OUTBOX)


async def state_counts(session: AsyncSession) -> dict[tuple[str, str], int]:
    """(state, kind) -> how many rows."""
    rows = await session.execute(
        select(m.Outbox.state, m.Outbox.kind, func.count()).group_by(m.Outbox.state, m.Outbox.kind))
    return {(str(state), str(kind)): int(n) for state, kind, n in rows}


async def oldest_due(session: AsyncSession, now: datetime) -> datetime | None:
    """When the longest-waiting pending row that is due by ``now`` fell due (None: none is)."""
    return await session.scalar(
        select(func.min(m.Outbox.not_before)).where(m.Outbox.state == OutboxState.PENDING, m.Outbox.not_before <= now))


# the delivery workers' heartbeats (bot/delivery/share.py)

async def worker_beat(session: AsyncSession, name: str, now: datetime) -> None:
    """The worker ``name`` is alive now."""
    found = await session.execute(
        update(m.DeliveryWorker).where(m.DeliveryWorker.name == name).values(heartbeat_at=now)
    )
    if not _changed(found):
        session.add(m.DeliveryWorker(name=name, heartbeat_at=now))
        await session.flush()


async def live_workers(session: AsyncSession, since: datetime) -> int:
    """How many workers beat after ``since``."""
    return int(await session.scalar(
        select(func.count()).select_from(m.DeliveryWorker).where(m.DeliveryWorker.heartbeat_at > since)
    ) or 0)


async def forget_workers(session: AsyncSession, before: datetime) -> None:
    """Drop the rows of workers whose last beat is older than ``before``."""
    await session.execute(delete(m.DeliveryWorker).where(m.DeliveryWorker.heartbeat_at < before))


async def worker_leave(session: AsyncSession, name: str) -> None:
    await session.execute(delete(m.DeliveryWorker).where(m.DeliveryWorker.name == name))
