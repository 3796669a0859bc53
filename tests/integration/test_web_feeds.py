"""Atom feeds read as a feed reader reads them (feedparser): the same posts as the digest for the
same window, conditional GET, per-rule feeds, revocation."""

from __future__ import annotations

import re
from datetime import timedelta

import feedparser
from sqlalchemy import select

from bot.digest.builder import build_items
from bot.storage import models as m
from bot.storage.digests import matches_posted_between
from bot.web.feeds import FEED_DAYS
from tests.integration.web_kit import ALICE, BASE, BORIS, NEWS, archive, csrf, ingest, make_web_kit


def _feed_path(reply: str) -> str:
    found = re.search(re.escape(BASE) + r"(/feed/[A-Za-z0-9_-]+\.atom)", reply)
    assert found, reply
    return found.group(1)


async def test_the_feed_is_the_digest_of_the_same_days(db) -> None:
    kit = await make_web_kit(db)
    await archive(kit)
    await ingest(kit, "old", NEWS, 40, "Батальон месяц назад", timedelta(days=FEED_DAYS + 3))
    path = _feed_path(await kit.say(ALICE, "/feed"))
    async with kit.client() as reader:
        response = await reader.get(path)
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/atom+xml")
    feed = feedparser.parse(response.content)
    assert not feed.bozo, feed.bozo_exception
    assert feed.version == "atom10" and feed.feed.title == "tgmon: all matches"
    now = kit.clock.now()
    async with db.uow(read_only=True) as session:
        sub = await session.scalar(select(m.Subscriber).where(m.Subscriber.chat_id == ALICE.chat_id))
        rows = await matches_posted_between(session, sub.id, now - timedelta(days=FEED_DAYS), now)  # type: ignore[union-attr]
    items, _ = build_items(rows)
    assert sorted(e.link for e in feed.entries) == sorted(i.link for i in items)
    assert len(feed.entries) == 2  # the original with its repost, the edited post; not the deleted or old ones
    first = next(e for e in feed.entries if e.link.endswith("/10"))
    assert first.author == "Гладков" and "Гладков" in first.title
    body = first.content[0].value
    assert "<b>Батальон</b> вышел к Шебекино. x&lt;y &amp; AT&amp;T" in body
    assert "also in: Other &lt;news&gt; &amp; co" in body and 'href="https://t.me/vvgladkov/10"' in body
    assert [t.term for t in first.tags] == ["батальон"]


async def test_conditional_get_and_a_new_entry(db) -> None:
    kit = await make_web_kit(db)
    await archive(kit)
    path = _feed_path(await kit.say(ALICE, "/feed"))
    async with kit.client() as reader:
        first = await reader.get(path)
        etag, modified = first.headers["etag"], first.headers["last-modified"]
        assert (await reader.get(path, headers={"If-None-Match": etag})).status_code == 304
        assert (await reader.get(path, headers={"If-Modified-Since": modified})).status_code == 304
        assert (await reader.get(path, headers={"If-Modified-Since": "garbage"})).status_code == 200
        await ingest(kit, "new", NEWS, 50, "Новый батальон", timedelta(minutes=1))
        again = await reader.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 200 and again.headers["etag"] != etag
        assert len(feedparser.parse(again.content).entries) == 3


async def test_rule_feeds_replaced_and_revoked_from_bot_and_page(db) -> None:
    kit = await make_web_kit(db)
    await archive(kit)
    await kit.say(ALICE, "/watch Шебекино")
    rule_path = _feed_path(await kit.say(ALICE, "/feed 2"))
    async with kit.client() as reader:
        feed = feedparser.parse((await reader.get(rule_path)).content)
        assert feed.feed.title == "tgmon: Шебекино"
        assert [e.link for e in feed.entries] == ["https://t.me/vvgladkov/10"]
        # a new URL of the same feed replaces the old one
        newer = _feed_path(await kit.say(ALICE, "/feed 2"))
        assert (await reader.get(rule_path)).status_code == 404
        assert (await reader.get(newer)).status_code == 200
        assert "1 to 2" in await kit.say(ALICE, "/feed 7")
        # Boris's feed shows Boris's matches only
        boris = feedparser.parse((await reader.get(_feed_path(await kit.say(BORIS, "/feed")))).content)
        assert [e.link for e in boris.entries] == ["https://t.me/vvgladkov/12"]
        # revoked from the web view: the page makes and stops feeds of the signed-in subscriber
        alice = await kit.signed_in(ALICE)
        page = await alice.get("/feeds")
        made = await alice.post("/feeds", data={"csrf": csrf(page.text), "action": "new", "rule_id": ""})
        url = re.search(r'readonly value="' + re.escape(BASE) + r'(/feed/[^"]+)"', made.text).group(1)  # type: ignore[union-attr]
        assert (await reader.get(url)).status_code == 200
        async with db.uow(read_only=True) as session:
            ids = list(await session.scalars(select(m.FeedToken.id).where(m.FeedToken.revoked_at.is_(None),
                                                                           m.FeedToken.rule_id.is_(None))))
        sub_feed = max(ids)
        await alice.post("/feeds", data={"csrf": csrf(page.text), "action": "revoke", "feed_id": str(sub_feed)})
        assert (await reader.get(url)).status_code == 404
        # and from the bot: every feed of the chat stops
        assert "Feeds stopped: 1" in await kit.say(ALICE, "/feed revoke")
        assert (await reader.get(newer)).status_code == 404
        for junk in ("/feed/x.atom", "/feed/" + "a" * 300 + ".atom"):
            assert (await reader.get(junk)).status_code == 404
        await alice.aclose()
        # only hashes are stored
        async with db.uow(read_only=True) as session:
            hashes = list(await session.scalars(select(m.FeedToken.token_hash)))
        assert all(newer.split("/")[-1].removesuffix(".atom") != h for h in hashes)
