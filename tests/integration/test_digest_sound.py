"""Digests ring or not as the subscriber chose in /settings; instant alerts ring by default. The
outbox row carries the choice and the delivery worker hands it to the Sender (Telegram's silent send)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.config import Settings
from bot.delivery.clock import ManualClock
from bot.delivery.limiter import RateLimiter
from bot.delivery.worker import deliver_due
from bot.digest.scheduler import DigestScheduler
from bot.storage.database import Database
from tests.digest_support import (
    FakeSender,
    add_channel,
    add_post_match,
    add_rule,
    add_subscriber,
    outbox_rows,
)
from tests.integration.test_commands_kit import ALICE, BORIS, make_kit, visible


async def test_digests_are_silent_and_alerts_ring_unless_the_subscriber_chose_otherwise(db: Database) -> None:
    created = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    daily = await add_subscriber(db, chat_id=40, created_at=created, timezone="UTC", digest_hour=8)
    loud = await add_subscriber(db, chat_id=41, created_at=created, timezone="UTC", digest_hour=8, sound="all")
    alert = await add_subscriber(db, chat_id=42, created_at=created, frequency="instant")
    hush = await add_subscriber(db, chat_id=43, created_at=created, frequency="instant", sound="none")
    channel = await add_channel(db)
    for sub in (daily, loud, alert, hush):
        rule = await add_rule(db, sub, "обстрел")
        await add_post_match(db, channel, rule, "обстрел утром", date=created + timedelta(hours=20))
    clock = ManualClock(datetime(2026, 11, 24, 8, 1, tzinfo=UTC))
    assert await DigestScheduler(db, Settings(), clock).tick() == 4
    assert {r.chat_id: r.silent for r in await outbox_rows(db)} == {40: True, 41: False, 42: False, 43: True}
    sender = FakeSender(clock)
    assert await deliver_due(db, sender, RateLimiter(Settings().delivery, clock), clock) == 4
    assert {s.chat_id: s.silent for s in sender.sent} == {40: True, 41: False, 42: False, 43: True}


async def test_sound_by_buttons_and_typed_in_either_language(db: Database) -> None:
    kit = make_kit(db)
    screen = await kit.say(ALICE, "/settings")
    assert "Sound: Alerts ring, digests silent" in visible(screen)
    choose = await kit.press(ALICE, "s:sound")
    assert [b.text for row in choose.buttons for b in row][:3] == [
        "Alerts ring, digests silent", "Everything rings", "Everything silent"]
    saved = await kit.press(ALICE, "s:snd:none")
    assert "Sound: Everything silent" in visible(saved)
    assert (await kit.press(ALICE, "s:snd:loud")).toast  # a forged value changes nothing
    typed = await kit.say(BORIS, "/settings звук все")  # the setting and its value in Russian
    assert "Звук: Всё со звуком" in visible(typed)
    wrong = await kit.say(BORIS, "/settings sound громко")
    assert "не настройка звука" in visible(wrong) and "<code>" in wrong.text
