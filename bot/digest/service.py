"""Build a digest and queue its chunks in the outbox, in one transaction.

`queue_digest` is shared by the scheduler and `/digest`: a digest row keyed by (subscriber, period
key) is inserted with ON CONFLICT DO NOTHING, so a period is built once however many processes or
restarts try; the chunks go to the outbox and the subscriber's watermark (`last_digest_at`) moves
to the end of the period in the same transaction. The queries are the digests and outbox
repositories' (`bot/storage/digests.py`, `bot/storage/outbox.py`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.config import Settings
from bot.digest.builder import BuiltDigest, build_digest, digest_title
from bot.domain import DigestState, OutboxState
from bot.i18n import known_language, label
from bot.storage import digests as store
from bot.storage import models as m
from bot.storage import outbox
from bot.storage.database import Database, Session
from bot.storage.digests import (
    MatchRow,
    Route,
    lock_subscriber,
    matches_by_id,
    matches_posted_between,
    unsent_matches,
)
from bot.storage.outbox import new_random_id

__all__ = ["ON_DEMAND", "DigestJob", "DigestRequest", "Route", "job_kind", "lock_subscriber", "new_random_id",
           "queue_digest", "queue_digests", "request_digest", "request_more"]


@dataclass(frozen=True, slots=True)
class DigestRequest:
    digest_id: int | None
    items: int  # all the items of the period
    chunks: int
    shown: int = 0  # the items these chunks show (a page of `items`)


@dataclass(frozen=True, slots=True)
class DigestJob:
    """One digest to build: the subscriber, the period's key and window, and how to fill it."""

    sub: m.Subscriber
    kind: str
    period_key: str
    since: datetime | None
    until: datetime
    by_post_date: bool = False  # window on the posts' dates (week view) instead of when matches were found
    chart: bool = False
    advance: bool = True  # move the subscriber's watermark to `until`
    rule_ids: tuple[int, ...] | None = None  # the rules whose matches it sends; None: every unmuted rule
    page: int = 0  # `/more`: the page of an earlier digest's items (1: the second page)
    title: str | None = None  # instead of the title of `kind` (a page of an earlier digest)
    match_ids: tuple[int, ...] | None = None  # build from these matches (a page of an earlier digest)
    base_id: int | None = None  # the earlier digest this is a page of


ON_DEMAND = frozenset({"manual", "week", "more"})  # /digest and /digest week answer in the chat that asked


def _telegram_rows(rows: Sequence[MatchRow], routes: Sequence[Route]) -> Sequence[MatchRow]:
    """What still goes to the chat: every row but those of rules routed only elsewhere."""
    if any(r.only and r.rule_id is None for r in routes):
        return []
    away = {r.rule_id for r in routes if r.only}
    return [row for row in rows if row.rule_id not in away] if away else rows


def _target_rows(rows: Sequence[MatchRow], route: Route) -> Sequence[MatchRow]:
    return rows if route.rule_id is None else [row for row in rows if row.rule_id == route.rule_id]


def job_kind(job: DigestJob) -> str:
    return "alert" if job.kind == "instant" else "digest"


