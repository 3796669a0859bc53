"""The matches aggregate: which rule found which post, with the highlights.

Functions over one session; they never commit (`Database.uow()` does). Matching is
`bot/matching/`'s; the pipeline, the topic worker and `/watch` store what it found through these.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import domain
from bot.storage import models as m
from bot.storage.repos import insert_ignore
from bot.storage.types import sqlite_datetime
from bot.storage.wakeups import MATCHES, notify

CHUNK = 5000  # rows a statement


async def insert(session: AsyncSession, hits: Sequence[tuple[domain.RuleMatch, int]]) -> list[int]:
    """Store (match, post id) pairs: the ids of the new matches. A match already there is a post
    matched again after an edit: its highlights are replaced (they point into the new text). New
    matches wake the schedulers listening on PostgreSQL (`bot/storage/wakeups.py`) at commit.

    Multi-row INSERT ... ON CONFLICT DO NOTHING RETURNING, a few thousand rows a statement. Every
    value is an integer we made (rule id, post id, highlight offsets) or our own timestamp, so the
    rows are written as literals: this spares SQLAlchemy's per-parameter processing (a JSON encoding
    per match among it), which was most of the cost of a batch with many matches.
    """
    conn = await session.connection()
    now = datetime.now(UTC)
    # SQLAlchemy's SQLite DATETIME text (UTC, no zone); on PostgreSQL a timestamptz with its +00:00
    stamp = sqlite_datetime(now) if conn.dialect.name == "sqlite" else now.isoformat(sep=" ")
    new: list[int] = []
    for start in range(0, len(hits), CHUNK):
        chunk = hits[start : start + CHUNK]
        values = ",".join(
            f"({int(hit.rule_id):d},{int(post_id):d},'{spans_literal(hit.highlights)}','{stamp}')"
            for hit, post_id in chunk
        )
        result = await conn.exec_driver_sql(
            "INSERT INTO matches (rule_id, post_id, highlights, matched_at) VALUES "
            + values
            + " ON CONFLICT (rule_id, post_id) DO NOTHING RETURNING id, rule_id, post_id"
        )
        rows: list[Any] = list(result.fetchall())
        new.extend(int(r[0]) for r in rows)
        inserted = {(int(r[1]), int(r[2])) for r in rows}
        for hit, post_id in chunk:
            if (int(hit.rule_id), int(post_id)) not in inserted:
                await conn.exec_driver_sql(
                    f"UPDATE matches SET highlights = '{spans_literal(hit.highlights)}' "
                    f"WHERE rule_id = {int(hit.rule_id):d} AND post_id = {int(post_id):d}")
    if new:  # the schedulers of other processes build the instant alerts when this commits
        await notify(session, MATCHES)
    return new


def spans_literal(highlights: tuple[tuple[int, int], ...]) -> str:
    """``[[start,end],...]`` for a SQL literal, from the C-level repr: integers only, so never a
    quote in it (anything else is refused)."""
    encoded = str(list(highlights)).replace("(", "[").replace(")", "]").replace(" ", "")
    if "'" in encoded or '"' in encoded:
        raise TypeError(f"highlights must be integer pairs, not {highlights!r}")
    return encoded


async def record_past(
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


async def delete_of_rule(session: AsyncSession, rule_id: int) -> None:
    """Forget every match of the rule (its text changed: what it found no longer holds)."""
    await session.execute(delete(m.Match).where(m.Match.rule_id == rule_id))


async def between(
    session: AsyncSession, subscriber_id: int, since: datetime | None, until: datetime
) -> list[tuple[m.Match, m.Rule, m.Post, m.Channel]]:
    """A subscriber's matches on posts dated in (since, until], on channels it follows, newest first."""
    unfollowed = select(m.Subscription.channel_id).where(
        m.Subscription.subscriber_id == subscriber_id, m.Subscription.following.is_(False)
    )
    query = (
        select(m.Match, m.Rule, m.Post, m.Channel)
        .join(m.Rule, m.Rule.id == m.Match.rule_id)
        .join(m.Post, m.Post.id == m.Match.post_id)
        .join(m.Channel, m.Channel.id == m.Post.channel_id)
        .where(m.Rule.subscriber_id == subscriber_id, m.Post.date <= until, m.Post.deleted.is_(False))
        .where(m.Post.channel_id.not_in(unfollowed))
        .order_by(m.Post.date.desc(), m.Post.id.desc())
    )
    if since is not None:
        query = query.where(m.Post.date > since)
    rows = await session.execute(query)
    return [(r[0], r[1], r[2], r[3]) for r in rows]
