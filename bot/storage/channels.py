"""The channels aggregate: a watched channel's row and the marks ingestion keeps on it.

Functions over one session; they never commit (`Database.uow()` does). Ingestion (`bot/ingest/`)
decides what to read and when; these say how it is stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import case, exists, func, select, update
from sqlalchemy.engine import Result
from sqlalchemy.ext.asyncio import AsyncSession

from bot import domain
from bot.storage import models as m

ACTIVE = domain.ChannelStatus.ACTIVE.value
REMOVED = domain.ChannelStatus.REMOVED.value


def _changed(result: Result[Any]) -> int:
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def find(session: AsyncSession, telegram_id: int | None, username: str | None) -> m.Channel | None:
    """The stored channel with this numeric id, else with this username (any case), if any."""
    if telegram_id is not None:
        found = await session.scalar(select(m.Channel).where(m.Channel.telegram_id == telegram_id))
        if found is not None:
            return found
    if username:
        return await session.scalar(select(m.Channel).where(m.Channel.username == username.lower()))
    return None


async def release_username(session: AsyncSession, username: str, keep_id: int) -> None:
    """A username moves when a channel renames: an older row holding it lets go (usernames are unique)."""
    other = await session.scalar(select(m.Channel).where(m.Channel.username == username, m.Channel.id != keep_id))
    if other is not None:
        other.username = None
        await session.flush()


async def watch(session: AsyncSession, row: m.Channel | None, ref: domain.ChannelRef,
                added_by: int | None) -> m.Channel:
    """Watch the channel ``ref`` names: a new row, or ``row`` (stored before: removed, or asked for
    by a subscriber) made active with what Telegram says of it now. Its first asker is kept."""
    if row is None:
        row = m.Channel(telegram_id=ref.telegram_id, username=ref.username, title=ref.title, added_by=added_by)
        session.add(row)
    else:
        row.telegram_id = ref.telegram_id
        row.title = ref.title or row.title
        if ref.username:
            await release_username(session, ref.username, row.id)
            row.username = ref.username
        row.added_by = row.added_by if row.added_by is not None else added_by
    row.status = ACTIVE
    await session.flush()
    return row


def stop_watching(row: m.Channel) -> None:
    """Removed: no account watches it any more; its posts are kept (written with the transaction)."""
    row.status = REMOVED
    row.joined = False
    row.account = None


async def delete(session: AsyncSession, row: m.Channel) -> None:
    """The channel's row goes (its posts first: `posts.purge_channel`)."""
    await session.delete(row)


async def overview(session: AsyncSession, *, since: datetime,
                   include_removed: bool = False) -> list[tuple[m.Channel, int, int]]:
    """Every channel with its post count and the count of posts dated at or after ``since``."""
    total = func.count(m.Post.id)
    recent = func.sum(case((m.Post.date >= since, 1), else_=0))
    query = (select(m.Channel, total, recent).outerjoin(m.Post, m.Post.channel_id == m.Channel.id)
             .group_by(m.Channel.id).order_by(m.Channel.id))
    if not include_removed:
        query = query.where(m.Channel.status != REMOVED)
    return [(c, int(n or 0), int(r or 0)) for c, n, r in (await session.execute(query)).all()]


async def active_of(session: AsyncSession, account: str) -> list[m.Channel]:
    """The active channels this monitoring account watches, oldest first."""
    return list(await session.scalars(
        select(m.Channel).where(m.Channel.status == ACTIVE, m.Channel.account == account).order_by(m.Channel.id)))


async def row_ids_of(session: AsyncSession, account: str, telegram_ids: Iterable[int]) -> dict[int, int]:
    """Telegram id -> row id, for those of ``telegram_ids`` this account watches."""
    rows = await session.execute(select(m.Channel.telegram_id, m.Channel.id)
                                 .where(m.Channel.telegram_id.in_(list(telegram_ids)), m.Channel.account == account))
    return {telegram_id: row_id for telegram_id, row_id in rows if telegram_id is not None}


async def by_telegram_id(session: AsyncSession, telegram_id: int | None) -> m.Channel | None:
    return await session.scalar(select(m.Channel).where(m.Channel.telegram_id == telegram_id))


async def mark_joined(session: AsyncSession, row_id: int, account: str) -> None:
    """Joined by ``account``, if the channel is still its own (a takeover resets the flag)."""
    await session.execute(update(m.Channel).where(m.Channel.id == row_id, m.Channel.account == account)
                          .values(joined=True))


async def advance_history(session: AsyncSession, row_id: int, newest: int) -> None:
    """Everything up to message ``newest`` is read: the gap fill goes on above it. Never moves back."""
    await session.execute(update(m.Channel).where(m.Channel.id == row_id, m.Channel.history_id < newest)
                          .values(history_id=newest))


async def add_recovered(session: AsyncSession, row_id: int, posts: int) -> None:
    await session.execute(update(m.Channel).where(m.Channel.id == row_id)
                          .values(gaps_recovered=m.Channel.gaps_recovered + posts))


