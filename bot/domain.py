"""The project's own types. Nothing past `bot/telegram/` sees a Telethon object: only these.

Every Telegram id is a plain ``int`` (stored as BIGINT). Every datetime is timezone-aware UTC.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple, Protocol, runtime_checkable

if TYPE_CHECKING:
    from bot.matching.text import Tokens


DEFAULT_DIGEST_SIZE = 10  # items a digest shows before "… and N more: /more" (config digest.max_items)
# Named here, with nothing to import, because `tgmon --help` shows them (bot.config and bot.runtime use them):
MAIN_ACCOUNT = "main"  # the monitoring account of TELEGRAM_SESSION / telegram.session_file
ROLES = ("ingest", "scheduler", "delivery", "bot", "web")  # what a `tgmon run` process can do


class Frequency(enum.StrEnum):
    INSTANT = "instant"
    DAILY = "daily"
    WEEKLY = "weekly"


class Delivery(enum.StrEnum):
    """A rule's own delivery; DEFAULT follows the chat's frequency. A muted rule's matches are kept
    (search, export) but sent in no digest or alert."""

    DEFAULT = ""
    INSTANT = "instant"
    DAILY = "daily"
    WEEKLY = "weekly"
    MUTED = "muted"


class ChannelStatus(enum.StrEnum):
    ACTIVE = "active"  # watched
    PENDING = "pending"  # asked for by a subscriber, waiting for an admin
    REMOVED = "removed"  # no longer watched; posts kept


class DigestState(enum.StrEnum):
    PENDING = "pending"  # due, not built yet
    BUILT = "built"  # chunks written to the outbox
    SENDING = "sending"
    SENT = "sent"
    EMPTY = "empty"  # nothing matched in the period; nothing to send


class OutboxState(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # claimed by a worker; the request may be on the wire
    SENT = "sent"
    UNCERTAIN = "uncertain"  # the request went out and no answer came back: never blindly resent
    FAILED = "failed"  # permanent: the chat blocked the bot, was deleted, ...


def text_hash(text: str) -> str:
    """A short stable fingerprint of a post's text, to tell real edits from reaction/view updates."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


@dataclass(frozen=True, slots=True)
class ChannelRef:
    """Who posted: the channel's numeric id (the -100... form is never used here: the bare id),
    its public username if it has one (lower case, no @), and its title."""

    telegram_id: int | None
    username: str | None = None
    title: str = ""

    @property
    def key(self) -> str:
        return self.username or str(self.telegram_id)


@dataclass(frozen=True, slots=True)
class ForwardOrigin:
    channel_id: int | None = None
    message_id: int | None = None
    name: str | None = None  # the origin's title as the export or the update shows it


@dataclass(frozen=True, slots=True)
class Post:
    """One logical post of a channel (an album is one post, carrying the caption)."""

    channel: ChannelRef
    message_id: int
    date: datetime
    text: str = ""
    edit_date: datetime | None = None
    views: int | None = None
    forward: ForwardOrigin | None = None
    grouped_id: int | None = None
    media_type: str | None = None  # "photo", "video", "document", "album", ... None for plain text
    reply_to: int | None = None
    deleted: bool = False

    @property
    def text_hash(self) -> str:
        return text_hash(self.text)

    @property
    def link(self) -> str:
        return post_link(self.channel.username, self.channel.telegram_id, self.message_id)


def post_link(username: str | None, telegram_id: int | None, message_id: int) -> str:
    """The public link of a post; private channels get the t.me/c/<id>/<msg> form."""
    if username:
        return f"https://t.me/{username}/{message_id}"
    return f"https://t.me/c/{telegram_id}/{message_id}"


@dataclass(frozen=True, slots=True)
class Rule:
    """A subscriber's keyword rule, as the matcher needs it."""

    id: int
    source: str
    subscriber_id: int = 0
    channels: tuple[str, ...] = ()  # scope: usernames (lower case) or numeric ids as text; empty = all


