"""The digests aggregate: a subscriber's matches as a digest reads them, the digest rows, the
rules' and subscribers' delivery watermarks, and the scheduler's claims on due subscribers.

Functions over one session; they never commit (`Database.uow()` does). What a digest holds, when
it is due and how it is built are `bot/digest/`'s; these are its queries. The dialect branches: a
subscriber is locked (`lock_subscriber`) and due subscribers are claimed (`claim_due`,
`claim_subscribers`) FOR UPDATE [SKIP LOCKED] on PostgreSQL; on SQLite BEGIN IMMEDIATE already
serialises writers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Select, and_, delete, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import Delivery, DigestState, Frequency
from bot.storage import models as m
from bot.storage.repos import insert_ignore


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else "sqlite"


# a subscriber's matches, as digests, the preview and the web view read them

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
    """Per rule, its matches found after its watermark (`rules.delivered_until`) and by `until`,
    newest post first: what a digest sends, for many rules in one query (the scheduler's batches).
    Windowing on when a match was found, not on the post's date, puts every match in exactly one
    digest, also a post that arrived late through gap filling; a new rule's matches on posts stored
    before it (`past`) are not sent.

    On PostgreSQL each rule's unsent matches are one range of the index (rule, matched_at)
    (migration 0029), read per rule: a batch costs the same however many matches, rules and
    subscribers the database holds (planned as one join, a batch of 4,000 rules read every match
    and every rule once the tables were large)."""
    if not rule_ids:
        return {}
    if _dialect(session) == "postgresql":
        query = _unsent_per_rule(sorted(set(rule_ids)), until)
    else:
        unsent = sa.or_(m.Rule.delivered_until.is_(None), m.Match.matched_at > m.Rule.delivered_until)
        query = _query(None).where(
            m.Match.rule_id.in_(list(rule_ids)), m.Match.matched_at <= until, unsent, m.Match.past.is_(False)
        )
    out: dict[int, list[MatchRow]] = {}
    for row in _rows((await session.execute(query)).all()):
        out.setdefault(row.rule_id, []).append(row)
    for rows in out.values():
        rows.sort(key=lambda r: (r.date, r.post_id), reverse=True)
    return out


def _unsent_per_rule(rule_ids: list[int], until: datetime) -> Select[tuple[object, ...]]:
    """`unsent_matches` on PostgreSQL: the rules by primary key, and for each a LATERAL subquery of
    its unsent matches in the order of the index (rule, matched_at). Its ORDER BY keeps the planner
    from merging the subquery into the join, so the matches are read rule by rule, never by a scan
    of the whole table (which the planner chose for a batch's 4,000 rules)."""
    rule = m.Rule.__table__.alias("r")
    match = m.Match.__table__.alias("mt")
    unsent = (
        select(match.c.id, match.c.rule_id, match.c.post_id, match.c.highlights)
        # both ends of the range in the index condition: a rule's matches sent before are not read
        .where(match.c.rule_id == rule.c.id, match.c.matched_at <= until, match.c.past.is_(False),
               match.c.matched_at > func.coalesce(rule.c.delivered_until, sa.literal_column("'-infinity'::timestamptz")))
        .order_by(match.c.matched_at)
        .lateral("unsent")
    )
    unfollowed = exists().where(
        m.Subscription.subscriber_id == rule.c.subscriber_id, m.Subscription.channel_id == m.Post.channel_id,
        m.Subscription.following.is_(False),
    )
    return (
        select(unsent.c.rule_id, rule.c.name, rule.c.source, unsent.c.post_id, m.Channel.id, m.Channel.telegram_id,
               m.Channel.username, m.Channel.title, m.Post.message_id, m.Post.date, m.Post.text, unsent.c.highlights,
               m.Post.views, m.Post.forward_channel_id, m.Post.forward_message_id, rule.c.subscriber_id, unsent.c.id,
               m.Post.deleted)
        .select_from(rule)
        .join(unsent, sa.true())
        .join(m.Post, m.Post.id == unsent.c.post_id)
        .join(m.Channel, m.Channel.id == m.Post.channel_id)
        # one array parameter: the same statement (and plan) for every batch, however many rules
        .where(rule.c.id == sa.any_(sa.bindparam("rule_ids", rule_ids, type_=sa.ARRAY(sa.BigInteger))),
               m.Channel.status != "removed", m.Post.deleted.is_(False), ~unfollowed)
    )


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
    is one statement: the keys and the page's rows together (after one for the channels left out)."""
    if rule_ids is None:
        rule_ids = list(await session.scalars(select(m.Rule.id).where(m.Rule.subscriber_id == f.subscriber_id)))
    if f.rule_id is not None:
        rule_ids = [f.rule_id] if f.rule_id in rule_ids else []
    if not rule_ids:
        return [], None
    # channels left out: removed ones, and those the subscriber unfollowed (a few ids, read once
    # rather than in each rule's part of the statement)
    excluded = sorted(set(await session.scalars(
        select(m.Channel.id).where(m.Channel.status == "removed").union(
            select(m.Subscription.channel_id).where(m.Subscription.subscriber_id == f.subscriber_id,
                                                    m.Subscription.following.is_(False))))))
    if f.channel_id is not None and f.channel_id in excluded:
        return [], None
    per_rule = []
    for rule_id in sorted(set(rule_ids)):
        q = select(m.Match.post_date.label("post_date"), m.Match.post_id.label("post_id")).where(
            m.Match.rule_id == rule_id)
        if f.channel_id is not None:
            q = q.where(m.Match.post_channel_id == f.channel_id)
        elif excluded:
            q = q.where(m.Match.post_channel_id.not_in(excluded))
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


# the streams' watermarks (bot/digest/streams.py)

@dataclass(frozen=True, slots=True)
class RuleState:
    rule_id: int
    delivery: str
    covered: datetime  # its watermark, or when it was made


def _unsent() -> ColumnElement[bool]:
    """A match (joined with its rule) found after the rule's watermark."""
    return or_(m.Rule.delivered_until.is_(None), m.Match.matched_at > m.Rule.delivered_until)


def _in_instant_stream() -> ColumnElement[bool]:
    """A rule (joined with its subscriber) whose matches go as instant alerts."""
    return or_(
        m.Rule.delivery == Delivery.INSTANT,
        and_(m.Rule.delivery == Delivery.DEFAULT, m.Subscriber.frequency == Frequency.INSTANT),
    )


async def rules_by_subscriber(session: AsyncSession, subscriber_ids: Sequence[int]) -> dict[int, list[RuleState]]:
    """Per subscriber, its rules with their delivery and what they cover up to, by id."""
    rows = await session.execute(
        select(m.Rule.subscriber_id, m.Rule.id, m.Rule.delivery,
               func.coalesce(m.Rule.delivered_until, m.Rule.created_at))
        .where(m.Rule.subscriber_id.in_(list(subscriber_ids))).order_by(m.Rule.id)
    )
    out: dict[int, list[RuleState]] = defaultdict(list)
    for sub_id, rule_id, delivery, covered in rows:
        out[int(sub_id)].append(RuleState(int(rule_id), str(delivery or ""), _aware(covered)))
    return out


async def instant_ready(
    session: AsyncSession, now: datetime, gap: timedelta, subscriber_ids: Sequence[int] | None = None
) -> tuple[list[int], datetime | None]:
    """Subscribers with unsent matches in their instant stream, whose last alert is older than `gap`,
    and the earliest moment one held back by `gap` may go (None: none held)."""
    fresh = exists().where(
        m.Rule.subscriber_id == m.Subscriber.id, m.Match.rule_id == m.Rule.id, _in_instant_stream(), _unsent(),
        m.Match.matched_at <= now, m.Match.past.is_(False),
    )
    last_alert = (
        select(func.max(m.Digest.period_end))
        .where(m.Digest.subscriber_id == m.Subscriber.id, m.Digest.kind == "instant")
        .scalar_subquery()
    )
    query = select(m.Subscriber.id, last_alert).where(
        m.Subscriber.active.is_(True), m.Subscriber.paused.is_(False), fresh
    )
    if subscriber_ids is not None:
        query = query.where(m.Subscriber.id.in_(list(subscriber_ids)))
    rows = [(int(sub_id), _aware(last) if last is not None else None) for sub_id, last in await session.execute(query)]
    due = [sub_id for sub_id, last in rows if last is None or last <= now - gap]
    held = [last + gap for _, last in rows if last is not None and last > now - gap]
    return due, min(held) if held else None


async def instant_candidates(session: AsyncSession, since: datetime, now: datetime) -> list[int]:
    """The subscribers with an unsent instant-stream match stored after `since` (by `matched_at`, so
    read from ix_matches_matched_at: the instant loop's look costs what was stored since, not the
    whole table as `instant_ready` without ids does)."""
    found = await session.scalars(
        select(m.Rule.subscriber_id).distinct()
        .join(m.Match, m.Match.rule_id == m.Rule.id)
        .join(m.Subscriber, m.Subscriber.id == m.Rule.subscriber_id)
        .where(m.Match.matched_at > since, m.Match.matched_at <= now, m.Match.past.is_(False),
               _in_instant_stream(), _unsent(), m.Subscriber.active.is_(True), m.Subscriber.paused.is_(False))
    )
    return [int(sub_id) for sub_id in found]


def _aware(value: object) -> datetime:
    """A datetime from an aggregate or coalesce (no column type to convert it): aware UTC."""
    if isinstance(value, str):  # SQLite hands back the stored text
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


async def unmuted_rules(session: AsyncSession, subscriber_ids: Sequence[int]) -> dict[int, list[int]]:
    """Per subscriber, the ids of its rules that are not muted, by id."""
    unmuted: dict[int, list[int]] = {}
    if not subscriber_ids:
        return unmuted
    rows = await session.execute(
        select(m.Rule.subscriber_id, m.Rule.id)
        .where(m.Rule.subscriber_id.in_(list(subscriber_ids)), m.Rule.delivery != Delivery.MUTED).order_by(m.Rule.id)
    )
    for sub_id, rule_id in rows:
        unmuted.setdefault(int(sub_id), []).append(int(rule_id))
    return unmuted


async def advance_rules(session: AsyncSession, rule_ids: Sequence[int], until: datetime) -> None:
    """These rules' matches up to ``until`` are delivered (a watermark never moves back)."""
    if rule_ids:
        await session.execute(update(m.Rule).where(
            m.Rule.id.in_(list(rule_ids)), or_(m.Rule.delivered_until.is_(None), m.Rule.delivered_until < until),
        ).values(delivered_until=until))


async def set_watermarks(session: AsyncSession, marks: Sequence[dict[str, object]]) -> None:
    """Subscribers' `last_digest_at`: rows of {"id", "last_digest_at"}."""
    if marks:
        await session.execute(update(m.Subscriber), list(marks))


_PAUSED = (m.Subscriber.paused.is_(True), m.Subscriber.active.is_(True))


async def any_paused(session: AsyncSession) -> bool:
    """Whether an active subscriber is paused."""
    return bool(await session.scalar(select(exists().where(*_PAUSED))))


async def skip_paused(session: AsyncSession, now: datetime) -> None:
    """The paused subscribers' watermarks, and their rules', move to ``now``: what matched while they
    were paused is never sent."""
    await session.execute(update(m.Subscriber).where(*_PAUSED).values(last_digest_at=now))
    await session.execute(update(m.Rule).where(
        m.Rule.subscriber_id.in_(select(m.Subscriber.id).where(*_PAUSED))).values(delivered_until=now))


# the digest rows

async def lock_subscriber(session: AsyncSession, chat_id: int) -> m.Subscriber | None:
    """The subscriber row, locked for this transaction on PostgreSQL (SQLite's BEGIN IMMEDIATE
    already serialises writers), so the scheduler and `/digest` never build the same window twice."""
    query = select(m.Subscriber).where(m.Subscriber.chat_id == chat_id)
    if _dialect(session) == "postgresql":
        query = query.with_for_update()
    return await session.scalar(query)


async def add_digests(session: AsyncSession, rows: Sequence[dict[str, object]]) -> dict[tuple[int, str], int]:
    """Insert digest rows; one whose (subscriber, period key) exists is left alone. Returns
    (subscriber id, period key) -> id of the rows inserted now."""
    inserted = (await session.execute(
        insert_ignore(session, m.Digest, ["subscriber_id", "period_key"]).returning(
            m.Digest.id, m.Digest.subscriber_id, m.Digest.period_key),
        list(rows),
    )).all()
    return {(int(sub_id), str(key)): int(digest_id) for digest_id, sub_id, key in inserted}


async def update_digests(session: AsyncSession, rows: Sequence[dict[str, object]]) -> None:
    """Digests' state, items and match ids: rows of {"id", "state", "items", "match_ids"}."""
    if rows:
        await session.execute(update(m.Digest), list(rows))


async def delete_digest(session: AsyncSession, digest_id: int) -> None:
    await session.execute(delete(m.Digest).where(m.Digest.id == digest_id))


async def latest_pageable(session: AsyncSession, subscriber_id: int, digest_id: int | None = None) -> m.Digest | None:
    """The subscriber's latest digest that is not empty nor itself a page (or digest ``digest_id``,
    if it is such a digest of the subscriber)."""
    query = select(m.Digest).where(m.Digest.subscriber_id == subscriber_id, m.Digest.kind != "more",
                                   m.Digest.state != DigestState.EMPTY)
    if digest_id is not None:
        query = query.where(m.Digest.id == digest_id)
    return await session.scalar(query.order_by(m.Digest.id.desc()).limit(1))


async def pages_built(session: AsyncSession, subscriber_id: int, digest_id: int) -> int:
    """How many pages (`more:<digest id>:<n>`) of this digest were built."""
    return int(await session.scalar(select(func.count()).select_from(m.Digest).where(
        m.Digest.subscriber_id == subscriber_id, m.Digest.period_key.startswith(f"more:{digest_id}:"))) or 0)


@dataclass(frozen=True, slots=True)
class Route:
    """A notification target as the digests need it (bot/notify keeps the rest)."""

    id: int
    rule_id: int | None  # None: every rule
    only: bool  # the rule (or every rule) no longer goes to Telegram
    body_limit: int


async def routes(session: AsyncSession, subscriber_ids: Sequence[int]) -> dict[int, list[Route]]:
    """Per subscriber, its notification targets, by id."""
    if not subscriber_ids:
        return {}
    found: dict[int, list[Route]] = {}
    rows = await session.execute(
        select(m.NotifyTarget.subscriber_id, m.NotifyTarget.id, m.NotifyTarget.rule_id, m.NotifyTarget.mode,
               m.NotifyTarget.body_limit)
        .where(m.NotifyTarget.subscriber_id.in_(sorted(set(subscriber_ids)))).order_by(m.NotifyTarget.id))
    for sub_id, target_id, rule_id, mode, limit in rows:
        found.setdefault(int(sub_id), []).append(Route(int(target_id), rule_id, mode == "only", int(limit)))
    return found


# the scheduler's claims (bot/digest/scheduler.py)

async def claim_due(session: AsyncSession, now: datetime, limit: int, *, only: int | None = None,
                    skip: Collection[int] = ()) -> list[m.Subscriber]:
    """Up to ``limit`` active, unpaused subscribers whose `next_due_at` has come (or is unknown):
    subscriber ``only``, else any but those in ``skip``. On PostgreSQL they are locked for the
    transaction, skipping those another transaction holds."""
    query = select(m.Subscriber).where(
        m.Subscriber.active.is_(True), m.Subscriber.paused.is_(False),
        or_(m.Subscriber.next_due_at.is_(None), m.Subscriber.next_due_at <= now),
    ).limit(limit)
    if only is not None:
        query = query.where(m.Subscriber.id == only)
    elif skip:
        query = query.where(m.Subscriber.id.not_in(list(skip)))
    if _dialect(session) == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list((await session.scalars(query)).all())


async def claim_subscribers(session: AsyncSession, subscriber_ids: Sequence[int]) -> list[m.Subscriber]:
    """These subscribers, by id; on PostgreSQL locked, skipping those another transaction holds."""
    query = select(m.Subscriber).where(m.Subscriber.id.in_(list(subscriber_ids))).order_by(m.Subscriber.id)
    if _dialect(session) == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list((await session.scalars(query)).all())


async def set_next_due(session: AsyncSession, next_at: dict[int, datetime]) -> None:
    """Subscriber id -> when its next scheduled digest falls due."""
    if next_at:
        await session.execute(update(m.Subscriber), [{"id": i, "next_due_at": at} for i, at in next_at.items()])


async def newest_match(session: AsyncSession) -> int:
    """The highest match id (0: none), answered from the primary key."""
    return int(await session.scalar(select(func.max(m.Match.id))) or 0)


async def latest_scheduled_keys(session: AsyncSession, subscriber_ids: Sequence[int] | None = None) -> list[tuple[int, str]]:
    """Per subscriber and kind (daily, weekly), the greatest period key of its scheduled digests."""
    query = (
        select(m.Digest.subscriber_id, func.max(m.Digest.period_key))
        .where(m.Digest.kind.in_(["daily", "weekly"]))
        .group_by(m.Digest.subscriber_id, m.Digest.kind)
    )
    if subscriber_ids is not None:
        query = query.where(m.Digest.subscriber_id.in_(list(subscriber_ids)))
    return [(int(sub_id), str(key)) for sub_id, key in await session.execute(query)]


# the preview (bot/digest/preview.py)

async def language_and_zone(session: AsyncSession, chat_id: int) -> tuple[str, str] | None:
    """The stored language and timezone of this chat's subscriber, if any."""
    found = (await session.execute(
        select(m.Subscriber.language, m.Subscriber.timezone).where(m.Subscriber.chat_id == chat_id)
    )).first()
    return (found[0], str(found[1])) if found is not None else None


async def posts_between(session: AsyncSession, since: datetime, until: datetime) -> list[tuple[m.Post, m.Channel]]:
    """Posts dated in (since, until] on channels still watched, not deleted, newest first."""
    query = (
        select(m.Post, m.Channel)
        .join(m.Channel, m.Channel.id == m.Post.channel_id)
        .where(m.Post.date > since, m.Post.date <= until, m.Post.deleted.is_(False), m.Channel.status != "removed")
        .order_by(m.Post.date.desc(), m.Post.id.desc())
    )
    return [(post, channel) for post, channel in await session.execute(query)]
