"""SQLAlchemy 2 typed models. The schema changes only through Alembic (bot/storage/migrations)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy import text as sql_text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bot.domain import DEFAULT_DIGEST_SIZE
from bot.storage.types import BigId, UTCDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        dict[str, Any]: JSON,
        list[Any]: JSON,
        bytes: LargeBinary,
    }


class Channel(Base):
    __tablename__ = "channels"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    telegram_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    username: Mapped[str | None] = mapped_column(String(64), unique=True)  # lower case, no @
    title: Mapped[str] = mapped_column(String(256), default="")
    last_message_id: Mapped[int] = mapped_column(BigInteger, default=0)
    # read contiguously up to here (backfill, gap fill); live posts do not move it, so gaps stay findable
    history_id: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # a first backfill under way: the lowest message id read so far (it goes on below it); else None
    backfill_below: Mapped[int | None] = mapped_column(BigInteger)
    last_post_at: Mapped[datetime | None] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="active")
    added_by: Mapped[int | None] = mapped_column(BigInteger)  # chat id of whoever asked for it
    joined: Mapped[bool] = mapped_column(Boolean, default=False)
    # the monitoring account that watches it (bot/ingest/accounts.py); None: no account yet
    account: Mapped[str | None] = mapped_column(String(64), index=True)
    gaps_recovered: Mapped[int] = mapped_column(Integer, default=0)
    flood_wait_seconds: Mapped[int] = mapped_column(Integer, default=0)
    # why the channel cannot be read, and since when (bot/ingest/failures.py); None while it reads fine
    error: Mapped[str | None] = mapped_column(String(512))
    error_since: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ChannelPeer(Base):
    """What one monitoring account needs to address a channel again without resolving it (migration 0014)."""

    __tablename__ = "channel_peers"

    account: Mapped[str] = mapped_column(String(64), primary_key=True)
    telegram_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    access_hash: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class IngestAccount(Base):
    """A monitoring account some ingest process runs: its channel cap and last sign of life (migration 0009)."""

    __tablename__ = "ingest_accounts"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    cap: Mapped[int] = mapped_column(Integer)
    heartbeat_at: Mapped[datetime] = mapped_column()


class DeliveryWorker(Base):
    """A delivery worker process and its last sign of life (migration 0010): the live ones split
    Telegram's global message rate between them."""

    __tablename__ = "delivery_workers"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    heartbeat_at: Mapped[datetime] = mapped_column()


class Post(Base):
    __tablename__ = "posts"
    __table_args__ = (
        UniqueConstraint("channel_id", "message_id", name="uq_posts_channel_message"),
        Index("ix_posts_date", "date"),
        Index("ix_posts_forward", "forward_channel_id", "forward_message_id"),
        Index("ix_posts_channel_grouped", "channel_id", "grouped_id"),
        Index("ix_posts_channel_date", "channel_id", "date"),  # search scoped to channels, newest first
        # the posts not in the search index yet (lemma_text NULL): the search indexer's queue
        Index("ix_posts_unindexed", "id", sqlite_where=sql_text("lemma_text IS NULL"),
              postgresql_where=sql_text("lemma_text IS NULL")),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    message_id: Mapped[int] = mapped_column(BigInteger)
    date: Mapped[datetime] = mapped_column()
    text: Mapped[str] = mapped_column(Text, default="")
    text_hash: Mapped[str] = mapped_column(String(32))
    # normalised lemmas, for the full-text index; NULL: stored, not indexed yet (bot/search/indexer.py)
    lemma_text: Mapped[str | None] = mapped_column(Text)
    edit_date: Mapped[datetime | None] = mapped_column()
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    views: Mapped[int | None] = mapped_column(BigInteger)
    forward_channel_id: Mapped[int | None] = mapped_column(BigInteger)
    forward_message_id: Mapped[int | None] = mapped_column(BigInteger)
    forward_name: Mapped[str | None] = mapped_column(String(256))
    grouped_id: Mapped[int | None] = mapped_column(BigInteger)
    media_type: Mapped[str | None] = mapped_column(String(32))
    reply_to: Mapped[int | None] = mapped_column(BigInteger)
    stored_at: Mapped[datetime] = mapped_column(default=utcnow)


class PostVersion(Base):
    """Earlier texts of an edited post: the history of text hashes, with the text itself."""

    __tablename__ = "post_versions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), index=True)
    text_hash: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text, default="")
    replaced_at: Mapped[datetime] = mapped_column(default=utcnow)


