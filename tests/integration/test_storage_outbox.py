"""The outbox repository (bot/storage/outbox.py) on SQLite and PostgreSQL: head rows, claims with
SKIP LOCKED, leases, marks, and the delivery workers' heartbeats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.dialects import postgresql

from bot.domain import DigestState, OutboxState
from bot.storage import models as m
from bot.storage import outbox, posts
from bot.storage.database import Database

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def _subscriber(db: Database, chat_id: int, language: str = "en") -> int:
    async with db.uow() as session:
        sub = m.Subscriber(chat_id=chat_id, language=language, created_at=T0)
        session.add(sub)
        await session.flush()
        return sub.id


async def _digest(db: Database, sub_id: int, state: str = DigestState.BUILT) -> int:
    async with db.uow() as session:
        row = m.Digest(subscriber_id=sub_id, period_key=f"daily:{sub_id}:{state}", kind="daily", period_start=T0,
                       period_end=T0, state=state, created_at=T0)
        session.add(row)
        await session.flush()
        return row.id


async def _target(db: Database, sub_id: int, *, keyed: bool) -> int:
    async with db.uow() as session:
        row = m.NotifyTarget(subscriber_id=sub_id, url="plain:ntfy://example", masked="ntfy://example",
                             body_format="text", body_limit=4000, keyed=keyed, created_at=T0)
        session.add(row)
        await session.flush()
        return row.id


async def _rows(db: Database, sub_id: int, chat_id: int, chunks: int, *, digest_id: int | None = None,
                target_id: int | None = None, due: datetime = T0) -> list[int]:
    async with db.uow() as session:
        await outbox.add_rows(session, [
            {"digest_id": digest_id, "subscriber_id": sub_id, "chat_id": chat_id, "kind": "digest", "chunk_no": n,
             "chunk_total": chunks, "text": f"part {n}", "attachment": None, "random_id": outbox.new_random_id(),
             "state": OutboxState.PENDING, "attempts": 0, "not_before": due, "created_at": T0,
             "target_id": target_id, "silent": n > 1, "buttons": [[{"text": "More", "data": "dg:more:1"}]]}
            for n in range(1, chunks + 1)])
        found = await session.scalars(select(m.Outbox.id).where(m.Outbox.chat_id == chat_id).order_by(m.Outbox.id))
        return list(found)[-chunks:]


async def _row(db: Database, row_id: int) -> m.Outbox:
    async with db.uow(read_only=True) as session:
        row = await session.get(m.Outbox, row_id)
    assert row is not None
    return row


async def _digest_state(db: Database, digest_id: int) -> str:
    async with db.uow(read_only=True) as session:
        return str(await session.scalar(select(m.Digest.state).where(m.Digest.id == digest_id)))


async def test_only_a_destinations_head_row_is_due_and_a_claim_takes_it_and_its_digest(db: Database) -> None:
    sub = await _subscriber(db, 10)
    digest = await _digest(db, sub)
    target = await _target(db, sub, keyed=True)
    first, second = await _rows(db, sub, 10, 2, digest_id=digest)
    (elsewhere,) = await _rows(db, sub, 10, 1, digest_id=digest, target_id=target)
    later_sub = await _subscriber(db, 20)
    (later,) = await _rows(db, later_sub, 20, 1, due=T0 + timedelta(minutes=5))
    async with db.uow() as session:
        heads = await outbox.due_heads(session, T0, limit=10)
        # the chat's first chunk and the target's row (its own queue); chat 20's row is not due yet
        assert [j.id for j in heads] == [first, elsewhere]
        job = heads[0]
        assert (job.chunk_no, job.chunk_total, job.silent, job.buttons) == (1, 2, False, ((("More", "dg:more:1"),),))
        assert await outbox.due_heads(session, T0, limit=10, exclude={10}) == []
        await outbox.claim(session, heads[:1], T0)
    claimed = await _row(db, first)
    assert (claimed.state, claimed.attempts, claimed.claimed_at) == (OutboxState.SENDING, 1, T0)
    assert await _digest_state(db, digest) == DigestState.SENDING
    async with db.uow() as session:
        # the claimed head still holds the chat: the second chunk waits behind it
        assert [j.id for j in await outbox.due_heads(session, T0 + timedelta(hours=1), limit=10)] == [elsewhere, later]
        await outbox.release(session, [first])
        assert [j.id for j in await outbox.due_heads(session, T0, limit=1)] == [first]
    released = await _row(db, first)
    assert (released.state, released.attempts, released.claimed_at) == (OutboxState.PENDING, 0, None)
    assert second not in {j.id for j in heads}


# PostgreSQL only: SQLite has one writer at a time (BEGIN IMMEDIATE): no second claim can run alongside
@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_a_claim_skips_the_rows_another_transaction_locked(db: Database) -> None:
    subs = [await _subscriber(db, chat) for chat in (1, 2, 3)]
    ids = [(await _rows(db, sub, chat, 1))[0] for sub, chat in zip(subs, (1, 2, 3), strict=True)]
    async with db.uow() as first:
        mine = await outbox.due_heads(first, T0, limit=2)
        assert [j.id for j in mine] == ids[:2]
        async with db.uow() as second:  # another worker while the first holds its candidates
            theirs = await outbox.due_heads(second, T0, limit=10)
            assert [j.id for j in theirs] == ids[2:]
            await outbox.claim(second, theirs, T0)
        await outbox.claim(first, mine, T0)
    assert [(await _row(db, i)).attempts for i in ids] == [1, 1, 1]


async def test_a_lease_is_renewed_and_an_expired_one_is_found_requeued_or_uncertain(db: Database) -> None:
    sub = await _subscriber(db, 10)
    plain = await _target(db, sub, keyed=False)
    (chat_row,) = await _rows(db, sub, 10, 1)
    (target_row,) = await _rows(db, sub, 10, 1, target_id=plain)
    async with db.uow() as session:
        jobs = await outbox.due_heads(session, T0, limit=10)
        await outbox.claim(session, jobs, T0)
        await outbox.renew(session, [chat_row], T0 + timedelta(minutes=2))
        await outbox.on_wire(session, target_row, T0 + timedelta(seconds=1))
    async with db.uow() as session:
        found = await outbox.expired(session, T0 + timedelta(minutes=1))
        assert found == [outbox.Expired(target_row, 1, plain, False, True)]  # the renewed one is still held
        found = await outbox.expired(session, T0 + timedelta(minutes=3))
        assert sorted(e.id for e in found) == [chat_row, target_row]
        await outbox.requeue(session, [chat_row], T0 + timedelta(minutes=3), "worker gone")
        await outbox.set_uncertain(session, [target_row], "may have been shown")
    again = await _row(db, chat_row)
    assert (again.state, again.claimed_at, again.not_before, again.attempts, again.last_error) == (
        OutboxState.PENDING, None, T0 + timedelta(minutes=3), 1, "worker gone")
    doubt = await _row(db, target_row)
    assert (doubt.state, doubt.last_error) == (OutboxState.UNCERTAIN, "may have been shown")
    async with db.uow() as session:  # only 'sending' rows are renewed, stamped or requeued
        await outbox.renew(session, [chat_row], T0 + timedelta(hours=1))
        await outbox.on_wire(session, chat_row, T0 + timedelta(hours=1))
        await outbox.requeue(session, [target_row], T0, "no")
    assert ((await _row(db, chat_row)).claimed_at, (await _row(db, chat_row)).sent_at) == (None, None)
    assert (await _row(db, target_row)).state == OutboxState.UNCERTAIN


async def test_marks_sent_space_the_chats_next_row_and_finish_the_digest(db: Database) -> None:
    sub = await _subscriber(db, 10)
    digest = await _digest(db, sub)
    one, two, three = await _rows(db, sub, 10, 3, digest_id=digest)
    async with db.uow() as session:
        jobs = await outbox.due_heads(session, T0, limit=10)
        await outbox.claim(session, jobs, T0)
        await outbox.mark_sent(session, [(one, 501)], T0)
        await outbox.space_next(session, jobs, T0, lambda chat: timedelta(seconds=3 if chat == 10 else 99))
        await outbox.finish_digest(session, digest, T0)
    sent = await _row(db, one)
    assert (sent.state, sent.message_id, sent.sent_at) == (OutboxState.SENT, 501, T0)
    assert [(await _row(db, i)).not_before for i in (two, three)] == [T0 + timedelta(seconds=3)] * 2
    assert await _digest_state(db, digest) == DigestState.SENDING  # two rows are still to go
    async with db.uow() as session:
        await outbox.claim(session, [j for j in await outbox.due_heads(session, T0 + timedelta(seconds=3), limit=5)],
                           T0)
        await outbox.mark_sent(session, [(two, 502)], T0)
        await outbox.claim(session, await outbox.due_heads(session, T0 + timedelta(seconds=3), limit=5), T0)
        await outbox.mark_sent(session, [(three, 503)], T0 + timedelta(seconds=4))
        await outbox.finish_digests(session, [digest, digest], T0 + timedelta(seconds=4))
    assert [(await _row(db, i)).message_id for i in (one, two, three)] == [501, 502, 503]
    assert await _digest_state(db, digest) == DigestState.SENT


async def test_retry_done_and_an_unavailable_chat(db: Database) -> None:
    sub = await _subscriber(db, 10)
    digest = await _digest(db, sub)
    target = await _target(db, sub, keyed=True)
    one, two = await _rows(db, sub, 10, 2, digest_id=digest)
    (away,) = await _rows(db, sub, 10, 1, target_id=target)
    async with db.uow() as session:
        await outbox.claim(session, await outbox.due_heads(session, T0, limit=10), T0)
        await outbox.mark_retry(session, one, T0 + timedelta(seconds=30), "FloodWait " * 100, count_attempt=False)
        await outbox.mark_done(session, away, OutboxState.FAILED, "gone")
    retried = await _row(db, one)
    assert (retried.state, retried.attempts, retried.not_before, len(retried.last_error or "")) == (
        OutboxState.PENDING, 0, T0 + timedelta(seconds=30), 500)
    assert ((await _row(db, away)).state, (await _row(db, away)).last_error) == (OutboxState.FAILED, "gone")
    async with db.uow() as session:
        assert await outbox.fail_chat(session, 10, "blocked") == 2  # the chat's rows, not the target's
        await outbox.deactivate_chat(session, 10)
        assert await outbox.digests_of_chat(session, 10) == [digest]
        assert await outbox.digests_of_rows(session, [one, away]) in ([digest, None], [None, digest])
        await outbox.finish_digest(session, digest, T0)
        assert await outbox.fail_chat(session, 10, "blocked") == 0
    assert {(await _row(db, i)).state for i in (one, two)} == {OutboxState.FAILED}
    assert await _digest_state(db, digest) == DigestState.SENT
    async with db.uow(read_only=True) as session:
        assert await session.scalar(select(m.Subscriber.active).where(m.Subscriber.id == sub)) is False


async def test_notices_go_to_the_chats_that_have_a_subscriber(db: Database) -> None:
    await _subscriber(db, 10, "ru")
    await _subscriber(db, 20)
    async with db.uow() as session:
        found = sorted(await outbox.subscribers_of_chats(session, [10, 20, 30]))
        assert [(chat, lang) for _, chat, lang in found] == [(10, "ru"), (20, "en")]
        for sub_id, chat, lang in found:
            outbox.add_notice(session, sub_id, chat, f"<b>{lang}</b>", T0)
    async with db.uow() as session:
        jobs = await outbox.due_heads(session, T0, limit=10)
    assert [(j.chat_id, j.text) for j in jobs] == [(10, "<b>ru</b>"), (20, "<b>en</b>")]
    assert len({j.random_id for j in jobs}) == 2 and all(j.random_id > 0 for j in jobs)


async def test_worker_heartbeats_count_the_live_and_forget_the_long_dead(db: Database) -> None:
    async with db.uow() as session:
        await outbox.worker_beat(session, "a", T0)
        await outbox.worker_beat(session, "b", T0 - timedelta(minutes=1))
        await outbox.worker_beat(session, "c", T0 - timedelta(hours=1))
        await outbox.worker_beat(session, "a", T0 + timedelta(seconds=2))  # an update, not a second row
        assert await outbox.live_workers(session, T0 - timedelta(seconds=30)) == 1
        assert await outbox.live_workers(session, T0 - timedelta(minutes=2)) == 2
        await outbox.forget_workers(session, T0 - timedelta(minutes=5))
        await outbox.worker_leave(session, "b")
        names = list(await session.scalars(select(m.DeliveryWorker.name).order_by(m.DeliveryWorker.name)))
    assert names == ["a"]


async def test_the_monitor_reads_counts_by_state_and_the_oldest_due_row(db: Database) -> None:
    sub = await _subscriber(db, 10)
    await _rows(db, sub, 10, 2, due=T0 - timedelta(minutes=3))
    (later,) = await _rows(db, sub, 20, 1, due=T0 + timedelta(minutes=3))
    async with db.uow() as session:
        await outbox.mark_done(session, later, OutboxState.FAILED, "gone")
        assert await outbox.state_counts(session) == {("pending", "digest"): 2, ("failed", "digest"): 1}
        assert await outbox.oldest_due(session, T0) == T0 - timedelta(minutes=3)
        assert await outbox.oldest_due(session, T0 - timedelta(hours=1)) is None
        assert await posts.unindexed(session) == 0
        channel = m.Channel(telegram_id=5, username="c", title="c")
        session.add(channel)
        await session.flush()
        session.add(m.Post(channel_id=channel.id, message_id=1, date=T0, text="x", text_hash="x"))
        await session.flush()
        assert await posts.unindexed(session) == 1


async def _backlog(db: Database, chats: int, chunks: int) -> list[tuple[int, int, int, datetime]]:
    """``chats`` chats with a digest of ``chunks`` pending rows each, due a few seconds apart in an
    order other than the chats'; (row id, chat id, chunk, due) of every row, added in one statement."""
    async with db.uow() as session:
        session.add_all([m.Subscriber(chat_id=1000 + c, language="en", created_at=T0) for c in range(chats)])
        await session.flush()
        subs = (await session.execute(select(m.Subscriber.id, m.Subscriber.chat_id)
                                      .where(m.Subscriber.chat_id >= 1000))).all()
        await outbox.add_rows(session, [
            {"digest_id": None, "subscriber_id": sub, "chat_id": chat, "kind": "digest", "chunk_no": n,
             "chunk_total": chunks, "text": f"part {n}", "attachment": None, "random_id": outbox.new_random_id(),
             "state": OutboxState.PENDING, "attempts": 0, "not_before": T0 - timedelta(seconds=(chat * 7) % 13),
             "created_at": T0, "target_id": None, "silent": n > 1, "buttons": None}
            for sub, chat in subs for n in range(1, chunks + 1)])
        found = await session.execute(select(m.Outbox.id, m.Outbox.chat_id, m.Outbox.chunk_no, m.Outbox.not_before)
                                      .where(m.Outbox.chat_id >= 1000))
        return [(int(i), int(c), int(n), due) for i, c, n, due in found]


