"""/settings by buttons and typed forms; /lang; /pause and /resume."""

from __future__ import annotations

from sqlalchemy import select

from bot.commands import Caller
from bot.storage import models as m
from bot.storage.database import Database
from tests.integration.test_commands_kit import ALICE, BORIS, buttons, make_kit, visible


async def _sub(db: Database, caller: Caller) -> m.Subscriber:
    async with db.uow(read_only=True) as session:
        sub = await session.scalar(select(m.Subscriber).where(m.Subscriber.chat_id == caller.chat_id))
    assert sub is not None
    return sub


async def test_settings_by_buttons(db: Database) -> None:
    kit = make_kit(db)
    screen = await kit.say(ALICE, "/settings")
    text = visible(screen)
    assert (
        "Frequency: daily" in text
        and "Delivery time: 09:00 (Moscow)" in text
        and "Weekly digest day" not in text  # daily: no weekday line, no weekday button
        and "Digest size: 10" in text  # a new subscriber sees the top 10 items, then /more
    )
    hours = await kit.press(ALICE, buttons(screen)["🕘 Time"])
    minutes = await kit.press(ALICE, buttons(hours)["07"])
    saved = await kit.press(ALICE, buttons(minutes)["07:30"])
    assert saved.toast == "Saved" and "Delivery time: 07:30" in visible(saved)
    zones = await kit.press(ALICE, buttons(saved)["🌍 Timezone"])
    saved = await kit.press(ALICE, buttons(zones)["Kyiv"])  # zones by city, in the user's language
    assert "07:30 (Kyiv)" in visible(saved)
    freq = await kit.press(ALICE, buttons(saved)["🔁 Frequency"])
    saved = await kit.press(ALICE, buttons(freq)["weekly"])
    day = await kit.press(ALICE, buttons(saved)["📅 Weekly day"])
    saved = await kit.press(ALICE, buttons(day)["Friday"])
    quiet = await kit.press(ALICE, buttons(saved)["🌙 Quiet hours"])
    saved = await kit.press(ALICE, buttons(quiet)["22:00–07:00"])
    size = await kit.press(ALICE, buttons(saved)["📏 Digest size"])
    saved = await kit.press(ALICE, buttons(size)["20"])
    sub = await _sub(db, ALICE)
    assert (sub.digest_hour, sub.digest_minute, sub.timezone, sub.frequency) == (
        7,
        30,
        "Europe/Kyiv",
        "weekly",
    )
    assert (sub.digest_weekday, sub.quiet_start, sub.quiet_end, sub.digest_size) == (4, 22 * 60, 7 * 60, 20)
    back = await kit.press(ALICE, "s:main")
    assert "Quiet hours: 22:00–07:00" in visible(back)
    # forged values are refused like typed ones, and change nothing
    for data in (
        "s:t:25:00",
        "s:t:7:61",
        "s:z:Mars/Olympus",
        "s:f:hourly",
        "s:n:-5",
        "s:d:9",
        "s:q:10-10",
        "s:q:x",
    ):
        refused = await kit.press(ALICE, data)
        assert refused.text == "" and refused.toast, data
    same = await _sub(db, ALICE)
    assert (same.digest_hour, same.digest_minute, same.timezone, same.frequency, same.digest_size) == (
        7,
        30,
        "Europe/Kyiv",
        "weekly",
        20,
    )
    assert (same.digest_weekday, same.quiet_start, same.quiet_end) == (4, 22 * 60, 7 * 60)


async def test_timezone_from_a_typed_city_or_offset(db: Database) -> None:
    kit = make_kit(db)
    await kit.press(ALICE, "s:tz")  # asks for a city: the next plain message answers
    saved = await kit.say(ALICE, "Москва")
    assert "(Moscow)" in visible(saved)
    await kit.press(ALICE, "s:tz")
    wrong = await kit.say(ALICE, "Atlantis <b>")
    assert "I don't know the timezone Atlantis <b>" in visible(wrong)
    assert "(UTC+3)" in visible(await kit.say(ALICE, "UTC+3"))  # a second try is still awaited
    assert "(Kolkata)" in visible(await kit.say(ALICE, "/settings tz +5:30"))
    assert "(New York)" in visible(await kit.say(ALICE, "/settings timezone new york"))
    assert "(UTC-5)" in visible(await kit.say(ALICE, "/settings tz -5"))
    assert "I don't know the timezone" in visible(await kit.say(ALICE, "/settings tz +15"))
    # a plain message with nothing awaited is a hint, not a timezone
    assert "/watch battalion" in visible(await kit.say(ALICE, "Berlin"))
    assert (await _sub(db, ALICE)).timezone == "Etc/GMT+5"


