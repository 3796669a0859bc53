"""Access to the web view and the feeds: sign-in links, browser sessions, feed tokens.

Every token is random (`secrets`), handed out once and stored only as its SHA-256, so a copy of the
database opens nothing. A sign-in link also carries an HMAC of its random part (the key from
`web.secret_key`, else one made once and kept in the `meta` table): a forged or mangled link is
refused before any lookup. The functions take an open session and never commit (the caller's unit
of work does), except the two that stand alone (`signing_key`, `redeem_login`); the rows are
`bot/storage/access.py`'s.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.config import Settings
from bot.storage import access as stored
from bot.storage import models as m
from bot.storage.database import Database, Session

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
        await stored.meta_once(session, KEY_META, secrets.token_urlsafe(32))
    async with db.uow(read_only=True) as session:
        value = await stored.meta(session, KEY_META)
    assert value
    return value.encode()


async def issue_login(session: Session, key: bytes, user_id: int, now: datetime, minutes: float) -> str:
    """A new sign-in token for this Telegram user (the path part of the link)."""
    raw = secrets.token_urlsafe(24)
    await stored.add_login(session, token_hash(raw), user_id, now, now + timedelta(minutes=minutes))
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
        user_id = await stored.use_login(session, token_hash(raw), now)
        if user_id is None:
            return None
        cookie = secrets.token_urlsafe(32)
        await stored.add_session(session, token_hash(cookie), user_id, user_agent[:200], now,
                                 now + timedelta(days=days))
    return cookie, user_id


async def session_user(db: Database, cookie: str, now: datetime) -> WebUser | None:
    async with db.uow(read_only=True) as session:
        user = await find_session(session, cookie, now)
    if user is not None:
        await seen(db, user, now)
    return user


async def find_session(session: Session, cookie: str, now: datetime) -> WebUser | None:
    """The open session of this cookie, or None (unknown, expired or revoked)."""
    hashed = token_hash(cookie)
    row = await stored.open_session(session, hashed, now)
    if row is None:
        return None
    session_id, user_id, last_seen_at = row
    return WebUser(session_id, user_id, hashed, last_seen_at)


async def seen(db: Database, user: WebUser, now: datetime) -> None:
    """Note the session's last use, at most every SEEN_EVERY (one write, not one a request)."""
    if user.last_seen_at is None or now - user.last_seen_at > SEEN_EVERY:
        async with db.uow() as session:
            await stored.session_seen(session, user.session_id, now)


async def sessions_of(session: Session, user_id: int, now: datetime) -> list[m.WebSession]:
    return await stored.sessions_of(session, user_id, now)


async def revoke_sessions(session: Session, user_id: int, now: datetime, session_id: int | None = None) -> int:
    """Sign out one session of this user (by id), or all of them. Returns how many were open."""
    return await stored.revoke_sessions(session, user_id, now, session_id)


async def issue_feed(session: Session, subscriber_id: int, rule_id: int | None, now: datetime) -> str:
    """A new feed token for the subscriber's matches (or one rule's); the previous one of the same
    feed stops working (only a hash is kept, so a lost URL cannot be shown again: it is replaced)."""
    raw = secrets.token_urlsafe(32)
    await stored.replace_feed(session, token_hash(raw), subscriber_id, rule_id, now)
    return raw


def feed_url(base_url: str, token: str) -> str:
    return f"{base_url}/feed/{token}.atom"


async def feeds_of(session: Session, subscriber_id: int) -> list[m.FeedToken]:
    return await stored.feeds_of(session, subscriber_id)


async def revoke_feeds(session: Session, subscriber_id: int, now: datetime, feed_id: int | None = None) -> int:
    return await stored.revoke_feeds(session, subscriber_id, now, feed_id)


async def feed_by_token(session: Session, token: str) -> m.FeedToken | None:
    if not token or len(token) > 100:
        return None
    return await stored.open_feed(session, token_hash(token))
