"""The notification targets of a subscriber: add, list, remove, test. Called by the bot (/notify) and
the web view (bot/web/notify.py); each call is scoped to one subscriber (an admin may add to another's rule).

The URL is checked by apprise before anything is stored, stored sealed (secret.py), and shown only
masked (scheme and host). It is never logged, nor put in an error.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from bot.config import Settings
from bot.notify import edge
from bot.notify.render import render, title_of
from bot.notify.secret import SealError, seal, unseal
from bot.storage import models as m
from bot.storage import notify as stored_targets
from bot.storage import rules as stored_rules
from bot.storage.database import Database, Session

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


async def _views(session: Session, subscriber_id: int) -> list[TargetView]:
    return [TargetView(n, t.id, t.masked, t.rule_id, rule_name, t.mode, t.body_format, t.keyed, t.created_at)
            for n, (t, rule_name) in enumerate(await stored_targets.listed(session, subscriber_id), 1)]


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
            rule = await stored_rules.rule_by_id(session, rule_id)
            if rule is None or (rule.subscriber_id != subscriber_id and not admin):
                raise NotifyError("no_rule", rule_id=rule_id)
            owner = rule.subscriber_id
        existing = await stored_targets.of_subscriber(session, owner)
        if len(existing) >= settings.notify.max_targets:
            raise NotifyError("too_many", limit=settings.notify.max_targets)
        for old in existing:
            try:
                same = unseal(old.url, settings.notify.key) == url.strip()
            except SealError:
                same = False
            if same and old.rule_id == rule_id:
                raise NotifyError("duplicate", masked=old.masked)
        target = await stored_targets.add(session, m.NotifyTarget(
            subscriber_id=owner, rule_id=rule_id, mode=mode, url=seal(url.strip(), settings.notify.key),
            masked=parsed.masked, body_format=parsed.body_format, body_limit=min(parsed.body_limit, 32768),
            keyed=parsed.keyed, created_at=now))
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
        await stored_targets.remove(session, view.id, now)
        return view


async def test_target(
    db: Database, settings: Settings, subscriber_id: int, number: int | None, html: str, *, target_id: int | None = None,
) -> str | None:
    """Send `html` (a test message) to the subscriber's target `number` (or the one with id `target_id`)
    now, outside the outbox. Returns None when it went, else the reason (masked). Raises
    NotifyError("no_target")."""
    async with db.uow() as session:
        if target_id is not None:
            row = await stored_targets.own(session, subscriber_id, target_id)
        elif number is not None:
            row = await stored_targets.numbered(session, subscriber_id, number)
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
        masked = await stored_targets.masked_all(session)
        states = await stored_targets.row_states(session)
    by_scheme: dict[str, int] = {}
    for text, _ in masked:
        scheme = text.split("://", 1)[0]
        by_scheme[scheme] = by_scheme.get(scheme, 0) + 1
    return Counts(len(masked), len({s for _, s in masked}), by_scheme,
                  int(states.get("pending", 0)) + int(states.get("sending", 0)),
                  int(states.get("failed", 0)) + int(states.get("uncertain", 0)))
