"""The delivery worker's stop handling and batched claims, on SQLite and PostgreSQL, with a fake
sender (the network edge) and a virtual clock."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

from sqlalchemy import text

from bot.config import Settings
from bot.delivery import outbox
from bot.delivery.clock import ManualClock
from bot.delivery.limiter import RateLimiter
from bot.delivery.worker import deliver_due
from bot.domain import SendResult
from bot.storage import models as m
from tests.digest_support import T0, add_subscriber, outbox_rows

SETTINGS = Settings()


async def _queue(db, chats: int, chunks: int, first_chat: int = 5000) -> None:
    """`chunks` numbered rows for each of `chats` private chats, all due at T0."""
    subs = [(chat, await add_subscriber(db, chat_id=chat)) for chat in range(first_chat, first_chat + chats)]
    async with db.uow() as session:
        for chunk in range(1, chunks + 1):
            for chat, sub in subs:
                session.add(m.Outbox(subscriber_id=sub, chat_id=chat, chunk_no=chunk, chunk_total=chunks,
                                     text=f"({chunk}/{chunks}) to {chat}", random_id=chat * 100 + chunk,
                                     not_before=T0, created_at=T0))


class GatedSender:
    """Each send waits on `gate` (the request is on the wire) until the test opens it."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.started: list[int] = []
        self.sent: list[tuple[int, str]] = []

    async def send_html(self, chat_id: int, html: str, *, random_id: int, attachment: bytes | None = None,
                        silent: bool = False,
                        buttons: object = ()) -> SendResult:
        self.started.append(chat_id)
        await self.gate.wait()
        self.sent.append((chat_id, html))
        return SendResult(message_id=len(self.sent))


async def _until(condition, what: str) -> None:
    for _ in range(2000):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"timed out waiting for {what}")


async def test_stop_mid_delivery_finishes_the_sends_in_flight_and_claims_no_more(db) -> None:
    clock = ManualClock(T0 + timedelta(minutes=1))
    await _queue(db, chats=50, chunks=2)
    sender = GatedSender()
    stop = asyncio.Event()
    run = asyncio.create_task(deliver_due(db, sender, RateLimiter(SETTINGS.delivery, clock), clock, stop))
    await _until(lambda: len(sender.started) >= 10, "sends on the wire")
    stop.set()  # SIGTERM, while every started send waits for Telegram's answer
    await asyncio.sleep(0.3)  # a claim that was running when stop came is given back, not sent
    in_flight = len(sender.started)
    assert 10 <= in_flight <= 32 and not sender.sent
    sender.gate.set()  # the answers come back
    sent = await asyncio.wait_for(run, 30)
    assert sent == in_flight == len(sender.sent) == len(sender.started)  # nothing claimed after stop
    rows = await outbox_rows(db)
    states = Counter(r.state for r in rows)
    assert states == {"sent": in_flight, "pending": 100 - in_flight}  # nothing 'sending' or 'uncertain'
    done = {r.chat_id for r in rows if r.state == "sent"}
    assert all(r.chunk_no == 1 for r in rows if r.state == "sent")
    assert all(r.message_id is not None and r.sent_at is not None for r in rows if r.state == "sent")
    assert len(done) == in_flight  # distinct chats: chunk 2 of a chat waits for its chunk 1
    # a restart sends exactly the rest, chunks in order
    restarted = ManualClock(clock.now() + timedelta(seconds=5))
    sender.gate.set()
    assert await deliver_due(db, sender, RateLimiter(SETTINGS.delivery, restarted), restarted) == 100 - in_flight
    assert Counter(r.state for r in await outbox_rows(db)) == {"sent": 100}
    assert Counter(chat for chat, _ in sender.sent) == dict.fromkeys(range(5000, 5050), 2)
    for chat in range(5000, 5050):
        assert [h for c, h in sender.sent if c == chat] == [f"(1/2) to {chat}", f"(2/2) to {chat}"]