class Subscriber(Base):
    __tablename__ = "subscribers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    chat_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="private")  # private | group
    title: Mapped[str] = mapped_column(String(256), default="")
    language: Mapped[str] = mapped_column(String(8), default="en")
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Moscow")
    digest_hour: Mapped[int] = mapped_column(Integer, default=9)
    digest_minute: Mapped[int] = mapped_column(Integer, default=0)
    digest_weekday: Mapped[int] = mapped_column(Integer, default=0)  # 0 = Monday
    frequency: Mapped[str] = mapped_column(String(16), default="daily")
    quiet_start: Mapped[int | None] = mapped_column(Integer)  # minutes after local midnight
    quiet_end: Mapped[int | None] = mapped_column(Integer)
    digest_size: Mapped[int] = mapped_column(Integer, default=DEFAULT_DIGEST_SIZE)  # top N items; 0 = all
    # which messages ring: 'alerts' (instant alerts; digests go silently), 'all' or 'none' (migration 0024)
    sound: Mapped[str] = mapped_column(String(8), default="alerts", server_default="alerts")
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_digest_at: Mapped[datetime | None] = mapped_column()  # matches up to here were delivered
    # when the next daily/weekly digest falls due; NULL: not worked out yet (new, or its schedule
    # changed: a trigger resets it, migration 0025). The scheduler selects on it and sets it.
    next_due_at: Mapped[datetime | None] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Rule(Base):
    __tablename__ = "rules"
    __table_args__ = (UniqueConstraint("subscriber_id", "source", name="uq_rules_subscriber_source"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128), default="")
    source: Mapped[str] = mapped_column(Text)
    channels: Mapped[list[Any]] = mapped_column(default=list)  # scope; empty = every channel
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # '' (the chat's frequency) | instant | daily | weekly | muted: see domain.Delivery
    delivery: Mapped[str] = mapped_column(String(16), default="", server_default="")
    # this rule's matches found up to here were sent (or skipped); None: nothing sent yet
    delivered_until: Mapped[datetime | None] = mapped_column()


