"""Helpers for the digest, schedule and delivery tests: seed rows, a recording fake Sender."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select

from bot.delivery.errors import SendError
from bot.domain import InlineButtons, SendResult
from bot.storage import models as m
from bot.storage.database import Database

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
_ids = itertools.count(1)


async def add_subscriber(db: Database, chat_id: int = 1001, **fields: object) -> int:
    values: dict[str, object] = {"timezone": "UTC", "digest_hour": 8, "created_at": datetime(2026, 1, 1, tzinfo=UTC)}
    values.update(fields)
    async with db.uow() as session:
        sub = m.Subscriber(chat_id=chat_id, **values)
        session.add(sub)
        await session.flush()
        return sub.id


async def add_rule(db: Database, subscriber_id: int, source: str, name: str = "") -> int:
    async with db.uow() as session:
        rule = m.Rule(subscriber_id=subscriber_id, name=name, source=source, channels=[])
        session.add(rule)
        await session.flush()
        return rule.id


async def add_channel(db: Database, username: str | None = "chan", title: str = "Channel", telegram_id: int | None = None) -> int:
    async with db.uow() as session:
        ch = m.Channel(telegram_id=telegram_id if telegram_id is not None else 10_000 + next(_ids),
                       username=username, title=title)
        session.add(ch)
        await session.flush()
        return ch.id


async def add_post_match(
    db: Database, channel_id: int, rule_id: int, text: str, *, date: datetime = T0, matched_at: datetime | None = None,
    word: str | None = None, message_id: int | None = None, views: int | None = None,
    forward: tuple[int, int] | None = None,
) -> int:
    """A post and its match; the highlight is the first occurrence of `word` (default: the first word)."""
    word = word or text.split()[0]
    start = text.find(word)
    spans = [[start, start + len(word)]] if start >= 0 else []
    async with db.uow() as session:
        post = m.Post(channel_id=channel_id, message_id=message_id or next(_ids), date=date, text=text,
                      text_hash=str(hash(text)), views=views,
                      forward_channel_id=forward[0] if forward else None,
                      forward_message_id=forward[1] if forward else None)
        session.add(post)
        await session.flush()
        session.add(m.Match(rule_id=rule_id, post_id=post.id, highlights=spans, matched_at=matched_at or date))
        return post.id


async def outbox_rows(db: Database) -> list[m.Outbox]:
    async with db.uow(read_only=True) as session:
        return list((await session.scalars(select(m.Outbox).order_by(m.Outbox.id))).all())


async def digests(db: Database) -> list[m.Digest]:
    async with db.uow(read_only=True) as session:
        return list((await session.scalars(select(m.Digest).order_by(m.Digest.id))).all())


@dataclass
class Sent:
    chat_id: int
    html: str
    random_id: int
    attachment: bytes | None
    at: datetime
    silent: bool = False
    buttons: InlineButtons = ()


@dataclass
class FakeSender:
    """Records every send with the clock's time. `fail` maps chat id -> a list of exceptions to raise
    on its next sends (popped one by one)."""

    clock: object
    sent: list[Sent] = field(default_factory=list)
    fail: dict[int, list[SendError]] = field(default_factory=dict)
    calls: int = 0

    async def send_html(self, chat_id: int, html: str, *, random_id: int, attachment: bytes | None = None,
                        silent: bool = False, buttons: InlineButtons = ()) -> SendResult:
        self.calls += 1
        queue = self.fail.get(chat_id)
        if queue:
            raise queue.pop(0)
        self.sent.append(Sent(chat_id, html, random_id, attachment, self.clock.now(), silent, buttons))  # type: ignore[attr-defined]
        return SendResult(message_id=len(self.sent))

    def texts(self, chat_id: int) -> list[str]:
        return [s.html for s in self.sent if s.chat_id == chat_id]
