"""The digests repository (bot/storage/digests.py) and the leadership statements
(bot/storage/leadership.py) on SQLite and PostgreSQL: matches as a digest reads them, digest rows,
watermarks, the scheduler's claims with SKIP LOCKED, and the fencing token."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from bot.domain import Delivery, DigestState
from bot.storage import digests, leadership
from bot.storage import models as m
from bot.storage.database import Database

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def _add(db: Database, *rows: m.Base) -> list[int]:
    async with db.uow() as session:
        session.add_all(rows)
        await session.flush()
        return [int(row.id) for row in rows]  # type: ignore[attr-defined]


async def _world(db: Database) -> dict[str, int]:
    """Two subscribers; Ann has a rule on two channels (she unfollows one), a muted rule, and Bob
    a rule of his own."""
    ann, bob = await _add(db, m.Subscriber(chat_id=10, created_at=T0), m.Subscriber(chat_id=20, created_at=T0))
    news, other, gone = await _add(
        db, m.Channel(telegram_id=1, username="news", title="News"), m.Channel(telegram_id=2, username="other", title=""),
        m.Channel(telegram_id=3, username="gone", title="Gone", status="removed"))
    rule, muted, bobs = await _add(
        db, m.Rule(subscriber_id=ann, name="", source="обстрел", created_at=T0),
        m.Rule(subscriber_id=ann, name="quiet", source="тишина", delivery=Delivery.MUTED, created_at=T0),
        m.Rule(subscriber_id=bob, name="bob", source="обстрел", created_at=T0, delivered_until=T0 + timedelta(hours=2)))
    posts = await _add(db, *[
        m.Post(channel_id=channel, message_id=n, date=T0 + timedelta(hours=n), text=f"обстрел {n}", text_hash=str(n),
               deleted=n == 4)
        for n, channel in [(1, news), (2, other), (3, news), (4, news), (5, gone)]])
    await _add(db, m.Subscription(subscriber_id=ann, channel_id=other, following=False))
    matches = await _add(db, *[
        m.Match(rule_id=rule, post_id=post, highlights=[[0, 7]], matched_at=T0 + timedelta(hours=n + 1))
        for n, post in enumerate(posts, 1)])
    bob_matches = await _add(db, *[m.Match(rule_id=bobs, post_id=post, matched_at=T0 + timedelta(hours=n + 1))
                                   for n, post in enumerate(posts[:3], 1)])
    await _add(db, m.Match(rule_id=muted, post_id=posts[2], matched_at=T0 + timedelta(hours=4)))
    return {"ann": ann, "bob": bob, "rule": rule, "muted": muted, "bobs": bobs, "news": news, "other": other,
            "p1": posts[0], "p2": posts[1], "p3": posts[2], "m1": matches[0], "m3": matches[2], "b1": bob_matches[0],
            "b3": bob_matches[2]}


async def test_a_digest_reads_the_followed_live_unsent_matches(db: Database) -> None:
    w = await _world(db)
    async with db.uow(read_only=True) as session:
        by_rule = await digests.unsent_matches(session, [w["rule"], w["bobs"]], T0 + timedelta(hours=10))
        # Ann: not the unfollowed channel's post, not the deleted one, not the removed channel's
        assert [r.match_id for r in by_rule[w["rule"]]] == [w["m3"], w["m1"]]
        row = by_rule[w["rule"]][0]
        assert (row.rule_name, row.channel_title, row.message_id, row.highlights, row.subscriber_id) == (
            "обстрел", "News", 3, ((0, 7),), w["ann"])
        # Bob's watermark is at T0 + 2 h: his first match (found at T0 + 2 h) was sent
        assert [r.post_id for r in by_rule[w["bobs"]]] == [w["p3"], w["p2"]]
        early = await digests.unsent_matches(session, [w["rule"]], T0 + timedelta(hours=2))
        assert [r.match_id for r in early[w["rule"]]] == [w["m1"]]
        assert await digests.unsent_matches(session, [], T0) == {}
        week = await digests.matches_posted_between(session, w["ann"], T0, T0 + timedelta(hours=3))
        assert [r.message_id for r in week] == [3, 1]  # the muted rule's match on post 3 is left out
        assert [r.match_id for r in await digests.matches_by_id(session, w["ann"], [w["m1"], w["b1"]])] == [w["m1"]]
        page, after = await digests.matches_page(session, digests.TimelineFilter(w["ann"]), limit=2)
        assert [(r.message_id, r.rule_id) for r in page] == [(4, w["rule"]), (3, w["rule"]), (3, w["muted"])]
        assert after is not None
        rest, end = await digests.matches_page(session, digests.TimelineFilter(w["ann"]), before=after, limit=2)
        assert ([r.message_id for r in rest], end) == ([1], None)


async def test_digest_rows_are_built_once_per_period_and_paged(db: Database) -> None:
    w = await _world(db)
    row = {"subscriber_id": w["ann"], "period_key": "daily:2026-03-01", "kind": "daily", "period_start": T0,
           "period_end": T0 + timedelta(days=1), "state": DigestState.PENDING, "items": 0, "created_at": T0}
    async with db.uow() as session:
        ids = await digests.add_digests(session, [row])
        assert list(ids) == [(w["ann"], "daily:2026-03-01")]
        assert await digests.add_digests(session, [row]) == {}  # the period is built once
        base = ids[(w["ann"], "daily:2026-03-01")]
        await digests.update_digests(session, [{"id": base, "state": DigestState.BUILT, "items": 25,
                                                "match_ids": [w["m1"], w["m3"]]}])
        more = await digests.add_digests(session, [dict(row, period_key=f"more:{base}:1", kind="more")])
    async with db.uow() as session:
        found = await digests.latest_pageable(session, w["ann"])
        assert found is not None and (found.id, found.items, found.match_ids) == (base, 25, [w["m1"], w["m3"]])
        assert await digests.latest_pageable(session, w["bob"]) is None
        assert await digests.latest_pageable(session, w["ann"], base + 1000) is None
        assert await digests.pages_built(session, w["ann"], base) == 1
        await digests.delete_digest(session, more[(w["ann"], f"more:{base}:1")])
        assert await digests.pages_built(session, w["ann"], base) == 0
        keys = await digests.latest_scheduled_keys(session, [w["ann"]])
        assert keys == [(w["ann"], "daily:2026-03-01")]


async def test_watermarks_streams_and_paused_subscribers(db: Database) -> None:
    w = await _world(db)
    async with db.uow() as session:
        rules = await digests.rules_by_subscriber(session, [w["ann"], w["bob"]])
        assert [(r.rule_id, r.delivery, r.covered) for r in rules[w["ann"]]] == [
            (w["rule"], "", T0), (w["muted"], Delivery.MUTED, T0)]
        assert rules[w["bob"]][0].covered == T0 + timedelta(hours=2)
        assert await digests.unmuted_rules(session, [w["ann"], w["bob"]]) == {w["ann"]: [w["rule"]],
                                                                              w["bob"]: [w["bobs"]]}
        await digests.advance_rules(session, [w["rule"], w["bobs"]], T0 + timedelta(hours=1))  # never back
        await digests.set_watermarks(session, [{"id": w["ann"], "last_digest_at": T0 + timedelta(hours=1)}])
        assert not await digests.any_paused(session)
    async with db.uow() as session:
        rules = await digests.rules_by_subscriber(session, [w["ann"], w["bob"]])
        assert [r.covered for r in rules[w["ann"]] + rules[w["bob"]]] == [
            T0 + timedelta(hours=1), T0, T0 + timedelta(hours=2)]
        await session.execute(update(m.Subscriber).where(m.Subscriber.id == w["bob"]).values(paused=True))
    async with db.uow() as session:
        assert await digests.any_paused(session)
        await digests.skip_paused(session, T0 + timedelta(days=1))
        bob = await session.get(m.Subscriber, w["bob"])
        assert bob is not None and bob.last_digest_at == T0 + timedelta(days=1)
        rules = await digests.rules_by_subscriber(session, [w["ann"], w["bob"]])
        assert rules[w["bob"]][0].covered == T0 + timedelta(days=1)
        assert rules[w["ann"]][0].covered == T0 + timedelta(hours=1)


async def test_instant_alerts_wait_their_gap(db: Database) -> None:
    w = await _world(db)
    now = T0 + timedelta(hours=10)
    async with db.uow() as session:
        await session.execute(update(m.Subscriber).values(frequency="instant"))
        assert sorted((await digests.instant_ready(session, now, timedelta(seconds=60)))[0]) == [w["ann"], w["bob"]]
        await digests.add_digests(session, [{
            "subscriber_id": w["ann"], "period_key": "instant:x", "kind": "instant", "period_start": T0,
            "period_end": now - timedelta(seconds=20), "state": DigestState.BUILT, "items": 1, "created_at": T0}])
        due, held = await digests.instant_ready(session, now, timedelta(seconds=60))
        assert (due, held) == ([w["bob"]], now + timedelta(seconds=40))
        assert (await digests.instant_ready(session, now, timedelta(seconds=60), [w["ann"]]))[0] == []


async def test_due_subscribers_are_claimed_and_locked(db: Database) -> None:
    w = await _world(db)
    async with db.uow() as session:
        await digests.set_next_due(session, {w["bob"]: T0 + timedelta(days=1)})
        assert [s.id for s in await digests.claim_due(session, T0, 10)] == [w["ann"]]
        assert [s.id for s in await digests.claim_due(session, T0 + timedelta(days=2), 10, skip={w["ann"]})] == [w["bob"]]
        assert [s.id for s in await digests.claim_due(session, T0 + timedelta(days=2), 10, only=w["bob"])] == [w["bob"]]
        assert [s.id for s in await digests.claim_subscribers(session, [w["bob"], w["ann"]])] == [w["ann"], w["bob"]]
        assert await digests.newest_match(session) > 0
        assert (await digests.lock_subscriber(session, 20)).id == w["bob"]  # type: ignore[union-attr]
        assert await digests.lock_subscriber(session, 99) is None
    if db.dialect != "postgresql":
        return  # SQLite: one writer at a time (BEGIN IMMEDIATE), so no second claim runs alongside
    async with db.uow() as first:
        mine = await digests.claim_due(first, T0 + timedelta(days=2), 1)
        async with db.uow() as second:  # another scheduler process skips the locked row
            theirs = await digests.claim_due(second, T0 + timedelta(days=2), 10)
            assert {s.id for s in mine} | {s.id for s in theirs} == {w["ann"], w["bob"]}
            assert not {s.id for s in mine} & {s.id for s in theirs}
            assert await digests.claim_subscribers(second, [s.id for s in mine]) == []


async def test_routes_and_the_preview_reads(db: Database) -> None:
    w = await _world(db)
    await _add(db, m.NotifyTarget(subscriber_id=w["ann"], rule_id=w["rule"], mode="only", url="plain:x", masked="x",
                                  body_format="text", body_limit=900, created_at=T0))
    async with db.uow(read_only=True) as session:
        routes = await digests.routes(session, [w["ann"], w["bob"], w["ann"]])
        assert [(r.rule_id, r.only, r.body_limit) for r in routes[w["ann"]]] == [(w["rule"], True, 900)]
        assert w["bob"] not in routes and await digests.routes(session, []) == {}
        assert await digests.language_and_zone(session, 10) == ("en", "Europe/Moscow")
        assert await digests.language_and_zone(session, 99) is None
        posts = await digests.posts_between(session, T0, T0 + timedelta(hours=5))
        assert [p.message_id for p, _ in posts] == [3, 2, 1]  # not deleted, not the removed channel's


async def test_the_fence_reads_the_current_term(db: Database) -> None:
    async with db.uow() as session:
        assert await leadership.current_generation(session, "scheduler") is None
        session.add(m.LeaderTerm(name="scheduler", generation=7, holder="h:1", started_at=T0))
    async with db.uow() as session:
        assert await leadership.current_generation(session, "scheduler") == 7


# PostgreSQL only: the advisory lock is PostgreSQL's; SQLite runs one process, which always leads
@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_the_lock_and_its_terms_on_the_leaders_own_connection(db: Database) -> None:
    import asyncpg

    from bot.runtime.leader import asyncpg_dsn

    dsn = asyncpg_dsn(db.engine.url.render_as_string(hide_password=False))
    one, two = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    try:
        assert await leadership.try_lock(one, 0x1234, 5) is True
        assert await leadership.try_lock(two, 0x1234, 5) is False
        assert await leadership.lock_held(one, 0x1234, 5) is True
        assert await leadership.lock_held(two, 0x1234, 5) is False
        assert await leadership.begin_term(one, "scheduler", "h:1", 5) == 1
        assert await leadership.begin_term(two, "scheduler", "h:2", 5) == 2
    finally:
        await one.close()
        await two.close()
    async with db.uow(read_only=True) as session:
        assert await leadership.current_generation(session, "scheduler") == 2
        holder = await session.scalar(select(m.LeaderTerm.holder))
    assert holder == "h:2"