async def test_stop_already_set_claims_nothing(db) -> None:
    clock = ManualClock(T0 + timedelta(minutes=1))
    await _queue(db, chats=3, chunks=1)
    stop = asyncio.Event()
    stop.set()
    sender = GatedSender()
    assert await deliver_due(db, sender, RateLimiter(SETTINGS.delivery, clock), clock, stop) == 0
    assert not sender.started
    assert {r.state for r in await outbox_rows(db)} == {"pending"}


async def test_claim_heads_takes_one_row_per_chat_in_one_batch_and_only_what_pick_allows(db) -> None:
    now = T0 + timedelta(minutes=1)
    await _queue(db, chats=5, chunks=3)
    claimed, seen = await outbox.claim_heads(db, now, limit=10, pick=lambda jobs: [j for j in jobs if j.chat_id != 5002])
    assert len(seen) == 5 and [j.chunk_no for j in seen] == [1] * 5  # heads only
    assert sorted(j.chat_id for j in claimed) == [5000, 5001, 5003, 5004]
    assert all(j.attempts == 1 for j in claimed)
    rows = await outbox_rows(db)
    sending = sorted((r.chat_id, r.chunk_no) for r in rows if r.state == "sending")
    assert sending == [(5000, 1), (5001, 1), (5003, 1), (5004, 1)]
    assert all(r.claimed_at is not None and r.attempts == 1 for r in rows if r.state == "sending")
    # while those are on the wire, only chat 5002's head is due; nothing is claimed twice
    again, seen = await outbox.claim_heads(db, now, limit=10)
    assert [(j.chat_id, j.chunk_no) for j in again] == [(5002, 1)]
    await outbox.mark_sent_many(db, [(j, 100 + i) for i, j in enumerate(claimed)], now)
    rows = await outbox_rows(db)
    assert sorted(r.message_id for r in rows if r.state == "sent") == [100, 101, 102, 103]
    nxt, _ = await outbox.claim_heads(db, now, limit=10)
    assert sorted((j.chat_id, j.chunk_no) for j in nxt) == [(5000, 2), (5001, 2), (5003, 2), (5004, 2)]


async def test_two_workers_on_one_database_send_each_row_once_in_order(db) -> None:
    """Two passes at once, each with its own limiter (two processes): batched claims never overlap."""
    clock = ManualClock(T0 + timedelta(minutes=1))
    await _queue(db, chats=40, chunks=3)

    wire: list[tuple[int, str]] = []  # both workers' sends, in the order they reached "Telegram"

    class Recorder:
        def __init__(self) -> None:
            self.sent: list[tuple[int, str]] = []

        async def send_html(self, chat_id: int, html: str, *, random_id: int,
                            attachment: bytes | None = None, silent: bool = False,
                        buttons: object = ()) -> SendResult:
            await asyncio.sleep(0)
            self.sent.append((chat_id, html))
            wire.append((chat_id, html))
            return SendResult(message_id=len(self.sent))

    a, b = Recorder(), Recorder()
    limiters = RateLimiter(SETTINGS.delivery, clock), RateLimiter(SETTINGS.delivery, clock)
    got = 0
    for _ in range(10):  # passes until all is sent: a chat's next part waits its 1 s gap (in the outbox)
        got += sum(await asyncio.gather(deliver_due(db, a, limiters[0], clock), deliver_due(db, b, limiters[1], clock)))
        if got == 120:
            break
        clock.advance(1.1)
    assert got == 120 and len(a.sent) + len(b.sent) == 120
    everything = a.sent + b.sent
    assert len(set(everything)) == 120  # none twice
    rows = await outbox_rows(db)
    assert {r.state for r in rows} == {"sent"}
    assert all(r.attempts == 1 for r in rows)
    for chat in range(5000, 5040):  # chunks in order, whichever worker sent them
        assert [h for c, h in wire if c == chat] == [f"({k}/3) to {chat}" for k in (1, 2, 3)]


async def test_head_of_chat_index_exists(db) -> None:
    async with db.uow(read_only=True) as session:
        if db.dialect == "postgresql":
            found = await session.scalar(
                text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_outbox_chat_active'"))
        else:
            found = await session.scalar(
                text("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = 'ix_outbox_chat_active'"))
    assert found is not None and "pending" in found and "sending" in found