async def queue_digests(
    session: Session, settings: Settings, jobs: Sequence[DigestJob], *, now: datetime
) -> list[DigestRequest | None]:
    """Build and queue several digests in the caller's transaction, with a handful of statements
    whatever their number. For each job: None when its period key was built before; a period with
    nothing in it is recorded as 'empty' and queues nothing."""
    if not jobs:
        return []
    ids = await store.add_digests(session, [{"subscriber_id": j.sub.id, "period_key": j.period_key, "kind": j.kind,
          "period_start": j.since or j.sub.created_at, "period_end": j.until, "state": DigestState.PENDING,
          "items": 0, "created_at": now} for j in jobs])
    fresh = [(j, ids[(j.sub.id, j.period_key)]) for j in jobs if (j.sub.id, j.period_key) in ids]
    covers = await _rules_covered(session, [j for j, _ in fresh if not j.by_post_date and j.match_ids is None])
    by_rule = await unsent_matches(session, [r for rules in covers.values() for r in rules], now)
    routes = await store.routes(session, [j.sub.id for j, _ in fresh if j.kind not in ON_DEMAND])
    results: dict[int, DigestRequest] = {}
    queued: list[dict[str, object]] = []
    digest_updates: list[dict[str, object]] = []
    watermarks: list[dict[str, object]] = []
    rule_marks: dict[datetime, list[int]] = {}  # watermark -> the rules moved to it (one statement each)
    for i, (job, digest_id) in enumerate(fresh):
        if i % 20 == 19:
            await asyncio.sleep(0)  # a large batch lets the process's other tasks (instant alerts) run
        sub = job.sub
        if job.match_ids is not None:
            rows = await matches_by_id(session, sub.id, job.match_ids)
        elif job.by_post_date:
            rows = await matches_posted_between(session, sub.id, job.since, job.until)
        else:
            rows = [row for rule_id in covers[id(job)] for row in by_rule.get(rule_id, ())]
            rows.sort(key=lambda r: (r.date, r.post_id), reverse=True)  # newest first, as one query gives
            rule_marks.setdefault(job.until, []).extend(covers[id(job)])
        lang = known_language(sub.language)
        targets = routes.get(sub.id, [])

        def build(rows: Sequence[MatchRow], limit: int | None = None, *, job: DigestJob = job, lang: str = lang,
                  sub: m.Subscriber = sub) -> BuiltDigest:
            return build_digest(rows, tz=sub.timezone,
                                title=job.title or digest_title(job.kind, job.since, job.until, sub.timezone, lang),
                                # another service (a `limit` of its own) cannot ask for /more: it gets every item
                                size=sub.digest_size if limit is None else 0,
                                excerpt_chars=settings.digest.excerpt_chars, lang=lang,
                                limit=limit, page=job.page, alert=job.kind == "instant")

        own_rows = _telegram_rows(rows, targets)
        built = build(own_rows)
        elsewhere = [(t, build(_target_rows(rows, t), t.body_limit)) for t in targets]
        elsewhere = [(t, b) for t, b in elsewhere if b.items]
        if job.advance:
            mark = job.until if sub.last_digest_at is None else max(sub.last_digest_at, job.until)
            watermarks.append({"id": sub.id, "last_digest_at": mark})
        for target, other in elsewhere:  # the same digest for another service, in its size
            queued.extend(
                {"digest_id": digest_id, "subscriber_id": sub.id, "chat_id": sub.chat_id, "kind": job_kind(job),
                 "chunk_no": n, "chunk_total": len(other.chunks), "text": text, "attachment": None,
                 "random_id": new_random_id(), "state": OutboxState.PENDING, "attempts": 0, "not_before": now,
                 "created_at": now, "target_id": target.id, "silent": False, "buttons": None}
                for n, text in enumerate(other.chunks, 1)
            )
        if not built.items:
            items = max((b.total for _, b in elsewhere), default=0)
            state = DigestState.BUILT if elsewhere else DigestState.EMPTY
            digest_updates.append({"id": digest_id, "state": state, "items": items})
            results[digest_id] = DigestRequest(digest_id, items, 0)
            continue
        attachment = None
        if job.chart:
            from bot.digest.chart import weekly_chart_png

            attachment = weekly_chart_png(built.ranked, job.since or job.until - timedelta(days=7), job.until,
                                          sub.timezone, lang)
        # Telegram's silent send: as the subscriber chose (/settings sound); alerts ring by default
        silent = sub.sound == "none" or (sub.sound != "all" and job.kind != "instant")
        # the last part of a digest with more items carries a button that sends the next page
        base_id = job.base_id or digest_id
        more_button = [[{"text": label(lang, "digest_more_btn", count=min(built.more, sub.digest_size)),
                         "data": f"dg:more:{base_id}"}]] if built.more else None
        total = len(built.chunks)
        queued.extend(
            {"digest_id": digest_id, "subscriber_id": sub.id, "chat_id": sub.chat_id, "kind": job_kind(job),
             "chunk_no": n, "chunk_total": total, "text": text, "attachment": attachment if n == 1 else None,
             "random_id": new_random_id(), "state": OutboxState.PENDING, "attempts": 0, "not_before": now,
             "created_at": now, "target_id": None, "silent": silent,
             "buttons": more_button if n == total else None}
            for n, text in enumerate(built.chunks, 1)
        )
        # a digest with pages keeps what it was built from: /more pages through exactly these
        pages = sorted({r.match_id for r in own_rows}) if built.more and job.match_ids is None else None
        digest_updates.append({"id": digest_id, "state": DigestState.BUILT, "items": built.total,
                               "match_ids": pages})
        results[digest_id] = DigestRequest(digest_id, built.total, total, len(built.items))
    await outbox.add_rows(session, queued)
    for values in digest_updates:  # one executemany needs the same keys in every row
        values.setdefault("match_ids", None)
    await store.update_digests(session, digest_updates)
    for until, rule_ids in rule_marks.items():  # the rules' own watermarks (bot/digest/streams.py)
        await store.advance_rules(session, rule_ids, until)
    if watermarks:
        await store.set_watermarks(session, watermarks)
        marks = {w["id"]: w["last_digest_at"] for w in watermarks}
        for job, _ in fresh:  # keep the loaded objects true to the rows
            if job.sub.id in marks:
                job.sub.last_digest_at = marks[job.sub.id]  # type: ignore[assignment]
    return [results.get(ids.get((j.sub.id, j.period_key), -1)) for j in jobs]


