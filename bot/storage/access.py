"""The access aggregate: sign-in links, browser sessions and feed tokens (each stored only as the
SHA-256 of its token), and the `meta` key-value rows.

Functions over one session; they never commit (`Database.uow()` does). Making, signing and checking
tokens is `bot/commands/access.py`'s; these take the hashes it made.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Result
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage import models as m
from bot.storage.repos import insert_ignore


def _changed(result: Result[Any]) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


async def meta_once(session: AsyncSession, key: str, value: str) -> None:
    """Store ``value`` under ``key`` unless a value is there already (the first writer wins)."""
    await session.execute(insert_ignore(session, m.Meta, ["key"]), [{"key": key, "value": value}])


async def meta(session: AsyncSession, key: str) -> str | None:
    return await session.scalar(select(m.Meta.value).where(m.Meta.key == key))


async def add_login(session: AsyncSession, hashed: str, user_id: int, now: datetime, expires_at: datetime) -> None:
    session.add(m.WebLogin(token_hash=hashed, user_id=user_id, created_at=now, expires_at=expires_at))


async def use_login(session: AsyncSession, hashed: str, now: datetime) -> int | None:
    """Mark the sign-in link used: its user, or None when it is unknown, expired or used before. One
    UPDATE, so of two uses at once only one gets the user."""
    user_id = await session.scalar(
        update(m.WebLogin)
        .where(m.WebLogin.token_hash == hashed, m.WebLogin.used_at.is_(None), m.WebLogin.expires_at > now)
        .values(used_at=now)
        .returning(m.WebLogin.user_id)
        .execution_options(synchronize_session=False)
    )
    return None if user_id is None else int(user_id)


async def login_language(session: AsyncSession, hashed: str, now: datetime) -> str | None:
    """The bot language of the subscriber a live (unused, unexpired) sign-in link was made for."""
    return await session.scalar(
        select(m.Subscriber.language).join(m.WebLogin, m.WebLogin.user_id == m.Subscriber.chat_id)
        .where(m.WebLogin.token_hash == hashed, m.WebLogin.used_at.is_(None), m.WebLogin.expires_at > now))


async def add_session(session: AsyncSession, hashed: str, user_id: int, user_agent: str, now: datetime,
                      expires_at: datetime) -> None:
    session.add(m.WebSession(token_hash=hashed, user_id=user_id, user_agent=user_agent, created_at=now,
                             last_seen_at=now, expires_at=expires_at))


async def open_session(session: AsyncSession, hashed: str, now: datetime) -> tuple[int, int, datetime | None] | None:
    """(session id, user id, last seen) of the open session with this token hash, or None (unknown,
    expired or revoked)."""
    row = (await session.execute(select(m.WebSession.id, m.WebSession.user_id, m.WebSession.last_seen_at).where(
        m.WebSession.token_hash == hashed, m.WebSession.revoked_at.is_(None), m.WebSession.expires_at > now))).first()
    return None if row is None else (int(row.id), int(row.user_id), row.last_seen_at)


async def session_seen(session: AsyncSession, session_id: int, now: datetime) -> None:
    await session.execute(update(m.WebSession).where(m.WebSession.id == session_id).values(last_seen_at=now))


async def sessions_of(session: AsyncSession, user_id: int, now: datetime) -> list[m.WebSession]:
    """The user's open sessions, the last used first."""
    rows = await session.scalars(
        select(m.WebSession)
        .where(m.WebSession.user_id == user_id, m.WebSession.revoked_at.is_(None), m.WebSession.expires_at > now)
        .order_by(m.WebSession.last_seen_at.desc(), m.WebSession.id.desc())
    )
    return list(rows)


async def revoke_sessions(session: AsyncSession, user_id: int, now: datetime, session_id: int | None = None) -> int:
    """Revoke one open session of this user (by id), or all of them: how many were open."""
    query = update(m.WebSession).where(m.WebSession.user_id == user_id, m.WebSession.revoked_at.is_(None))
    if session_id is not None:
        query = query.where(m.WebSession.id == session_id)
    return _changed(await session.execute(query.values(revoked_at=now)))


async def replace_feed(session: AsyncSession, hashed: str, subscriber_id: int, rule_id: int | None,
                       now: datetime) -> None:
    """A new feed token for the subscriber's matches (``rule_id`` None) or one rule's; the open
    token of the same feed is revoked."""
    query = update(m.FeedToken).where(m.FeedToken.subscriber_id == subscriber_id, m.FeedToken.revoked_at.is_(None))
    query = query.where(m.FeedToken.rule_id.is_(None) if rule_id is None else m.FeedToken.rule_id == rule_id)
    await session.execute(query.values(revoked_at=now))
    session.add(m.FeedToken(token_hash=hashed, subscriber_id=subscriber_id, rule_id=rule_id, created_at=now))
    await session.flush()


async def feeds_of(session: AsyncSession, subscriber_id: int) -> list[m.FeedToken]:
    rows = await session.scalars(select(m.FeedToken).where(
        m.FeedToken.subscriber_id == subscriber_id, m.FeedToken.revoked_at.is_(None)).order_by(m.FeedToken.id))
    return list(rows)


async def revoke_feeds(session: AsyncSession, subscriber_id: int, now: datetime, feed_id: int | None = None) -> int:
    """Revoke one open feed token of the subscriber (by id), or all of them: how many were open."""
    query = update(m.FeedToken).where(m.FeedToken.subscriber_id == subscriber_id, m.FeedToken.revoked_at.is_(None))
    if feed_id is not None:
        query = query.where(m.FeedToken.id == feed_id)
    return _changed(await session.execute(query.values(revoked_at=now)))


async def open_feed(session: AsyncSession, hashed: str) -> m.FeedToken | None:
    return await session.scalar(select(m.FeedToken).where(
        m.FeedToken.token_hash == hashed, m.FeedToken.revoked_at.is_(None)))