class Subscription(Base):
    """A subscriber's explicit choice about one channel. No row: follows (every watched channel by default)."""

    __tablename__ = "subscriptions"
    __table_args__ = (UniqueConstraint("subscriber_id", "channel_id", name="uq_subscriptions_pair"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"), index=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    following: Mapped[bool] = mapped_column(Boolean, default=True)


class Match(Base):
    __tablename__ = "matches"
    __table_args__ = (
        UniqueConstraint("rule_id", "post_id", name="uq_matches_rule_post"),
        Index("ix_matches_matched_at", "matched_at"),
        # a digest's unsent matches: a range per rule after its watermark (migration 0029)
        Index("ix_matches_rule_matched", "rule_id", "matched_at"),
        # the web timeline: a rule's matches newest first by their post's date (migration 0027)
        Index("ix_matches_rule_post_date", "rule_id", "post_date", "post_id"),
        Index("ix_matches_rule_channel_date", "rule_id", "post_channel_id", "post_date", "post_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("rules.id", ondelete="CASCADE"))
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), index=True)
    highlights: Mapped[list[Any]] = mapped_column(default=list)  # [[start, end], ...] in the post text
    matched_at: Mapped[datetime] = mapped_column(default=utcnow)
    # found by /watch on a post stored before the rule existed: shown by /digest week, never sent
    past: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sql_text("false"))
    # copies of the post's date and channel (neither changes once stored), written by a trigger as the
    # row is inserted (migration 0027): leave them unset
    post_date: Mapped[datetime | None] = mapped_column()
    post_channel_id: Mapped[int | None] = mapped_column(BigInteger)


class Digest(Base):
    __tablename__ = "digests"
    __table_args__ = (UniqueConstraint("subscriber_id", "period_key", name="uq_digests_subscriber_period"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"), index=True)
    period_key: Mapped[str] = mapped_column(String(64))  # "daily:2026-11-24", "weekly:2026-W48", ...
    kind: Mapped[str] = mapped_column(String(16), default="daily")
    period_start: Mapped[datetime] = mapped_column()
    period_end: Mapped[datetime] = mapped_column()
    state: Mapped[str] = mapped_column(String(16), default="pending")
    items: Mapped[int] = mapped_column(Integer, default=0)
    match_ids: Mapped[list[Any] | None] = mapped_column()  # what it was built from, when /more has pages
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column()


class Outbox(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        # one row per chunk and destination (the chat, or a notification target: migration 0022)
        Index("uq_outbox_digest_dest_chunk", "digest_id", sql_text("coalesce(target_id, 0)"), "chunk_no",
              unique=True),
        Index("ix_outbox_state_due", "state", "not_before"),
        Index("ix_outbox_chat_id", "chat_id"),
        # the worker's head-of-chat test reads only active rows (migration 0008)
        Index("ix_outbox_chat_active", "chat_id", "id", sqlite_where=sql_text("state IN ('pending', 'sending')"),
              postgresql_where=sql_text("state IN ('pending', 'sending')")),
        # the claim's order: instant alerts before any digest row, then the oldest (migration 0028)
        Index("ix_outbox_alerts_due", "not_before", "id", sqlite_where=sql_text("state = 'pending' AND kind = 'alert'"),
              postgresql_where=sql_text("state = 'pending' AND kind = 'alert'")),
        Index("ix_outbox_pending_due", "not_before", "id", sqlite_where=sql_text("state = 'pending'"),
              postgresql_where=sql_text("state = 'pending'")),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    digest_id: Mapped[int | None] = mapped_column(ForeignKey("digests.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"), index=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16), default="digest")  # digest | alert | reply
    chunk_no: Mapped[int] = mapped_column(Integer, default=1)
    chunk_total: Mapped[int] = mapped_column(Integer, default=1)
    text: Mapped[str] = mapped_column(Text)
    attachment: Mapped[bytes | None] = mapped_column()
    silent: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sql_text("false"))  # no sound
    # inline buttons under the message: [[{"text": ..., "data": ...}, ...], ...] (migration 0026)
    buttons: Mapped[list[Any] | None] = mapped_column()
    random_id: Mapped[int] = mapped_column(BigInteger)  # stable per chunk: Telegram drops a repeat
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(String(512))
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # when it was sent; on a 'sending' row to a notification service without an idempotency key: when
    # its request left (outbox.on_wire), so a crash after it is reported uncertain, never resent
    sent_at: Mapped[datetime | None] = mapped_column()
    claimed_at: Mapped[datetime | None] = mapped_column()  # a worker took it (state 'sending')
    # the destination: NULL = the subscriber's Telegram chat; else a notification target (bot/notify).
    # No database FK: removing a target deletes its rows in the same transaction (bot/notify/targets.py)
    target_id: Mapped[int | None] = mapped_column(BigInteger)


class NotifyTarget(Base):
    """A service a subscriber's alerts and digests also (or only) go to, through apprise (migration 0022).

    `url` is the stored form of the apprise URL, a secret: "fernet:<token>" when notify.key is set,
    else "plain:<url>". `masked` (scheme and host) is all that is ever shown."""

    __tablename__ = "notify_targets"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"), index=True)
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("rules.id", ondelete="CASCADE"))  # NULL: every rule
    mode: Mapped[str] = mapped_column(String(8), default="also")  # also | only (then not to Telegram)
    url: Mapped[str] = mapped_column(Text)
    masked: Mapped[str] = mapped_column(String(160))
    body_format: Mapped[str] = mapped_column(String(16))  # html | markdown | text
    body_limit: Mapped[int] = mapped_column(Integer)  # the service's message size, in characters
    keyed: Mapped[bool] = mapped_column(Boolean, default=False)  # carries an idempotency key: safe to resend
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LeaderTerm(Base):
    """The current term of a leadership (migration 0016): its generation is the fencing token."""

    __tablename__ = "leader_terms"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger)
    holder: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column()


class WebLogin(Base):
    """A sign-in link the bot sent (`/web`, migration 0020): works once, briefly; only its hash is kept."""

    __tablename__ = "web_logins"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(BigInteger)  # the Telegram user (their private chat with the bot)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()


class WebSession(Base):
    """A signed-in browser (the cookie holds the token; only its hash is kept), revocable from the bot
    and the web view."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    user_agent: Mapped[str] = mapped_column(String(200), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


class FeedToken(Base):
    """The secret part of an Atom feed's URL: a subscriber's matches, or one rule's (rule_id)."""

    __tablename__ = "feed_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"), index=True)
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("rules.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column()


class Meta(Base):
    """Small key/value facts about this database (instance lock owner, matcher version, ...)."""

    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
