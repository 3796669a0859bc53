"""The notification targets of a subscriber: add, list, remove, test. Called by the bot (/notify) and
the web view (bot/web/notify.py); each call is scoped to one subscriber (an admin may add to another's rule).

The URL is checked by apprise before anything is stored, stored sealed (secret.py), and shown only
masked (scheme and host). It is never logged, nor put in an error.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update

from bot.config import Settings
from bot.domain import OutboxState
from bot.notify import edge
from bot.notify.render import render, title_of
from bot.notify.secret import SealError, seal, unseal
from bot.storage import models as m
from bot.storage.database import Database

MODES = ("also", "only")


class NotifyError(Exception):
    """Bad input for a notification target. `code` names the reason (a string key for the caller's
    language); `params` fill it. Never holds the URL."""

    def __init__(self, code: str, **params: object) -> None:
        super().__init__(code)
        self.code = code
        self.params = params


@dataclass(frozen=True, slots=True)
class TargetView:
    number: int  # its place in the subscriber's list, from 1 (what /notify remove N takes)
    id: int
    masked: str
    rule_id: int | None
    rule_name: str | None
    mode: str
    body_format: str
    keyed: bool
    created_at: datetime


async def _views(session: object, subscriber_id: int) -> list[TargetView]:
    rows = (await session.execute(  # type: ignore[attr-defined]
        select(m.NotifyTarget, m.Rule.name, m.Rule.source)
        .outerjoin(m.Rule, m.Rule.id == m.NotifyTarget.rule_id)
        .where(m.NotifyTarget.subscriber_id == subscriber_id).order_by(m.NotifyTarget.id)
    )).all()
    return [TargetView(n, t.id, t.masked, t.rule_id, (name or source) if t.rule_id is not None else None, t.mode,
                       t.body_format, t.keyed, t.created_at)
            for n, (t, name, source) in enumerate(rows, 1)]


async def list_targets(db: Database, subscriber_id: int) -> list[TargetView]:
    async with db.uow() as session:
        return await _views(session, subscriber_id)


async def add_target(
    db: Database, settings: Settings, subscriber_id: int, url: str, *, rule_id: int | None = None,
    mode: str = "also", now: datetime, admin: bool = False,
) -> TargetView:
    """Store a new target for the subscriber (or, for an admin naming a rule, for that rule's owner).

    Raises NotifyError: bad_url (apprise cannot use it), bad_mode, no_rule, too_many, duplicate."""
    if mode not in MODES:
        raise NotifyError("bad_mode")
    parsed = edge.parse(url)
    if parsed is None:
        raise NotifyError("bad_url")
    async with db.uow() as session:
        owner = subscriber_id
        if rule_id is not None:
            rule = await session.scalar(select(m.Rule).where(m.Rule.id == rule_id))
            if rule is None or (rule.subscriber_id != subscriber_id and not admin):
                raise NotifyError("no_rule", rule_id=rule_id)
            owner = rule.subscriber_id
        existing = (await session.scalars(select(m.NotifyTarget).where(m.NotifyTarget.subscriber_id == owner))).all()
        if len(existing) >= settings.notify.max_targets:
            raise NotifyError("too_many", limit=settings.notify.max_targets)
        for old in existing:
            try:
                same = unseal(old.url, settings.notify.key) == url.strip()
            except SealError:
                same = False
            if same and old.rule_id == rule_id:
                raise NotifyError("duplicate", masked=old.masked)
        target = m.NotifyTarget(subscriber_id=owner, rule_id=rule_id, mode=mode,
                                url=seal(url.strip(), settings.notify.key), masked=parsed.masked,
                                body_format=parsed.body_format, body_limit=min(parsed.body_limit, 32768),
                                keyed=parsed.keyed, created_at=now)
        session.add(target)
        await session.flush()
        # rows still naming this id belong to a removed target (its rule or chat deleted; SQLite gives
        # the id again): they must never go to this URL
        await session.execute(delete(m.Outbox).where(m.Outbox.target_id == target.id))
        views = await _views(session, owner)
    return next(v for v in views if v.id == target.id)


async def remove_target(
    db: Database, subscriber_id: int, number: int | None, *, now: datetime, target_id: int | None = None,
) -> TargetView | None:
    """Remove the subscriber's target number `number` (as listed), or the one whose id is `target_id`
    (the web view's forms: an id does not shift when another tab removes a target), and every row still
    queued for it. None when the subscriber has no such target."""
    async with db.uow() as session:
        views = await _views(session, subscriber_id)
        view = next((v for v in views if (v.id == target_id if target_id is not None else v.number == number)), None)
        if view is None:
            return None
        digests = (await session.scalars(
            select(m.Outbox.digest_id).where(m.Outbox.target_id == view.id, m.Outbox.digest_id.is_not(None))
            .distinct())).all()
        await session.execute(delete(m.Outbox).where(m.Outbox.target_id == view.id))
        await session.execute(delete(m.NotifyTarget).where(m.NotifyTarget.id == view.id))
        for digest_id in digests:  # a digest that waited only for this target is done
            left = await session.scalar(select(func.count()).select_from(m.Outbox).where(
                m.Outbox.digest_id == digest_id, m.Outbox.state.in_((OutboxState.PENDING, OutboxState.SENDING))))
            if not left:
                await session.execute(update(m.Digest).where(m.Digest.id == digest_id, m.Digest.state != "empty")
                                      .values(state="sent", sent_at=now))
        return view


async def test_target(
    db: Database, settings: Settings, subscriber_id: int, number: int | None, html: str, *, target_id: int | None = None,
) -> str | None:
    """Send `html` (a test message) to the subscriber's target `number` (or the one with id `target_id`)
    now, outside the outbox. Returns None when it went, else the reason (masked). Raises
    NotifyError("no_target")."""
    async with db.uow() as session:
        own = select(m.NotifyTarget).where(m.NotifyTarget.subscriber_id == subscriber_id)
        if target_id is not None:
            row = (await session.scalars(own.where(m.NotifyTarget.id == target_id))).first()
        elif number is not None and number >= 1:
            row = (await session.scalars(own.order_by(m.NotifyTarget.id).offset(number - 1).limit(1))).first()
        else:
            row = None
        if row is None:
            raise NotifyError("no_target", number=number)
        stored, fmt, masked = row.url, row.body_format, row.masked
    try:
        url = unseal(stored, settings.notify.key)
    except SealError as exc:
        return str(exc)
    try:
        await asyncio.to_thread(edge.deliver, url, title=title_of(html), body=render(html, fmt), body_format=fmt,
                                key=None, timeout=settings.notify.timeout_seconds)
    except edge.DeliveryRefused as exc:
        return f"{masked}: {exc}"
    return None


@dataclass(frozen=True, slots=True)
class Counts:
    targets: int
    subscribers: int
    by_scheme: dict[str, int]
    queued: int  # rows pending or sending to targets
    failed: int  # rows to targets that failed or ended uncertain


async def counts(db: Database) -> Counts:
    """For admins: how many targets, of how many subscribers, by scheme; the target rows' states."""
    async with db.uow() as session:
        masked = (await session.execute(select(m.NotifyTarget.masked, m.NotifyTarget.subscriber_id))).all()
        states = dict((await session.execute(
            select(m.Outbox.state, func.count()).where(m.Outbox.target_id.is_not(None)).group_by(m.Outbox.state)
        )).tuples().all())
    by_scheme: dict[str, int] = {}
    for text, _ in masked:
        scheme = text.split("://", 1)[0]
        by_scheme[scheme] = by_scheme.get(scheme, 0) + 1
    return Counts(len(masked), len({s for _, s in masked}), by_scheme,
                  int(states.get("pending", 0)) + int(states.get("sending", 0)),
                  int(states.get("failed", 0)) + int(states.get("uncertain", 0)))
