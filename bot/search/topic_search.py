"""Archive search for a rule with a topic term (``~"..."``): the vector index finds candidates, the
matcher confirms them with their stored vectors.

For each topic the rule looks for (not under NOT), the posts nearest to the phrase in the search's
window come from the vector index (bot/search/vectors.py: pgvector, or a scan), down to a little
below the topic's strictness, so the borderline posts are seen too. When the rule can also match by
its keywords alone (``~"..." OR беспилотник``), the newest posts of the window are candidates as
well. Each candidate is confirmed by `CompiledMatcher.match_topics` with its stored vector; a post
not embedded yet is embedded on the spot (a few hundred at most).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from bot.config import MatchingSettings
from bot.domain import Rule, post_link
from bot.matching.errors import RuleError
from bot.matching.matcher import compile_rules
from bot.matching.rules import ParsedRule, evaluate
from bot.matching.topics import language
from bot.search import vectors
from bot.storage import models as m
from bot.storage.database import Database
from bot.storage.types import UTCDateTime

BORDER = 0.25  # closeness below a topic's strictness still read, to show the borderline posts
MAX_EMBED_NOW = 300  # candidates without a vector embedded during a search, at most
WINDOW_FIRST = timedelta(days=7)  # the newest window of a topic search; each next one 4 times as long
WINDOW_GROWTH = 4


def can_match_without_topics(parsed: ParsedRule) -> bool:
    """Whether some post without any of the rule's topics could match it (its keywords alone)."""
    topics = {n for n, term in enumerate(parsed.terms) if term.kind == "topic"}
    others = frozenset(n for n in range(len(parsed.terms)) if n not in topics)
    return evaluate(parsed.expr, others)


async def search_topics(
    db: Database,
    rule: str,
    parsed: ParsedRule,
    *,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    scope: set[str],
    settings: MatchingSettings,
    max_confirm: int,
    before: tuple[datetime, int] | None = None,
) -> Any:
    from bot.search.query import SearchResult

    matcher = compile_rules([Rule(0, rule)], settings=settings)
    if matcher.errors:
        raise RuleError(matcher.errors[0].split(" (at column")[0].split(". Example")[0],
                        example='~"удар по энергосистеме"')
    model = _model_id()
    topics = matcher.rule_topics(0)
    top = until if before is None else (before[0] if until is None else min(until, before[0]))
    found_posts: list[Any] = []
    near_posts: list[Any] = []
    complete = True
    async with db.uow(read_only=True) as session:
        channel_ids = await _channel_ids(session, scope) if scope else None
        oldest, newest = await _date_range(session, since, top, channel_ids)
        # candidates that come once for the whole range: the newest posts when the rule can match
        # by its keywords alone (the posts not embedded yet are looked for window by window)
        extra: list[int] = []
        if can_match_without_topics(parsed):
            newest_ids = await _newest(session, max_confirm + 1, since, top, channel_ids)
            complete &= len(newest_ids) <= max_confirm
            extra += newest_ids[:max_confirm]
        seen: set[int] = set()
        # the topics' candidates window by window, newest first (as the page shows them): a window
        # of WINDOW_FIRST, then each WINDOW_GROWTH times the last, until the page is full or the
        # range is read. A whole-archive search with many matches reads only its newest part.
        hi, span = newest, WINDOW_FIRST
        while hi is not None and oldest is not None:
            lo = hi - span
            last = lo <= oldest or (since is not None and lo <= since)
            window_since = since if last else lo
            candidates: dict[int, None] = dict.fromkeys(pid for pid in extra if pid not in seen)
            extra = []
            waiting = await _unembedded(session, model, MAX_EMBED_NOW + 1, window_since, hi, channel_ids)
            complete &= len(waiting) <= MAX_EMBED_NOW
            candidates.update((pid, None) for pid in waiting[:MAX_EMBED_NOW] if pid not in seen)
            for found, strictness in topics:
                floor = max(0.0, strictness - BORDER)
                near = await vectors.nearest(session, found.vector, model, limit=max_confirm,
                                             min_score=found.raw_for(floor), since=window_since, until=hi,
                                             channel_ids=channel_ids)
                complete &= len(near) < max_confirm
                candidates.update((pid, None) for pid, _ in near if pid not in seen)
            seen.update(candidates)
            hits, misses = await _confirm(session, matcher, topics, list(candidates), model)
            found_posts += hits
            near_posts += misses
            if last:
                break
            shown = [p for p in found_posts if before is None or (p.date, p.post_id) < before]
            if len(shown) >= limit:
                complete = False  # the page is full: the older posts are not counted
                break
            hi, span = lo, span * WINDOW_GROWTH
    found_posts.sort(key=lambda p: (p.date, p.post_id), reverse=True)
    if before is not None:  # a keyset page: the posts after the last one shown, newest first
        found_posts = [p for p in found_posts if (p.date, p.post_id) < before]
    near_posts.sort(key=lambda p: -(p.closeness or 0))
    return SearchResult(len(found_posts), found_posts[:limit], exact=complete, near=near_posts[:5])