async def test_typed_settings_and_their_errors(db: Database) -> None:
    kit = make_kit(db)
    assert "Saved" in visible(await kit.say(ALICE, "/settings time 07:30"))
    assert "not a time of day" in visible(await kit.say(ALICE, "/settings time 25:00"))
    assert "not a time of day" in visible(await kit.say(ALICE, "/settings time soon"))
    assert "Frequency: instant" in visible(await kit.say(ALICE, "/settings frequency instant"))
    assert "not a frequency" in visible(await kit.say(ALICE, "/settings frequency hourly"))
    assert "Quiet hours: 23:00–08:00" in visible(await kit.say(ALICE, "/settings quiet 23:00-08:00"))
    assert "not a quiet period" in visible(await kit.say(ALICE, "/settings quiet 23:00"))
    assert "Quiet hours: off" in visible(await kit.say(ALICE, "/settings quiet off"))
    assert "Digest size: 15" in visible(await kit.say(ALICE, "/settings size 15"))
    assert "not a digest size" in visible(await kit.say(ALICE, "/settings size 0.5"))
    assert "Weekly digest day" not in visible(await kit.say(ALICE, "/settings day sun"))  # instant: no day
    assert "not a day of the week" in visible(await kit.say(ALICE, "/settings day funday"))
    assert "There is no setting colour" in visible(await kit.say(ALICE, "/settings colour red"))
    assert "Give a value too" in visible(await kit.say(ALICE, "/settings time"))
    sub = await _sub(db, ALICE)
    assert (sub.digest_hour, sub.digest_minute, sub.frequency, sub.quiet_start, sub.digest_size) == (
        7,
        30,
        "instant",
        None,
        15,
    )
    assert sub.digest_weekday == 6
    weekly = visible(await kit.say(ALICE, "/settings frequency weekly"))
    assert "Weekly digest day: Sunday" in weekly
    await kit.say(ALICE, "/settings frequency instant")
    # in Russian, with Russian day names
    await kit.say(BORIS, "/settings частота еженедельно")
    assert "воскресенье" in visible(await kit.say(BORIS, "/settings день вс"))


async def test_lang_switches_the_replies(db: Database) -> None:
    kit = make_kit(db)
    await kit.say(ALICE, "/start")
    choose = await kit.say(ALICE, "/lang")
    assert set(buttons(choose)) == {"English", "Русский", "Українська"}
    done = await kit.press(ALICE, buttons(choose)["Русский"])
    assert "Язык: русский" in visible(done)
    assert "Команды" in visible(await kit.say(ALICE, "/help"))
    assert "Language: English" in visible(await kit.say(BORIS, "/lang en"))
    assert "Языка" in visible(await kit.say(ALICE, "/lang klingon"))
    assert (await _sub(db, ALICE)).language == "ru"


async def test_pause_and_resume(db: Database) -> None:
    kit = make_kit(db)
    assert "Paused" in visible(await kit.say(ALICE, "/pause"))
    assert "already paused" in visible(await kit.say(ALICE, "/pause"))
    assert (await _sub(db, ALICE)).paused
    assert "Resumed" in visible(await kit.say(ALICE, "/resume"))
    assert "not paused" in visible(await kit.say(ALICE, "/resume"))
    assert not (await _sub(db, ALICE)).paused


async def test_tour_buttons_lead_to_each_screen(db: Database) -> None:
    kit = make_kit(db)
    tour = await kit.say(ALICE, "/start")
    assert set(buttons(tour)) == {"➕ Add a rule", "📢 Channels", "⚙️ Settings", "❓ Help"}
    assert "Welcome back" in visible(await kit.say(ALICE, "/start"))
    helped = await kit.press(ALICE, buttons(tour)["❓ Help"])
    assert not helped.edit and "/watch RULE" in visible(helped)  # a new message: the tour stays
    assert "No channels are watched yet" in visible(await kit.press(ALICE, buttons(tour)["📢 Channels"]))
    assert "Settings" in visible(await kit.press(ALICE, buttons(tour)["⚙️ Settings"]))
    prompt = await kit.press(ALICE, buttons(tour)["➕ Add a rule"])
    assert "Send me the words" in visible(prompt)
    added = await kit.say(ALICE, "обстрел Белгород")  # the next plain message is the rule
    assert "Rule 1 added: обстрел Белгород" in visible(added)
    assert "/watch battalion" in visible(await kit.say(ALICE, "ещё слово"))  # only the one message
    assert (await kit.press(ALICE, "go:nowhere")).text == ""


async def test_help_lists_every_command_with_an_example(db: Database) -> None:
    from bot.commands import COMMANDS

    kit = make_kit(db)
    for caller, example in ((ALICE, "/watch battalion"), (BORIS, "/watch батальон")):
        text = visible(await kit.say(caller, "/help"))
        for name in COMMANDS:
            assert f"/{name}" in text, name
        assert example in text and "/follow https://t.me/vvgladkov" in text
        assert "\\b" in text  # what \b does in a /pattern/
    admin = await kit.say(ALICE, "/admin stats")
    assert "for the bot's administrators" in visible(admin)
