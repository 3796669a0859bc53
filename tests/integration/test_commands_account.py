"""/digest, /export and /stop on a real database."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from bot.storage import models as m
from bot.storage.database import Database
from tests.integration.test_commands_kit import ALICE, BORIS, buttons, ingest, make_kit, visible

pytestmark = pytest.mark.dates  # the commands read the real clock (/digest, /export windows); posts are dated from it


async def test_digest_now_and_for_the_week(db: Database) -> None:
    kit = make_kit(db)
    assert "not subscribed yet" in visible(await kit.say(ALICE, "/digest"))
    await kit.say(ALICE, "/start")
    await kit.say(ALICE, "/watch батальон")
    assert "Nothing new has matched" in visible(await kit.say(ALICE, "/digest"))
    await ingest(db, [("Батальон прибыл", timedelta(hours=3)), ("Второй батальон", timedelta(hours=1))])
    queued = await kit.say(ALICE, "/digest")
    assert "Your digest is on its way: 2 items in 1 message." in visible(queued)
    rows = await kit.count(m.Outbox, m.Outbox.chat_id == ALICE.chat_id)
    assert rows == 1
    assert "Nothing new has matched" in visible(await kit.say(ALICE, "/digest"))  # the watermark moved
    assert "on its way: 2 items" in visible(await kit.say(ALICE, "/digest week"))
    assert "/digest week" in visible(await kit.say(ALICE, "/digest month"))
    assert await kit.count(m.Outbox, m.Outbox.chat_id == BORIS.chat_id) == 0


async def test_export_is_a_csv_of_rules_and_recent_matches(db: Database) -> None:
    kit = make_kit(db)
    assert "not subscribed yet" in visible(await kit.say(ALICE, "/export"))
    await kit.say(ALICE, "/watch батальон")
    await kit.say(ALICE, "/watch =SUM(1)")
    await kit.say(BORIS, "/watch батальон")
    await ingest(
        db, [('Батальон, =HYPERLINK("x")', timedelta(days=2)), ("Старый батальон", timedelta(days=40))]
    )
    reply = await kit.say(ALICE, "/export")
    assert reply.file is not None and reply.file.name.endswith(".csv")
    assert "Your 2 rules and 1 match of the last 30 days" in visible(reply)
    rows = list(csv.reader(io.StringIO(reply.file.data.decode("utf-8-sig"))))
    assert rows[0][:3] == ["record", "rule_number", "rule"]
    kinds = [r[0] for r in rows[1:]]
    assert kinds == ["rule", "rule", "match"]  # Boris's rule and the 40-day-old post are not there
    assert rows[2][2] == "'=SUM(1)"  # a spreadsheet must not run it
    assert rows[3][5] == "https://t.me/vvgladkov/100" and rows[3][6].startswith("Батальон")


async def test_stop_deletes_everything_of_this_chat_after_confirmation(db: Database) -> None:
    kit = make_kit(db)
    assert "I keep nothing for this chat" in visible(await kit.say(ALICE, "/stop"))
    for caller in (ALICE, BORIS):
        await kit.say(caller, "/watch батальон")
        await kit.say(caller, "/settings time 07:00")
    await ingest(db, [("Батальон", timedelta(hours=1))])
    await kit.press(
        ALICE, next(d for d in buttons(await kit.say(ALICE, "/channels")).values() if d.startswith("c:off"))
    )
    await kit.say(ALICE, "/digest")
    await kit.say(ALICE, "/follow @somechannel")
    assert await kit.count(m.Match) == 2

    ask = await kit.say(ALICE, "/stop")
    assert "cannot be undone" in visible(ask)
    kept = await kit.press(ALICE, buttons(ask)["Cancel"])
    assert "Nothing was deleted" in visible(kept)
    assert await kit.count(m.Rule) == 2
    done = await kit.press(ALICE, buttons(ask)["🗑 Yes, delete everything"])
    assert "everything about this chat is deleted" in visible(done)
    assert await kit.count(m.Subscriber, m.Subscriber.chat_id == ALICE.chat_id) == 0
    assert await kit.count(m.Rule) == 1 and await kit.count(m.Match) == 1  # Boris's stay
    assert await kit.count(m.Subscription) == 0
    assert await kit.count(m.Outbox) == 0 and await kit.count(m.Digest) == 0
    assert await kit.count(m.Channel, m.Channel.added_by == ALICE.chat_id) == 0
    assert await kit.count(m.Post) == 1  # channel posts are not the user's data
    # pressing the button again finds nothing to delete
    assert "I keep nothing" in visible(await kit.press(ALICE, "stop:yes"))
    # and a new /start begins afresh
    assert "Hi! I watch public Telegram channels" in visible(await kit.say(ALICE, "/start"))
