"""Signing in to the web view by the bot's one-time link, sessions, sign-out, form tokens; and that
nobody sees another's pages or ids, nor anything at all without a session."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from bot.storage import accounts as stored_accounts
from bot.storage import channels as stored_channels
from bot.storage import models as m
from tests.integration.web_kit import ADMIN, ALICE, BASE, BORIS, archive, csrf, make_web_kit


async def test_a_link_signs_in_once_and_only_its_owner(db) -> None:
    kit = await make_web_kit(db)
    await kit.say(ALICE, "/start")
    path = await kit.link(ALICE)
    async with kit.client() as browser:
        # opening the link (as Telegram's link preview does) signs nobody in
        preview = await browser.get(path)
        assert preview.status_code == 200 and "tgmon_session" not in browser.cookies
        done = await browser.post(path)
        assert done.status_code == 303 and done.headers["location"] == "/"
        cookie = done.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie  # http base url
        page = await browser.get("/timeline")
        assert page.status_code == 200 and "Your matches" in page.text
    async with kit.client() as other:
        again = await other.post(path)
        assert again.status_code == 410 and "tgmon_session" not in other.cookies
    # only a hash of each token is stored
    token = path.rsplit("/", 1)[1]
    async with db.uow(read_only=True) as session:
        stored = list(await session.scalars(select(m.WebLogin.token_hash)))
        sessions = list(await session.scalars(select(m.WebSession.token_hash)))
    assert stored and all(token.split(".")[0] not in h and len(h) == 64 for h in stored)
    assert len(sessions) == 1


async def test_forged_expired_and_mangled_links_are_refused(db) -> None:
    kit = await make_web_kit(db)
    path = await kit.link(ALICE)
    raw, _, mac = path.rsplit("/", 1)[1].partition(".")
    async with kit.client() as browser:
        for bad in (f"/login/{raw}.{'A' * len(mac)}", f"/login/{raw}", "/login/x", "/login/" + "z" * 300):
            response = await browser.post(bad)
            assert response.status_code == 404 and "not valid" in response.text, bad
        kit.clock.shift = timedelta(minutes=11)  # the link lived 10 minutes
        late = await browser.post(path)
        assert late.status_code == 410 and "tgmon_session" not in browser.cookies


async def test_secure_cookie_behind_https(db) -> None:
    kit = await make_web_kit(db, base_url="https://tgmon.example.org")
    text = await kit.say(ALICE, "/web")
    path = re.search(r"https://tgmon\.example\.org(/login/\S+)", text).group(1)  # type: ignore[union-attr]
    async with kit.client() as browser:
        done = await browser.post(path)
        assert "secure" in done.headers["set-cookie"].lower()


async def test_sessions_listed_and_revoked_from_the_bot_and_the_page(db) -> None:
    kit = await make_web_kit(db)
    await kit.say(ALICE, "/start")
    first = await kit.signed_in(ALICE)
    second = await kit.signed_in(ALICE)
    listed = await kit.say(ALICE, "/web sessions")
    assert "Signed in: 2" in listed
    assert "Signed out session 1" in await kit.say(ALICE, "/web revoke 1")
    results = [(await c.get("/timeline")).status_code for c in (first, second)]
    assert sorted(results) == [200, 401]
    alive = first if results[0] == 200 else second
    page = await alive.get("/sessions")
    assert page.status_code == 200 and "this browser" in page.text
    # Boris cannot sign Alice out by her session id
    boris = await kit.signed_in(BORIS)
    async with db.uow(read_only=True) as session:
        alice_session = await session.scalar(select(m.WebSession.id).where(
            m.WebSession.user_id == ALICE.user_id, m.WebSession.revoked_at.is_(None)))
    boris_page = await boris.get("/sessions")
    await boris.post("/sessions", data={"csrf": csrf(boris_page.text), "session": str(alice_session)})
    assert (await alive.get("/timeline")).status_code == 200
    # sign out from the page itself
    out = await alive.post("/logout", data={"csrf": csrf(page.text)})
    assert out.status_code == 303
    assert (await alive.get("/timeline")).status_code == 401
    assert "not signed in anywhere" in await kit.say(ALICE, "/web sessions")
    for client in (first, second, boris):
        await client.aclose()


async def test_web_in_a_group_and_without_a_base_url(db) -> None:
    from bot.commands import Caller, ChatKind

    kit = await make_web_kit(db)
    group = Caller(chat_id=-100500, user_id=ALICE.user_id, kind=ChatKind.GROUP, is_group_admin=True)
    assert "private chat" in await kit.say(group, "/web")
    unset = await make_web_kit(db, base_url=None)
    assert "TGMON_WEB_BASE_URL" in await unset.say(ALICE, "/web")
    assert "TGMON_WEB_BASE_URL" in await unset.say(ALICE, "/feed")


async def test_every_form_needs_its_token_and_our_origin(db) -> None:
    kit = await make_web_kit(db)
    await archive(kit)
    alice = await kit.signed_in(ALICE)
    boris = await kit.signed_in(BORIS)
    token = csrf((await alice.get("/rules")).text)
    boris_token = csrf((await boris.get("/rules")).text)
    forms = {
        "/rules": {"action": "add", "rule": "взрыв"},
        "/settings": {"frequency": "weekly"},
        "/feeds": {"action": "new"},
        "/sessions": {"session": "all"},
        "/logout": {},
    }
    for path, data in forms.items():
        missing = await alice.post(path, data=data)
        assert missing.status_code == 403, path
        stolen = await alice.post(path, data={**data, "csrf": boris_token})  # another session's token
        assert stolen.status_code == 403, path
        cross = await alice.post(path, data={**data, "csrf": token}, headers={"Origin": "https://evil.example"})
        assert cross.status_code == 403, path
    async with db.uow(read_only=True) as session:
        sources = set(await session.scalars(select(m.Rule.source)))
        sub = await session.scalar(select(m.Subscriber).where(m.Subscriber.chat_id == ALICE.chat_id))
    assert "взрыв" not in sources and sub is not None and sub.frequency == "daily"
    assert (await alice.get("/timeline")).status_code == 200  # still signed in
    ok = await alice.post("/rules", data={"action": "add", "rule": "взрыв", "csrf": token}, headers={"Origin": BASE})
    assert ok.status_code == 200 and "взрыв" in ok.text


async def _ids(kit, caller) -> dict[str, int]:  # type: ignore[no-untyped-def]
    async with kit.db.uow(read_only=True) as session:
        sub = await session.scalar(select(m.Subscriber).where(m.Subscriber.chat_id == caller.chat_id))
        rule = await session.scalar(select(m.Rule.id).where(m.Rule.subscriber_id == sub.id))
    return {"rule": int(rule)}


async def test_nobody_sees_another_subscribers_things(db) -> None:
    kit = await make_web_kit(db)
    await archive(kit)
    await kit.say(ALICE, "/feed")
    alice_rule = (await _ids(kit, ALICE))["rule"]
    boris = await kit.signed_in(BORIS)
    boris_token = csrf((await boris.get("/rules")).text)
    # Boris's pages never show Alice's rule, matches or post text reached through her matches
    for path in ("/timeline", "/timeline?period=year", "/rules", "/chart", "/settings", "/feeds", "/sessions"):
        page = await boris.get(path)
        assert page.status_code == 200, path
        assert "батальон" not in page.text.lower() and "Шебекино" not in page.text, path
    # and Alice's ids in his URLs and forms are refused
    for path in (f"/timeline?rule={alice_rule}", f"/chart?rule={alice_rule}"):
        assert (await boris.get(path)).status_code == 404, path
    await boris.post("/rules", data={"action": "delete", "rule_id": str(alice_rule), "csrf": boris_token})
    made = await boris.post("/feeds", data={"action": "new", "rule_id": str(alice_rule), "csrf": boris_token})
    assert made.status_code == 404
    async with db.uow(read_only=True) as session:
        assert await session.get(m.Rule, alice_rule) is not None
        feeds = list(await session.scalars(select(m.FeedToken)))
    assert [f.rule_id for f in feeds] == [None]  # Alice's own feed only
    await boris.post("/feeds", data={"action": "revoke", "feed_id": str(feeds[0].id), "csrf": boris_token})
    async with db.uow(read_only=True) as session:
        assert (await session.get(m.FeedToken, feeds[0].id)).revoked_at is None  # type: ignore[union-attr]
    # a post Alice's rule matched is Boris's to see only as a post of a channel he follows, with
    # none of her matches; after he unfollows that channel, not at all
    post_page = await boris.get(f"/post/{kit.posts['alice1']}")
    assert post_page.status_code == 200 and "matched by" not in post_page.text
    async with db.uow() as session:
        sub = await session.scalar(select(m.Subscriber).where(m.Subscriber.chat_id == BORIS.chat_id))
        channel = await session.scalar(select(m.Channel).where(m.Channel.username == "vvgladkov"))
        session.add(m.Subscription(subscriber_id=sub.id, channel_id=channel.id, following=False))  # type: ignore[union-attr]
    assert (await boris.get(f"/post/{kit.posts['alice1']}")).status_code == 404
    assert (await boris.get("/post/999999999")).status_code == 404
    assert (await boris.get("/post/abc")).status_code == 404
    # not an admin: the admin pages do not exist for him
    for path in ("/admin/channels", "/admin/accounts", "/admin/delivery", "/admin/subscribers"):
        assert (await boris.get(path)).status_code == 404, path
    await boris.aclose()


PAGES = ["/timeline", "/search?q=батальон", "/post/1", "/chart", "/rules", "/settings", "/sessions", "/feeds",
         "/admin/channels", "/admin/accounts", "/admin/delivery", "/admin/subscribers"]


async def test_nobody_signed_in_sees_nothing(db) -> None:
    kit = await make_web_kit(db)
    await archive(kit)
    for cookie in (None, "forged-cookie-value"):
        async with kit.client() as nobody:
            if cookie:
                nobody.cookies.set("tgmon_session", cookie)
            for path in PAGES:
                page = await nobody.get(path)
                assert page.status_code == 401 and "send <code>/web</code>" in page.text, path
                assert "Шебекино" not in page.text and "батальон" not in page.text.lower(), path
            for path in ("/rules", "/settings", "/sessions", "/feeds", "/logout"):
                assert (await nobody.post(path, data={"csrf": "x"})).status_code == 403, path


async def test_admin_pages_show_health_and_counts_only(db) -> None:
    kit = await make_web_kit(db)
    await archive(kit)
    admin = await kit.signed_in(ADMIN)  # an admin who never subscribed
    assert (await admin.get("/")).headers["location"] == "/admin/channels"
    for path, expect in (("/admin/channels", "vvgladkov"), ("/admin/accounts", "Configured: main"),
                         ("/admin/delivery", "Outbox by state"), ("/admin/subscribers", "with rules")):
        page = await admin.get(path)
        assert page.status_code == 200 and expect in page.text, path
        assert "Шебекино" not in page.text and "батальон" not in page.text.lower(), path
    async with db.uow() as session:  # a monitoring account that holds one channel, and one gone quiet
        await stored_accounts.beat(session, "main", 250, kit.clock.now())
        await stored_accounts.beat(session, "spare", 40, kit.clock.now() - timedelta(days=1))
        await stored_accounts.claim(session, "main", [(await stored_channels.by_username(session, "vvgladkov")).id],
                                    ["main"])  # type: ignore[union-attr]
    page = (await admin.get("/admin/accounts")).text
    rows = re.findall(r"<tr( class=\"bad\")?>\s*<td[^>]*>(\w+)</td><td[^>]*>(\d+)</td><td[^>]*>(\d+)</td>", page)
    assert rows == [("", "main", "1", "250"), (' class="bad"', "spare", "0", "40")]
    assert "stale: its channels go to the live accounts" in page
    await admin.aclose()
