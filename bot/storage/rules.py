"""The subscribers aggregate: a chat's subscriber row and settings, its rules, and the channels it
follows or unfollowed.

Functions over one session; they never commit (`Database.uow()` does). The bot's commands and the
web view decide what changes; these say how it is stored. Every function that takes a subscriber
id is scoped to that subscriber: an id from a button is never trusted alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import domain
from bot.config import Settings
from bot.storage import models as m


class Chat(Protocol):
    """The chat a subscriber row is made for (the bot's `Caller` is one)."""

    @property
    def chat_id(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def title(self) -> str: ...


async def get_subscriber(session: AsyncSession, chat_id: int) -> m.Subscriber | None:
    return await session.scalar(select(m.Subscriber).where(m.Subscriber.chat_id == chat_id))


async def subscriber_by_id(session: AsyncSession, subscriber_id: int) -> m.Subscriber | None:
    return await session.get(m.Subscriber, subscriber_id)


async def ensure_subscriber(session: AsyncSession, chat: Chat, lang: str, settings: Settings) -> m.Subscriber:
    """The chat's subscriber, made with the configured digest defaults when new, made active again
    when it had blocked the bot."""
    sub = await get_subscriber(session, chat.chat_id)
    if sub is None:
        digest = settings.digest
        sub = m.Subscriber(
            chat_id=chat.chat_id,
            kind=str(chat.kind),
            title=chat.title[:256],
            language=lang,
            timezone=digest.default_timezone,
            digest_hour=digest.default_hour,
            digest_minute=0,
            digest_weekday=digest.default_weekday,
            frequency="daily",
            digest_size=digest.max_items,
            paused=False,
            active=True,
        )
        session.add(sub)
        await session.flush()
    elif not sub.active:
        sub.active = True  # came back after blocking the bot
    return sub


async def add_subscriber(session: AsyncSession, sub: m.Subscriber) -> m.Subscriber:
    """Store a subscriber made by the caller (the demo's); its id is set on return."""
    session.add(sub)
    await session.flush()
    return sub


async def forget_subscriber(session: AsyncSession, sub: m.Subscriber) -> None:
    """Delete everything of one chat: rules, matches, subscriptions, digests, outbox (by cascade),
    and its name on the channels it asked for."""
    sub_id, chat_id = sub.id, sub.chat_id
    rule_ids: Sequence[int] = list(
        await session.scalars(select(m.Rule.id).where(m.Rule.subscriber_id == sub_id))
    )
    # explicit deletes, so the result does not depend on the database enforcing ON DELETE CASCADE
    if rule_ids:
        await session.execute(delete(m.Match).where(m.Match.rule_id.in_(rule_ids)))
    await session.execute(delete(m.Outbox).where(m.Outbox.subscriber_id == sub_id))
    await session.execute(delete(m.Digest).where(m.Digest.subscriber_id == sub_id))
    await session.execute(delete(m.Subscription).where(m.Subscription.subscriber_id == sub_id))
    await session.execute(delete(m.Rule).where(m.Rule.subscriber_id == sub_id))
    await session.execute(update(m.Channel).where(m.Channel.added_by == chat_id).values(added_by=None))
    await session.execute(delete(m.Subscriber).where(m.Subscriber.id == sub_id))


async def subscribers_with_rule_counts(session: AsyncSession) -> list[tuple[m.Subscriber, int]]:
    """Every subscriber (oldest first) with how many rules it keeps."""
    rule_counts = select(m.Rule.subscriber_id, func.count().label("n")).group_by(m.Rule.subscriber_id).subquery()
    rows = await session.execute(
        select(m.Subscriber, func.coalesce(rule_counts.c.n, 0))
        .outerjoin(rule_counts, rule_counts.c.subscriber_id == m.Subscriber.id)
        .order_by(m.Subscriber.id))
    return [(sub, int(n)) for sub, n in rows]


# rules


async def rules_of(session: AsyncSession, subscriber_id: int) -> list[m.Rule]:
    rows = await session.scalars(
        select(m.Rule).where(m.Rule.subscriber_id == subscriber_id).order_by(m.Rule.id)
    )
    return list(rows)


async def rule_of(session: AsyncSession, subscriber_id: int, rule_id: int) -> m.Rule | None:
    """The rule only if it belongs to this subscriber: ids from buttons are never trusted alone."""
    return await session.scalar(
        select(m.Rule).where(m.Rule.id == rule_id, m.Rule.subscriber_id == subscriber_id)
    )


async def rule_by_id(session: AsyncSession, rule_id: int) -> m.Rule | None:
    """Any subscriber's rule (for an admin, or a caller that checks the owner itself)."""
    return await session.scalar(select(m.Rule).where(m.Rule.id == rule_id))


async def add_rule(session: AsyncSession, rule: m.Rule) -> m.Rule:
    """Store a new rule; its id is set on return."""
    await add_rules(session, [rule])
    return rule


async def add_rules(session: AsyncSession, rules: Sequence[m.Rule]) -> None:
    """Store new rules, in this order; their ids are set on return."""
    session.add_all(rules)
    await session.flush()


async def delete_rule(session: AsyncSession, rule: m.Rule) -> None:
    """Delete the rule (what hangs on it goes by the foreign keys' ON DELETE)."""
    await session.delete(rule)
    await session.flush()


async def rules_for_matching(session: AsyncSession) -> list[domain.Rule]:
    """Every rule of an active subscriber, as the matcher takes it."""
    rows = await session.execute(
        select(m.Rule.id, m.Rule.source, m.Rule.subscriber_id, m.Rule.channels)
        .join(m.Subscriber, m.Subscriber.id == m.Rule.subscriber_id)
        .where(m.Subscriber.active.is_(True))
    )
    return [domain.Rule(r.id, r.source, r.subscriber_id, tuple(r.channels or ())) for r in rows]


async def rules_fingerprint(session: AsyncSession) -> tuple[int, ...]:
    """(count, max id, sum of ids) of the active subscribers' rules: it changes when one is added,
    removed, or its subscriber stops or comes back."""
    row = (await session.execute(
        select(func.count(), func.coalesce(func.max(m.Rule.id), 0), func.coalesce(func.sum(m.Rule.id), 0))
        .join(m.Subscriber, m.Subscriber.id == m.Rule.subscriber_id).where(m.Subscriber.active.is_(True))
    )).one()
    return tuple(int(v or 0) for v in row)


# the channels a subscriber follows (all active ones but those it unfollowed)


async def unfollowed_ids(session: AsyncSession, subscriber_id: int) -> set[int]:
    rows = await session.scalars(
        select(m.Subscription.channel_id).where(
            m.Subscription.subscriber_id == subscriber_id, m.Subscription.following.is_(False)
        )
    )
    return set(rows)


async def set_following(session: AsyncSession, subscriber_id: int, channel_id: int, following: bool) -> None:
    row = await session.scalar(
        select(m.Subscription).where(
            m.Subscription.subscriber_id == subscriber_id, m.Subscription.channel_id == channel_id
        )
    )
    if row is None:
        session.add(m.Subscription(subscriber_id=subscriber_id, channel_id=channel_id, following=following))
    else:
        row.following = following


async def followed_keys(session: AsyncSession, subscriber_id: int) -> list[str] | None:
    """The matcher's keys (username, else the numeric id) of the active channels the subscriber
    follows; None when it follows them all (it unfollowed none)."""
    dropped = await unfollowed_ids(session, subscriber_id)
    if not dropped:
        return None
    rows = await session.execute(
        select(m.Channel.username, m.Channel.telegram_id).where(
            m.Channel.status == domain.ChannelStatus.ACTIVE.value, m.Channel.id.not_in(dropped)
        )
    )
    return [r.username or str(r.telegram_id) for r in rows]


@dataclass(frozen=True, slots=True)
class ChannelChoice:
    """A channel as the web's filters and search scope need it (not the whole row: a subscriber may
    follow hundreds)."""

    id: int
    title: str
    username: str | None
    telegram_id: int | None


async def own_channels(session: AsyncSession, subscriber_id: int) -> list[ChannelChoice]:
    """The channels a subscriber sees, by title: active ones it did not unfollow, in one statement."""
    unfollowed = select(m.Subscription.channel_id).where(
        m.Subscription.subscriber_id == subscriber_id, m.Subscription.following.is_(False))
    rows = await session.execute(
        select(m.Channel.id, m.Channel.title, m.Channel.username, m.Channel.telegram_id)
        .where(m.Channel.status == domain.ChannelStatus.ACTIVE.value, m.Channel.id.not_in(unfollowed))
        .order_by(m.Channel.title, m.Channel.id))
    return [ChannelChoice(int(i), str(t or ""), u, tg) for i, t, u, tg in rows]


async def search_scope_of(session: AsyncSession, subscriber_id: int) -> list[str]:
    """The archive search's channel list for this subscriber: empty (all) when it unfollowed no active
    channel (one small query, no channel list read), else the keys of the channels it follows."""
    unfollowed_active = await session.scalar(
        select(m.Subscription.channel_id).join(m.Channel, m.Channel.id == m.Subscription.channel_id)
        .where(m.Subscription.subscriber_id == subscriber_id, m.Subscription.following.is_(False),
               m.Channel.status == domain.ChannelStatus.ACTIVE.value).limit(1))
    if unfollowed_active is None:
        return []
    return [c.username or str(c.telegram_id) for c in await own_channels(session, subscriber_id)] or ["-"]
