"""The repositories' reads for the web view (a subscriber's channels and search scope, a post as a
subscriber may see it, a sign-in link's language) and the admin's pages (channel health, delivery,
subscriber counts), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.storage import access, posts, rules, stats
from bot.storage import models as m
from bot.storage.database import Database

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def _add(db: Database, *rows: m.Base) -> list[int]:
    async with db.uow() as session:
        session.add_all(rows)
        await session.flush()
        return [getattr(row, "id", 0) for row in rows]


async def _world(db: Database) -> dict[str, int]:
    """Three channels (two active, one removed), two subscribers; Alice unfollows one active
    channel; a post on each channel, Alice's rule matched the post of the channel she unfollowed."""
    news, other, gone = await _add(
        db, m.Channel(telegram_id=1, username="news", title="News"),
        m.Channel(telegram_id=2, username=None, title="Another", last_post_at=T0 - timedelta(minutes=5),
                  account="main"),
        m.Channel(telegram_id=3, username="gone", title="Gone", status="removed"))
    alice, boris = await _add(db, m.Subscriber(chat_id=1001, language="ru"),
                              m.Subscriber(chat_id=2002, frequency="weekly", paused=True))
    rule, boris_rule = await _add(db, m.Rule(subscriber_id=alice, source="новости"),
                                  m.Rule(subscriber_id=boris, source="другое"))
    on_news, on_other, on_gone = await _add(
        db, *(m.Post(channel_id=c, message_id=5, date=T0, text=f"post {c}", text_hash=f"h{c}")
              for c in (news, other, gone)))
    await _add(db, m.Subscription(subscriber_id=alice, channel_id=other, following=False),
               m.Match(rule_id=rule, post_id=on_other, highlights=[[0, 4]]),
               m.Match(rule_id=boris_rule, post_id=on_other, highlights=[[5, 6]]),
               m.PostVersion(post_id=on_news, text_hash="h0", text="the first text", replaced_at=T0))
    return {"news": news, "other": other, "gone": gone, "alice": alice, "boris": boris, "rule": rule,
            "on_news": on_news, "on_other": on_other, "on_gone": on_gone}


async def test_own_channels_and_search_scope_leave_out_what_a_subscriber_unfollowed(db: Database) -> None:
    w = await _world(db)
    async with db.uow(read_only=True) as session:
        assert await rules.own_channels(session, w["alice"]) == [rules.ChannelChoice(w["news"], "News", "news", 1)]
        assert [c.title for c in await rules.own_channels(session, w["boris"])] == ["Another", "News"]
        assert await rules.search_scope_of(session, w["alice"]) == ["news"]
        assert await rules.search_scope_of(session, w["boris"]) == []  # follows them all: no list
    await _add(db, m.Subscription(subscriber_id=w["alice"], channel_id=w["news"], following=False))
    async with db.uow(read_only=True) as session:
        assert await rules.search_scope_of(session, w["alice"]) == ["-"]  # none left: no channel matches "-"
        assert (await rules.subscriber_by_id(session, w["boris"])).chat_id == 2002  # type: ignore[union-attr]
        assert await rules.subscriber_by_id(session, 999) is None


async def test_a_post_is_seen_with_its_versions_and_only_the_viewers_own_matches(db: Database) -> None:
    w = await _world(db)
    async with db.uow(read_only=True) as session:
        view = await posts.seen_by(session, w["alice"], w["on_news"])
        assert view is not None
        assert (view.post.text, view.channel.username, view.link) == (f"post {w['news']}", "news", "https://t.me/news/5")
        assert [v.text for v in view.versions] == ["the first text"]
        assert view.own_matches == []
        # a channel she unfollowed: only because her rule matched it, and only her rule's match
        matched = await posts.seen_by(session, w["alice"], w["on_other"])
        assert matched is not None and matched.own_matches == [("новости", [[0, 4]])]
        assert matched.link == "https://t.me/c/2/5"
        assert await posts.seen_by(session, w["alice"], w["on_gone"]) is None  # removed, nothing matched
        assert await posts.seen_by(session, w["boris"], w["on_gone"]) is None
        assert await posts.seen_by(session, w["alice"], 10_000) is None


async def test_a_sign_in_links_language_while_it_is_live(db: Database) -> None:
    await _world(db)
    async with db.uow() as session:
        await access.add_login(session, "live", 1001, T0, T0 + timedelta(minutes=10))
        await access.add_login(session, "stranger", 7, T0, T0 + timedelta(minutes=10))
    async with db.uow(read_only=True) as session:
        assert await access.login_language(session, "live", T0) == "ru"
        assert await access.login_language(session, "live", T0 + timedelta(minutes=11)) is None  # expired
        assert await access.login_language(session, "stranger", T0) is None  # never sent /start
    async with db.uow() as session:
        assert await access.use_login(session, "live", T0) == 1001
    async with db.uow(read_only=True) as session:
        assert await access.login_language(session, "live", T0) is None  # used


async def test_the_admins_channel_health_delivery_and_subscriber_counts(db: Database) -> None:
    w = await _world(db)
    await _add(db, m.Channel(telegram_id=4, username="broken", title="Broken", error="private", error_since=T0),
               *(m.Outbox(subscriber_id=w["alice"], chat_id=1001, text="secret text", random_id=n, state=state,
                          last_error=state, created_at=T0 + timedelta(seconds=n))
                 for n, state in enumerate(["sent", "failed", "uncertain", "pending"])),
               m.DeliveryWorker(name="w2", heartbeat_at=T0), m.DeliveryWorker(name="w1", heartbeat_at=T0),
               m.WebSession(token_hash="s1", user_id=1001, expires_at=T0 + timedelta(days=1)),
               m.WebSession(token_hash="s2", user_id=1001, expires_at=T0 - timedelta(days=1)),
               m.FeedToken(token_hash="f1", subscriber_id=w["alice"]),
               m.FeedToken(token_hash="f2", subscriber_id=w["alice"], revoked_at=T0))
    async with db.uow(read_only=True) as session:
        health = await stats.channel_health(session, T0)
        assert [(h.channel.title, h.posts, h.lag_seconds) for h in health] == [
            ("Broken", 0, None), ("Another", 1, 300.0), ("News", 1, None)]  # failing first; removed left out
        assert await stats.unassigned_channels(session) == 2  # News and Broken; Another is main's
        failures = await stats.delivery_failures(session)
        assert [(f.state, f.last_error) for f in failures] == [("uncertain", "uncertain"), ("failed", "failed")]
        assert [w.name for w in await stats.delivery_workers(session)] == ["w1", "w2"]
        counts = await stats.subscriber_counts(session, T0)
    assert counts == stats.SubscriberCounts(
        total=2, active=2, paused=1, groups=0, with_rules=2, rules=2,
        by_frequency=[("daily", 1), ("weekly", 1)], by_language=[("en", 1), ("ru", 1)], web_sessions=1, feeds=1)
