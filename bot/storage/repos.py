"""Repositories: queries over one session. They never commit; `Database.uow()` does."""

from __future__ import annotations

from collections.abc import Sequence
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


async def count(session: AsyncSession, model: type[m.Base]) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)
