"""A subscriber's first day, in every language the bot has, as Telegram would show it.

Through the real handlers (Telethon events built from real update objects, the fake bot client of
test_bot_conversation), the real pipeline, scheduler, builder and delivery worker, on a real
database: the first contact (/start, /watch), a daily digest, a weekly digest with its chart and an
instant alert. Every message is read as Telethon's HTML parser leaves it, and checked for what makes a
digest readable at a glance: short posts whole, "…" on the side that was cut, titles by period, the
default size and the "more" line, an alert in two lines, and no English word in a Russian or
Ukrainian message outside the posts, the commands and the brand name.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from telethon.extensions import html as tl_html
from telethon.tl import types

from bot import domain
from bot.app import App
from bot.config import BotSettings, Settings
from bot.delivery.clock import ManualClock
from bot.delivery.limiter import RateLimiter
from bot.delivery.worker import deliver_due
from bot.digest.scheduler import DigestScheduler
from bot.i18n import LANGUAGES, label, plural
from bot.ingest.pipeline import Pipeline
from bot.matching import compile_rules
from bot.storage.database import Database
from bot.telegram.bot_runner import BotService
from tests.digest_support import FakeSender
from tests.e2e.test_bot_conversation import FakeBotClient

pytestmark = pytest.mark.dates  # the bot on the real clock: posts dated now, digests due minutes from now

ZONE = "Europe/Moscow"  # the default timezone of a new subscriber
CHANNEL = domain.ChannelRef(1302282372, "vvgladkov", "Гладков")
# a 248-character post: it fits, so it is shown whole (it used to lose its first sentence)
SHORT = ("Утром ВСУ обстреляли Репяховка. Ранен 2 мирный житель, его доставили в городскую больницу. "
         "Оперативные службы работают на месте. В результате обстрела Репяховки погиб мужчина. Выражаю "
         "глубокие соболезнования родным и близким. Ещё 3 человека ранены.")
FILLER = "Информацию уточняем, подробности позже сообщим всем жителям области. "
MIDDLE = FILLER * 5 + "Обстрел Шебекино продолжается, прошу всех спуститься в укрытия. " + FILLER * 5
HEAD = "Обстрел Красной Яруги, прошу всех оставаться в укрытиях. " + FILLER * 9
VILLAGES = ("Нехотеевки", "Журавлёвки", "Графовки", "Новой Таволжанки", "Муром", "Козинки", "Глотово",
            "Бершаково", "Маслова Пристани", "Тёткино", "Валуек")
ALERT = "Пожар на складе в Белгороде потушен, пострадавших нет."
WORDS = {  # what each language calls things, to find them in the messages
    "en": {"hello": "Hi!", "added": "Rule 1 added"},
    "ru": {"hello": "Здравствуйте!", "added": "Правило 1 добавлено"},
    "uk": {"hello": "Вітаю!", "added": "Правило 1 додано"},
}
LATIN = re.compile(r"[A-Za-z]{2,}")


def _posts(now: datetime) -> list[domain.Post]:
    """14 posts over the last five days: one short, two long, eleven small ones."""
    texts = [SHORT, MIDDLE, HEAD] + [f"Обстрел {v}: повреждены линии электропередачи, без пострадавших." for v in VILLAGES]
    return [domain.Post(channel=CHANNEL, message_id=100 + i, date=now - timedelta(hours=1 + 9 * i), text=text,
                        views=1000 - i)  # the short, the middle and the head post rank first
            for i, text in enumerate(texts)]


def _user(lang: str, n: int) -> types.User:
    return types.User(id=5000 + 10 * LANGUAGES.index(lang) + n, access_hash=1, first_name="Subscriber",
                      lang_code=lang)


def _foreign_words(text: str) -> list[str]:
    """Latin words left in a message once the posts' own text, the commands, the links and the brand
    name are taken out."""
    for post in (SHORT, MIDDLE, HEAD, FILLER, ALERT):
        text = text.replace(post, " ")
    text = re.sub(r"https?://\S+|/[a-z_]+(@\w+)?|\bTelegram\b", " ", text)
    return LATIN.findall(text)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """SQLite only: this is about what people read (the SQL runs on both in the other tests)."""
    database = Database.from_url(f"sqlite:///{tmp_path / 'tgmon.db'}")
    await database.upgrade()
    yield database
    await database.dispose()


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_a_first_day_in_every_language(db: Database, lang: str) -> None:
    settings = Settings(bot=BotSettings(commands_per_minute=600, command_burst=100))
    app = App(settings=settings, db=db, pipeline=Pipeline(db, compile_rules))
    client = FakeBotClient()
    stop = asyncio.Event()
    service = asyncio.create_task(BotService(app, client).run(stop))
    await asyncio.wait_for(client.registered.wait(), 5)
    daily, weekly, instant = _user(lang, 1), _user(lang, 2), _user(lang, 3)
    words = WORDS.get(lang, WORDS["en"])

    # the first contact: a welcome and a rule, in the subscriber's language
    shown = []
    for user in (daily, weekly, instant):
        [hello] = await client.user_says(user, "/start")
        assert words["hello"] in hello.text, hello.text
        shown.append(hello.text)
    for user, rule in ((daily, "обстрел*"), (weekly, "обстрел*"), (instant, "пожар")):
        [added] = await client.user_says(user, f"/watch {rule}")
        assert words["added"] in added.text, added.text
        shown.append(added.text)

    # schedules by the settings buttons: a daily and a weekly digest two minutes from now, alerts at once
    now = datetime.now(UTC)
    due = (now + timedelta(minutes=2)).astimezone(ZoneInfo(ZONE))
    screens = {}
    for user, frequency in ((daily, "daily"), (weekly, "weekly"), (instant, "instant")):
        [screen] = await client.user_says(user, "/settings")
        screens[user.id] = screen
        for data in (f"s:f:{frequency}", f"s:t:{due.hour}:{due.minute}", f"s:d:{due.weekday()}"):
            answer = await client.user_presses(user, screen, "", data=data.encode())
            assert answer.message == label(lang, "saved_toast"), data
        shown.append(client.messages[screen.message_id].text)

    # the channel posts; the scheduler's tick at the digest time; the delivery worker sends
    await app.pipeline.ingest([*_posts(now), domain.Post(channel=CHANNEL, message_id=99, date=now, text=ALERT)])
    clock = ManualClock(now + timedelta(minutes=3))
    scheduler = DigestScheduler(db, settings, clock)
    assert await scheduler.tick() == 3  # the daily, the weekly and the alert
    sender = FakeSender(clock)
    assert await deliver_due(db, sender, RateLimiter(settings.delivery, clock), clock) == 3
    [day] = [s for s in sender.sent if s.chat_id == daily.id]
    [week] = [s for s in sender.sent if s.chat_id == weekly.id]
    [alert] = [s for s in sender.sent if s.chat_id == instant.id]
    day_text, day_entities = tl_html.parse(day.html)
    week_text, _ = tl_html.parse(week.html)
    alert_text, alert_entities = tl_html.parse(alert.html)

    # titles by period
    today = due.date()
    lines = day_text.splitlines()
    assert lines[0].startswith(label(lang, "digest_daily_txt", date="")), lines[0]
    assert week_text.startswith(label(lang, "digest_weekly_txt", span="")), week_text.splitlines()[0]
    assert str(today.day) in lines[0] and str(today.day) in week_text.splitlines()[0]
    # one summary line under the title, then the default size of items and how many more
    assert lines[1].startswith("обстрел* 14") and "Гладков" in lines[1]
    items = [line for line in lines if line.startswith("• ")]
    assert len(items) == settings.digest.max_items == 10
    assert lines[-1] == plural(lang, "digest_more_n", 4) and lines[-1].endswith("/more")
    # each item's time links to its post: no bare address in the text
    links = [e.url for e in day_entities if isinstance(e, types.MessageEntityTextUrl)]
    assert len(links) == 10 and all(u.startswith("https://t.me/vvgladkov/") for u in links)
    assert "https://" not in day_text
    # a post that fits is whole; a long one is cut at sentences, "…" exactly on the cut sides
    assert SHORT in day_text
    middle = next(line for line in items if "Шебекино" in line)
    # (the match is past the first two thirds: the excerpt starts at its sentence, after a cut)
    assert re.match(r"• \d\d\.\d\d \d\d:\d\d … Обстрел Шебекино", middle) and middle.endswith(". …"), middle
    head = next(line for line in items if "Красной Яруги" in line)
    assert re.match(r"• \d\d\.\d\d \d\d:\d\d Обстрел Красной Яруги", head) and head.endswith(". …"), head

    # its More button, pressed in the chat, sends the next page (the last 4 items)
    [[(more_label, more_data)]] = day.buttons
    assert more_label == label(lang, "digest_more_btn", count=4) and more_data.startswith("dg:more:")
    answer = await client.user_presses(daily, screens[daily.id], "", data=more_data.encode())
    assert answer.message and "4" in answer.message
    assert await deliver_due(db, sender, RateLimiter(settings.delivery, clock), clock) == 1
    page = tl_html.parse(sender.texts(daily.id)[-1])[0]
    assert page.count("\n• ") == 4 and "/more" not in page

    # the weekly digest carries its chart: a PNG, counted like the text
    assert week.attachment is not None and week.attachment.startswith(b"\x89PNG")
    assert week_text.count("\n• ") == 10

    # the alert: two lines, the rule and the linked channel and time, then the post, with sound
    assert alert_text.splitlines() == [f"🔔 пожар · Гладков, {now.astimezone(ZoneInfo(ZONE)):%H:%M}", ALERT]
    assert [e.url for e in alert_entities if isinstance(e, types.MessageEntityTextUrl)] == [
        "https://t.me/vvgladkov/99"]
    assert not alert.silent and day.silent and week.silent

    # no English in a Russian or Ukrainian conversation, outside the posts and the commands
    if lang != "en":
        for text in (*shown, day_text, week_text, alert_text):
            assert _foreign_words(text) == [], text
    stop.set()
    await asyncio.wait_for(service, 5)
