"""Which channels are watched: link parsing, add, remove, list. Telegram-free: the source resolves.

Every link form a user pastes is accepted: ``@name``, ``name``, ``t.me/name``, ``https://t.me/name``,
``https://t.me/name/123`` (a post link), ``t.me/s/name`` (the web preview), ``tg://resolve?domain=name``,
numeric ids (``1302282372`` or ``-1001302282372``, and ``t.me/c/1302282372/5``) and invite links
(``t.me/+hash``, ``t.me/joinchat/hash``). A channel is resolved once; afterwards only its numeric id
is used (resolving names in bursts earns FloodWaits of minutes to hours).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from bot import domain
from bot.storage import channels as stored_channels
from bot.storage import models as m
from bot.storage import posts as stored_posts
from bot.storage.database import Database, Session

ErrorCode = Literal["invalid", "not_found", "is_user", "private", "banned", "flood_wait", "exists", "unreachable"]

_USERNAME = re.compile(r"[A-Za-z](?:[A-Za-z0-9]|_(?!_)){2,30}[A-Za-z0-9]")
_INVITE_HASH = re.compile(r"[A-Za-z0-9_-]{8,64}")
_HOSTS = {"t.me", "telegram.me", "telegram.dog", "www.t.me", "www.telegram.me", "www.telegram.dog"}
# t.me paths that are not channels: say what they are instead of "no such channel"
_RESERVED = {
    "share": "a share link", "addstickers": "a sticker set", "addemoji": "an emoji set", "proxy": "a proxy link",
    "socks": "a proxy link", "iv": "an Instant View page", "login": "a login link", "addlist": "a chat folder",
    "addtheme": "a theme", "setlanguage": "a language pack", "confirmphone": "a phone confirmation link",
    "bg": "a chat background", "invoice": "an invoice", "boost": "a boost link", "m": "a business chat link",
    "contact": "a contact link", "giftcode": "a gift code",
}
EXAMPLES = "@vvgladkov, t.me/vvgladkov, https://t.me/vvgladkov/123, -1001302282372 or t.me/+AbCdEf123"


class ChannelError(Exception):
    """A channel that cannot be watched. ``code`` tells the kind, ``reason`` (when set) the precise
    case and ``params`` its values, so the bot says it in the user's language (`channel_err_<reason>`
    or `channel_err_<code>` in bot/i18n); ``message`` is the English text (the CLI, the logs)."""

    def __init__(
        self, code: ErrorCode, message: str, *, retry_after: int | None = None, reason: str = "", **params: object
    ) -> None:
        super().__init__(message)
        self.code: ErrorCode = code
        self.message = message
        self.retry_after = retry_after  # seconds, for "flood_wait"
        self.reason = reason
        self.params = params

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True, slots=True)
class ChannelLink:
    """A parsed link: a public username, a bare numeric id, or an invite hash."""

    kind: Literal["username", "id", "invite"]
    username: str | None = None  # lower case, no @
    channel_id: int | None = None  # the bare id (never the -100 form)
    invite_hash: str | None = None
    message_id: int | None = None  # when the link pointed at a post

    @property
    def canonical(self) -> str:
        """A form `parse_channel_link` reads back to the same link (what is passed to the source)."""
        if self.kind == "username":
            return f"@{self.username}"
        if self.kind == "id":
            return f"-100{self.channel_id}"
        return f"https://t.me/+{self.invite_hash}"

    def __str__(self) -> str:
        return self.canonical


def _invalid(link: str, why: str, reason: str, **params: Any) -> ChannelError:
    shown = link if len(link) <= 80 else link[:77] + "..."
    return ChannelError("invalid", f"{shown!r} is not a channel link: {why}. Use a form like {EXAMPLES}.",
                        reason=reason, **params)


def _username(link: str, name: str, message_id: str | None = None) -> ChannelLink:
    if not _USERNAME.fullmatch(name):
        raise _invalid(
            link,
            f"{name!r} is not a valid username (5-32 letters, digits and single underscores, "
            "starting with a letter)",
            "bad_username",
            username=name,
        )
    msg = int(message_id) if message_id and message_id.isdigit() else None
    return ChannelLink("username", username=name.lower(), message_id=msg)


def _numeric(link: str, text: str) -> ChannelLink:
    value = int(text)
    if value < 0:
        digits = text.lstrip("-")
        if not digits.startswith("100") or len(digits) <= 3:
            raise _invalid(link, "a negative id without -100 is a basic group, not a channel", "basic_group")
        value = int(digits[3:])
    if value <= 0 or value >= 1 << 40:
        raise _invalid(link, "the number is not a Telegram channel id", "bad_id")
    return ChannelLink("id", channel_id=value)


def parse_channel_link(link: str) -> ChannelLink:
    """Parse any link form a user may paste. Raises ChannelError("invalid") saying what is wrong."""
    text = (link or "").strip()
    if not text:
        raise _invalid(link or "", "it is empty", "empty")
    if any(c.isspace() for c in text):
        raise _invalid(text, "it contains spaces; give one link at a time", "spaces")
    if re.fullmatch(r"-?\d+", text):
        return _numeric(text, text)
    if text.startswith("@"):
        return _username(text, text[1:])
    if text.startswith("+") and _INVITE_HASH.fullmatch(text[1:]):
        return ChannelLink("invite", invite_hash=text[1:])
    lowered = text.lower()
    if lowered.startswith("tg://"):
        return _tg_scheme(text)
    if "/" not in text and "." not in text:
        return _username(text, text)
    text_url = text if re.match(r"(?i)https?://", text) else "https://" + text
    try:
        parts = urlsplit(text_url)
    except ValueError:
        raise _invalid(text, "it is not a well-formed URL", "bad_url") from None
    host = (parts.hostname or "").lower()
    if host.endswith(".t.me") and host.count(".") == 2 and host != "www.t.me":
        return _username(text, host.split(".")[0])  # name.t.me
    if host not in _HOSTS:
        raise _invalid(text, f"{host or 'the host'} is not a Telegram link (t.me or telegram.me)", "foreign_host")
    segments = [s for s in parts.path.split("/") if s]
    if not segments:
        raise _invalid(text, "the link names no channel", "no_channel")
    head = segments[0]
    if head.startswith("+"):
        if _INVITE_HASH.fullmatch(head[1:]):
            return ChannelLink("invite", invite_hash=head[1:])
        raise _invalid(text, "the invite hash after t.me/+ is malformed", "bad_invite")
    lowered_head = head.lower()
    if lowered_head == "joinchat":
        if len(segments) >= 2 and _INVITE_HASH.fullmatch(segments[1]):
            return ChannelLink("invite", invite_hash=segments[1])
        raise _invalid(text, "the invite link has no valid hash after /joinchat/", "bad_invite")
    if lowered_head == "s":
        if len(segments) < 2:
            raise _invalid(text, "t.me/s/ must be followed by a channel name", "no_channel")
        return _username(text, segments[1], segments[2] if len(segments) > 2 else None)
    if lowered_head == "c":
        if len(segments) >= 2 and segments[1].isdigit():
            found = _numeric(text, segments[1])
            msg = int(segments[2]) if len(segments) > 2 and segments[2].isdigit() else None
            return ChannelLink("id", channel_id=found.channel_id, message_id=msg)
        raise _invalid(text, "a t.me/c/ link must carry the channel's numeric id", "bad_id")
    if lowered_head in _RESERVED:
        raise _invalid(text, f"it is {_RESERVED[lowered_head]}, not a channel", "not_a_channel_link")
    return _username(text, head, segments[1] if len(segments) > 1 else None)


def _tg_scheme(text: str) -> ChannelLink:
    parts = urlsplit(text)
    query = parse_qs(parts.query)
    action = (parts.netloc or parts.path).lower()
    if action == "resolve" and query.get("domain"):
        return _username(text, query["domain"][0], next(iter(query.get("post", [])), None))
    if action == "join" and query.get("invite") and _INVITE_HASH.fullmatch(query["invite"][0]):
        return ChannelLink("invite", invite_hash=query["invite"][0])
    raise _invalid(text, "only tg://resolve?domain=NAME and tg://join?invite=HASH links name a channel",
                   "not_a_channel_link")


async def find_channel(session: Session, link: ChannelLink | domain.ChannelRef) -> m.Channel | None:
    """The stored channel a link or ref points at (by numeric id, then username), if any."""
    telegram_id = link.channel_id if isinstance(link, ChannelLink) else link.telegram_id
    return await stored_channels.find(session, telegram_id, link.username)


def _ref(row: m.Channel) -> domain.ChannelRef:
    return domain.ChannelRef(row.telegram_id, row.username, row.title)


def _exists(row: m.Channel) -> ChannelError:
    name = f"@{row.username}" if row.username else str(row.telegram_id)
    return ChannelError("exists", f"{row.title or name} ({name}) is already watched.")


async def add_channel(
    db: Database, source: domain.ChannelSource, link: str, *, added_by: int | None = None
) -> domain.ChannelRef:
    """Resolve `link` once through `source` and watch the channel. Stores nothing on any error.

    A channel watched before and removed is watched again (its posts were kept). The caller backfills.
    """
    parsed = parse_channel_link(link)
    async with db.uow(read_only=True) as session:
        known = await find_channel(session, parsed)
    if known is not None and known.status == domain.ChannelStatus.ACTIVE.value and known.telegram_id is not None:
        raise _exists(known)
    if known is not None and known.telegram_id is not None and parsed.kind != "invite":
        ref = _ref(known)  # resolved before: no need to ask Telegram again
    else:
        ref = await source.resolve(parsed.canonical)
    if ref.telegram_id is None:
        raise ChannelError("not_found", f"{parsed.canonical} could not be resolved to a channel id.")
    async with db.uow() as session:
        row = await find_channel(session, ref)
        if row is not None and row.status == domain.ChannelStatus.ACTIVE.value and row.telegram_id is not None:
            raise _exists(row)
        return _ref(await stored_channels.watch(session, row, ref, added_by))


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    id: int
    telegram_id: int | None
    username: str | None
    title: str
    status: str
    joined: bool
    last_message_id: int
    last_post_at: datetime | None
    posts: int
    posts_today: int
    gaps_recovered: int
    flood_wait_seconds: int
    account: str | None = None  # the monitoring account that watches it; None: none yet
    error: str | None = None  # why it cannot be read (bot/ingest/failures.py); None: it reads fine
    error_since: datetime | None = None

    @property
    def name(self) -> str:
        return f"@{self.username}" if self.username else str(self.telegram_id)


async def list_channels(db: Database, *, since: datetime, include_removed: bool = False) -> list[ChannelInfo]:
    """Every channel with its counts; ``posts_today`` counts posts dated at or after ``since``."""
    async with db.uow(read_only=True) as session:
        rows = await stored_channels.overview(session, since=since, include_removed=include_removed)
    return [
        ChannelInfo(
            id=c.id, telegram_id=c.telegram_id, username=c.username, title=c.title, status=c.status,
            joined=c.joined, last_message_id=c.last_message_id, last_post_at=c.last_post_at,
            posts=n, posts_today=t, gaps_recovered=c.gaps_recovered,
            flood_wait_seconds=c.flood_wait_seconds, account=c.account, error=c.error, error_since=c.error_since,
        )
        for c, n, t in rows
    ]


async def remove_channel(db: Database, link: str, *, purge: bool = False) -> tuple[domain.ChannelRef, int]:
    """Stop watching a channel. Its posts stay unless ``purge``; returns the ref and posts deleted."""
    parsed = parse_channel_link(link)
    if parsed.kind == "invite":
        raise ChannelError("invalid", "Remove a channel by its @username or numeric id, not by an invite link.")
    async with db.uow() as session:
        row = await find_channel(session, parsed)
        if row is None or (row.status == domain.ChannelStatus.REMOVED.value and not purge):
            raise ChannelError("not_found", f"{parsed.canonical} is not watched; `tgmon channels list` shows what is.")
        ref = _ref(row)
        purged = 0
        if purge:
            purged = await stored_posts.purge_channel(session, row.id)
            await stored_channels.delete(session, row)
        else:
            stored_channels.stop_watching(row)
    return ref, purged