async def _rules_covered(session: Session, jobs: Sequence[DigestJob]) -> dict[int, tuple[int, ...]]:
    """Per job (by id()), the rules whose unsent matches it sends: its own list, or every unmuted
    rule of its subscriber."""
    unmuted = await store.unmuted_rules(session, [j.sub.id for j in jobs if j.rule_ids is None])
    return {id(j): j.rule_ids if j.rule_ids is not None else tuple(unmuted.get(j.sub.id, ())) for j in jobs}


async def queue_digest(
    session: Session,
    settings: Settings,
    sub: m.Subscriber,
    *,
    kind: str,
    period_key: str,
    since: datetime | None,
    until: datetime,
    now: datetime,
    by_post_date: bool = False,
    chart: bool = False,
    advance: bool = True,
) -> DigestRequest | None:
    """One digest: see `queue_digests`."""
    (result,) = await queue_digests(
        session, settings, [DigestJob(sub, kind, period_key, since, until, by_post_date, chart, advance)], now=now
    )
    return result


async def request_digest(
    db: Database, settings: Settings, chat_id: int, *, now: datetime, period: str = "since_last"
) -> DigestRequest:
    """`/digest` (period "since_last": everything since the last digest, which moves the watermark)
    and `/digest week` (the last seven days, with the chart; the watermark stays)."""
    if period not in ("since_last", "week"):
        raise ValueError(f"unknown digest period {period!r}; use 'since_last' or 'week'")
    async with db.uow() as session:
        sub = await lock_subscriber(session, chat_id)
        if sub is None:
            return DigestRequest(None, 0, 0)
        stamp = now.isoformat(timespec="microseconds")
        if period == "week":
            result = await queue_digest(session, settings, sub, kind="week", period_key=f"week:{stamp}",
                                        since=now - timedelta(days=7), until=now, now=now,
                                        by_post_date=True, chart=True, advance=False)
        else:
            result = await queue_digest(session, settings, sub, kind="manual", period_key=f"manual:{stamp}",
                                        since=sub.last_digest_at, until=now, now=now)
        if result is None or result.items == 0:
            if result is not None and result.digest_id is not None:
                await store.delete_digest(session, result.digest_id)
            return DigestRequest(None, 0, 0)
        return result


async def request_more(
    db: Database, settings: Settings, chat_id: int, *, now: datetime, digest_id: int | None = None
) -> DigestRequest | None:
    """`/more`: the next page of the chat's latest digest (or of digest `digest_id`, the More button's,
    when it is this chat's), from the matches it was built from, ranked the same way, as a digest of
    its own keyed `more:<digest id>:<page>`. None when that page is being built by another press; a
    request with no digest id when there is nothing more to show."""
    async with db.uow() as session:
        sub = await lock_subscriber(session, chat_id)
        if sub is None:
            return DigestRequest(None, 0, 0)
        base = await store.latest_pageable(session, sub.id, digest_id)
        if base is None or not base.match_ids or not sub.digest_size:
            return DigestRequest(None, 0, 0)
        page = await store.pages_built(session, sub.id, base.id) + 1
        if base.items <= page * sub.digest_size:
            return DigestRequest(None, base.items, 0)
        lang = known_language(sub.language)
        start = base.period_start if base.period_start < base.period_end else None
        title = digest_title(base.kind, start, base.period_end, sub.timezone, lang)
        job = DigestJob(sub, "more", f"more:{base.id}:{page}", base.period_start, base.period_end, advance=False,
                        page=page, title=title, match_ids=tuple(int(i) for i in base.match_ids), base_id=base.id)
        (result,) = await queue_digests(session, settings, [job], now=now)
        return result
