"""Repositories: queries over one session. They never commit; `Database.uow()` does."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot import domain
from bot.storage import models as m


def insert_ignore(session: AsyncSession, model: type[m.Base], index: Sequence[str]) -> Any:
    """`INSERT ... ON CONFLICT (index) DO NOTHING` for the session's dialect."""
    table = model.__table__
    assert isinstance(table, Table)
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    stmt = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    return stmt.on_conflict_do_nothing(index_elements=list(index))


async def ensure_channel(session: AsyncSession, ref: domain.ChannelRef) -> m.Channel:
    """The stored channel for `ref`, created when new. Matches on the numeric id, then the username."""
    channel = None
    if ref.telegram_id is not None:
        channel = await session.scalar(select(m.Channel).where(m.Channel.telegram_id == ref.telegram_id))
    if channel is None and ref.username:
        channel = await session.scalar(select(m.Channel).where(m.Channel.username == ref.username.lower()))
    if channel is None:
        channel = m.Channel(
            telegram_id=ref.telegram_id, username=ref.username.lower() if ref.username else None, title=ref.title
        )
        session.add(channel)
        await session.flush()
    else:
        if ref.title and channel.title != ref.title:
            channel.title = ref.title
        if ref.telegram_id is not None and channel.telegram_id is None:
            channel.telegram_id = ref.telegram_id
        if ref.username and channel.username is None:
            channel.username = ref.username.lower()
    return channel


async def posts_by_message_id(session: AsyncSession, channel_id: int, ids: Sequence[int]) -> dict[int, m.Post]:
    rows = await session.scalars(
        select(m.Post).where(m.Post.channel_id == channel_id, m.Post.message_id.in_(list(ids)))
    )
    return {p.message_id: p for p in rows}


async def rules_for_matching(session: AsyncSession) -> list[domain.Rule]:
    rows = await session.execute(
        select(m.Rule.id, m.Rule.source, m.Rule.subscriber_id, m.Rule.channels)
        .join(m.Subscriber, m.Subscriber.id == m.Rule.subscriber_id)
        .where(m.Subscriber.active.is_(True))
    )
    return [domain.Rule(r.id, r.source, r.subscriber_id, tuple(r.channels or ())) for r in rows]


async def count(session: AsyncSession, model: type[m.Base]) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def matches_between(
    session: AsyncSession, subscriber_id: int, since: datetime | None, until: datetime
) -> list[tuple[m.Match, m.Rule, m.Post, m.Channel]]:
    """A subscriber's matches on posts dated in (since, until], on channels it follows."""
    unfollowed = select(m.Subscription.channel_id).where(
        m.Subscription.subscriber_id == subscriber_id, m.Subscription.following.is_(False)
    )
    query = (
        select(m.Match, m.Rule, m.Post, m.Channel)
        .join(m.Rule, m.Rule.id == m.Match.rule_id)
        .join(m.Post, m.Post.id == m.Match.post_id)
        .join(m.Channel, m.Channel.id == m.Post.channel_id)
        .where(m.Rule.subscriber_id == subscriber_id, m.Post.date <= until, m.Post.deleted.is_(False))
        .where(m.Post.channel_id.not_in(unfollowed))
        .order_by(m.Post.date.desc(), m.Post.id.desc())
    )
    if since is not None:
        query = query.where(m.Post.date > since)
    rows = await session.execute(query)
    return [(r[0], r[1], r[2], r[3]) for r in rows]
