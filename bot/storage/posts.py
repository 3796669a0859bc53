"""The posts aggregate as ingestion changes it after storing: deletions seen on Telegram, albums.

Functions over one session; they never commit (`Database.uow()` does). Storing and matching a batch
is `bot/ingest/pipeline.py`'s, with the helpers in `repos.py`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage import models as m


async def mark_missing_deleted(session: AsyncSession, row_id: int, low: int, high: int,
                               present: Iterable[int]) -> int:
    """A page of the channel from message ``low`` to ``high`` holds only ``present``: the stored
    posts in that range that it lacks were deleted on Telegram. How many were marked."""
    result = await session.execute(
        update(m.Post).where(m.Post.channel_id == row_id, m.Post.message_id.between(low, high),
                             m.Post.message_id.not_in(list(present)), m.Post.deleted.is_(False))
        .values(deleted=True))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def mark_deleted(session: AsyncSession, telegram_id: int, message_ids: Iterable[int]) -> None:
    """Telegram said these messages of the channel were deleted."""
    channel = select(m.Channel.id).where(m.Channel.telegram_id == telegram_id).scalar_subquery()
    await session.execute(update(m.Post).where(m.Post.channel_id == channel,
                                               m.Post.message_id.in_(list(message_ids))).values(deleted=True))


async def album_heads(session: AsyncSession,
                      groups: Collection[tuple[int | None, int | None]]) -> dict[tuple[int | None, int | None], tuple[int, str]]:
    """(channel telegram id, grouped id) -> (message id, text) of the album's stored row, the lowest
    message id of the album."""
    heads: dict[tuple[int | None, int | None], tuple[int, str]] = {}
    rows = await session.execute(
        select(m.Channel.telegram_id, m.Post.grouped_id, m.Post.message_id, m.Post.text)
        .join(m.Channel, m.Channel.id == m.Post.channel_id)
        .where(m.Channel.telegram_id.in_({t for t, _ in groups}), m.Post.grouped_id.in_({g for _, g in groups}))
        .order_by(m.Post.message_id))
    for telegram_id, grouped_id, message_id, text in rows:
        heads.setdefault((telegram_id, grouped_id), (message_id, text))
    return heads


async def purge_channel(session: AsyncSession, row_id: int) -> int:
    """Delete every stored post of the channel (their matches and versions go with them); how many."""
    purged = int(await session.scalar(select(func.count()).where(m.Post.channel_id == row_id)) or 0)
    await session.execute(delete(m.Post).where(m.Post.channel_id == row_id))
    return purged
