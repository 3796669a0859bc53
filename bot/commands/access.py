"""Access to the web view and the feeds: sign-in links, browser sessions, feed tokens.

Every token is random (`secrets`), handed out once and stored only as its SHA-256, so a copy of the
database opens nothing. A sign-in link also carries an HMAC of its random part (the key from
`web.secret_key`, else one made once and kept in the `meta` table): a forged or mangled link is
refused before any lookup. The functions take an open session and never commit (the caller's unit
of work does), except the two that stand alone (`signing_key`, `redeem_login`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.storage import models as m
from bot.storage.database import Database
from bot.storage.repos import insert_ignore

KEY_META = "web_signing_key"
SEEN_EVERY = timedelta(minutes=5)  # a session's last_seen_at is written at most this often


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _mac(key: bytes, purpose: str, value: str, size: int = 22) -> str:
    digest = hmac.new(key, f"{purpose}:{value}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")[:size]


def sign(key: bytes, purpose: str, value: str) -> str:
    return f"{value}.{_mac(key, purpose, value)}"


def unsign(key: bytes, purpose: str, token: str) -> str | None:
    """The signed value, or None when the signature is wrong."""
    value, _, mac = token.rpartition(".")
    if not value or not hmac.compare_digest(mac, _mac(key, purpose, value)):
        return None
    return value


def form_token(key: bytes, session_hash: str) -> str:
    """The CSRF token of one session's forms: another site can neither read nor make it."""
    return _mac(key, "csrf", session_hash, 32)


async def signing_key(db: Database, settings: Settings) -> bytes:
    if settings.web.secret_key is not None and settings.web.secret_key.get_secret_value():
        return settings.web.secret_key.get_secret_value().encode()
    async with db.uow() as session:
        await session.execute(insert_ignore(session, m.Meta, ["key"]),
                              [{"key": KEY_META, "value": secrets.token_urlsafe(32)}])
    async with db.uow(read_only=True) as session:
        value = await session.scalar(select(m.Meta.value).where(m.Meta.key == KEY_META))
    assert value
    return value.encode()


async def issue_login(session: AsyncSession, key: bytes, user_id: int, now: datetime, minutes: float) -> str:
    """A new sign-in token for this Telegram user (the path part of the link)."""
    raw = secrets.token_urlsafe(24)
    session.add(m.WebLogin(token_hash=token_hash(raw), user_id=user_id, created_at=now,
                           expires_at=now + timedelta(minutes=minutes)))
    return sign(key, "login", raw)


def login_url(base_url: str, token: str) -> str:
    return f"{base_url}/login/{token}"


@dataclass(frozen=True, slots=True)
class WebUser:
    """Who a browser session belongs to."""

    session_id: int
    user_id: int
    session_hash: str
    last_seen_at: datetime | None = None


async def redeem_login(
    db: Database, key: bytes, token: str, now: datetime, *, days: float, user_agent: str = ""
) -> tuple[str, int] | None:
    """A sign-in link used: a new session token and the user, or None when the link is forged,
    expired or used before. One UPDATE marks it used, so two clicks at once open one session."""
    raw = unsign(key, "login", token)
    if raw is None:
        return None
    async with db.uow() as session:
        user_id = await session.scalar(
            update(m.WebLogin)
            .where(m.WebLogin.token_hash == token_hash(raw), m.WebLogin.used_at.is_(None),
                   m.WebLogin.expires_at > now)
            .values(used_at=now)
            .returning(m.WebLogin.user_id)
            .execution_options(synchronize_session=False)
        )
        if user_id is None:
            return None
        cookie = secrets.token_urlsafe(32)
        session.add(m.WebSession(token_hash=token_hash(cookie), user_id=user_id, user_agent=user_agent[:200],
                                 created_at=now, last_seen_at=now, expires_at=now + timedelta(days=days)))
    return cookie, int(user_id)


async def session_user(db: Database, cookie: str, now: datetime) -> WebUser | None:
    async with db.uow(read_only=True) as session:
        user = await find_session(session, cookie, now)
    if user is not None:
        await seen(db, user, now)
    return user