async def test_a_claim_over_a_large_backlog_takes_alerts_first_then_each_chats_first_chunk_oldest_first(
        db: Database) -> None:
    backlog = await _backlog(db, chats=400, chunks=3)
    sub = await _subscriber(db, 10)
    async with db.uow() as session:
        session.add(m.Outbox(subscriber_id=sub, chat_id=10, kind="alert", text="alert", random_id=outbox.new_random_id(),
                             not_before=T0, created_at=T0))
    async with db.uow(read_only=True) as session:
        (alert,) = (await session.scalars(select(m.Outbox.id).where(m.Outbox.kind == "alert"))).all()
    # each chat's first chunk, oldest due first, then by id (SQLite hands back naive times)
    heads = [(chat, row_id) for _, row_id, chat in sorted(
        (due.replace(tzinfo=UTC) if due.tzinfo is None else due, row_id, chat)
        for row_id, chat, chunk, due in backlog if chunk == 1)]
    async with db.uow() as session:
        jobs = await outbox.due_heads(session, T0, limit=60, exclude={1003})
        assert [j.id for j in jobs] == [alert, *[row_id for chat, row_id in heads if chat != 1003][:59]]
        assert all(j.chunk_no == 1 for j in jobs) and len({j.chat_id for j in jobs}) == 60
        await outbox.claim(session, jobs, T0)
    claimed = {j.chat_id for j in jobs}
    async with db.uow() as session:
        # the claimed chats' second chunks wait for the first; the next chats' first chunks come
        after = await outbox.due_heads(session, T0, limit=5)
    assert [j.id for j in after] == [row_id for chat, row_id in heads if chat not in claimed][:5]


