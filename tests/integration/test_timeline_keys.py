"""The timeline's keys: each match carries its post's date and channel (migration 0027), copied by
the database for every writer, and filled in for the matches stored before the migration; a page
is the newest of the subscriber's rules' matches after the key, each post once."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.storage import models as m
from bot.storage.database import Database
from bot.storage.digests import TimelineFilter, matches_page
from tests.digest_support import T0, add_channel, add_post_match, add_rule, add_subscriber


async def _copies(db: Database) -> list[tuple[object, ...]]:
    async with db.uow(read_only=True) as session:
        return [tuple(r) for r in (await session.execute(
            select(m.Match.post_id, m.Match.post_date, m.Post.date, m.Match.post_channel_id, m.Post.channel_id)
            .join(m.Post, m.Post.id == m.Match.post_id).order_by(m.Match.id))).all()]


async def test_the_migration_fills_old_matches_and_the_trigger_new_ones(db: Database) -> None:
    from bot.storage.migrate import downgrade, upgrade

    sub = await add_subscriber(db, chat_id=41)
    rule = await add_rule(db, sub, "батальон")
    a, b = await add_channel(db, "a"), await add_channel(db, "b")
    await add_post_match(db, a, rule, "Батальон один", date=T0)
    await add_post_match(db, b, rule, "Батальон два", date=T0 - timedelta(days=3))
    await downgrade(db.engine, "0026_outbox_buttons")  # the columns go: the upgrade fills them from the posts
    await upgrade(db.engine)
    await add_post_match(db, b, rule, "Батальон три", date=T0 - timedelta(days=1))  # after: the trigger's
    copies = await _copies(db)
    assert len(copies) == 3
    for _, copied_date, date, copied_channel, channel in copies:
        assert copied_date == date and copied_channel == channel
    assert [c[3] for c in copies] == [a, b, b]


async def test_pages_merge_the_rules_each_post_once_newest_first(db: Database) -> None:
    sub = await add_subscriber(db, chat_id=42)
    other = await add_subscriber(db, chat_id=43)
    r1, r2 = await add_rule(db, sub, "батальон"), await add_rule(db, sub, "рота")
    theirs = await add_rule(db, other, "батальон")
    ch = await add_channel(db, "c")
    posts = []
    for n in range(9):  # three posts share each date; every third post is in both rules
        date = T0 - timedelta(hours=n // 3)
        post = await add_post_match(db, ch, r1 if n % 2 else r2, f"батальон рота {n}", date=date)
        async with db.uow() as session:
            if n % 3 == 0:
                session.add(m.Match(rule_id=r2 if n % 2 else r1, post_id=post, highlights=[]))
            session.add(m.Match(rule_id=theirs, post_id=post, highlights=[]))
        posts.append((date, post))
    want = [p for _, p in sorted(posts, reverse=True)]
    shown: list[int] = []
    key = None
    async with db.uow(read_only=True) as session:
        while True:
            rows, key = await matches_page(session, TimelineFilter(sub, since=T0 - timedelta(days=1)), before=key, limit=2)
            assert rows and all(r.subscriber_id == sub for r in rows)
            shown += list(dict.fromkeys(r.post_id for r in rows))
            if key is None:
                break
        assert shown == want
        both = {r.rule_id for r in (await matches_page(session, TimelineFilter(sub), limit=9))[0] if r.post_id == posts[0][1]}
        assert both == {r1, r2}
        only_r1, _ = await matches_page(session, TimelineFilter(sub, rule_id=r1), limit=20)
        assert {r.post_id for r in only_r1} == {p for n, (_, p) in enumerate(posts) if n % 2 or n % 3 == 0}
        assert (await matches_page(session, TimelineFilter(sub, since=T0 + timedelta(hours=1))))[0] == []