async def add_flood_wait(session: AsyncSession, telegram_id: int, seconds: int) -> None:
    await session.execute(update(m.Channel).where(m.Channel.telegram_id == telegram_id)
                          .values(flood_wait_seconds=m.Channel.flood_wait_seconds + seconds))


async def backfill_page_stored(session: AsyncSession, row_id: int, oldest: int, newest: int) -> None:
    """A page of a first backfill is stored: a cut-short run goes on below ``oldest``; the gap fill
    reads above the newest id ever seen."""
    await session.execute(update(m.Channel).where(m.Channel.id == row_id).values(
        backfill_below=oldest,
        history_id=case((m.Channel.history_id < newest, newest), else_=m.Channel.history_id)))


async def backfill_done(session: AsyncSession, row_id: int) -> None:
    await session.execute(update(m.Channel).where(m.Channel.id == row_id).values(backfill_below=None))


async def set_error(session: AsyncSession, row_id: int, reason: str, now: datetime) -> bool:
    """Store why the channel cannot be read; True when this began its failures (no error before)."""
    began = _changed(await session.execute(
        update(m.Channel).where(m.Channel.id == row_id, m.Channel.error.is_(None))
        .values(error=reason, error_since=now)))
    if not began:
        await session.execute(update(m.Channel).where(m.Channel.id == row_id).values(error=reason))
    return bool(began)


async def clear_error(session: AsyncSession, row_id: int) -> bool:
    """The channel reads again; True when it had an error."""
    return bool(_changed(await session.execute(
        update(m.Channel).where(m.Channel.id == row_id, m.Channel.error.is_not(None))
        .values(error=None, error_since=None))))


async def posts_from(session: AsyncSession, row_id: int, message_id: int) -> int:
    """How many posts of the channel are stored at or above ``message_id``."""
    return int(await session.scalar(select(func.count()).select_from(m.Post).where(
        m.Post.channel_id == row_id, m.Post.message_id >= message_id)) or 0)


def telegram_ids(rows: Sequence[m.Channel]) -> dict[int, domain.ChannelRef]:
    """Bare Telegram id -> the ref, of the rows that have an id."""
    return {r.telegram_id: domain.ChannelRef(r.telegram_id, r.username, r.title)
            for r in rows if r.telegram_id is not None}


# what subscribers see and ask for (the bot's /channels, /follow and the admin's queue)

PENDING = domain.ChannelStatus.PENDING.value


async def listed_active(session: AsyncSession) -> list[m.Channel]:
    """The active channels by title, as the bot lists them."""
    return list(await session.scalars(
        select(m.Channel).where(m.Channel.status == ACTIVE).order_by(m.Channel.title, m.Channel.id)))


async def active_by_id(session: AsyncSession, row_id: int) -> m.Channel | None:
    return await session.scalar(select(m.Channel).where(m.Channel.id == row_id, m.Channel.status == ACTIVE))


async def by_id(session: AsyncSession, row_id: int) -> m.Channel | None:
    return await session.get(m.Channel, row_id)


async def by_username(session: AsyncSession, username: str) -> m.Channel | None:
    return await session.scalar(select(m.Channel).where(m.Channel.username == username.lower()))


async def requested_by(session: AsyncSession, chat_id: int) -> int:
    """How many channels, not removed, this chat asked for."""
    return int(await session.scalar(select(func.count()).select_from(m.Channel).where(
        m.Channel.added_by == chat_id, m.Channel.status != REMOVED)) or 0)


async def request(session: AsyncSession, username: str, title: str, chat_id: int) -> m.Channel:
    """A chat asks for a channel: it waits for an admin (a removed row asked for again goes back
    into the queue)."""
    row = await by_username(session, username)
    if row is not None:
        row.status, row.added_by = PENDING, chat_id
    else:
        row = m.Channel(username=username.lower(), title=title, status=PENDING, added_by=chat_id)
        session.add(row)
    return row


async def active_and_pending(session: AsyncSession) -> list[m.Channel]:
    """The admin's screen: pending channels first, then the active ones, each oldest first."""
    return list(await session.scalars(
        select(m.Channel).where(m.Channel.status.in_((ACTIVE, PENDING)))
        .order_by(m.Channel.status.desc(), m.Channel.id)))


async def newest_post_times(session: AsyncSession, row_id: int) -> tuple[datetime, datetime] | None:
    """(published, stored) of the channel's newest stored post (by message id), if it has one."""
    row = (await session.execute(
        select(m.Post.date, m.Post.stored_at).where(m.Post.channel_id == row_id)
        .order_by(m.Post.message_id.desc()).limit(1))).first()
    return None if row is None else (row.date, row.stored_at)


async def nothing_stored(session: AsyncSession) -> bool:
    """No channel and no post stored: a database nobody filled yet."""
    any_channel = await session.scalar(select(exists().where(m.Channel.id.is_not(None))))
    any_post = await session.scalar(select(exists().where(m.Post.channel_id.is_not(None))))
    return not any_channel and not any_post
