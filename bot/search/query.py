"""Search over the stored posts: the full-text index finds candidates, the real matcher confirms.

Used by the bot's /search and a new rule's dry run ("it would have matched N posts in the last 7
days"), and by `tgmon search`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import MatchingSettings
from bot.domain import Rule, post_link
from bot.matching.matcher import CompiledMatcher, compile_rules
from bot.matching.rules import parse_rule
from bot.search.conditions import condition, exact_by_index, fts5_query, tsquery
from bot.search.fts import PG_VECTOR
from bot.storage import models as m
from bot.storage.database import Database

_BATCH = 500
MAX_CONFIRM = 2_000  # candidates read and matched at most; beyond that the total is estimated
MATCH_BUDGET = 1.5  # seconds of matching one search may take (words take ~0.2 s for MAX_CONFIRM posts)
MAX_PENDING = 2_000  # newest posts not indexed yet read as candidates; a larger backlog makes the total inexact


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
    closeness: float | None = None  # a topic rule's: how close the post is to its topic (0..1)


@dataclass(frozen=True, slots=True)
class SearchResult:
    total: int  # posts that match (an estimate when `exact` is False)
    posts: list[FoundPost]  # newest first, at most `limit`
    exact: bool = True  # False: more candidates than could be read, total extrapolated from those read
    near: list[FoundPost] = field(default_factory=list)  # a topic rule's closest posts that missed it


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
    max_confirm: int = MAX_CONFIRM,
    before: tuple[datetime, int] | None = None,
) -> SearchResult:
    """Posts matching ``rule`` dated in [since, until], newest first. Raises RuleError.

    ``before`` (date, post id) of the last post of a previous page: only posts after it in this
    order (a keyset page; the total counts those too)."""
    settings = settings or MatchingSettings()
    parsed = parse_rule(rule, max_length=settings.max_rule_length, max_terms=settings.max_terms)
    matcher = compile_rules([Rule(0, rule)], settings=settings)
    scope = _scope(channels, parsed.channels)
    if parsed.topic_count:  # found through the vector index (bot/search/topic_search.py)
        from bot.search.topic_search import search_topics

        return await search_topics(db, rule, parsed, since=since, until=until, limit=limit, scope=scope,
                                   settings=settings, max_confirm=max_confirm)
    cond = condition(parsed)

    query = (
        sa.select(m.Post.id, m.Post.date)
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
    if before is not None:
        query = query.where(sa.or_(m.Post.date < before[0], sa.and_(m.Post.date == before[0], m.Post.id < before[1])))
    base = query  # the filters without the index condition (for the posts not indexed yet)
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
    found: list[FoundPost] = []
    # one snapshot: a post the indexer writes meanwhile is either pending or indexed, never both or neither
    async with db.uow(read_only=True, snapshot=True) as session:
        # posts stored but not in the index yet (the indexer runs behind ingestion) are candidates
        # too: the newest MAX_PENDING of them, found through their partial index (never a scan)
        waiting: list[Any] = []
        backlog = False
        if cond is not None:
            pending = list(await session.scalars(
                sa.select(m.Post.id).where(m.Post.lemma_text.is_(None)).order_by(m.Post.id.desc()).limit(MAX_PENDING + 1)
            ))
            backlog = len(pending) > MAX_PENDING
            if pending:
                waiting = list(await session.execute(base.where(m.Post.id.in_(pending[:MAX_PENDING])).limit(max_confirm + 1)))
        if cond is not None and exact_by_index(parsed) and not waiting and not backlog:
            # the index condition is the rule itself: count in the index, confirm only what is shown
            total = int(await session.scalar(sa.select(sa.func.count()).select_from(query.order_by(None).subquery())) or 0)
            offset, page = 0, max(2 * limit, 100)
            while len(found) < limit and offset < total:
                ids = list(await session.scalars(query.offset(offset).limit(page)))
                offset += page
                await _confirm(session, matcher, ids, found, limit)
            return SearchResult(total, found)
        rows = list(await session.execute(query.limit(max_confirm + 1)))
        if waiting:  # disjoint within the snapshot; an id is still taken once, whatever happens
            listed = {r.id for r in rows}
            rows = sorted([*rows, *(r for r in waiting if r.id not in listed)], key=lambda r: (r.date, r.id),
                          reverse=True)[: max_confirm + 1]
        candidates = [r.id for r in rows]
        confirmed, checked = await _confirm(session, matcher, candidates[:max_confirm], found, limit)
    if checked < min(len(candidates), max_confirm):  # the matching budget ran out: estimate from those read
        return SearchResult(round(confirmed * len(candidates) / max(checked, 1)), found, exact=False)
    if len(candidates) <= max_confirm:
        return SearchResult(confirmed, found, exact=not backlog)
    # more candidates than we read: extrapolate from those read, and count the rest in the index
    rest = await _count(db, query) + len(waiting)
    return SearchResult(round(confirmed * rest / max(checked, 1)), found, exact=False)


async def _count(db: Database, query: sa.Select[int, datetime]) -> int:
    async with db.uow(read_only=True) as session:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(query.order_by(None).subquery())) or 0)


async def _confirm(
    session: AsyncSession, matcher: CompiledMatcher, ids: list[int], found: list[FoundPost], limit: int
) -> tuple[int, int]:
    """Match the candidates' texts; append the confirmed ones (up to ``limit``) to ``found``.
    Returns (confirmed, candidates read): fewer than ``ids`` when matching took MATCH_BUDGET seconds
    (costly /patterns/ over thousands of posts must not hold the event loop for everyone)."""
    confirmed = 0
    spent = 0.0  # seconds in the matcher (the database's time does not count)
    for start in range(0, len(ids), _BATCH):
        batch = ids[start : start + _BATCH]
        rows = await session.execute(
            sa.select(m.Post.id, m.Post.message_id, m.Post.date, m.Post.text,
                      m.Channel.username, m.Channel.title, m.Channel.telegram_id)
            .join(m.Channel, m.Channel.id == m.Post.channel_id)
            .where(m.Post.id.in_(batch))
        )
        by_id = {r.id: r for r in rows}
        for n, pid in enumerate(batch):
            if spent > MATCH_BUDGET:
                return confirmed, start + n
            row = by_id[pid]
            began = time.perf_counter()
            hits = matcher.match(row.text or "", row.username or str(row.telegram_id))
            spent += time.perf_counter() - began
            if not hits:
                continue
            confirmed += 1
            if len(found) < limit:
                found.append(FoundPost(
                    row.id, row.username, row.title or "", row.message_id, row.date, row.text,
                    hits[0].highlights, post_link(row.username, row.telegram_id, row.message_id),
                ))
    return confirmed, len(ids)
