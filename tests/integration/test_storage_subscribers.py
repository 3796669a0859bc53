"""The repositories of the subscribers (rules, follows, access), matches and notification targets
aggregates, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from bot import domain
from bot.config import DigestSettings, Settings
from bot.ingest.pipeline import Pipeline
from bot.matching import compile_rules
from bot.storage import access, channels, matches, notify, rules, stats
from bot.storage import models as m
from bot.storage.database import Database

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CHAN = domain.ChannelRef(1001, "vvgladkov", "Гладков")
OTHER = domain.ChannelRef(1002, "belgorod", "Белгород")


@dataclass(frozen=True)
class _Chat:
    chat_id: int
    kind: str = "private"
    title: str = ""


def _settings() -> Settings:
    return Settings(digest=DigestSettings(default_timezone="Europe/Moscow", default_hour=9, max_items=12))


async def _subscriber(db: Database, chat_id: int, *sources: str) -> tuple[int, list[int]]:
    async with db.uow() as session:
        sub = await rules.ensure_subscriber(session, _Chat(chat_id), "ru", _settings())
        added = [await rules.add_rule(session, m.Rule(subscriber_id=sub.id, name="", source=s, channels=[]))
                 for s in sources]
        return sub.id, [r.id for r in added]


async def _count(db: Database, model: type[m.Base]) -> int:
    async with db.uow(read_only=True) as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_a_subscriber_is_made_once_with_the_defaults_and_comes_back_active(db: Database) -> None:
    async with db.uow() as session:
        sub = await rules.ensure_subscriber(session, _Chat(-5, "group", "Группа" * 100), "uk", _settings())
        assert (sub.kind, sub.language, sub.timezone, sub.digest_hour, sub.digest_size, len(sub.title)) == (
            "group", "uk", "Europe/Moscow", 9, 12, 256)
        sub.active = False
    async with db.uow() as session:
        again = await rules.ensure_subscriber(session, _Chat(-5), "en", _settings())
        assert (again.id, again.active, again.language) == (sub.id, True, "uk")
        assert await rules.get_subscriber(session, -5) is not None
        assert await rules.get_subscriber(session, 6) is None
        made = await rules.add_subscriber(session, m.Subscriber(chat_id=6, title="demo", language="en"))
        assert made.id is not None and made.id != sub.id
        await rules.add_rules(session, [])  # nothing to add: nothing happens
    async with db.uow(read_only=True) as session:
        assert (await rules.get_subscriber(session, 6)).title == "demo"  # type: ignore[union-attr]


async def test_rules_are_scoped_to_their_subscriber_and_fingerprinted(db: Database) -> None:
    alice, (a1, a2) = await _subscriber(db, 1, "дрон", "обстрел")
    bob, (b1,) = await _subscriber(db, 2, "свет")
    async with db.uow(read_only=True) as session:
        assert [r.id for r in await rules.rules_of(session, alice)] == [a1, a2]
        assert await rules.rule_of(session, alice, b1) is None  # bob's rule, asked by alice
        assert (await rules.rule_of(session, bob, b1)).source == "свет"  # type: ignore[union-attr]
        assert (await rules.rule_by_id(session, a2)).subscriber_id == alice  # type: ignore[union-attr]
        before = await rules.rules_fingerprint(session)
        assert before == (3, max(a1, a2, b1), a1 + a2 + b1)
        assert {r.id for r in await rules.rules_for_matching(session)} == {a1, a2, b1}
    async with db.uow() as session:
        (await session.get(m.Subscriber, bob)).active = False  # type: ignore[union-attr]
    async with db.uow() as session:
        assert {r.id for r in await rules.rules_for_matching(session)} == {a1, a2}
        assert await rules.rules_fingerprint(session) == (2, max(a1, a2), a1 + a2)
        counts = await rules.subscribers_with_rule_counts(session)
        assert [(s.id, n) for s, n in counts] == [(alice, 2), (bob, 1)]
        rule = await rules.rule_of(session, alice, a1)
        assert rule is not None
        await rules.delete_rule(session, rule)
    async with db.uow(read_only=True) as session:
        assert [r.id for r in await rules.rules_of(session, alice)] == [a2]


async def test_follows_channel_requests_and_the_followed_keys(db: Database) -> None:
    sub, _ = await _subscriber(db, 1)
    async with db.uow() as session:
        first = m.Channel(telegram_id=1, username="zeta", title="Б")
        second = m.Channel(telegram_id=2, username=None, title="А")
        session.add_all([first, second])
        await session.flush()
        one, two = first.id, second.id
    async with db.uow() as session:
        assert [c.id for c in await channels.listed_active(session)] == [two, one]  # by title
        assert await rules.followed_keys(session, sub) is None  # follows everything
        await rules.set_following(session, sub, one, False)
    async with db.uow() as session:
        assert await rules.unfollowed_ids(session, sub) == {one}
        assert await rules.followed_keys(session, sub) == ["2"]  # no username: the numeric id
        await rules.set_following(session, sub, one, True)  # the same row, flipped
    async with db.uow() as session:
        assert await rules.unfollowed_ids(session, sub) == set()
        assert await _count_in(session, m.Subscription) == 1
        requested = await channels.request(session, "NewOne", "Новый", 1)
        await session.flush()
        assert (requested.status, requested.username, requested.added_by) == ("pending", "newone", 1)
        assert await channels.requested_by(session, 1) == 1
        assert (await channels.by_username(session, "NEWONE")).id == requested.id  # type: ignore[union-attr]
        assert [c.id for c in await channels.active_and_pending(session)] == [requested.id, one, two]
        assert await channels.active_by_id(session, requested.id) is None  # pending
        requested.status = "removed"
    async with db.uow() as session:
        assert await channels.requested_by(session, 1) == 0
        again = await channels.request(session, "newone", "", 7)  # asked again: back in the queue
        assert (again.status, again.added_by) == ("pending", 7)
        assert (await channels.by_id(session, again.id)) is again


async def _count_in(session: object, model: type[m.Base]) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)  # type: ignore[attr-defined]


async def test_matches_stored_again_take_the_new_highlights_past_ones_and_forget(db: Database) -> None:
    sub, (rule_id, other_rule) = await _subscriber(db, 1, "дрон", "свет")
    pipeline = Pipeline(db, compile_rules)
    await pipeline.ingest([domain.Post(CHAN, i, T0 + timedelta(minutes=i), f"пост {i}") for i in (1, 2, 3)])
    await pipeline.ingest([domain.Post(OTHER, 1, T0 + timedelta(minutes=9), "пост 9")])
    async with db.uow(read_only=True) as session:
        post_ids = dict((await session.execute(select(m.Post.message_id, m.Post.id)
                                               .where(m.Post.channel_id == 1))).all())
        other_channel = await channels.by_telegram_id(session, 1002)
        assert other_channel is not None
        other_post = await session.scalar(select(m.Post.id).where(m.Post.channel_id == other_channel.id))
    assert other_post is not None
    async with db.uow() as session:
        new = await matches.insert(session, [(domain.RuleMatch(rule_id, ((0, 4),)), post_ids[1]),
                                             (domain.RuleMatch(rule_id, ((0, 4),)), post_ids[2])])
        assert len(new) == 2
        again = await matches.insert(session, [(domain.RuleMatch(rule_id, ((5, 6), (0, 1))), post_ids[1])])
        assert again == []  # not new: its highlights replaced
        await matches.record_past(session, other_rule, [(post_ids[3], [(1, 2)], T0), (other_post, [], T0)])
        await matches.record_past(session, other_rule, [(post_ids[3], [(3, 4)], T0)])  # kept as it was
    async with db.uow(read_only=True) as session:
        rows = {(r.rule_id, r.post_id): (r.highlights, r.past) for r in await session.scalars(select(m.Match))}
    assert rows == {(rule_id, post_ids[1]): ([[5, 6], [0, 1]], False), (rule_id, post_ids[2]): ([[0, 4]], False),
                    (other_rule, post_ids[3]): ([[1, 2]], True), (other_rule, other_post): ([], True)}
    async with db.uow() as session:
        await rules.set_following(session, sub, other_channel.id, False)
    async with db.uow() as session:
        found = await matches.between(session, sub, T0 + timedelta(minutes=1), T0 + timedelta(minutes=10))
        assert [(match.rule_id, post.message_id) for match, _, post, _ in found] == [(other_rule, 3), (rule_id, 2)]
        await matches.delete_of_rule(session, rule_id)
    assert await _count(db, m.Match) == 2


async def test_forgetting_a_subscriber_leaves_the_others(db: Database) -> None:
    alice, (a1,) = await _subscriber(db, 1, "дрон")
    bob, (b1,) = await _subscriber(db, 2, "дрон")
    await Pipeline(db, compile_rules).ingest([domain.Post(CHAN, 1, T0, "дрон над городом")])
    assert await _count(db, m.Match) == 2
    async with db.uow() as session:
        await channels.request(session, "asked", "", 1)
        await rules.set_following(session, alice, (await channels.by_telegram_id(session, 1001)).id, False)  # type: ignore[union-attr]
    async with db.uow() as session:
        sub = await rules.get_subscriber(session, 1)
        assert sub is not None
        await rules.forget_subscriber(session, sub)
    async with db.uow(read_only=True) as session:
        assert [s.id for s in await session.scalars(select(m.Subscriber))] == [bob]
        assert [r.id for r in await session.scalars(select(m.Rule))] == [b1]
        assert [x.rule_id for x in await session.scalars(select(m.Match))] == [b1]
        assert await _count_in(session, m.Subscription) == 0
        assert (await channels.by_username(session, "asked")).added_by is None  # type: ignore[union-attr]
    assert a1 != b1


async def test_notify_targets_listed_numbered_and_removed_with_their_rows(db: Database) -> None:
    sub, (rule_id,) = await _subscriber(db, 1, "дрон")
    async with db.uow() as session:
        def target(masked: str, rule: int | None) -> m.NotifyTarget:
            return m.NotifyTarget(subscriber_id=sub, rule_id=rule, mode="also", url="sealed", masked=masked,
                                  body_format="text", body_limit=100, keyed=False, created_at=T0)
        everything = await notify.add(session, target("ntfy://a", None))
        one_rule = await notify.add(session, target("mailto://b", rule_id))
        digest = m.Digest(subscriber_id=sub, period_key="daily:x", period_start=T0, period_end=T0, state="queued")
        session.add(digest)
        await session.flush()
        for n, (state, target_id) in enumerate((("pending", one_rule.id), ("failed", everything.id), ("sent", None))):
            session.add(m.Outbox(subscriber_id=sub, chat_id=1, digest_id=digest.id, text="x", state=state,
                                 target_id=target_id, random_id=n))
    async with db.uow() as session:
        assert [(t.masked, name) for t, name in await notify.listed(session, sub)] == [
            ("ntfy://a", None), ("mailto://b", "дрон")]
        assert [t.id for t in await notify.of_subscriber(session, sub)] == [everything.id, one_rule.id]
        assert (await notify.numbered(session, sub, 2)).id == one_rule.id  # type: ignore[union-attr]
        assert await notify.numbered(session, sub, 3) is None
        assert await notify.numbered(session, sub, 0) is None
        assert (await notify.own(session, sub, one_rule.id)).masked == "mailto://b"  # type: ignore[union-attr]
        assert await notify.own(session, sub + 1, one_rule.id) is None  # another chat's id
        assert (await notify.by_id(session, everything.id)).masked == "ntfy://a"  # type: ignore[union-attr]
        assert sorted(await notify.masked_all(session)) == [("mailto://b", sub), ("ntfy://a", sub)]
        assert await notify.row_states(session) == {"pending": 1, "failed": 1}
        await notify.remove(session, one_rule.id, T0 + timedelta(hours=1))
    async with db.uow(read_only=True) as session:
        assert [t.id for t in await notify.of_subscriber(session, sub)] == [everything.id]
        assert await notify.row_states(session) == {"failed": 1}
        left = await session.get(m.Digest, digest.id)
        assert left is not None
        assert (left.state, left.sent_at) == ("sent", T0 + timedelta(hours=1))  # only that row kept it open
    async with db.uow() as session:  # a row left under an id a new target takes is dropped
        session.add(m.Outbox(subscriber_id=sub, chat_id=1, text="y", state="pending", target_id=10_000, random_id=9))
    async with db.uow() as session:
        fresh = m.NotifyTarget(id=10_000, subscriber_id=sub, rule_id=None, mode="only", url="sealed",
                               masked="json://c", body_format="text", body_limit=100, keyed=True, created_at=T0)
        await notify.add(session, fresh)
        assert await notify.row_states(session) == {"failed": 1}


async def test_access_tokens_sessions_feeds_and_meta(db: Database) -> None:
    sub, (rule_id,) = await _subscriber(db, 1, "дрон")
    async with db.uow() as session:
        await access.meta_once(session, "k", "first")
        await access.meta_once(session, "k", "second")
        assert await access.meta(session, "k") == "first"
        assert await access.meta(session, "none") is None
        await access.add_login(session, "h1", 42, T0, T0 + timedelta(minutes=10))
    async with db.uow() as session:
        assert await access.use_login(session, "h1", T0 + timedelta(minutes=11)) is None  # expired
        assert await access.use_login(session, "h1", T0 + timedelta(minutes=1)) == 42
        assert await access.use_login(session, "h1", T0 + timedelta(minutes=2)) is None  # used
        await access.add_session(session, "s1", 42, "agent", T0, T0 + timedelta(days=1))
        await access.add_session(session, "s2", 42, "agent", T0 + timedelta(minutes=5), T0 + timedelta(days=1))
    async with db.uow() as session:
        opened = await access.open_session(session, "s1", T0 + timedelta(hours=1))
        assert opened is not None and opened[1:] == (42, T0)
        await access.session_seen(session, opened[0], T0 + timedelta(hours=2))
    async with db.uow() as session:
        assert [s.token_hash for s in await access.sessions_of(session, 42, T0)] == ["s1", "s2"]
        assert await access.open_session(session, "s1", T0 + timedelta(days=2)) is None  # expired
        assert await access.revoke_sessions(session, 42, T0, opened[0]) == 1
        assert await access.revoke_sessions(session, 42, T0) == 1
        assert await access.sessions_of(session, 42, T0) == []
        await access.replace_feed(session, "f1", sub, None, T0)
        await access.replace_feed(session, "f2", sub, rule_id, T0)
        await access.replace_feed(session, "f3", sub, None, T0)  # the first one stops working
    async with db.uow() as session:
        assert [f.token_hash for f in await access.feeds_of(session, sub)] == ["f2", "f3"]
        assert await access.open_feed(session, "f1") is None
        assert (await access.open_feed(session, "f2")).rule_id == rule_id  # type: ignore[union-attr]
        assert await access.revoke_feeds(session, sub, T0) == 2
        assert await access.revoke_feeds(session, sub, T0) == 0


async def test_admin_counts(db: Database) -> None:
    await _subscriber(db, 1, "дрон")
    await _subscriber(db, -2)
    await Pipeline(db, compile_rules).ingest([domain.Post(CHAN, 1, T0, "дрон"), domain.Post(CHAN, 2, T0, "нет")])
    async with db.uow() as session:
        (await rules.get_subscriber(session, -2)).paused = True  # type: ignore[union-attr]
        await channels.request(session, "asked", "", 1)
    async with db.uow(read_only=True) as session:
        counts = await stats.admin_counts(session)
        assert await stats.newest_post_date(session) == T0
    assert counts == {"subscribers": 2, "groups": 0, "paused": 1, "inactive": 0, "rules": 1, "channels": 1,
                      "pending": 1, "posts": 2, "matches": 1, "digests": 0, "outbox": 0, "failed": 0}
