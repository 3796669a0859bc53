"""The posts aggregate: a batch of posts stored (new ones inserted, an edit's old text kept), and
what ingestion changes after storing: deletions seen on Telegram, albums; a post as a subscriber
may see it (the web's post page).

Functions over one session; they never commit (`Database.uow()` does). Deciding what is new, edited
or unchanged, and matching, is `bot/ingest/pipeline.py`'s.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import domain
from bot.storage import models as m
from bot.storage.repos import insert_ignore
from bot.storage.rules import unfollowed_ids
from bot.storage.types import sqlite_datetime

_POSTS = m.Post.__table__
assert isinstance(_POSTS, Table)


async def sightings(session: AsyncSession, channel_id: int, message_ids: Sequence[int]) -> dict[int, Any]:
    """Message id -> (id, message_id, text_hash, views, deleted) of the channel's stored posts among
    ``message_ids``: the few columns that tell whether a newer sighting changes a post."""
    rows = await session.execute(
        select(_POSTS.c.id, _POSTS.c.message_id, _POSTS.c.text_hash, _POSTS.c.views, _POSTS.c.deleted).where(
            _POSTS.c.channel_id == channel_id, _POSTS.c.message_id.in_(list(message_ids))))
    return {r.message_id: r for r in rows}


async def insert_new(session: AsyncSession, channel_id: int, fresh: list[domain.Post]) -> list[tuple[int, int]]:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING (id, message_id): the rows actually inserted.

    On SQLite the rows go to the driver as one multi-row statement per `_SQLITE_ROWS` posts, the
    dates written as SQLAlchemy writes them (`sqlite_datetime`): SQLAlchemy's handling of every parameter of
    every row was 4-8 µs of a post's 70 there (benchmarks/ingestion.py, interleaved). PostgreSQL,
    where the server's side dominates, goes through SQLAlchemy's insertmanyvalues.
    """
    rows = [new_row(channel_id, p) for p in fresh]
    conn = await session.connection()
    if conn.dialect.name != "sqlite":
        inserted = await session.execute(
            insert_ignore(session, m.Post, ["channel_id", "message_id"]).returning(_POSTS.c.id, _POSTS.c.message_id),
            rows,
        )
        return [(int(r[0]), int(r[1])) for r in inserted]
    out: list[tuple[int, int]] = []
    for start in range(0, len(rows), _SQLITE_ROWS):
        chunk = rows[start : start + _SQLITE_ROWS]
        values: list[object] = []
        for row in chunk:
            for name in COLUMNS:
                value = row[name]
                values.append(sqlite_datetime(value) if name in _DATES and value is not None else value)  # type: ignore[arg-type]
        result = await conn.exec_driver_sql(
            _SQLITE_INSERT + ",".join([_SQLITE_ROW] * len(chunk)) + _SQLITE_CONFLICT, tuple(values)
        )
        back: Sequence[Any] = result.fetchall()
        out.extend((int(post_id), int(message_id)) for post_id, message_id in back)
    return out


COLUMNS = ("channel_id", "message_id", "date", "text", "text_hash", "lemma_text", "edit_date", "deleted", "views",
           "forward_channel_id", "forward_message_id", "forward_name", "grouped_id", "media_type", "reply_to",
           "stored_at")  # every column `new_row` fills
_DATES = frozenset({"date", "edit_date", "stored_at"})  # UTCDateTime columns, all three
_SQLITE_ROWS = 1000  # 16,000 parameters a statement, within SQLite's 32,766
_SQLITE_INSERT = f"INSERT INTO posts ({', '.join(COLUMNS)}) VALUES "
_SQLITE_ROW = "(" + ",".join("?" * len(COLUMNS)) + ")"
_SQLITE_CONFLICT = " ON CONFLICT (channel_id, message_id) DO NOTHING RETURNING id, message_id"


def new_row(channel_id: int, post: domain.Post) -> dict[str, object]:
    """The posts row of a post seen for the first time."""
    forward = post.forward or domain.ForwardOrigin()
    return {
        "channel_id": channel_id,
        "message_id": post.message_id,
        "date": post.date,
        "text": post.text,
        "text_hash": post.text_hash,
        "lemma_text": None if post.text else "",  # NULL: for the search indexer; no text, nothing to index
        "edit_date": post.edit_date,
        "deleted": post.deleted,
        "views": post.views,
        "forward_channel_id": forward.channel_id,
        "forward_message_id": forward.message_id,
        "forward_name": forward.name,
        "grouped_id": post.grouped_id,
        "media_type": post.media_type,
        "reply_to": post.reply_to,
        "stored_at": datetime.now(UTC),
    }


def keep_version(session: AsyncSession, row: m.Post) -> None:
    """Keep the post's text as it is before an edit replaces it (written with the transaction)."""
    session.add(m.PostVersion(post_id=row.id, text_hash=row.text_hash, text=row.text))


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


async def newest_id(session: AsyncSession) -> int:
    """The id of the newest stored post (0: none)."""
    return int(await session.scalar(select(func.max(m.Post.id))) or 0)


async def channel_keys(session: AsyncSession, ids: Sequence[int]) -> dict[int, str]:
    """Post id -> its channel's key (username, or the Telegram id as text), the matcher's in:@ scope."""
    if not ids:
        return {}
    rows = await session.execute(select(m.Post.id, m.Channel.username, m.Channel.telegram_id)
                                 .join(m.Channel, m.Channel.id == m.Post.channel_id).where(m.Post.id.in_(list(ids))))
    return {int(post_id): username or str(telegram_id) for post_id, username, telegram_id in rows}


async def unindexed(session: AsyncSession) -> int:
    """How many posts still wait for their index keys (`lemma_text`): read through the partial index
    over them, cheap however large the archive."""
    return int(await session.scalar(select(func.count()).select_from(m.Post).where(m.Post.lemma_text.is_(None))) or 0)


@dataclass(frozen=True, slots=True)
class PostView:
    post: m.Post
    channel: m.Channel
    link: str
    versions: list[m.PostVersion]
    own_matches: list[tuple[str, list[list[int]]]]  # (rule source, highlights) of the viewer's rules only


async def seen_by(session: AsyncSession, subscriber_id: int, post_id: int) -> PostView | None:
    """A post the subscriber may see: one its rules matched, or one on a channel it follows. Only
    its own rules' matches come with it."""
    post = await session.get(m.Post, post_id)
    if post is None:
        return None
    channel = await session.get(m.Channel, post.channel_id)
    if channel is None:
        return None
    matches = list((await session.execute(
        select(m.Rule.source, m.Match.highlights)
        .join(m.Rule, m.Rule.id == m.Match.rule_id)
        .where(m.Match.post_id == post_id, m.Rule.subscriber_id == subscriber_id)
        .order_by(m.Rule.id)
    )).all())
    if not matches and (channel.status != domain.ChannelStatus.ACTIVE.value
                        or channel.id in await unfollowed_ids(session, subscriber_id)):
        return None
    versions = list(await session.scalars(
        select(m.PostVersion).where(m.PostVersion.post_id == post_id).order_by(m.PostVersion.replaced_at, m.PostVersion.id)))
    return PostView(post, channel, domain.post_link(channel.username, channel.telegram_id, post.message_id), versions,
                    [(str(source), list(spans or [])) for source, spans in matches])