def _plan_nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [node] + [n for child in node.get("Plans", []) for n in _plan_nodes(child)]


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_a_claim_on_statistics_of_an_empty_outbox_walks_its_index_to_the_limit(db: Database) -> None:
    """Planned as the worker plans it, after the outbox was analysed empty and then filled: the
    claim reads its partial index in order under the LIMIT, and finds each row's head of chat by
    the chat, never sorting the due rows nor scanning an index or the table whole."""
    async with db.uow() as session:
        await session.execute(text("ANALYZE outbox"))
    # 10,000 rows: at this size, planned with sorting allowed, PostgreSQL 15 reads every due row and sorts
    await _backlog(db, chats=2500, chunks=4)
    for alerts in (True, False):
        statement = outbox.due_query("postgresql", T0, alerts=alerts, limit=40, exclude={1001})
        sql = str(statement.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
        async with db.uow() as session, outbox.claim_order(session):
            (plan,) = (await session.execute(text(f"EXPLAIN (FORMAT JSON) {sql}"))).scalar_one()
        nodes = _plan_nodes(plan["Plan"])
        assert nodes[0]["Node Type"] == "Limit" and nodes[1]["Node Type"] == "LockRows"
        walk = nodes[2]
        assert walk["Node Type"] == "Index Scan" and walk["Index Name"] == (
            "ix_outbox_alerts_due" if alerts else "ix_outbox_pending_due")
        assert not [n["Node Type"] for n in nodes if n["Node Type"] in {"Sort", "Incremental Sort", "Seq Scan",
                                                                         "Bitmap Heap Scan", "Hash", "Materialize"}]
        probes = [n for n in nodes if n.get("Index Name") == "ix_outbox_chat_active"]
        assert probes and all("chat_id = outbox.chat_id" in n.get("Index Cond", "") for n in probes)


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_the_claim_order_gives_the_planner_back_its_settings(db: Database) -> None:
    """Inside, sorting is off; after, the transaction's settings are what they were before, a
    setting of the caller's own included."""
    async def settings(session: Any) -> tuple[str, str]:
        row = (await session.execute(text(
            "SELECT current_setting('enable_sort'), current_setting('enable_incremental_sort')"))).one()
        return row[0], row[1]

    for own in ("on", "off"):
        async with db.uow() as session:
            await session.execute(text(f"SET LOCAL enable_incremental_sort = {own}"))
            async with outbox.claim_order(session):
                assert await settings(session) == ("off", "off")
            assert await settings(session) == ("on", own)


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_finishing_digests_on_statistics_of_an_empty_outbox_reads_only_their_rows(db: Database) -> None:
    """A delivery worker's flush marks the digests whose rows are all answered. After the outbox was
    analysed empty and then filled (a daily tick queues its rows faster than autovacuum analyses
    them), the test of each digest still reads that digest's rows by the digest, never every
    active row (the NOT EXISTS form: a hash of them all, or ix_outbox_state_due read whole once a
    digest, 0.2-0.3 s a flush at 300,000 rows). Then it marks exactly the digests with no active row."""
    async with db.uow() as session:
        await session.execute(text("ANALYZE outbox"))
        subs = [m.Subscriber(chat_id=1000 + c, language="en", created_at=T0) for c in range(2500)]
        session.add_all(subs)
        await session.flush()
        digests = [m.Digest(subscriber_id=sub.id, period_key="daily:2026-03-01", kind="daily", period_start=T0,
                            period_end=T0, state=DigestState.BUILT, created_at=T0) for sub in subs]
        session.add_all(digests)
        await session.flush()
        await outbox.add_rows(session, [
            {"digest_id": d.id, "subscriber_id": d.subscriber_id, "chat_id": sub.chat_id, "kind": "digest",
             "chunk_no": n, "chunk_total": 4, "text": f"part {n}", "attachment": None,
             "random_id": outbox.new_random_id(), "state": OutboxState.SENT if n == 1 and i < 30 else OutboxState.PENDING,
             "attempts": 0, "not_before": T0, "created_at": T0, "target_id": None, "silent": False, "buttons": None}
            for i, (d, sub) in enumerate(zip(digests, subs, strict=True)) for n in range(1, 5)])
        ids = [d.id for d in digests]
    asked = ids[:40]
    sql = str(outbox.finish_digests_statement(asked, T0).compile(dialect=postgresql.dialect(),
                                                                 compile_kwargs={"literal_binds": True}))
    async with db.uow() as session:
        (plan,) = (await session.execute(text(f"EXPLAIN (FORMAT JSON) {sql}"))).scalar_one()
        await session.rollback()
    nodes = _plan_nodes(plan["Plan"])
    reads = [n for n in nodes if n.get("Relation Name") == "outbox" or "outbox" in n.get("Index Name", "")]
    assert reads and all(n["Node Type"] not in {"Seq Scan", "Hash"} for n in nodes), [n["Node Type"] for n in nodes]
    assert all(n.get("Index Name") != "ix_outbox_state_due" for n in nodes)
    assert all("digest_id = digests.id" in n.get("Index Cond", n.get("Recheck Cond", "digest_id = digests.id"))
               for n in reads)
    # the rows of the first 20 digests all answered, of the next 20 the first only: 20 are sent
    async with db.uow() as session:
        await session.execute(text(f"UPDATE outbox SET state = 'sent' WHERE digest_id IN "
                                   f"({', '.join(map(str, ids[:20]))})"))
        await outbox.finish_digests(session, asked, T0)
    async with db.uow(read_only=True) as session:
        sent = (await session.scalars(select(m.Digest.id).where(m.Digest.state == DigestState.SENT))).all()
    assert sorted(sent) == sorted(ids[:20])
