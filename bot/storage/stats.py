"""Counts across the aggregates, for the admin's /admin stats screen."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage import models as m


async def _count(session: AsyncSession, model: type[m.Base], *where: Any) -> int:
    return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def admin_counts(session: AsyncSession) -> dict[str, int]:
    """Subscribers (active, groups, paused, inactive), rules, channels (active, pending), posts,
    matches, digests sent, outbox rows pending and failed (failed or uncertain)."""
    return {
        "subscribers": await _count(session, m.Subscriber, m.Subscriber.active.is_(True)),
        "groups": await _count(session, m.Subscriber, m.Subscriber.active.is_(True), m.Subscriber.kind == "group"),
        "paused": await _count(session, m.Subscriber, m.Subscriber.paused.is_(True)),
        "inactive": await _count(session, m.Subscriber, m.Subscriber.active.is_(False)),
        "rules": await _count(session, m.Rule),
        "channels": await _count(session, m.Channel, m.Channel.status == "active"),
        "pending": await _count(session, m.Channel, m.Channel.status == "pending"),
        "posts": await _count(session, m.Post),
        "matches": await _count(session, m.Match),
        "digests": await _count(session, m.Digest, m.Digest.state == "sent"),
        "outbox": await _count(session, m.Outbox, m.Outbox.state == "pending"),
        "failed": await _count(session, m.Outbox, m.Outbox.state.in_(("failed", "uncertain"))),
    }


async def newest_post_date(session: AsyncSession) -> datetime | None:
    return await session.scalar(select(func.max(m.Post.date)))
