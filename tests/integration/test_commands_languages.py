"""The bot in English, Russian and Ukrainian through the real handlers (BotCommands over a real
database): rule and link errors in the language of whoever typed them, typed settings in that
language's words, plurals, per-language examples, a one-letter rule refused, /help's claim about
\\b kept, and no English word in a Russian or Ukrainian reply outside commands, code and links."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from bot.commands import COMMANDS
from bot.commands.menu import MENU, UNLISTED, command_menu, menu_languages
from bot.commands.types import Reply
from bot.i18n import LANGUAGES
from bot.storage.database import Database
from tests.integration.test_commands_kit import ALICE, BORIS, Kit, buttons, ingest, make_kit, visible

pytestmark = pytest.mark.dates  # /watch dry-runs the last days of the real clock


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """SQLite only: what language a reply is in does not depend on the database (the command tests
    run both)."""
    database = Database.from_url(f"sqlite:///{tmp_path / 'tgmon.db'}")
    await database.upgrade()
    yield database
    await database.dispose()

OKSANA = replace(BORIS, chat_id=3003, user_id=3003, language_code="uk")
SPEAKERS = {"en": ALICE, "ru": BORIS, "uk": OKSANA}

# Latin words a Russian or Ukrainian reply may hold: names of things, not English
NAMES = {"english", "telegram", "id", "utc", "gmt", "csv", "re2", "json", "atom", "rss", "slack", "discord", "matrix", "ntfy",
         "apprise", "url", "tgmon", "kb", "tgmon_web_base_url", "docs", "md", "web"}  # English: its own name


def english_words(reply: Reply) -> list[str]:
    """Latin words of a reply and its buttons outside <code>, links, /commands and @names."""
    text = re.sub(r"<code>.*?</code>|<a [^>]*>.*?</a>", " ", reply.text, flags=re.DOTALL)
    plain = html.unescape(re.sub(r"<[^>]+>", " ", text))
    plain += " " + " ".join(b.text for row in reply.buttons for b in row) + " " + (reply.toast or "")
    plain = re.sub(r"\S*://\S+|t\.me/\S+|@\w+|/\w+|\w+\.md\b", " ", plain)
    return [w for w in re.findall(r"[A-Za-z][A-Za-z0-9_]+", plain) if w.lower() not in NAMES]


async def _replies(kit: Kit, lang: str) -> dict[str, Reply]:
    """Most of what a subscriber meets, typed and pressed, in one language."""
    who = SPEAKERS[lang]
    seen: dict[str, Reply] = {}
    for text in (
        "/start", "/help", "/watch", "/watch (обстрел Белгород", "/watch ИЛИ обстрел", "/watch а",
        "/watch обстрел", "/watch обстрел", "/rules", "/unwatch", "/unwatch 9", "/search", "/channels",
        "/follow Белгород", "/follow https://example.com/x", "/settings", "/settings время 25:99",
        "/settings частота иногда", "/settings пояс Атлантида", "/settings тишина 23:00",
        "/settings размер -3", "/settings день никогда", "/settings цвет синий", "/settings время",
        "/digest", "/pause", "/pause", "/resume", "/resume", "/lang xx", "/nosuch", "hello",
    ):
        seen[text] = await kit.say(who, text)
    for data in ("s:freq", "s:time", "s:h:7", "s:tz", "s:quiet", "s:size", "s:f:weekly", "s:day", "s:main"):
        seen[data] = await kit.press(who, data)
    seen["stop"] = await kit.say(who, "/stop")
    seen["stop:no"] = await kit.press(who, "stop:no")
    return seen


@pytest.mark.parametrize("lang", ["ru", "uk"])
async def test_a_russian_or_ukrainian_reply_has_no_english_words_outside_commands_and_code(
    db: Database, lang: str
) -> None:
    await ingest(db, [("Обстрел Белгорода ночью", timedelta(hours=3))])
    kit = make_kit(db)
    found = {text: english_words(reply) for text, reply in (await _replies(kit, lang)).items()}
    assert {text: words for text, words in found.items() if words} == {}
    # and the English interface does speak English (the check above is not blind)
    assert english_words(await kit.say(ALICE, "/help"))


ERRORS = [
    ("ru", "/watch (обстрел Белгород", "скобка ( не закрыта (символ 1)", "never closed"),
    ("uk", "/watch (обстріл Харків", "дужку ( не закрито (символ 1)", "never closed"),
    ("en", "/watch (shelling Belgorod", "this ( is never closed (at character 1)", "скобка"),
    ("ru", "/watch ИЛИ обстрел", "слева и справа от ИЛИ должно быть по слову", "needs a word"),
    ("uk", "/watch АБО обстріл", "ліворуч і праворуч від АБО має бути по слову", "needs a word"),
    ("en", "/watch OR shelling", "OR needs a word on both sides", "слева"),
    ("ru", "/follow Белгород", "Белгород — недопустимое имя", "not a channel link"),
    ("uk", "/follow Харків", "Харків — неприпустиме ім'я", "not a channel link"),
    ("en", "/follow Belgorod!", "Belgorod! is not a valid username", "недопустимое"),
    ("ru", "/watch а", "«а» — один символ", "single character"),
    ("uk", "/watch в", "«в» — один символ", "single character"),
    ("en", "/watch x OR battalion", "“x” is a single character", "символ"),
]


async def test_rule_and_link_errors_come_in_the_language_of_whoever_typed_them(db: Database) -> None:
    kit = make_kit(db)
    for lang, typed, expected, not_expected in ERRORS:
        text = visible(await kit.say(SPEAKERS[lang], typed))
        assert expected in text and not_expected not in text, (lang, typed, text)
        if typed.startswith("/watch"):  # and a working example, in the same language
            lead = {"ru": "Рабочий пример: /watch ", "uk": "Робочий приклад: /watch ", "en": "A rule that works: /watch "}
            example = text.split(lead[lang], 1)[1]
            assert re.search("[а-яіїєґ]" if lang != "en" else "^[ -~]+$", example, re.IGNORECASE), example


async def test_typed_settings_take_the_words_the_buttons_show_in_each_language(db: Database) -> None:
    kit = make_kit(db)
    ru = visible(await kit.say(BORIS, "/settings время 08:00"))
    assert "Сохранено" in ru and "Время доставки: 08:00" in ru
    assert "Частота: ежедневно" in visible(await kit.say(BORIS, "/settings frequency ежедневно"))
    weekly = visible(await kit.say(BORIS, "/settings частота еженедельно"))
    assert "Частота: еженедельно" in weekly and "День еженедельного дайджеста" in weekly
    assert "пятница" in visible(await kit.say(BORIS, "/settings день пятн"))
    assert "(Екатеринбург)" in visible(await kit.say(BORIS, "/settings пояс Екатеринбург"))
    assert "Тихие часы: выкл." in visible(await kit.say(BORIS, "/settings тишина выкл"))
    assert "Размер дайджеста: все" in visible(await kit.say(BORIS, "/settings размер всё"))

    uk = visible(await kit.say(OKSANA, "/settings час 07:15"))
    assert "Збережено" in uk and "Час доставки: 07:15" in uk
    assert "Частота: щотижня" in visible(await kit.say(OKSANA, "/settings частота щотижня"))
    assert "п'ятниця" in visible(await kit.say(OKSANA, "/settings день пт"))
    assert "(Київ)" in visible(await kit.say(OKSANA, "/settings пояс Київ"))
    assert "Тихі години: 23:00–07:00" in visible(await kit.say(OKSANA, "/settings тиша 23:00-07:00"))
    assert "Розмір дайджесту: усі" in visible(await kit.say(OKSANA, "/settings розмір усі"))
    assert "Частота: одразу" in visible(await kit.say(OKSANA, "/settings частота одразу"))

    en = visible(await kit.say(ALICE, "/settings tz Kyiv"))
    assert "(Kyiv)" in en
    assert "Frequency: weekly" in visible(await kit.say(ALICE, "/settings frequency weekly"))
    assert "Weekly digest day: Wednesday" in visible(await kit.say(ALICE, "/settings day wed"))
    # a word of another language is understood too: the Russian button's word from an English user
    assert "Frequency: daily" in visible(await kit.say(ALICE, "/settings частота ежедневно"))
    assert "not a frequency" in visible(await kit.say(ALICE, "/settings frequency hourly"))


async def test_timezone_buttons_show_cities_in_the_users_language(db: Database) -> None:
    kit = make_kit(db)
    assert {"Москва", "Екатеринбург", "Киев", "UTC"} <= set(buttons(await kit.press(BORIS, "s:tz")))
    assert {"Москва", "Єкатеринбург", "Київ", "UTC"} <= set(buttons(await kit.press(OKSANA, "s:tz")))
    english = buttons(await kit.press(ALICE, "s:tz"))
    assert {"Moscow", "Yekaterinburg", "Kyiv"} <= set(english)
    assert not any("/" in label for label in english)  # no Asia/Yekaterinburg


async def test_plurals_agree_with_the_number_in_every_language(db: Database) -> None:
    await ingest(db, [(f"Обстрел Белгорода номер {i}", timedelta(hours=i)) for i in range(1, 4)]
                 + [("Батальон прибыл", timedelta(hours=5))])
    kit = make_kit(db)
    assert "находит 3 сохранённых поста" in visible(await kit.say(BORIS, "/watch обстрел"))
    assert "знаходить 3 збережені пости" in visible(await kit.say(OKSANA, "/watch обстрел"))
    assert "matches 3 stored posts" in visible(await kit.say(ALICE, "/watch обстрел"))
    assert "matches 1 stored post:" in visible(await kit.say(ALICE, "/watch батальон"))
    assert "находит 1 сохранённый пост" in visible(await kit.say(BORIS, "/watch батальон"))


async def test_each_language_gets_examples_in_its_own_words(db: Database) -> None:
    kit = make_kit(db)
    english = visible(await kit.say(ALICE, "/help"))
    assert "/watch battalion" in english and "/settings tz Kyiv" in english
    assert "/watch батальон" not in english and "Москва" not in english
    assert "/watch battalion" in visible(await kit.say(ALICE, "/start"))
    ukrainian = visible(await kit.say(OKSANA, "/help"))
    assert "/watch обстріл" in ukrainian and "/settings пояс Київ" in ukrainian
    assert "/watch обстріл" in visible(await kit.say(OKSANA, "/start"))
    russian = visible(await kit.say(BORIS, "/help"))
    assert "/watch батальон" in russian and "/settings время 07:30" in russian


async def test_help_and_the_matcher_agree_about_word_boundaries(db: Database) -> None:
    """/help says \\b at a pattern's edge knows every alphabet: such a rule is accepted and matches."""
    await ingest(db, [("Батальон прибыл в Белгород", timedelta(hours=2)), ("Батальоны ушли", timedelta(hours=3))])
    kit = make_kit(db)
    assert "/\\bбатальон\\w*/" in visible(await kit.say(BORIS, "/help"))
    added = visible(await kit.say(BORIS, "/watch /\\bбатальон\\b/"))
    assert "Правило 1 добавлено" in added and "находит 1 сохранённый пост" in added
    assert "Батальон прибыл" in added and "Батальоны ушли" not in added


