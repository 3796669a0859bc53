"""Search over the stored posts: the full-text index finds candidates, the real matcher confirms.

Used by the bot's /search and a new rule's dry run ("it would have matched N posts in the last 7
days"), and by `tgmon search`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from bot.config import MatchingSettings
from bot.domain import Rule, post_link
from bot.matching.fts import PG_VECTOR
from bot.matching.index import condition, exact_by_index, fts5_query, tsquery
from bot.matching.matcher import compile_rules
from bot.matching.rules import parse_rule
from bot.storage import models as m
from bot.storage.database import Database

_BATCH = 500
MAX_CONFIRM = 20_000  # candidates read and matched at most; beyond that the total is estimated


@dataclass(frozen=True, slots=True)
class FoundPost:
    post_id: int
    channel_username: str | None
    channel_title: str
    message_id: int
    date: datetime
    text: str
    highlights: tuple[tuple[int, int], ...]
    link: str


@dataclass(frozen=True, slots=True)
class SearchResult:
    total: int  # posts that match (an estimate when `exact` is False)
    posts: list[FoundPost]  # newest first, at most `limit`
    exact: bool = True  # False: more candidates than MAX_CONFIRM, total extrapolated from those read


def _scope(asked: Sequence[str], own: Sequence[str]) -> set[str]:
    a = {c.lower().lstrip("@") for c in asked if c}
    b = set(own)
    return a & b if a and b else a | b


async def search_posts(
    db: Database,
    rule: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 20,
    channels: Sequence[str] = (),
    settings: MatchingSettings | None = None,
) -> SearchResult:
    """Posts matching ``rule`` dated in [since, until], newest first. Raises RuleError."""
    settings = settings or MatchingSettings()
    parsed = parse_rule(rule, max_length=settings.max_rule_length, max_terms=settings.max_terms)
    matcher = compile_rules([Rule(0, rule)], settings=settings)
    scope = _scope(channels, parsed.channels)
    cond = condition(parsed)

    query = (
        sa.select(m.Post.id)
        .join(m.Channel, m.Channel.id == m.Post.channel_id)
        .where(m.Post.deleted.is_(False))
        .order_by(m.Post.date.desc(), m.Post.id.desc())
    )
    if since is not None:
        query = query.where(m.Post.date >= since)
    if until is not None:
        query = query.where(m.Post.date <= until)
    if scope:
        ids = [int(c) for c in scope if c.isdigit()]
        query = query.where(sa.or_(m.Channel.username.in_(sorted(scope)), m.Channel.telegram_id.in_(ids)))
    if cond is not None:
        if db.dialect == "sqlite":
            query = query.where(
                sa.text("posts.id IN (SELECT rowid FROM posts_fts WHERE posts_fts MATCH :fts_query)").bindparams(
                    fts_query=fts5_query(cond)
                )
            )
        else:
            query = query.where(
                sa.text(f"{PG_VECTOR} @@ to_tsquery('simple', :ts_query)").bindparams(ts_query=tsquery(cond))
            )
    exact_count = cond is not None and exact_by_index(parsed)
    if cond is None or not exact_count:
        query = query.limit(MAX_CONFIRM + 1)

    async with db.uow(read_only=True) as session:
        candidates = list(await session.scalars(query))
        found: list[FoundPost] = []
        confirmed = checked = 0
        for start in range(0, min(len(candidates), MAX_CONFIRM), _BATCH):
            if exact_count and len(found) >= limit:
                break
            batch = candidates[start : start + _BATCH]
            rows = await session.execute(
                sa.select(m.Post.id, m.Post.message_id, m.Post.date, m.Post.text,
                          m.Channel.username, m.Channel.title, m.Channel.telegram_id)
                .join(m.Channel, m.Channel.id == m.Post.channel_id)
                .where(m.Post.id.in_(batch))
            )
            by_id = {r.id: r for r in rows}
            for pid in batch:
                row = by_id[pid]
                checked += 1
                hits = matcher.match(row.text or "", row.username or str(row.telegram_id))
                if not hits:
                    continue
                confirmed += 1
                if len(found) < limit:
                    found.append(FoundPost(
                        row.id, row.username, row.title or "", row.message_id, row.date, row.text,
                        hits[0].highlights, post_link(row.username, row.telegram_id, row.message_id),
                    ))
    if exact_count:
        return SearchResult(len(candidates), found)
    if len(candidates) <= MAX_CONFIRM:
        return SearchResult(confirmed, found)
    estimate = round(confirmed * len(candidates) / max(checked, 1))
    return SearchResult(estimate, found, exact=False)
