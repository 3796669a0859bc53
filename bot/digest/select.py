"""The queries a digest needs: a subscriber's matches in a window, on the channels it follows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Select, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage import models as m


@dataclass(frozen=True, slots=True)
class MatchRow:
    """One (rule, post) match with what rendering needs; plain values, no ORM objects."""

    rule_id: int
    rule_name: str
    post_id: int
    channel_id: int
    channel_telegram_id: int | None
    channel_username: str | None
    channel_title: str
    message_id: int
    date: datetime
    text: str
    highlights: tuple[tuple[int, int], ...]
    views: int | None = None
    forward_channel_id: int | None = None
    forward_message_id: int | None = None
    subscriber_id: int = 0
    match_id: int = 0
    deleted: bool = False  # deleted in the channel (only queries that ask for deleted posts return them)


_COLUMNS = (
    m.Match.rule_id,
    m.Rule.name,
    m.Rule.source,
    m.Match.post_id,
    m.Channel.id,
    m.Channel.telegram_id,
    m.Channel.username,
    m.Channel.title,
    m.Post.message_id,
    m.Post.date,
    m.Post.text,
    m.Match.highlights,
    m.Post.views,
    m.Post.forward_channel_id,
    m.Post.forward_message_id,
    m.Rule.subscriber_id,
    m.Match.id,
    m.Post.deleted,
)


def _query(subscriber_ids: Sequence[int] | None, *columns: Any, deleted: bool = False) -> Select[tuple[object, ...]]:
    """The subscribers' matches (None: any subscriber's; the caller narrows by rule) on the channels
    each follows; posts deleted in the channel only when `deleted`."""
    unfollowed = exists().where(
        m.Subscription.subscriber_id == m.Rule.subscriber_id, m.Subscription.channel_id == m.Post.channel_id,
        m.Subscription.following.is_(False),
    )
    query = (
        select(*(columns or _COLUMNS))
        .select_from(m.Match)
        .join(m.Rule, m.Rule.id == m.Match.rule_id)
        .join(m.Post, m.Post.id == m.Match.post_id)
        .join(m.Channel, m.Channel.id == m.Post.channel_id)
        .where(m.Channel.status != "removed")
        .where(~unfollowed)
    )
    if subscriber_ids is not None:
        query = query.where(m.Rule.subscriber_id.in_(list(subscriber_ids)))
    if not deleted:
        query = query.where(m.Post.deleted.is_(False))
    return query.order_by(m.Post.date.desc(), m.Post.id.desc(), *([] if columns else [m.Match.rule_id]))


def _rows(result: Sequence[tuple[object, ...]]) -> list[MatchRow]:
    out = []
    for r in result:
        (rule_id, name, source, post_id, channel_id, tg_id, username, title, msg_id, date, text, spans,
         views, fwd_channel, fwd_message, subscriber_id, match_id, deleted) = r
        out.append(
            MatchRow(
                rule_id=int(rule_id),  # type: ignore[call-overload]
                rule_name=str(name or source),
                post_id=int(post_id),  # type: ignore[call-overload]
                channel_id=int(channel_id),  # type: ignore[call-overload]
                channel_telegram_id=tg_id,  # type: ignore[arg-type]
                channel_username=username,  # type: ignore[arg-type]
                channel_title=str(title or username or tg_id),
                message_id=int(msg_id),  # type: ignore[call-overload]
                date=date,  # type: ignore[arg-type]
                text=str(text or ""),
                highlights=tuple((int(a), int(b)) for a, b in (spans or ())),  # type: ignore[attr-defined]
                views=views,  # type: ignore[arg-type]
                forward_channel_id=fwd_channel,  # type: ignore[arg-type]
                forward_message_id=fwd_message,  # type: ignore[arg-type]
                subscriber_id=int(subscriber_id),  # type: ignore[call-overload]
                match_id=int(match_id),  # type: ignore[call-overload]
                deleted=bool(deleted),
            )
        )
    return out


async def unsent_matches(session: AsyncSession, rule_ids: Sequence[int], until: datetime) -> dict[int, list[MatchRow]]:
    """Per rule, its matches found after its watermark (`rules.delivered_until`) and by `until`:
    what a digest sends, for many rules in one query (the scheduler's batches). Windowing on when a
    match was found, not on the post's date, puts every match in exactly one digest, also a post that
    arrived late through gap filling; a new rule's matches on posts stored before it (`past`) are not
    sent."""
    if not rule_ids:
        return {}
    unsent = sa.or_(m.Rule.delivered_until.is_(None), m.Match.matched_at > m.Rule.delivered_until)
    query = _query(None).where(
        m.Match.rule_id.in_(list(rule_ids)), m.Match.matched_at <= until, unsent, m.Match.past.is_(False)
    )
    out: dict[int, list[MatchRow]] = {}
    for row in _rows((await session.execute(query)).all()):
        out.setdefault(row.rule_id, []).append(row)
    return out


async def matches_by_id(session: AsyncSession, subscriber_id: int, match_ids: Sequence[int]) -> list[MatchRow]:
    """These matches of the subscriber, as they are now (`/more`: the rows an earlier digest was built from)."""
    if not match_ids:
        return []
    query = _query([subscriber_id]).where(m.Match.id.in_([int(i) for i in match_ids]))
    return _rows((await session.execute(query)).all())


async def matches_posted_between(
    session: AsyncSession, subscriber_id: int, since: datetime | None, until: datetime
) -> list[MatchRow]:
    """Matches on posts dated in (since, until]: the weekly overview and the preview (a muted rule's
    matches are left out)."""
    query = _query([subscriber_id]).where(m.Post.date <= until, m.Rule.delivery != "muted")
    if since is not None:
        query = query.where(m.Post.date > since)
    return _rows((await session.execute(query)).all())


@dataclass(frozen=True, slots=True)
class TimelineFilter:
    """What the web view's timeline shows: one subscriber's matches, optionally of one rule, on one
    channel, on posts dated in [since, until)."""

    subscriber_id: int
    rule_id: int | None = None
    channel_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None


def _filtered(query: Select[tuple[object, ...]], f: TimelineFilter) -> Select[tuple[object, ...]]:
    if f.rule_id is not None:
        query = query.where(m.Match.rule_id == f.rule_id)
    if f.channel_id is not None:  # written into the statement: PostgreSQL plans it for this channel
        query = query.where(m.Post.channel_id == sa.bindparam("channel", f.channel_id, literal_execute=True))
    if f.since is not None:
        query = query.where(m.Post.date >= f.since)
    if f.until is not None:
        query = query.where(m.Post.date < f.until)
    return query


async def matches_page(
    session: AsyncSession, f: TimelineFilter, *, before: tuple[datetime, int] | None = None, limit: int = 20,
    rule_ids: Sequence[int] | None = None,
) -> tuple[list[MatchRow], tuple[datetime, int] | None]:
    """One page of matched posts, newest first, with every rule of the subscriber that matched each
    (deleted posts too: the page marks them), and the key of the next page (None: the last one).
    ``rule_ids``: the subscriber's rules when the caller has read them already (else read here).

    Keyset paging on (post date, post id), through the post's date and channel copied into each
    match (migration 0027): each rule gives its newest `limit + 1` posts after the key, one backward
    range of the index (rule, post date, post id), or (rule, channel, post date, post id) for one
    channel; the page is the newest `limit` of their union. A page costs the same however deep it
    is and however many posts or matches there are (about `limit + 1` index entries a rule), and it
    is one statement: the keys and the page's rows together."""
    if rule_ids is None:
        rule_ids = list(await session.scalars(select(m.Rule.id).where(m.Rule.subscriber_id == f.subscriber_id)))
    if f.rule_id is not None:
        rule_ids = [f.rule_id] if f.rule_id in rule_ids else []
    if not rule_ids:
        return [], None
    # channels left out: removed ones, and those the subscriber unfollowed
    excluded = select(m.Channel.id).where(m.Channel.status == "removed").union(
        select(m.Subscription.channel_id).where(m.Subscription.subscriber_id == f.subscriber_id,
                                                m.Subscription.following.is_(False)))
    per_rule = []
    for rule_id in sorted(set(rule_ids)):
        q = select(m.Match.post_date.label("post_date"), m.Match.post_id.label("post_id")).where(
            m.Match.rule_id == rule_id, m.Match.post_channel_id.not_in(excluded))
        if f.channel_id is not None:
            q = q.where(m.Match.post_channel_id == f.channel_id)
        if f.since is not None:
            q = q.where(m.Match.post_date >= f.since)
        if f.until is not None:
            q = q.where(m.Match.post_date < f.until)
        if before is not None:  # the range ends at the key's date; at that date, below its post id
            q = q.where(m.Match.post_date <= before[0],
                        sa.or_(m.Match.post_date < before[0], m.Match.post_id < before[1]))
        newest_of_rule = q.order_by(m.Match.post_date.desc(), m.Match.post_id.desc()).limit(limit + 1).subquery()
        per_rule.append(select(newest_of_rule.c.post_date, newest_of_rule.c.post_id))
    merged = (per_rule[0] if len(per_rule) == 1 else sa.union_all(*per_rule)).subquery()
    newest = (select(merged.c.post_date, merged.c.post_id).distinct()
              .order_by(merged.c.post_date.desc(), merged.c.post_id.desc()).limit(limit + 1).subquery())
    query = _filtered(_query([f.subscriber_id], deleted=True), f).where(m.Post.id.in_(select(newest.c.post_id)))
    rows = _rows((await session.execute(query)).all())
    keys = list(dict.fromkeys((r.date, r.post_id) for r in rows))  # newest first: the query's order
    if len(keys) <= limit:
        return rows, None
    last = keys[limit - 1]
    return [r for r in rows if (r.date, r.post_id) >= last], last
