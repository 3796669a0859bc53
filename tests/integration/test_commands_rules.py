"""/watch, /rules, /unwatch, /search on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from bot.storage import models as m
from bot.storage.database import Database
from tests.integration.test_commands_kit import (
    ALICE,
    BORIS,
    OTHER,
    button_data,
    buttons,
    ingest,
    make_kit,
    visible,
)

pytestmark = pytest.mark.dates  # /watch dry-runs and /search the last days of the real clock


async def test_watch_adds_a_rule_and_shows_a_dry_run_of_the_last_seven_days(db: Database) -> None:
    await ingest(
        db,
        [
            ("Батальон территориальной обороны провёл учения.", timedelta(days=1)),
            ("Новый батальон сформирован в Белгороде.", timedelta(hours=2)),
            ("Батальоны на учениях — старая новость.", timedelta(days=20)),
            ("Погода: дождь.", timedelta(hours=1)),
        ],
    )
    kit = make_kit(db)
    reply = await kit.say(ALICE, "/watch батальон")
    text = visible(reply)
    assert "Rule 1 added: батальон" in text
    assert "it matches 2 stored posts: /digest week shows them now" in text
    # the two newest as examples, newest first, with links
    assert text.index("Новый батальон") < text.index("Батальон территориальной")
    assert "https://t.me/vvgladkov/101" in text
    assert "<b>батальон</b>" in reply.text.lower()  # the matched word highlighted
    assert kit.reloads == [1]  # the running matcher was told
    assert await kit.count(m.Rule) == 1
    assert buttons(reply)["🗑 Delete this rule"].startswith("r:del:")

    nothing = await kit.say(ALICE, "/watch самооборона")
    assert "No stored post of the last 7 days matches it yet" in visible(nothing)


async def test_watch_bad_input_gets_a_reason_and_an_example(db: Database) -> None:
    kit = make_kit(db, max_rules=2)
    empty = await kit.say(ALICE, "/watch")
    assert "for example /watch battalion" in visible(empty)
    broken = await kit.say(ALICE, '/watch "unclosed phrase')
    assert "That rule does not work" in visible(broken) and "A rule that works: /watch" in visible(broken)
    huge = await kit.say(ALICE, "/watch " + "слово " * 2000)
    assert "That rule does not work" in visible(huge)
    assert await kit.count(m.Rule) == 0

    await kit.say(ALICE, "/watch обстрел")
    again = await kit.say(ALICE, "/watch  Обстрел ")
    assert "already have this rule (number 1)" in visible(again)
    await kit.say(ALICE, "/watch <b>x</b> & y")
    assert await kit.count(m.Rule) == 2
    full = await kit.say(ALICE, "/watch батальон")
    assert "You have 2 rules, the most allowed" in visible(full)
    assert await kit.count(m.Rule) == 2


async def test_html_looking_rule_is_shown_literally(db: Database) -> None:
    kit = make_kit(db)
    reply = await kit.say(ALICE, '/watch <a href="https://evil.example">x</a> AT&T')
    text = visible(reply)  # check_html already proved the parse loses nothing
    assert '<a href="https://evil.example">x</a> AT&T' in text
    assert "evil.example" not in "".join(str(e) for e in [reply.buttons])
    listing = await kit.say(ALICE, "/rules")
    assert '<a href="https://evil.example">x</a> AT&T' in visible(listing)


async def test_rules_list_and_delete_by_button(db: Database) -> None:
    kit = make_kit(db)
    for word in ("батальон", "обстрел", "shelling"):
        await kit.say(ALICE, f"/watch {word}")
    listing = await kit.say(ALICE, "/rules")
    text = visible(listing)
    assert "Your rules (3 of 50)" in text
    assert text.index("1. батальон") < text.index("2. обстрел") < text.index("3. shelling")
    delete_second = buttons(listing)["🗑 2"]
    after = await kit.press(ALICE, delete_second)
    assert after.toast == "Deleted: обстрел" and after.edit
    assert "обстрел" not in visible(after) and "2. shelling" in visible(after)
    assert await kit.count(m.Rule) == 2
    # the same button again: the rule is gone, nothing else is touched
    stale = await kit.press(ALICE, delete_second)
    assert stale.text == "" and stale.toast and "does not exist" in stale.toast
    assert await kit.count(m.Rule) == 2


async def test_a_second_user_cannot_delete_the_first_users_rule_by_forging_button_data(db: Database) -> None:
    kit = make_kit(db)
    reply = await kit.say(ALICE, "/watch батальон")
    alices_button = buttons(reply)["🗑 Delete this rule"]
    await kit.say(BORIS, "/watch обстрел")
    forged = await kit.press(BORIS, alices_button)
    assert forged.text == "" and forged.alert  # refused, and no screen of Alice's is shown to Boris
    assert await kit.count(m.Rule) == 2
    # ... nor through the rule list's page of another chat, nor with garbage ids
    for data in ("r:del:-1:0", "r:del:99999999999:0", "r:del:x:0", "r:del:" + "9" * 40, "r:drop:1", "zz:1"):
        junk = await kit.press(BORIS, data)
        assert junk.text == ""
    assert await kit.count(m.Rule) == 2
    # Boris sees only his own rules
    assert "батальон" not in visible(await kit.say(BORIS, "/rules"))
    # Alice still deletes her own
    await kit.press(ALICE, alices_button)
    assert await kit.count(m.Rule) == 1


async def test_unwatch_by_number_or_text(db: Database) -> None:
    kit = make_kit(db)
    assert "You have no rules yet" in visible(await kit.say(ALICE, "/unwatch 1"))
    for word in ("батальон", "обстрел", "shelling"):
        await kit.say(ALICE, f"/watch {word}")
    assert "Say which rule to delete" in visible(await kit.say(ALICE, "/unwatch"))
    assert "Deleted the rule обстрел" in visible(await kit.say(ALICE, "/unwatch 2"))
    assert "Deleted the rule shelling" in visible(await kit.say(ALICE, "/unwatch SHELLING"))
    missing = await kit.say(ALICE, "/unwatch 7")
    assert "No rule is numbered or written 7" in visible(missing)
    assert "No rule" in visible(await kit.say(ALICE, "/unwatch <script>"))
    assert await kit.count(m.Rule) == 1
    assert kit.reloads == [1, 1, 1, 1, 1]


async def test_search_finds_stored_posts_in_followed_channels(db: Database) -> None:
    await ingest(db, [("Обстрел Белгорода ночью", timedelta(hours=3)), ("Тихо", timedelta(hours=2))])
    await ingest(db, [("Обстрел <b>тут</b> & там", timedelta(hours=1))], channel=OTHER)
    kit = make_kit(db)
    assert "Write what to look for" in visible(await kit.say(ALICE, "/search"))
    found = await kit.say(ALICE, "/search обстрел")
    assert "обстрел: 2 posts" in visible(found)
    assert "Обстрел <b>тут</b> & там" in visible(found)  # channel text shown literally
    assert "No stored post matches" in visible(await kit.say(ALICE, "/search самооборона"))
    assert "That rule does not work" in visible(await kit.say(ALICE, "/search (обстрел OR"))
    # unfollow the other channel: search follows the chat's own channel choice
    await kit.say(ALICE, "/start")
    listing = await kit.say(ALICE, "/channels")
    off = next(d for d in button_data(listing) if d.startswith("c:off:") and "Other" in _label(listing, d))
    await kit.press(ALICE, off)
    assert "обстрел: 1 post;" in visible(await kit.say(ALICE, "/search обстрел"))


def _label(reply: object, data: str) -> str:
    return next(b.text for row in reply.buttons for b in row if b.data == data)  # type: ignore[attr-defined]


async def test_channel_scoped_rule_is_stored_with_its_scope(db: Database) -> None:
    kit = make_kit(db)
    await kit.say(ALICE, "/watch батальон in:@vvgladkov")
    async with db.uow(read_only=True) as session:
        from sqlalchemy import select

        rule = await session.scalar(select(m.Rule))
    assert rule is not None and rule.channels == ["vvgladkov"]


async def test_russian_replies_for_russian_and_belarusian_clients_ukrainian_for_ukrainian(db: Database) -> None:
    kit = make_kit(db)
    ukrainian = replace(BORIS, chat_id=4999, user_id=4999, language_code="uk")
    assert "Додайте правило" in visible(await kit.say(ukrainian, "/start"))
    for code in ("ru", "be-BY"):
        caller = replace(
            BORIS, chat_id=hash(code) % 10_000 + 5000, user_id=hash(code) % 10_000 + 5000, language_code=code
        )
        assert "Добавьте правило" in visible(await kit.say(caller, "/start"))
    german = replace(ALICE, chat_id=7, user_id=7, language_code="de")
    assert "Add a rule" in visible(await kit.say(german, "/start"))


async def test_the_watch_preview_and_digest_week_show_the_same_posts(db: Database) -> None:
    """A rule means the same everywhere: the posts /watch counts are the ones /digest week shows;
    scheduled digests and /digest send only what is found once the rule exists."""
    await ingest(db, [
        ("Обстрел Шебекино утром.", timedelta(days=1)),
        ("Новый обстрел Белгорода.", timedelta(hours=2)),
        ("Обстрел месяц назад.", timedelta(days=20)),
        ("Погода: дождь.", timedelta(hours=1)),
    ])
    kit = make_kit(db)
    added = visible(await kit.say(ALICE, "/watch обстрел"))
    assert "it matches 2 stored posts" in added
    week = visible(await kit.say(ALICE, "/digest week"))
    assert "Your digest is on its way: 2 items" in week, week
    since_last = visible(await kit.say(ALICE, "/digest"))
    assert "Nothing new has matched your rules since your last digest" in since_last, since_last
    assert await kit.count(m.Match) == 2  # recorded once; a second /watch of it is refused anyway


async def test_a_comma_list_gets_a_question_not_a_silent_and(db: Database) -> None:
    kit = make_kit(db)
    reply = visible(await kit.say(ALICE, "/watch беспилотник, дрон, бпла"))
    assert "Did you mean any of these words? /watch беспилотник OR дрон OR бпла" in reply
    assert "/watch беспилотник дрон бпла" in reply
    assert await kit.count(m.Rule) == 0  # nothing guessed
    russian = visible(await kit.say(replace(ALICE, language_code="ru"), "/watch обстрел, взрыв"))
    assert "Нужно любое из этих слов? /watch обстрел OR взрыв" in russian
    quoted = visible(await kit.say(ALICE, '/watch "Белгород, Шебекино"'))  # a phrase may hold a comma
    assert "Rule 1 added" in quoted
