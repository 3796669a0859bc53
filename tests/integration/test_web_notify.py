"""The web view's page of notification targets (/notify): add, list, test, remove through the same
service as the bot's /notify, with its checks and limits; the URL never on a page or in the log; and
nobody else (another subscriber, nobody signed in, another site's form) reaches someone's targets.
And the pages in the subscriber's language."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

import feedparser
import httpx
from sqlalchemy import select

from bot.commands import Caller, ChatKind
from bot.i18n import dates
from bot.storage import models as m
from bot.storage.database import Database
from tests.integration.test_commands_notify import written_log  # noqa: F401  (the fixture)
from tests.integration.web_kit import ADMIN, ALICE, BASE, BORIS, WebKit, archive, csrf, make_web_kit
from tests.notify_support import HttpCatcher

TOKEN = "web-s3cret-T0ken-of-the-hook"
IVAN = Caller(chat_id=3003, user_id=3003, kind=ChatKind.PRIVATE, language_code="ru")
OKSANA = Caller(chat_id=4004, user_id=4004, kind=ChatKind.PRIVATE, language_code="uk")


async def _targets(db: Database) -> list[m.NotifyTarget]:
    async with db.uow(read_only=True) as session:
        return list(await session.scalars(select(m.NotifyTarget).order_by(m.NotifyTarget.id)))


async def _rule_id(kit: WebKit, caller: Caller) -> int:
    async with kit.db.uow(read_only=True) as session:
        sub = await session.scalar(select(m.Subscriber).where(m.Subscriber.chat_id == caller.chat_id))
        assert sub is not None
        return int(await session.scalar(select(m.Rule.id).where(m.Rule.subscriber_id == sub.id)) or 0)


async def _post(client: httpx.AsyncClient, **data: str) -> httpx.Response:
    page = await client.get("/notify")
    return await client.post("/notify", data={"csrf": csrf(page.text), **data})


def _ids(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'name="target_id" value="(\d+)"', html)][::2]  # test and remove forms


async def test_add_test_route_and_remove_a_target_with_the_url_never_shown(db: Database, written_log) -> None:  # noqa: F811
    kit = await make_web_kit(db)
    await archive(kit)
    alice = await kit.signed_in(ALICE)
    rule = await _rule_id(kit, ALICE)
    empty = await alice.get("/notify")
    assert empty.status_code == 200 and "Nothing goes to other services yet" in empty.text
    with HttpCatcher() as hook:
        url = hook.url(f"hook/{TOKEN}")
        added = await _post(alice, action="add", url=url, rule_id=str(rule), mode="only")
        assert added.status_code == 200 and "Added: <code>json://127.0.0.1</code>" in added.text
        assert "rule «батальон», only there" in added.text
        (stored,) = await _targets(db)
        assert (stored.rule_id, stored.mode, stored.masked) == (rule, "only", "json://127.0.0.1")
        # the bot lists the same target: one service, two ways in
        assert "json://127.0.0.1" in await kit.say(ALICE, "/notify")
        again = await _post(alice, action="add", url=url, rule_id=str(rule), mode="only")
        assert again.status_code == 400 and "already on the list" in again.text
        tested = await _post(alice, action="test", target_id=str(stored.id))
        assert tested.status_code == 200 and "Test message sent" in tested.text
        (hit,) = hook.hits
        assert hit.path == f"/hook/{TOKEN}" and "alerts and digests of this chat" in hit.body["message"]
        every = await _post(alice, action="add", url="ntfy://alice-topic", rule_id="", mode="also")
        assert "every rule, also here" in every.text
        removed = await _post(alice, action="remove", target_id=str(stored.id))
        assert removed.status_code == 200 and "Removed: <code>json://127.0.0.1</code>" in removed.text
        assert [t.masked for t in await _targets(db)] == ["ntfy://al…"]
        pages = [empty, added, again, tested, every, removed, await alice.get("/notify")]
    for text in [p.text for p in pages] + [written_log.getvalue()]:
        assert TOKEN not in text and "alice-topic" not in text
    await alice.aclose()


async def test_bad_input_is_refused_with_one_line_and_nothing_stored(db: Database) -> None:
    kit = await make_web_kit(db)
    await archive(kit)
    alice = await kit.signed_in(ALICE)
    for data in ({"url": "https://example.com/not-apprise"}, {"url": ""}, {"url": "ntfy://" + "x" * 2100},
                 {"url": "ntfy://t", "mode": "sometimes"}, {"url": "ntfy://t", "rule_id": "abc"}):
        page = await _post(alice, action="add", **data)
        assert page.status_code in (400, 404), data
        assert len(re.findall(r'class="card error"', page.text)) == 1, data
    assert await _targets(db) == []
    assert "apprise" in (await _post(alice, action="add", url="https://example.com/x")).text
    assert (await _post(alice, action="frobnicate")).status_code == 400
    for n in range(kit.settings.notify.max_targets):  # the bot's limit, the same on the web
        assert (await _post(alice, action="add", url=f"ntfy://topic-{n}")).status_code == 200
    full = await alice.get("/notify")
    assert 'name="url"' not in full.text and "the most you may" in full.text
    over = await _post(alice, action="add", url="ntfy://one-more")
    assert over.status_code == 400 and "the most you may" in over.text
    assert len(await _targets(db)) == kit.settings.notify.max_targets
    await alice.aclose()


async def test_nobody_else_sees_tests_routes_or_removes_a_target(db: Database) -> None:
    kit = await make_web_kit(db)
    await archive(kit)
    alice = await kit.signed_in(ALICE)
    boris = await kit.signed_in(BORIS)
    admin = await kit.signed_in(ADMIN)  # an admin who never subscribed: no targets page of his own
    alice_rule = await _rule_id(kit, ALICE)
    with HttpCatcher() as hook:
        await _post(alice, action="add", url=hook.url(f"hook/{TOKEN}"))
        (target,) = await _targets(db)
        mine = await alice.get("/notify")
        assert _ids(mine.text) == [target.id]
        # Boris sees none of it, and every id of Alice's in his forms is refused
        page = await boris.get("/notify")
        assert page.status_code == 200 and "json://127.0.0.1" not in page.text and _ids(page.text) == []
        for action in ("test", "remove"):
            refused = await _post(boris, action=action, target_id=str(target.id))
            assert refused.status_code == 404 and "No such service among yours" in refused.text, action
        routed = await _post(boris, action="add", url="ntfy://boris-topic", rule_id=str(alice_rule))
        assert routed.status_code == 404
        assert hook.hits == []
        # the admin has no subscriber row: the page says to subscribe, and his forms reach nothing
        assert "not subscribed" in (await admin.get("/notify")).text
        admin_token = csrf((await admin.get("/sessions")).text)
        await admin.post("/notify", data={"csrf": admin_token, "action": "remove", "target_id": str(target.id)})
        # nobody signed in, a forged cookie, a missing or another session's form token, another site
        async with kit.client() as nobody:
            assert (await nobody.get("/notify")).status_code == 401
            assert (await nobody.post("/notify", data={"action": "remove", "target_id": str(target.id)})).status_code == 403
            nobody.cookies.set("tgmon_session", "forged")
            assert (await nobody.get("/notify")).status_code == 401
        boris_token = csrf(page.text)
        token = csrf(mine.text)
        for data in ({"action": "remove", "target_id": str(target.id)}, {"action": "add", "url": "ntfy://evil"}):
            assert (await alice.post("/notify", data=data)).status_code == 403
            assert (await alice.post("/notify", data={**data, "csrf": boris_token})).status_code == 403
            cross = await alice.post("/notify", data={**data, "csrf": token}, headers={"Origin": "https://evil.example"})
            assert cross.status_code == 403
        assert hook.hits == []
    assert [(t.id, t.masked) for t in await _targets(db)] == [(target.id, "json://127.0.0.1")]
    for client in (alice, boris, admin):
        await client.aclose()


async def test_pages_speak_the_subscribers_language_and_the_browsers_before_sign_in(db: Database) -> None:
    kit = await make_web_kit(db)
    await archive(kit)
    for caller in (IVAN, OKSANA):
        await kit.say(caller, "/start")
        await kit.say(caller, "/watch батальон")
    ivan = await kit.signed_in(IVAN)
    timeline = await ivan.get("/timeline")
    assert '<html lang="ru">' in timeline.text
    for text in ("Ваши совпадения", "Лента", "Поиск", "Настройки", "Выйти", "за неделю", "подробнее",
                 "открыть в Telegram", "также в: Other &lt;news&gt; &amp; co"):
        assert text in timeline.text, text
    assert "Your matches" not in timeline.text and "details" not in timeline.text
    async with kit.db.uow(read_only=True) as session:
        post = await session.get(m.Post, kit.posts["alice1"])
        sub = await session.scalar(select(m.Subscriber).where(m.Subscriber.chat_id == IVAN.chat_id))
        assert post is not None and sub is not None
    # the date in Russian (the month's name, CLDR's genitive), in the subscriber's zone
    shown = dates.moment("ru", post.date.astimezone(ZoneInfo(sub.timezone)))
    assert re.fullmatch(r"\d{1,2} [а-я]+я \d{4} \d\d:\d\d", shown) and shown in timeline.text
    notify = await ivan.get("/notify")
    assert "Другие сервисы" in notify.text and "В другие сервисы пока ничего не отправляется" in notify.text
    bad = await _post(ivan, action="add", url="https://example.com/x")
    assert "Не могу использовать этот адрес" in bad.text
    post_page = await ivan.get(f"/post/{kit.posts['edited']}")
    assert "История правок" in post_page.text and "текст до " in post_page.text
    missing = await ivan.get("/post/999999999")
    assert missing.status_code == 404 and "Такого поста нет" in missing.text
    bad_rule = await ivan.get("/search", params={"q": "(обстрел"})
    assert 'class="card error"' in bad_rule.text and "скобк" in bad_rule.text  # the bot's own words for it
    # his feed, too: its title, "also in" and the rules it matched
    reply = await kit.say(IVAN, "/feed")
    feed_path = re.search(re.escape(BASE) + r"(/feed/[A-Za-z0-9_-]+\.atom)", reply)
    assert feed_path, reply
    async with kit.client() as reader:
        feed = feedparser.parse((await reader.get(feed_path.group(1))).content)
    assert not feed.bozo and feed.feed.title == "tgmon: все совпадения"
    contents = " ".join(e.content[0].value for e in feed.entries)
    assert "также в: Other &lt;news&gt; &amp; co" in contents and "совпало с правилами: батальон" in contents
    chart = await ivan.get("/chart?days=91")
    assert "последний 91 день" in chart.text and "последние 7 дней" in chart.text
    oksana = await kit.signed_in(OKSANA)
    page = await oksana.get("/rules")
    assert '<html lang="uk">' in page.text and "Ваші правила" in page.text and "Видалити" in page.text
    # before sign-in: the browser's Accept-Language (q values honoured; a language without a catalog skipped)
    async with kit.client() as nobody:
        for header, lang, heading in (("ru-RU,ru;q=0.9,en;q=0.8", "ru", "Войти"), ("de-DE, uk;q=0.5", "uk", "Увійти"),
                                      ("en;q=0.3, ru;q=0.9", "ru", "Войти"), ("be", "ru", "Войти"),
                                      ("fr", "en", "Sign in"), ("", "en", "Sign in")):
            signin = await nobody.get("/timeline", headers={"Accept-Language": header})
            assert f'<html lang="{lang}">' in signin.text and f"<h1>{heading}</h1>" in signin.text, header
    # an admin who never subscribed reads the admin pages in his browser's language
    admin = await kit.signed_in(ADMIN)
    channels = await admin.get("/admin/channels", headers={"Accept-Language": "uk"})
    assert "Канали" in channels.text and "Останній пост" in channels.text and "читається" in channels.text
    delivery = await admin.get("/admin/delivery", headers={"Accept-Language": "ru"})
    assert "Очередь отправки по состояниям" in delivery.text and "Outbox" not in delivery.text
    for client in (ivan, oksana, admin):
        await client.aclose()
