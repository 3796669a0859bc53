"""A rule's own screen: delivery, name and /edit, through the real command handlers on a real
database (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.config import Settings
from bot.delivery.clock import ManualClock
from bot.digest.scheduler import DigestScheduler
from bot.storage import models as m
from bot.storage.database import Database
from tests.integration.test_commands_kit import ALICE, BORIS, buttons, ingest, make_kit, visible

pytestmark = pytest.mark.dates  # /watch and /edit dry-run the last days of the real clock


async def _rules(db: Database) -> list[m.Rule]:
    async with db.uow(read_only=True) as session:
        return list(await session.scalars(select(m.Rule).order_by(m.Rule.id)))


async def test_delivery_by_button_on_the_rule_and_typed(db: Database) -> None:
    kit = make_kit(db)
    await kit.say(ALICE, "/watch обстрел*")
    await kit.say(ALICE, "/watch погода")
    listing = await kit.say(ALICE, "/rules")
    screen = await kit.press(ALICE, buttons(listing)["⚙️ 1"])
    assert "Rule 1" in visible(screen) and "Delivery: as the chat (daily)" in visible(screen)
    assert "✓ as the chat (daily)" in buttons(screen)
    after = await kit.press(ALICE, buttons(screen)["⚡ instant"])
    assert after.toast == "Delivery: ⚡ instant" and "✓ ⚡ instant" in buttons(after)
    assert [r.delivery for r in await _rules(db)] == ["instant", ""]
    assert "1. <code>обстрел*</code> · ⚡ instant" in (await kit.say(ALICE, "/rules")).text
    # typed, in English words
    assert "Rule 2 is delivered: 🔕 muted" in visible(await kit.say(ALICE, "/delivery 2 muted"))
    assert "is not a delivery" in visible(await kit.say(ALICE, "/delivery 2 hourly"))
    assert "There is no rule number" in visible(await kit.say(ALICE, "/delivery 9 daily"))
    assert "for example /delivery 2 instant" in visible(await kit.say(ALICE, "/delivery"))
    # unmuting starts the rule's stream now: what matched while muted is not sent
    back = await kit.say(ALICE, "/delivery 2 default")
    assert "as the chat (daily)" in visible(back)
    rule = (await _rules(db))[1]
    assert rule.delivery == "" and rule.delivered_until is not None
    # Russian words for a Russian speaker; a forged button of another chat changes nothing
    await kit.say(BORIS, "/watch батальон")
    assert "Доставка правила 1: 🗓 еженедельно" in visible(await kit.say(BORIS, "/delivery 1 еженедельно"))
    forged = await kit.press(BORIS, f"r:dl:{(await _rules(db))[0].id}:m:0")
    assert forged.text == "" and forged.alert
    assert (await _rules(db))[0].delivery == "instant"


async def test_an_instant_rule_in_a_daily_chat_alerts_through_the_real_pipeline(db: Database) -> None:
    kit = make_kit(db)
    await kit.say(ALICE, "/watch обстрел*")
    await kit.say(ALICE, "/watch погода")
    await kit.say(ALICE, "/delivery 1 instant")
    await kit.say(ALICE, "/name 1 Shelling watch")
    await ingest(db, [("Обстрелы Белгорода утром", timedelta(seconds=0)), ("Погода: дождь", timedelta(seconds=0))])
    clock = ManualClock(datetime.now(UTC) + timedelta(seconds=5))
    scheduler = DigestScheduler(db, Settings(), clock)
    assert (await scheduler.instant_tick())[0] == 1
    async with db.uow(read_only=True) as session:
        (alert,) = (await session.scalars(select(m.Outbox))).all()
    assert "Белгорода" in alert.text and "дождь" not in alert.text  # the daily rule waits for its digest
    assert "Shelling watch" in alert.text and "обстрел*" not in alert.text  # the rule's name, not its query
    assert (await scheduler.instant_tick())[0] == 0  # sent once


async def test_names_by_button_and_typed_reply_or_command(db: Database) -> None:
    kit = make_kit(db)
    await kit.say(ALICE, "/watch обстрел* AND Белгород")
    screen = await kit.press(ALICE, buttons(await kit.say(ALICE, "/rules"))["⚙️ 1"])
    asked = await kit.press(ALICE, buttons(screen)["✏️ Name"])
    assert "Send the name for" in visible(asked) and not asked.edit
    named = await kit.say(ALICE, "Shelling <Belgorod>")
    assert "is named Shelling <Belgorod>" in visible(named)
    assert (await _rules(db))[0].name == "Shelling <Belgorod>"
    assert "1. Shelling <Belgorod> · обстрел* AND Белгород" in visible(await kit.say(ALICE, "/rules"))
    assert "at most 64 characters" in visible(await kit.say(ALICE, "/name 1 " + "x" * 65))
    assert "is named Обстрелы" in visible(await kit.say(ALICE, "/name 1 Обстрелы"))
    assert "has no name now" in visible(await kit.say(ALICE, "/name 1"))
    assert (await _rules(db))[0].name == ""
    # the plain message after the button is taken once; the next one is ordinary chat again
    assert "To watch for words" in visible(await kit.say(ALICE, "just chatting"))


async def test_edit_revalidates_shows_a_dry_run_and_recomputes_matches(db: Database) -> None:
    await ingest(db, [
        ("Обстрел Шебекино утром.", timedelta(days=1)),
        ("Новый обстрел Белгорода.", timedelta(hours=2)),
        ("Погода: дождь в Белгороде.", timedelta(hours=1)),
    ])
    kit = make_kit(db)
    await kit.say(ALICE, "/watch обстрел")
    await kit.say(ALICE, "/watch погода")
    await kit.say(ALICE, "/delivery 1 instant")
    await kit.say(ALICE, "/name 1 Белгород")
    assert await kit.count(m.Match) == 3
    edited = await kit.say(ALICE, "/edit 1 Белгород")
    text = visible(edited)
    assert "Rule 1 is now Белгород (it was обстрел)" in text and "it matches 2 stored posts" in text
    rule = (await _rules(db))[0]
    assert (rule.source, rule.name, rule.delivery) == ("Белгород", "Белгород", "instant")
    async with db.uow(read_only=True) as session:
        texts = sorted((await session.scalars(
            select(m.Post.text).join(m.Match, m.Match.post_id == m.Post.id).where(m.Match.rule_id == rule.id))).all())
    assert texts == ["Новый обстрел Белгорода.", "Погода: дождь в Белгороде."]  # the new query's, as /watch records
    assert kit.reloads[-1] == 1 and len(kit.reloads) == 3
    # bad input: one clear line, nothing changed
    assert "That rule does not work" in visible(await kit.say(ALICE, "/edit 1 (обстрел OR"))
    assert "You already have this rule (number 2)" in visible(await kit.say(ALICE, "/edit 1 погода"))
    assert "for example /edit 2" in visible(await kit.say(ALICE, "/edit 1"))
    assert "There is no rule number" in visible(await kit.say(ALICE, "/edit 5 дождь"))
    assert "/edit 1 дрон OR бпла" in visible(await kit.say(ALICE, "/edit 1 дрон, бпла"))
    assert (await _rules(db))[0].source == "Белгород"


async def test_a_ukrainian_speaker_sets_delivery_names_and_pages_in_ukrainian(db: Database) -> None:
    from bot.commands import Caller, ChatKind

    await ingest(db, [(f"Обстріл, зведення №{n}", timedelta(hours=n + 1)) for n in range(7)])
    kit = make_kit(db)
    olena = Caller(chat_id=4004, user_id=4004, kind=ChatKind.PRIVATE, language_code="uk")
    await kit.say(olena, "/watch обстріл*")
    assert "⚡ одразу" in visible(await kit.say(olena, "/delivery 1 одразу"))
    assert "🗓" in visible(await kit.say(olena, "/delivery 1 щотижня"))
    screen = await kit.press(olena, buttons(await kit.say(olena, "/rules"))["⚙️ 1"])
    assert "Правило 1" in visible(screen)
    found = await kit.say(olena, "/search обстріл*")
    assert "Ще ›" in buttons(found)
    more = visible(await kit.say(olena, "/search далі"))
    assert "зведення №5" in more and "зведення №6" in more
    assert (await _rules(db))[0].delivery == "weekly"


async def test_a_muted_rules_matches_are_in_no_digest_but_in_search_and_export(db: Database) -> None:
    await ingest(db, [("Обстрел Шебекино", timedelta(hours=5)), ("Погода: дождь", timedelta(hours=4))])
    kit = make_kit(db)
    await kit.say(ALICE, "/watch обстрел")
    await kit.say(ALICE, "/watch погода")
    await kit.say(ALICE, "/delivery 2 muted")
    week = visible(await kit.say(ALICE, "/digest week"))
    assert "1 item" in week, week  # the muted rule's post is not in it
    async with db.uow(read_only=True) as session:
        texts = " ".join((await session.scalars(select(m.Outbox.text))).all())
    assert "Шебекино" in texts and "дождь" not in texts
    assert "дождь" in visible(await kit.say(ALICE, "/search погода"))
    exported = await kit.say(ALICE, "/export matches 7d")
    assert exported.file is not None and "дождь".encode() in exported.file.data
