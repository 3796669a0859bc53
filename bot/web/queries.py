"""The web view's reads. Subscriber queries take the viewer's subscriber id and never return
another's rows; the admin queries return counts and channel health, never message contents."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import load_only

from bot.domain import post_link
from bot.storage import models as m
from bot.storage.rules import unfollowed_ids


@dataclass(frozen=True, slots=True)
class ChannelChoice:
    """A channel as the filters and the search scope need it (not the whole row: a subscriber may
    follow hundreds)."""

    id: int
    title: str
    username: str | None
    telegram_id: int | None


async def own_channels(session: AsyncSession, subscriber_id: int) -> list[ChannelChoice]:
    """The channels a subscriber sees: active ones it did not unfollow, in one statement."""
    unfollowed = select(m.Subscription.channel_id).where(
        m.Subscription.subscriber_id == subscriber_id, m.Subscription.following.is_(False))
    rows = await session.execute(
        select(m.Channel.id, m.Channel.title, m.Channel.username, m.Channel.telegram_id)
        .where(m.Channel.status == "active", m.Channel.id.not_in(unfollowed))
        .order_by(m.Channel.title, m.Channel.id))
    return [ChannelChoice(int(i), str(t or ""), u, tg) for i, t, u, tg in rows]


async def search_scope_of(session: AsyncSession, subscriber_id: int) -> list[str]:
    """search_posts' channel list for this subscriber: empty (all) when it unfollowed no active
    channel (one small query, no channel list read), else the channels it follows."""
    unfollowed_active = await session.scalar(
        select(m.Subscription.channel_id).join(m.Channel, m.Channel.id == m.Subscription.channel_id)
        .where(m.Subscription.subscriber_id == subscriber_id, m.Subscription.following.is_(False),
               m.Channel.status == "active").limit(1))
    if unfollowed_active is None:
        return []
    return [c.username or str(c.telegram_id) for c in await own_channels(session, subscriber_id)] or ["-"]


@dataclass(frozen=True, slots=True)
class PostView:
    post: m.Post
    channel: m.Channel
    link: str
    versions: list[m.PostVersion]
    own_matches: list[tuple[str, list[list[int]]]]  # (rule source, highlights) of the viewer's rules only


async def post_for(session: AsyncSession, subscriber_id: int, post_id: int) -> PostView | None:
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
    if not matches and (channel.status != "active" or channel.id in await unfollowed_ids(session, subscriber_id)):
        return None
    versions = list(await session.scalars(
        select(m.PostVersion).where(m.PostVersion.post_id == post_id).order_by(m.PostVersion.replaced_at, m.PostVersion.id)))
    return PostView(post, channel, post_link(channel.username, channel.telegram_id, post.message_id), versions,
                    [(str(source), list(spans or [])) for source, spans in matches])


# --- admin: health and counts ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChannelHealth:
    channel: m.Channel
    posts: int
    lag_seconds: float | None  # since the newest stored post (None: none yet)


async def channel_health(session: AsyncSession, now: datetime) -> list[ChannelHealth]:
    counts = dict((await session.execute(select(m.Post.channel_id, func.count()).group_by(m.Post.channel_id))).all())
    rows = await session.scalars(select(m.Channel).where(m.Channel.status != "removed")
                                 .order_by(m.Channel.error.is_(None), m.Channel.status, m.Channel.title, m.Channel.id))
    return [ChannelHealth(c, int(counts.get(c.id, 0)),
                          (now - c.last_post_at).total_seconds() if c.last_post_at else None) for c in rows]


async def accounts(session: AsyncSession) -> list[tuple[m.IngestAccount, int]]:
    held = dict((await session.execute(
        select(m.Channel.account, func.count()).where(m.Channel.status == "active").group_by(m.Channel.account))).all())
    rows = await session.scalars(select(m.IngestAccount).order_by(m.IngestAccount.name))
    return [(a, int(held.get(a.name, 0))) for a in rows]


async def unassigned_channels(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(m.Channel).where(
        m.Channel.status == "active", m.Channel.account.is_(None))) or 0)


async def outbox_depth(session: AsyncSession) -> list[tuple[str, str, int]]:
    rows = await session.execute(select(m.Outbox.state, m.Outbox.kind, func.count())
                                 .group_by(m.Outbox.state, m.Outbox.kind).order_by(m.Outbox.state, m.Outbox.kind))
    return [(str(state), str(kind), int(n)) for state, kind, n in rows]


async def delivery_failures(session: AsyncSession, limit: int = 30) -> list[m.Outbox]:
    """The latest failed or uncertain sends (their ids, errors and times; the text is not read)."""
    rows = await session.scalars(
        select(m.Outbox).where(m.Outbox.state.in_(("failed", "uncertain")))
        .order_by(m.Outbox.id.desc()).limit(limit)
        .options(load_only(
            m.Outbox.id, m.Outbox.kind, m.Outbox.state, m.Outbox.attempts, m.Outbox.last_error,
            m.Outbox.created_at, m.Outbox.chat_id)))
    return list(rows)


async def workers(session: AsyncSession) -> list[m.DeliveryWorker]:
    return list(await session.scalars(select(m.DeliveryWorker).order_by(m.DeliveryWorker.name)))


@dataclass(frozen=True, slots=True)
class SubscriberCounts:
    total: int
    active: int
    paused: int
    groups: int
    with_rules: int
    rules: int
    by_frequency: list[tuple[str, int]]
    by_language: list[tuple[str, int]]
    web_sessions: int
    feeds: int


async def subscriber_counts(session: AsyncSession, now: datetime) -> SubscriberCounts:
    def count(*where: object) -> object:
        return select(func.count()).select_from(m.Subscriber).where(*where)  # type: ignore[arg-type]

    async def n(query: object) -> int:
        return int(await session.scalar(query) or 0)  # type: ignore[call-overload]

    freq = (await session.execute(select(m.Subscriber.frequency, func.count()).where(m.Subscriber.active.is_(True))
                                  .group_by(m.Subscriber.frequency).order_by(m.Subscriber.frequency))).all()
    langs = (await session.execute(select(m.Subscriber.language, func.count()).where(m.Subscriber.active.is_(True))
                                   .group_by(m.Subscriber.language).order_by(m.Subscriber.language))).all()
    return SubscriberCounts(
        total=await n(count()),
        active=await n(count(m.Subscriber.active.is_(True))),
        paused=await n(count(m.Subscriber.active.is_(True), m.Subscriber.paused.is_(True))),
        groups=await n(count(m.Subscriber.kind == "group")),
        with_rules=await n(select(func.count(func.distinct(m.Rule.subscriber_id)))),
        rules=await n(select(func.count()).select_from(m.Rule)),
        by_frequency=[(str(a), int(b)) for a, b in freq],
        by_language=[(str(a), int(b)) for a, b in langs],
        web_sessions=await n(select(func.count()).select_from(m.WebSession).where(
            m.WebSession.revoked_at.is_(None), m.WebSession.expires_at > now)),
        feeds=await n(select(func.count()).select_from(m.FeedToken).where(m.FeedToken.revoked_at.is_(None))),
    )