async def test_lang_takes_a_code_or_the_languages_own_name(db: Database) -> None:
    kit = make_kit(db)
    assert "Мова: українська" in visible(await kit.say(ALICE, "/lang Українська"))
    assert "Язык: русский" in visible(await kit.say(ALICE, "/lang ru"))
    assert "Language: English" in visible(await kit.say(ALICE, "/lang english"))
    assert "Українська" in buttons(await kit.say(ALICE, "/lang klingon"))


def test_the_command_menu_covers_every_command_in_every_language() -> None:
    assert {name for name, _ in MENU} == set(COMMANDS) - UNLISTED
    for lang in LANGUAGES:
        menu = command_menu(lang)
        assert all(re.fullmatch(r"[a-z0-9_]{1,32}", name) and 3 <= len(text) <= 256 for name, text in menu)
    assert command_menu("uk")[0] != command_menu("en")[0]
    codes = dict(menu_languages())
    assert codes[""] == "en" and codes["ru"] == "ru" and codes["uk"] == "uk" and codes["be"] == "ru"


def test_the_menu_requests_are_real_telethon_requests() -> None:
    from telethon.tl import functions, types

    from bot.telegram.menu import menu_requests

    requests = menu_requests()
    assert [r.lang_code for r in requests] == ["", *[c for c in LANGUAGES if c != "en"], "be"]
    for request in requests:
        assert isinstance(request, functions.bots.SetBotCommandsRequest)
        assert isinstance(request.scope, types.BotCommandScopeDefault)
        assert bytes(request)  # serialises as it goes on the wire
        assert [c.command for c in request.commands] == [name for name, _ in MENU]
    ukrainian = next(r for r in requests if r.lang_code == "uk")
    assert ukrainian.commands[2].description == "Додати правило: слова для пошуку"
