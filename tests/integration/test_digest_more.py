"""A digest shows the top items up to the subscriber's size and says how many more; /more (or
/digest more) sends the next page of that digest, page by page, until it has all been shown."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from telethon.extensions import html as tl_html
from telethon.tl.types import MessageEntityTextUrl

from bot.storage import models as m
from bot.storage.database import Database
from tests.integration.test_commands_kit import ALICE, BORIS, ingest, make_kit, visible


async def _pages(db: Database, chat_id: int) -> list[tuple[str, list[str]]]:
    """Each queued message of the chat: its visible text and the posts its links point to."""
    async with db.uow(read_only=True) as session:
        rows = (await session.scalars(select(m.Outbox).where(m.Outbox.chat_id == chat_id).order_by(m.Outbox.id))).all()
    out = []
    for row in rows:
        text, entities = tl_html.parse(row.text)
        out.append((text, [e.url for e in entities if isinstance(e, MessageEntityTextUrl)]))
    return out


async def test_more_sends_the_next_pages_of_the_last_digest_until_all_is_shown(db: Database) -> None:
    kit = make_kit(db)
    await kit.say(ALICE, "/start")
    await kit.say(ALICE, "/watch обстрел")
    await ingest(db, [(f"Обстрел номер {i}. Без пострадавших.", timedelta(minutes=90 - i)) for i in range(25)])

    queued = await kit.say(ALICE, "/digest")
    assert visible(queued) == "📬 Your digest is on its way: the top 10 of 25 items, 1 message. /more sends the next ones."
    [(first, links)] = await _pages(db, ALICE.chat_id)
    assert first.splitlines()[0].endswith(": 25 items")
    assert first.splitlines()[1] == "обстрел 25. All from Гладков."  # the summary line
    assert "🔎 обстрел (10 of 25)" in first and len(links) == 10 and first.count("\n• ") == 10
    assert first.endswith("… and 15 more: /more")

    more = await kit.say(ALICE, "/more")
    assert visible(more) == "📬 More is on its way: 10 items."
    second, links2 = (await _pages(db, ALICE.chat_id))[-1]
    assert ", continued: 11–20 of 25 items" in second.splitlines()[0]
    assert len(links2) == 10 and second.endswith("… and 5 more: /more")

    await kit.say(ALICE, "/digest more")  # the same, spelled out
    third, links3 = (await _pages(db, ALICE.chat_id))[-1]
    assert ", continued: 21–25 of 25 items" in third.splitlines()[0]
    assert len(links3) == 5 and "more" not in third.replace("continued", "")
    assert len(set(links + links2 + links3)) == 25  # every post once, over the three pages

    done = await kit.say(ALICE, "/more")
    assert "shown in full" in visible(done)
    assert len(await _pages(db, ALICE.chat_id)) == 3


async def test_the_more_button_under_a_digest_sends_its_next_page_and_only_to_its_chat(db: Database) -> None:
    kit = make_kit(db)
    for caller in (ALICE, BORIS):
        await kit.say(caller, "/start")
        await kit.say(caller, "/watch обстрел")
    await ingest(db, [(f"Обстрел номер {i}. Без пострадавших.", timedelta(minutes=90 - i)) for i in range(15)])
    await kit.say(ALICE, "/digest")
    async with db.uow(read_only=True) as session:
        [row] = (await session.scalars(select(m.Outbox).where(m.Outbox.chat_id == ALICE.chat_id))).all()
    assert row.buttons == [[{"text": "Next 5 ›", "data": f"dg:more:{row.digest_id}"}]]
    # Boris presses a forged copy of Alice's button: nothing of hers is his
    forged = await kit.press(BORIS, f"dg:more:{row.digest_id}")
    assert forged.text == "" and "показан целиком" in (forged.toast or "")
    pressed = await kit.press(ALICE, f"dg:more:{row.digest_id}")
    assert pressed.text == "" and pressed.toast == "📬 More is on its way: 5 items."
    second, links = (await _pages(db, ALICE.chat_id))[-1]
    assert ", continued: 11–15 of 15 items" in second.splitlines()[0] and len(links) == 5
    again = await kit.press(ALICE, f"dg:more:{row.digest_id}")
    assert "shown in full" in (again.toast or "")
    assert len(await _pages(db, ALICE.chat_id)) == 2 and await _pages(db, BORIS.chat_id) == []


async def test_more_in_russian_and_before_any_digest(db: Database) -> None:
    kit = make_kit(db)
    await kit.say(BORIS, "/start")
    nothing = await kit.say(BORIS, "/more")
    assert visible(nothing).startswith("Последний дайджест показан целиком")
    await kit.say(BORIS, "/watch обстрел")
    await ingest(db, [(f"Обстрел номер {i}.", timedelta(minutes=60 - i)) for i in range(12)])
    queued = await kit.say(BORIS, "/digest")
    assert visible(queued) == "📬 Дайджест отправляется: 10 — самые важные, всего 12 публикаций; 1 сообщение. Следующие — /more."
    [(first, _)] = await _pages(db, BORIS.chat_id)
    assert first.endswith("… и ещё 2 публикации: /more")
    more = await kit.say(BORIS, "/digest ещё")
    assert visible(more) == "📬 Продолжение отправляется: 2 публикации."
    second, _ = (await _pages(db, BORIS.chat_id))[-1]
    assert ", продолжение: 11–12 (всего 12 публикаций)" in second.splitlines()[0]
