"""The queries commands need. Every one is scoped to one subscriber (one chat); none commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.commands.types import Caller
from bot.config import Settings
from bot.storage import models as m
from bot.storage.repos import insert_ignore


async def get_subscriber(session: AsyncSession, chat_id: int) -> m.Subscriber | None:
    return await session.scalar(select(m.Subscriber).where(m.Subscriber.chat_id == chat_id))


async def ensure_subscriber(
    session: AsyncSession, caller: Caller, lang: str, settings: Settings
) -> m.Subscriber:
    sub = await get_subscriber(session, caller.chat_id)
    if sub is None:
        digest = settings.digest
        sub = m.Subscriber(
            chat_id=caller.chat_id,
            kind=caller.kind.value,
            title=caller.title[:256],
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


async def active_channels(session: AsyncSession) -> list[m.Channel]:
    rows = await session.scalars(
        select(m.Channel).where(m.Channel.status == "active").order_by(m.Channel.title, m.Channel.id)
    )
    return list(rows)


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


async def channel_by_username(session: AsyncSession, username: str) -> m.Channel | None:
    return await session.scalar(select(m.Channel).where(m.Channel.username == username.lower()))


async def channels_requested_by(session: AsyncSession, chat_id: int) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(m.Channel)
            .where(m.Channel.added_by == chat_id, m.Channel.status != "removed")
        )
        or 0
    )


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


async def record_past_matches(
    session: AsyncSession, rule_id: int, found: Sequence[tuple[int, Sequence[tuple[int, int]], datetime]]
) -> None:
    """A new rule's matches on posts stored before it existed: (post id, highlights, post date).

    They are marked `past`: `/digest week`, its chart and `/export` (windows on the post's date) show
    them, as the `/watch` reply said; scheduled digests and alerts send only what is found from now on.
    """
    if not found:
        return
    await session.execute(insert_ignore(session, m.Match, ["rule_id", "post_id"]), [
        {"rule_id": rule_id, "post_id": post_id, "highlights": [list(h) for h in highlights], "past": True}
        for post_id, highlights, _date in found])
