"""The web view in a real browser: Playwright driving Debian's Chromium (/usr/bin/chromium; no browser
download) against the real uvicorn server. Signs in by the bot's link, reads the timeline, searches,
opens an edited post, the chart, rules, settings, feeds, the other services (a target added, tested
against a local catcher and removed), sessions and every admin page, on a desktop and a phone screen;
and a Russian-speaking subscriber's pages in Russian. Each page is saved as a PNG
under build/screenshots/ (ignored by git) and the test's tmp dir: the test artifacts."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot import domain
from bot.commands import Caller, ChatKind
from bot.storage.database import Database
from bot.web.server import serve
from tests.integration.web_kit import ADMIN, ALICE, NEWS, OTHER, WebKit, archive, ingest, make_web_kit
from tests.notify_support import HttpCatcher

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
KYIV = domain.ChannelRef(1600000002, "kyivnews", "Киев оперативный")
LIVE = domain.ChannelRef(1600000003, "belgorod_live", "Белгород live")
IVAN = Caller(chat_id=3003, user_id=3003, kind=ChatKind.PRIVATE, language_code="ru")
HOOK_TOKEN = "browser-s3cret-hook"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists() and os.environ.get("CI") != "true",
    reason="Debian's chromium is not installed (apt-get install chromium; .ci/run installs it)",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _more_posts(kit: WebKit) -> None:
    await kit.say(ALICE, "/watch обстрел* AND Белгород*")
    await kit.say(ALICE, '/watch "территориальная оборона"')
    texts = [
        (KYIV, 60, "Территориальная оборона Киева получила новые машины; батальон переходит на ротацию.", 9),
        (NEWS, 61, "Обстрелы Белгородской области за сутки: повреждены две линии электропередачи, "
                   "пострадавших нет. Аварийные бригады работают на месте.", 20),
        (OTHER, 62, "Сводка: в Белгороде ночью был слышен обстрел, сработала ПВО.", 26),
        (NEWS, 63, "Вечерний брифинг: батальон связи провёл учения под Шебекино.", 30),
        (KYIV, 64, "Новости дня без происшествий.", 31),
    ]
    for channel, msg, text, hours in texts:
        await ingest(kit, f"m{msg}", channel, msg, text, timedelta(hours=hours))
    for n, day in enumerate(range(28, 0, -2), 1):  # message ids grow with time, as in a real channel
        await ingest(kit, f"d{day}", LIVE, n, f"Обстрел Белгорода, день {day}", timedelta(days=day, hours=3))


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[WebKit]:
    port = _free_port()
    db = Database.from_url(f"sqlite:///{tmp_path / 'web.db'}")
    await db.upgrade()
    kit = await make_web_kit(db, base_url=f"http://127.0.0.1:{port}")
    await archive(kit)
    await _more_posts(kit)
    stop = asyncio.Event()
    server = asyncio.create_task(serve(kit.app, "127.0.0.1", port, stop))
    await asyncio.sleep(0.3)
    kit.base = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
    yield kit
    stop.set()
    await asyncio.wait_for(server, 10)
    await db.dispose()


async def test_sign_in_timeline_search_post_admin_in_chromium(served: WebKit, tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    kit = served
    base: str = kit.base  # type: ignore[attr-defined]
    SHOTS.mkdir(parents=True, exist_ok=True)
    shots: list[Path] = []

    async def shot(page: object, name: str) -> None:
        path = tmp_path / f"{name}.png"
        await page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
        shutil.copy(path, SHOTS / path.name)
        shots.append(path)

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            desktop = await browser.new_context(viewport={"width": 1100, "height": 800}, locale="en-GB",
                                                timezone_id="Europe/Moscow", java_script_enabled=False)
            page = await desktop.new_page()
            # sign in by the link the bot sent: a button, then the timeline
            await page.goto(base + await kit.link(ALICE))
            await shot(page, "signin")
            await page.get_by_role("button", name="Sign in").click()
            await page.wait_for_url(base + "/timeline")
            assert await page.locator("h1").inner_text() == "Your matches"
            assert await page.locator("article.post").count() >= 5
            assert await page.locator("mark").count() >= 5
            assert "also in: Other <news> & co" in await page.content() or \
                "also in: Other &lt;news&gt; &amp; co" in await page.content()
            await shot(page, "timeline")
            # search in the rule language
            await page.get_by_role("link", name="Search").click()
            await page.fill("input[name=q]", "обстрел* AND Белгород*")
            await page.get_by_role("button", name="Search").click()
            await page.wait_for_url("**/search?q=*")
            assert "posts match" in await page.locator("p.count").inner_text()
            await shot(page, "search")
            # an edited post and its history
            await page.goto(f"{base}/post/{kit.posts['edited']}")
            assert await page.locator("ol.versions li").count() == 1
            await shot(page, "post")
            await page.goto(base + "/chart?days=30")
            assert await page.locator("svg rect.bar").count() > 0
            await shot(page, "chart")
            await page.goto(base + "/rules")
            await shot(page, "rules")
            # settings: save a digest time through the form, make a feed URL, see the sessions
            await page.get_by_role("link", name="Settings").click()
            await page.fill("input[name=time]", "07:30")
            await page.get_by_role("button", name="Save").click()
            assert await page.locator("input[name=time]").input_value() == "07:30"
            await shot(page, "settings")
            await page.get_by_role("link", name="Feeds").click()
            await page.get_by_role("button", name="Make a feed URL").click()
            assert (await page.locator("input.url").input_value()).endswith(".atom")
            assert await page.locator("text=all your matches").count() >= 2  # listed, and in the select
            await shot(page, "feeds")
            # another service: an apprise URL (typed into a password field), routed to one rule only,
            # tested against a local catcher, shown masked, removed
            with HttpCatcher() as hook:
                await page.get_by_role("link", name="Other services").click()
                await page.fill("input[name=url]", hook.url(f"hook/{HOOK_TOKEN}"))
                await page.select_option("select[name=rule_id]", label="батальон")
                await page.check("input[name=mode][value=only]")
                await page.get_by_role("button", name="Add").click()
                row = page.locator("table.targets tbody tr")
                assert await row.count() == 1
                assert "json://127.0.0.1" in await row.inner_text() and "only there" in await row.inner_text()
                await page.get_by_role("button", name="Send a test").click()
                assert "Test message sent" in await page.locator("p.notice").inner_text()
                assert len(hook.hits) == 1 and HOOK_TOKEN not in await page.content()
                await page.fill("input[name=url]", "ntfy://belgorod-alerts")
                await page.get_by_role("button", name="Add").click()
                await shot(page, "notify")
                await page.get_by_role("button", name="Remove").first.click()
                assert "Removed" in await page.locator("p.notice").inner_text()
                assert await row.count() == 1 and "json://" not in await row.inner_text()
            await page.get_by_role("link", name="Sessions").click()
            assert await page.locator("text=this browser").count() == 1
            await shot(page, "sessions")
            # an admin, on a phone
            phone = await browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                              is_mobile=True, java_script_enabled=False)
            mobile = await phone.new_page()
            await mobile.goto(base + await kit.link(ADMIN))
            await mobile.get_by_role("button", name="Sign in").click()
            await mobile.wait_for_url(base + "/admin/channels")
            assert await mobile.locator("table.grid tbody tr").count() == 4
            await shot(mobile, "admin-channels-phone")
            for name in ("subscribers", "accounts", "delivery"):
                await mobile.get_by_role("link", name=name.capitalize()).click()
                await mobile.wait_for_url(f"{base}/admin/{name}")
                await shot(mobile, f"admin-{name}-phone")
            alice_phone = await phone.new_page()
            await phone.clear_cookies()
            await alice_phone.goto(base + await kit.link(ALICE))
            await alice_phone.get_by_role("button", name="Sign in").click()
            await alice_phone.wait_for_url(base + "/timeline")
            await shot(alice_phone, "timeline-phone")
            await alice_phone.goto(base + "/notify")
            await shot(alice_phone, "notify-phone")
        finally:
            await browser.close()
    assert all(p.stat().st_size > 10_000 for p in shots)


async def test_a_russian_speaking_subscriber_reads_russian_pages_in_chromium(served: WebKit, tmp_path: Path) -> None:
    """The language of the subscriber's bot chat, not the browser's (an English browser here)."""
    from playwright.async_api import async_playwright

    kit = served
    base: str = kit.base  # type: ignore[attr-defined]
    await kit.say(IVAN, "/start")
    await kit.say(IVAN, "/watch батальон")
    await kit.say(IVAN, "/watch обстрел* AND Белгород*")
    await kit.say(IVAN, "/notify add ntfy://shebekino-news 2 only")
    SHOTS.mkdir(parents=True, exist_ok=True)

    async def shot(page: object, name: str) -> None:
        path = tmp_path / f"{name}.png"
        await page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
        shutil.copy(path, SHOTS / path.name)
        assert path.stat().st_size > 10_000

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            desktop = await browser.new_context(viewport={"width": 1100, "height": 800}, locale="en-GB",
                                                timezone_id="Europe/Moscow", java_script_enabled=False)
            page = await desktop.new_page()
            await page.goto(base + await kit.link(IVAN))
            assert await page.locator("h1").inner_text() == "Вход в tgmon"
            await page.get_by_role("button", name="Войти").click()
            await page.wait_for_url(base + "/timeline")
            assert await page.locator("html").get_attribute("lang") == "ru"
            assert await page.locator("h1").inner_text() == "Ваши совпадения"
            nav = await page.locator("header nav").inner_text()
            assert all(word in nav for word in ("Лента", "Поиск", "График", "Правила", "Настройки"))
            assert await page.locator("text=подробнее").count() >= 3
            await shot(page, "timeline-ru")
            await page.get_by_role("link", name="Поиск").click()
            await page.fill("input[name=q]", "обстрел* AND Белгород*")
            await page.get_by_role("button", name="Поиск").click()
            assert "Подход" in await page.locator("p.count").inner_text()
            await page.get_by_role("link", name="Настройки").click()
            await page.get_by_role("link", name="Другие сервисы").click()
            row = page.locator("table.targets tbody tr")
            assert "ntfy://sh…" in await row.inner_text() and "только туда" in await row.inner_text()
            await shot(page, "notify-ru")
            phone = await browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                              is_mobile=True, java_script_enabled=False)
            mobile = await phone.new_page()
            await mobile.goto(base + await kit.link(IVAN))
            await mobile.get_by_role("button", name="Войти").click()
            await mobile.wait_for_url(base + "/timeline")
            await shot(mobile, "timeline-ru-phone")
            await mobile.goto(base + "/notify")
            await shot(mobile, "notify-ru-phone")
            await mobile.goto(base + f"/post/{kit.posts['edited']}")
            assert await mobile.locator("h2").inner_text() == "История правок"
            await shot(mobile, "post-ru-phone")
            # an admin who never subscribed: his browser's language (ru-RU here)
            admin_phone = await browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                                    is_mobile=True, java_script_enabled=False, locale="ru-RU")
            admin = await admin_phone.new_page()
            await admin.goto(base + await kit.link(ADMIN))
            await admin.get_by_role("button", name="Войти").click()
            await admin.wait_for_url(base + "/admin/channels")
            assert (await admin.locator("h1").inner_text()).startswith("Каналы")
            assert await admin.locator("td[data-label='Последний пост']").count() == 4
            await shot(admin, "admin-channels-ru-phone")
        finally:
            await browser.close()