async def _confirm(session: Any, matcher: Any, topics: Any, ids: list[int], model: str) -> tuple[list[Any], list[Any]]:
    """The candidates the rule matches (with their best sentence) and the borderline ones that missed."""
    from bot.search.query import FoundPost

    rows = await _rows(session, ids)
    stored = await vectors.load(session, ids, model)
    missing = [pid for pid in ids if pid not in stored and pid in rows][:MAX_EMBED_NOW]
    if missing:
        import asyncio

        from bot.matching.topics import embedder

        matrix = await asyncio.to_thread(embedder().passages, [rows[pid].text for pid in missing])
        stored.update(zip(missing, matrix, strict=True))
    hits: list[Any] = []
    misses: list[Any] = []
    for pid, row in rows.items():
        vector = stored.get(pid)
        if vector is None:
            continue
        lang = language(row.text or "")
        closeness = max((float(t.closeness(vector, lang)) for t, _ in topics), default=0.0)
        matched = matcher.match_topics(row.text or "", vector, row.username or str(row.telegram_id))
        post = FoundPost(row.id, row.username, row.title or "", row.message_id, row.date, row.text,
                         matched[0].highlights if matched else (), post_link(row.username, row.telegram_id, row.message_id),
                         closeness=round(closeness, 2))
        if matched:
            hits.append(post)
        elif closeness > 0 and any(closeness >= strictness - BORDER for _, strictness in topics):
            misses.append(post)
    return hits, misses


async def _date_range(session: Any, since: datetime | None, until: datetime | None,
                      channel_ids: Sequence[int] | None) -> tuple[datetime | None, datetime | None]:
    """The oldest and the newest post of the search's range (None, None: no post)."""
    where, params, binds = vectors._window(since, until, channel_ids)
    ends = []
    for order in ("ASC", "DESC"):  # each through the date index (one min(), one max())
        ends.append(await session.scalar(
            sa.text(f"SELECT p.date FROM posts p WHERE {where} ORDER BY p.date {order} LIMIT 1")
            .bindparams(*binds).columns(date=UTCDateTime()), params))
    oldest, newest = ends
    return oldest, newest


def _model_id() -> str:
    from bot.matching.topics import embedder

    return embedder().model_id


async def _channel_ids(session: Any, scope: set[str]) -> list[int]:
    ids = [int(c) for c in scope if c.isdigit()]
    rows = await session.execute(
        sa.text("SELECT id FROM channels WHERE username IN :names OR telegram_id IN :ids").bindparams(
            sa.bindparam("names", expanding=True), sa.bindparam("ids", expanding=True)),
        {"names": sorted(scope) or [""], "ids": ids or [-1]},
    )
    return [int(r[0]) for r in rows]


async def _newest(session: Any, limit: int, since: datetime | None, until: datetime | None,
                  channel_ids: Sequence[int] | None) -> list[int]:
    where, params, expanding = vectors._window(since, until, channel_ids)
    rows = await session.execute(
        sa.text(f"SELECT p.id FROM posts p WHERE {where} ORDER BY p.date DESC, p.id DESC LIMIT :limit")
        .bindparams(*expanding), params | {"limit": limit})
    return [int(r[0]) for r in rows]


async def _unembedded(session: Any, model: str, limit: int, since: datetime | None, until: datetime | None,
                      channel_ids: Sequence[int] | None) -> list[int]:
    """The newest posts of the window whose vector is missing or stale (embedding runs behind
    ingestion): embedded during the search, so a search never misses what was just stored."""
    where, params, binds = vectors._window(since, until, channel_ids)
    rows = await session.execute(
        sa.text(f"SELECT p.id FROM posts p LEFT JOIN post_vectors v ON v.post_id = p.id WHERE {where} "
                "AND p.text <> '' AND (v.post_id IS NULL OR v.model <> :model OR v.text_hash <> p.text_hash) "
                "ORDER BY p.id DESC LIMIT :limit").bindparams(*binds),
        params | {"model": model, "limit": limit})
    return [int(r[0]) for r in rows]


async def _rows(session: Any, ids: list[int]) -> dict[int, Any]:
    if not ids:
        return {}
    found: dict[int, Any] = {}
    for start in range(0, len(ids), 5_000):
        rows = await session.execute(
            sa.select(m.Post.id, m.Post.message_id, m.Post.date, m.Post.text,
                      m.Channel.username, m.Channel.title, m.Channel.telegram_id)
            .join(m.Channel, m.Channel.id == m.Post.channel_id)
            .where(m.Post.id.in_(ids[start : start + 5_000]))
        )
        found.update((int(r.id), r) for r in rows)
    return found
