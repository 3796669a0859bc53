"""The admin's reads across the aggregates: the counts of the bot's /admin stats screen, and the
channel health, delivery and subscriber counts of the web's admin pages. Counts, ids, states and
errors only: no message text, no subscriber's rules or matches."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import load_only

from bot import domain
from bot.storage import models as m

ACTIVE = domain.ChannelStatus.ACTIVE.value


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


@dataclass(frozen=True, slots=True)
class ChannelHealth:
    channel: m.Channel
    posts: int
    lag_seconds: float | None  # since the newest stored post (None: none yet)


async def channel_health(session: AsyncSession, now: datetime) -> list[ChannelHealth]:
    """Every channel not removed with its stored posts and lag: failing ones first."""
    counts = dict((await session.execute(select(m.Post.channel_id, func.count()).group_by(m.Post.channel_id))).all())
    rows = await session.scalars(select(m.Channel).where(m.Channel.status != domain.ChannelStatus.REMOVED.value)
                                 .order_by(m.Channel.error.is_(None), m.Channel.status, m.Channel.title, m.Channel.id))
    return [ChannelHealth(c, int(counts.get(c.id, 0)),
                          (now - c.last_post_at).total_seconds() if c.last_post_at else None) for c in rows]


async def unassigned_channels(session: AsyncSession) -> int:
    """Active channels no monitoring account holds."""
    return await _count(session, m.Channel, m.Channel.status == ACTIVE, m.Channel.account.is_(None))


async def delivery_failures(session: AsyncSession, limit: int = 30) -> list[m.Outbox]:
    """The latest failed or uncertain sends (their ids, errors and times; the text is not read)."""
    rows = await session.scalars(
        select(m.Outbox).where(m.Outbox.state.in_(("failed", "uncertain")))
        .order_by(m.Outbox.id.desc()).limit(limit)
        .options(load_only(
            m.Outbox.id, m.Outbox.kind, m.Outbox.state, m.Outbox.attempts, m.Outbox.last_error,
            m.Outbox.created_at, m.Outbox.chat_id)))
    return list(rows)


async def delivery_workers(session: AsyncSession) -> list[m.DeliveryWorker]:
    return list(await session.scalars(select(m.DeliveryWorker).order_by(m.DeliveryWorker.name)))


@dataclass(frozen=True, slots=True)
class SubscriberCounts:
    total: int
    active: int
    paused: int
    groups: int
    with_rules: int
    rules: int
    by_frequency: list[tuple[str, int]]
    by_language: list[tuple[str, int]]
    web_sessions: int
    feeds: int


async def _active_by(session: AsyncSession, column: Any) -> list[tuple[str, int]]:
    rows = await session.execute(select(column, func.count()).where(m.Subscriber.active.is_(True))
                                 .group_by(column).order_by(column))
    return [(str(a), int(b)) for a, b in rows]


async def subscriber_counts(session: AsyncSession, now: datetime) -> SubscriberCounts:
    by_frequency = await _active_by(session, m.Subscriber.frequency)
    by_language = await _active_by(session, m.Subscriber.language)
    return SubscriberCounts(
        total=await _count(session, m.Subscriber),
        active=await _count(session, m.Subscriber, m.Subscriber.active.is_(True)),
        paused=await _count(session, m.Subscriber, m.Subscriber.active.is_(True), m.Subscriber.paused.is_(True)),
        groups=await _count(session, m.Subscriber, m.Subscriber.kind == "group"),
        with_rules=int(await session.scalar(select(func.count(func.distinct(m.Rule.subscriber_id)))) or 0),
        rules=await _count(session, m.Rule),
        by_frequency=by_frequency,
        by_language=by_language,
        web_sessions=await _count(session, m.WebSession, m.WebSession.revoked_at.is_(None), m.WebSession.expires_at > now),
        feeds=await _count(session, m.FeedToken, m.FeedToken.revoked_at.is_(None)),
    )
