"""Per-rule delivery: which stream a rule's matches travel in, and when each stream is due.

A rule's delivery is the chat's frequency ('' in `rules.delivery`) or its own: instant, daily,
weekly or muted. A chat therefore has up to three streams (instant alerts, a daily and a weekly
digest), all at the chat's digest time and in its timezone; the stream of the chat's own frequency
is scheduled as before (`subscribers.last_digest_at`), the others here.

Every rule has its own watermark, `rules.delivered_until`: its matches found after it are unsent.
A digest takes the unsent matches of the rules in its stream and moves their watermarks, in the
transaction that queues it. A rule whose delivery changes between two ticks takes its unsent
matches to its new stream: none is sent twice, none is lost. A muted rule's matches are sent in no
stream (nor in /digest week); unmuting moves its watermark to that moment: what matched while it
was muted stays unsent, and /search and /export still show it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import Delivery, Frequency
from bot.storage import models as m

STREAMS = (Frequency.INSTANT, Frequency.DAILY, Frequency.WEEKLY)


@dataclass(frozen=True, slots=True)
class RuleState:
    rule_id: int
    delivery: str
    covered: datetime  # its watermark, or when it was made


def stream_of(delivery: str, frequency: str) -> str:
    """The stream a rule's matches go to: its own delivery, or the chat's frequency."""
    return delivery or frequency


def unsent() -> ColumnElement[bool]:
    """A match (joined with its rule) found after the rule's watermark."""
    return or_(m.Rule.delivered_until.is_(None), m.Match.matched_at > m.Rule.delivered_until)


def in_instant_stream() -> ColumnElement[bool]:
    """A rule (joined with its subscriber) whose matches go as instant alerts."""
    return or_(
        m.Rule.delivery == Delivery.INSTANT,
        and_(m.Rule.delivery == Delivery.DEFAULT, m.Subscriber.frequency == Frequency.INSTANT),
    )


async def rules_by_subscriber(session: AsyncSession, subscriber_ids: Sequence[int]) -> dict[int, list[RuleState]]:
    rows = await session.execute(
        select(m.Rule.subscriber_id, m.Rule.id, m.Rule.delivery,
               func.coalesce(m.Rule.delivered_until, m.Rule.created_at))
        .where(m.Rule.subscriber_id.in_(list(subscriber_ids))).order_by(m.Rule.id)
    )
    out: dict[int, list[RuleState]] = defaultdict(list)
    for sub_id, rule_id, delivery, covered in rows:
        out[int(sub_id)].append(RuleState(int(rule_id), str(delivery or ""), _aware(covered)))
    return out


def partition(rules: Sequence[RuleState], frequency: str) -> dict[str, list[RuleState]]:
    """The chat's rules by stream (muted ones under 'muted')."""
    out: dict[str, list[RuleState]] = defaultdict(list)
    for rule in rules:
        out[stream_of(rule.delivery, frequency)].append(rule)
    return out


async def instant_ready(
    session: AsyncSession, now: datetime, gap: timedelta, subscriber_ids: Sequence[int] | None = None
) -> tuple[list[int], datetime | None]:
    """Subscribers with unsent matches in their instant stream, whose last alert is older than `gap`,
    and the earliest moment one held back by `gap` may go (None: none held)."""
    fresh = exists().where(
        m.Rule.subscriber_id == m.Subscriber.id, m.Match.rule_id == m.Rule.id, in_instant_stream(), unsent(),
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


def _aware(value: object) -> datetime:
    """A datetime from an aggregate or coalesce (no column type to convert it): aware UTC."""
    from datetime import UTC

    if isinstance(value, str):  # SQLite hands back the stored text
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
