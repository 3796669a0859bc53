"""Build a digest and queue its chunks in the outbox, in one transaction.

`queue_digest` is shared by the scheduler and `/digest`: a digest row keyed by (subscriber, period
key) is inserted with ON CONFLICT DO NOTHING, so a period is built once however many processes or
restarts try; the chunks go to the outbox and the subscriber's watermark (`last_digest_at`) moves
to the end of the period in the same transaction.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.digest.builder import build_digest, digest_title
from bot.digest.select import matches_found_between, matches_posted_between
from bot.domain import DigestState, OutboxState
from bot.storage import models as m
from bot.storage.database import Database
from bot.storage.repos import insert_ignore


@dataclass(frozen=True, slots=True)
class DigestRequest:
    digest_id: int | None
    items: int
    chunks: int


def new_random_id() -> int:
    """A random_id for messages.sendMessage: a signed 64-bit value, fixed per chunk once stored."""
    return secrets.randbits(63) or 1


async def lock_subscriber(session: AsyncSession, chat_id: int) -> m.Subscriber | None:
    """The subscriber row, locked for this transaction on PostgreSQL (SQLite's BEGIN IMMEDIATE
    already serialises writers), so the scheduler and `/digest` never build the same window twice."""
    query = select(m.Subscriber).where(m.Subscriber.chat_id == chat_id)
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        query = query.with_for_update()
    return await session.scalar(query)


async def queue_digest(
    session: AsyncSession,
    settings: Settings,
    sub: m.Subscriber,
    *,
    kind: str,
    period_key: str,
    since: datetime | None,
    until: datetime,
    now: datetime,
    by_post_date: bool = False,
    chart: bool = False,
    advance: bool = True,
) -> DigestRequest | None:
    """Build the digest of (since, until] and queue it. None when this period key was built before.
    A period with nothing in it is recorded as 'empty' and queues nothing."""
    inserted = await session.scalar(
        insert_ignore(session, m.Digest, ["subscriber_id", "period_key"])
        .values(subscriber_id=sub.id, period_key=period_key, kind=kind, period_start=since or sub.created_at,
                period_end=until, state=DigestState.PENDING, items=0, created_at=now)
        .returning(m.Digest.id)
    )
    if inserted is None:
        return None
    digest_id = int(inserted)
    fetch = matches_posted_between if by_post_date else matches_found_between
    rows = await fetch(session, sub.id, since, until)
    built = build_digest(rows, tz=sub.timezone, title=digest_title(kind, since, until, sub.timezone),
                         size=sub.digest_size or settings.digest.max_items,
                         excerpt_chars=settings.digest.excerpt_chars)
    digest = await session.get(m.Digest, digest_id)
    assert digest is not None
    if advance:
        sub.last_digest_at = until if sub.last_digest_at is None else max(sub.last_digest_at, until)
    if not built.items:
        digest.state = DigestState.EMPTY
        return DigestRequest(digest_id, 0, 0)
    attachment = None
    if chart:
        from bot.digest.chart import weekly_chart_png

        attachment = weekly_chart_png(rows, since or until - timedelta(days=7), until, sub.timezone)
    total = len(built.chunks)
    session.add_all(
        m.Outbox(digest_id=digest_id, subscriber_id=sub.id, chat_id=sub.chat_id, kind="digest", chunk_no=n,
                 chunk_total=total, text=text, attachment=attachment if n == 1 else None,
                 random_id=new_random_id(), state=OutboxState.PENDING, attempts=0, not_before=now,
                 created_at=now)
        for n, text in enumerate(built.chunks, 1)
    )
    digest.state = DigestState.BUILT
    digest.items = built.total
    await session.flush()
    return DigestRequest(digest_id, built.total, total)


async def request_digest(
    db: Database, settings: Settings, chat_id: int, *, now: datetime, period: str = "since_last"
) -> DigestRequest:
    """`/digest` (period "since_last": everything since the last digest, which moves the watermark)
    and `/digest week` (the last seven days, with the chart; the watermark stays)."""
    if period not in ("since_last", "week"):
        raise ValueError(f"unknown digest period {period!r}; use 'since_last' or 'week'")
    async with db.uow() as session:
        sub = await lock_subscriber(session, chat_id)
        if sub is None:
            return DigestRequest(None, 0, 0)
        stamp = now.isoformat(timespec="microseconds")
        if period == "week":
            result = await queue_digest(session, settings, sub, kind="week", period_key=f"week:{stamp}",
                                        since=now - timedelta(days=7), until=now, now=now,
                                        by_post_date=True, chart=True, advance=False)
        else:
            result = await queue_digest(session, settings, sub, kind="manual", period_key=f"manual:{stamp}",
                                        since=sub.last_digest_at, until=now, now=now)
        if result is None or result.items == 0:
            if result is not None and result.digest_id is not None:
                await session.execute(delete(m.Digest).where(m.Digest.id == result.digest_id))
            return DigestRequest(None, 0, 0)
        return result
