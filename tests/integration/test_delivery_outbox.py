"""request_digest -> outbox -> deliver_due, on SQLite and PostgreSQL, with a fake sender and clock."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select
from telethon.extensions import html as tl_html
from telethon.tl.types import MessageEntityTextUrl

from bot.config import Settings
from bot.delivery import outbox
from bot.delivery.clock import ManualClock
from bot.delivery.errors import ChatFloodWait, ChatUnavailable, SendFailed, SendUncertain
from bot.delivery.limiter import RateLimiter
from bot.delivery.worker import deliver_due
from bot.digest.service import request_digest
from bot.storage import models as m
from tests.digest_support import (
    T0,
    FakeSender,
    add_channel,
    add_post_match,
    add_rule,
    add_subscriber,
    digests,
    outbox_rows,
)

SETTINGS = Settings()


async def _seed(db, chat_id=1001, posts=3, text="Обстрел Шебекино, повреждены дома {i}", newest=T0,
                every=timedelta(hours=1)):
    # digest size "all": these tests are about the chunks of a long digest and their delivery
    sub = await add_subscriber(db, chat_id=chat_id, digest_size=0)
    rule = await add_rule(db, sub, "обстрел")
    channel = await add_channel(db, username=f"chan{chat_id}", title=f"Канал {chat_id}")
    for i in range(posts):
        await add_post_match(db, channel, rule, text.format(i=i) + " " + "слово" * i, date=newest - every * i)
    return sub


async def _drain(db, sender, limiter, clock, *, seconds=30, passes=None) -> int:
    """deliver_due pass after pass, the clock a second on between them (a chat's next message waits
    its gap), until `seconds` have passed or `passes` were made; how many were sent."""
    sent = 0
    for n in range(seconds):
        if passes is not None and n >= passes:
            break
        sent += await deliver_due(db, sender, limiter, clock)
        clock.advance(1)
    return sent


async def test_request_digest_queues_chunks_and_deliver_due_sends_each_once(db) -> None:
    clock = ManualClock(T0 + timedelta(hours=1))
    await _seed(db)
    req = await request_digest(db, SETTINGS, 1001, now=clock.now())
    assert req.digest_id is not None and req.items == 3 and req.chunks == 1
    again = await request_digest(db, SETTINGS, 1001, now=clock.advance(1))
    assert again.items == 0 and again.digest_id is None  # nothing new since the last one

    sender = FakeSender(clock)
    limiter = RateLimiter(SETTINGS.delivery, clock)
    assert await deliver_due(db, sender, limiter, clock) == 1
    assert await deliver_due(db, sender, limiter, clock) == 0
    (sent,) = sender.sent
    plain, entities = tl_html.parse(sent.html)
    assert "Канал 1001" in plain  # each item's time links to its post
    links = [e.url for e in entities if isinstance(e, MessageEntityTextUrl)]
    assert len([u for u in links if u.startswith("https://t.me/chan1001/")]) == 3
    (row,) = await outbox_rows(db)
    assert row.state == "sent" and row.random_id == sent.random_id and row.attempts == 1
    (digest,) = await digests(db)
    assert digest.state == "sent" and digest.items == 3


async def test_unknown_chat_gets_nothing(db) -> None:
    req = await request_digest(db, SETTINGS, 424242, now=T0)
    assert (req.digest_id, req.items, req.chunks) == (None, 0, 0)


async def test_week_digest_carries_a_png_chart_and_keeps_the_watermark(db) -> None:
    clock = ManualClock(T0 + timedelta(hours=1))
    await _seed(db, every=timedelta(days=1))  # a chart is drawn when items fall on two days or more
    week = await request_digest(db, SETTINGS, 1001, now=clock.now(), period="week")
    assert week.items == 3
    rows = await outbox_rows(db)
    assert rows[0].attachment is not None and rows[0].attachment.startswith(b"\x89PNG")
    since_last = await request_digest(db, SETTINGS, 1001, now=clock.advance(1))
    assert since_last.items == 3  # the week view did not consume the matches


async def test_flood_wait_holds_only_that_chat_and_it_gets_everything_after(db) -> None:
    clock = ManualClock(T0 + timedelta(hours=1))
    for chat in (1001, 1002, 1003):
        await _seed(db, chat_id=chat, posts=30, text="Обстрел " + "длинный текст поста про район {i} " * 6)
    for chat in (1001, 1002, 1003):
        req = await request_digest(db, SETTINGS, chat, now=clock.now())
        assert req.chunks >= 2
    sender = FakeSender(clock, fail={1002: [ChatFloodWait(60)]})
    limiter = RateLimiter(SETTINGS.delivery, clock)
    start = clock.now()
    await _drain(db, sender, limiter, clock, seconds=20)
    total = {chat: len([r for r in await outbox_rows(db) if r.chat_id == chat]) for chat in (1001, 1002, 1003)}
    assert len(sender.texts(1001)) == total[1001] and len(sender.texts(1003)) == total[1003]
    # the other chats were not held behind the 60 s wait
    assert all(s.at < start + timedelta(seconds=60) for s in sender.sent if s.chat_id != 1002)
    clock.set(start + timedelta(seconds=61))
    await _drain(db, sender, limiter, clock, seconds=20)
    got = [s for s in sender.sent if s.chat_id == 1002]
    assert len(got) == total[1002]
    assert all(s.at >= start + timedelta(seconds=60) for s in got)
    assert [t.split("\n", 1)[0] for t in sender.texts(1002)] == [f"({n}/{total[1002]})" for n in range(1, total[1002] + 1)]
    assert all(r.state == "sent" for r in await outbox_rows(db))


async def test_blocked_user_is_deactivated_and_the_rest_go_on(db) -> None:
    clock = ManualClock(T0 + timedelta(hours=1))
    for chat in (1001, 1002):
        await _seed(db, chat_id=chat)
        await request_digest(db, SETTINGS, chat, now=clock.now())
    sender = FakeSender(clock, fail={1001: [ChatUnavailable("blocked")]})
    assert await deliver_due(db, sender, RateLimiter(SETTINGS.delivery, clock), clock) == 1
    assert [s.chat_id for s in sender.sent] == [1002]
    async with db.uow(read_only=True) as session:
        sub = await session.scalar(select(m.Subscriber).where(m.Subscriber.chat_id == 1001))
    assert sub is not None and sub.active is False
    states = {r.chat_id: r.state for r in await outbox_rows(db)}
    assert states == {1001: "failed", 1002: "sent"}


async def test_an_uncertain_send_is_asked_again_with_its_random_id_and_a_failure_is_retried(db) -> None:
    clock = ManualClock(T0 + timedelta(hours=1))
    for chat in (1001, 1002):
        await _seed(db, chat_id=chat)
        await request_digest(db, SETTINGS, chat, now=clock.now())
    sender = FakeSender(clock, fail={1001: [SendUncertain("timeout")], 1002: [SendFailed("server error")]})
    limiter = RateLimiter(SETTINGS.delivery, clock)
    await deliver_due(db, sender, limiter, clock)
    clock.advance(600)
    await deliver_due(db, sender, limiter, clock)
    rows = {r.chat_id: r for r in await outbox_rows(db)}
    assert (rows[1001].state, rows[1001].attempts) == ("sent", 2)  # Telegram drops it if the first got through
    assert rows[1002].state == "sent" and rows[1002].attempts == 2
    assert sorted(s.chat_id for s in sender.sent) == [1001, 1002]
    assert {s.chat_id: s.random_id for s in sender.sent} == {c: r.random_id for c, r in rows.items()}


async def test_a_restart_between_chunk_2_and_3_resends_only_3_4_5(db) -> None:
    clock = ManualClock(T0 + timedelta(hours=1))
    await _seed(db, chat_id=1001, posts=50, text="Обстрел " + "длинный текст поста про район {i} " * 10)
    req = await request_digest(db, SETTINGS, 1001, now=clock.now())
    assert req.chunks == 5, req
    first = FakeSender(clock)
    assert await _drain(db, first, RateLimiter(SETTINGS.delivery, clock), clock, passes=2) == 2
    assert [s.html.split("\n", 1)[0] for s in first.sent] == ["(1/5)", "(2/5)"]
    # the process stops there (the kill -9 of a real worker: tests/integration/test_faults.py);
    # a new process, a new limiter, a new sender
    restarted = ManualClock(clock.now() + timedelta(seconds=5))
    sender = FakeSender(restarted)
    assert await _drain(db, sender, RateLimiter(SETTINGS.delivery, restarted), restarted) == 3
    assert [s.html.split("\n", 1)[0] for s in sender.sent] == ["(3/5)", "(4/5)", "(5/5)"]
    rows = await outbox_rows(db)
    assert [r.state for r in rows] == ["sent"] * 5 and all(r.attempts == 1 for r in rows)
    assert [s.random_id for s in first.sent + sender.sent] == [r.random_id for r in rows]
    (digest,) = await digests(db)
    assert digest.state == "sent"


async def test_a_send_whose_worker_died_goes_again_after_its_lease_and_before_later_chunks(db) -> None:
    clock = ManualClock(T0 + timedelta(hours=1))
    await _seed(db, chat_id=1001, posts=50, text="Обстрел " + "длинный текст поста про район {i} " * 10)
    await request_digest(db, SETTINGS, 1001, now=clock.now())
    rows = await outbox_rows(db)
    # claimed, request on the wire, then the kill
    claimed, _ = await outbox.claim_heads(db, clock.now(), limit=10, pick=lambda jobs: [j for j in jobs if j.id == rows[0].id])
    assert [j.id for j in claimed] == [rows[0].id]
    lease = timedelta(seconds=SETTINGS.delivery.lease_seconds)
    clock.advance(seconds=lease.total_seconds() / 2)
    assert await outbox.reclaim_expired(db, clock.now(), lease, 8) == []  # within its lease: still its worker's
    sender = FakeSender(clock)
    assert await deliver_due(db, sender, RateLimiter(SETTINGS.delivery, clock), clock) == 0  # 2/5 waits behind 1/5
    clock.advance(seconds=lease.total_seconds())
    assert await outbox.reclaim_expired(db, clock.now(), lease, 8) == [rows[0].id]
    assert await _drain(db, sender, RateLimiter(SETTINGS.delivery, clock), clock) == 5
    assert [s.html.split("\n", 1)[0] for s in sender.sent] == ["(1/5)", "(2/5)", "(3/5)", "(4/5)", "(5/5)"]
    assert sender.sent[0].random_id == rows[0].random_id  # the same request: Telegram drops it if it got through
    assert [r.state for r in await outbox_rows(db)] == ["sent"] * 5


@pytest.mark.dates  # the worker on the real clock: due rows are due by it
async def test_delivery_worker_run_sends_what_is_queued_and_stops(db) -> None:
    from bot.delivery.clock import SystemClock
    from bot.delivery.worker import DeliveryWorker

    clock = SystemClock()
    await _seed(db, newest=clock.now() - timedelta(minutes=1))  # posts before the real now, on any date
    await request_digest(db, SETTINGS, 1001, now=clock.now())
    sender = FakeSender(clock)
    stop = asyncio.Event()
    task = asyncio.create_task(DeliveryWorker(db, sender, SETTINGS, clock).run(stop))
    for _ in range(200):
        if sender.sent:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 10)
    assert len(sender.sent) == 1
    assert [r.state for r in await outbox_rows(db)] == ["sent"]