class RuleMatch(NamedTuple):
    """A rule that matched a text, with the character spans (start, end) of what matched. A named
    tuple: the matcher makes one per hit, and a tuple is several times cheaper than a dataclass."""

    rule_id: int
    highlights: tuple[tuple[int, int], ...] = ()


@dataclass(slots=True)
class IngestResult:
    stored: int = 0  # new rows
    updated: int = 0  # real edits and deletions
    unchanged: int = 0  # seen before, nothing new (a repeat from backfill, gap fill, a reaction)
    matches: int = 0  # new (rule, post) matches
    new_match_ids: list[int] = field(default_factory=list)

    def __iadd__(self, other: IngestResult) -> IngestResult:
        self.stored += other.stored
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.matches += other.matches
        self.new_match_ids.extend(other.new_match_ids)
        return self


class Matcher(Protocol):
    """All rules compiled together (`bot.matching.matcher.CompiledMatcher`). ``channel`` is the
    post's channel key (username or id). Matches come sorted by rule id."""

    def match(self, text: str, channel: str | None = None) -> list[RuleMatch]: ...

    def match_tokens(self, toks: Tokens, channel: str | None = None) -> list[RuleMatch]:
        """`match` on a text already tokenised (`bot.matching.text.tokenize`): ingestion tokenises
        a post once, for the matcher and the search index."""
        ...

    def rule_ids(self) -> frozenset[int]: ...

    def add(self, rule: Rule) -> bool:
        """Compile one more rule (replacing the one with its id); False when it cannot be used."""
        ...

    def remove(self, rule_id: int) -> None:
        """Forget a rule; nothing when it is not here."""
        ...

    def warm_from(self, other: Matcher) -> int:
        """Look up the words ``other`` (the matcher this one replaces) has in recent use, so a
        rebuild after a rule change does not start cold; how many. 0 when ``other`` cannot tell."""
        ...


class MatcherFactory(Protocol):
    def __call__(self, rules: Iterable[Rule]) -> Matcher: ...


class Clock(Protocol):
    def now(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...


@runtime_checkable
class ChannelSource(Protocol):
    """Where posts come from: the Telethon user client, or an export replay."""

    async def resolve(self, link: str) -> ChannelRef: ...

    def history(self, channel: ChannelRef, *, min_id: int = 0, limit: int | None = None) -> AsyncIterator[Post]: ...


@dataclass(frozen=True, slots=True)
class SendResult:
    message_id: int | None = None


InlineButtons = Sequence[Sequence[tuple[str, str]]]  # rows of (label, callback data)


class Sender(Protocol):
    """Sends one already-rendered HTML message (`silent`: without a sound, Telegram's silent send;
    `buttons`: rows of (label, callback data) under it). Raises `bot.delivery.errors` exceptions on failure."""

    async def send_html(
        self, chat_id: int, html: str, *, random_id: int, attachment: bytes | None = None, silent: bool = False,
        buttons: InlineButtons = (),
    ) -> SendResult: ...


class Notifier(Protocol):
    """Sends one outbox row to a notification target (another service: `bot/notify/sender.py`, through
    apprise). `key` is the row's stable idempotency key. Raises `bot.delivery.errors` exceptions."""

    async def notify(self, target_id: int, html: str, *, key: str,
                     on_wire: Callable[[], Awaitable[None]] | None = None,
                     subscriber_id: int | None = None) -> SendResult:
        """`on_wire` is awaited right before a request that cannot be recognised as a repeat leaves.
        `subscriber_id`, the row's owner: a target of anyone else is gone (an id SQLite gave again)."""
        ...


def unique_by(items: Sequence[Post]) -> list[Post]:
    """Keep the last version of each (channel, message id), in first-seen order."""
    seen: dict[tuple[str, int], Post] = {}
    for post in items:
        seen[(post.channel.key, post.message_id)] = post
    return list(seen.values())


class StaleLeader(Exception):
    """A newer leader has begun its term (its fencing token moved on): this process must write nothing
    more as the leader, and steps down."""


class SessionEndedError(Exception):
    """The Telegram session can no longer be used (revoked, or the same key used from two places).

    Fatal: restarting does not help. The message says what happened and how to fix it (no secret).
    """
