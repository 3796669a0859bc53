"""The notification targets aggregate: a chat's apprise URLs (stored sealed) and the outbox rows that
go to them.

Functions over one session; they never commit (`Database.uow()` does). Checking, sealing and sending
a URL is `bot/notify/`'s; these say how a target is stored, found and removed.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import OutboxState
from bot.storage import models as m


async def listed(session: AsyncSession, subscriber_id: int) -> list[tuple[m.NotifyTarget, str | None]]:
    """The subscriber's targets in list order (the order `/notify remove N` counts), each with the
    name (else the source) of the rule it is for, None for a target of every rule."""
    rows = (await session.execute(
        select(m.NotifyTarget, m.Rule.name, m.Rule.source)
        .outerjoin(m.Rule, m.Rule.id == m.NotifyTarget.rule_id)
        .where(m.NotifyTarget.subscriber_id == subscriber_id).order_by(m.NotifyTarget.id)
    )).all()
    return [(t, (name or source) if t.rule_id is not None else None) for t, name, source in rows]


async def of_subscriber(session: AsyncSession, subscriber_id: int) -> list[m.NotifyTarget]:
    return list((await session.scalars(
        select(m.NotifyTarget).where(m.NotifyTarget.subscriber_id == subscriber_id).order_by(m.NotifyTarget.id)
    )).all())


async def numbered(session: AsyncSession, subscriber_id: int, number: int) -> m.NotifyTarget | None:
    """The subscriber's target at place ``number`` (from 1) of its list, if there is one."""
    if number < 1:
        return None
    return (await session.scalars(select(m.NotifyTarget).where(m.NotifyTarget.subscriber_id == subscriber_id)
                                  .order_by(m.NotifyTarget.id).offset(number - 1).limit(1))).first()


async def own(session: AsyncSession, subscriber_id: int, target_id: int) -> m.NotifyTarget | None:
    """The target with this id, only if it is the subscriber's."""
    return await session.scalar(select(m.NotifyTarget).where(
        m.NotifyTarget.id == target_id, m.NotifyTarget.subscriber_id == subscriber_id))


async def by_id(session: AsyncSession, target_id: int) -> m.NotifyTarget | None:
    return await session.scalar(select(m.NotifyTarget).where(m.NotifyTarget.id == target_id))


async def add(session: AsyncSession, target: m.NotifyTarget) -> m.NotifyTarget:
    """Store a new target (its id set). Outbox rows still naming that id belong to a removed target
    (its rule or chat deleted; SQLite gives the id again): they are dropped, never sent to this URL."""
    session.add(target)
    await session.flush()
    await session.execute(delete(m.Outbox).where(m.Outbox.target_id == target.id))
    return target


async def remove(session: AsyncSession, target_id: int, now: datetime) -> None:
    """Delete the target and every outbox row still queued for it; a digest that waited only for
    this target is marked sent at ``now``."""
    digests = (await session.scalars(
        select(m.Outbox.digest_id).where(m.Outbox.target_id == target_id, m.Outbox.digest_id.is_not(None))
        .distinct())).all()
    await session.execute(delete(m.Outbox).where(m.Outbox.target_id == target_id))
    await session.execute(delete(m.NotifyTarget).where(m.NotifyTarget.id == target_id))
    for digest_id in digests:
        left = await session.scalar(select(func.count()).select_from(m.Outbox).where(
            m.Outbox.digest_id == digest_id, m.Outbox.state.in_((OutboxState.PENDING, OutboxState.SENDING))))
        if not left:
            await session.execute(update(m.Digest).where(m.Digest.id == digest_id, m.Digest.state != "empty")
                                  .values(state="sent", sent_at=now))


async def masked_all(session: AsyncSession) -> list[tuple[str, int]]:
    """(masked URL, subscriber id) of every target."""
    return [(str(masked), int(sub)) for masked, sub in
            (await session.execute(select(m.NotifyTarget.masked, m.NotifyTarget.subscriber_id))).all()]


async def row_states(session: AsyncSession) -> dict[str, int]:
    """Outbox state -> how many rows to targets are in it."""
    rows = await session.execute(
        select(m.Outbox.state, func.count()).where(m.Outbox.target_id.is_not(None)).group_by(m.Outbox.state))
    return {str(state): int(n) for state, n in rows}