async def find_session(session: AsyncSession, cookie: str, now: datetime) -> WebUser | None:
    """The open session of this cookie, or None (unknown, expired or revoked)."""
    hashed = token_hash(cookie)
    row = (await session.execute(select(m.WebSession.id, m.WebSession.user_id, m.WebSession.last_seen_at).where(
        m.WebSession.token_hash == hashed, m.WebSession.revoked_at.is_(None), m.WebSession.expires_at > now))).first()
    if row is None:
        return None
    return WebUser(int(row.id), int(row.user_id), hashed, row.last_seen_at)


async def seen(db: Database, user: WebUser, now: datetime) -> None:
    """Note the session's last use, at most every SEEN_EVERY (one write, not one a request)."""
    if user.last_seen_at is None or now - user.last_seen_at > SEEN_EVERY:
        async with db.uow() as session:
            await session.execute(update(m.WebSession).where(m.WebSession.id == user.session_id).values(last_seen_at=now))


async def sessions_of(session: AsyncSession, user_id: int, now: datetime) -> list[m.WebSession]:
    rows = await session.scalars(
        select(m.WebSession)
        .where(m.WebSession.user_id == user_id, m.WebSession.revoked_at.is_(None), m.WebSession.expires_at > now)
        .order_by(m.WebSession.last_seen_at.desc(), m.WebSession.id.desc())
    )
    return list(rows)


async def revoke_sessions(session: AsyncSession, user_id: int, now: datetime, session_id: int | None = None) -> int:
    """Sign out one session of this user (by id), or all of them. Returns how many were open."""
    query = update(m.WebSession).where(m.WebSession.user_id == user_id, m.WebSession.revoked_at.is_(None))
    if session_id is not None:
        query = query.where(m.WebSession.id == session_id)
    result = await session.execute(query.values(revoked_at=now))
    return int(getattr(result, "rowcount", 0) or 0)


async def issue_feed(session: AsyncSession, subscriber_id: int, rule_id: int | None, now: datetime) -> str:
    """A new feed token for the subscriber's matches (or one rule's); the previous one of the same
    feed stops working (only a hash is kept, so a lost URL cannot be shown again: it is replaced)."""
    query = update(m.FeedToken).where(m.FeedToken.subscriber_id == subscriber_id, m.FeedToken.revoked_at.is_(None))
    query = query.where(m.FeedToken.rule_id.is_(None) if rule_id is None else m.FeedToken.rule_id == rule_id)
    await session.execute(query.values(revoked_at=now))
    raw = secrets.token_urlsafe(32)
    session.add(m.FeedToken(token_hash=token_hash(raw), subscriber_id=subscriber_id, rule_id=rule_id, created_at=now))
    await session.flush()
    return raw


def feed_url(base_url: str, token: str) -> str:
    return f"{base_url}/feed/{token}.atom"


async def feeds_of(session: AsyncSession, subscriber_id: int) -> list[m.FeedToken]:
    rows = await session.scalars(select(m.FeedToken).where(
        m.FeedToken.subscriber_id == subscriber_id, m.FeedToken.revoked_at.is_(None)).order_by(m.FeedToken.id))
    return list(rows)


async def revoke_feeds(session: AsyncSession, subscriber_id: int, now: datetime, feed_id: int | None = None) -> int:
    query = update(m.FeedToken).where(m.FeedToken.subscriber_id == subscriber_id, m.FeedToken.revoked_at.is_(None))
    if feed_id is not None:
        query = query.where(m.FeedToken.id == feed_id)
    result = await session.execute(query.values(revoked_at=now))
    return int(getattr(result, "rowcount", 0) or 0)


async def feed_by_token(session: AsyncSession, token: str) -> m.FeedToken | None:
    if not token or len(token) > 100:
        return None
    return await session.scalar(select(m.FeedToken).where(
        m.FeedToken.token_hash == token_hash(token), m.FeedToken.revoked_at.is_(None)))
