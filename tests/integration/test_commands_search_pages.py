"""/search pages through the real command handlers on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from tests.integration.test_commands_kit import ALICE, BORIS, OTHER, buttons, ingest, make_kit, visible

pytestmark = pytest.mark.dates  # posts dated relative to the real clock


def _numbers(text: str) -> list[int]:
    return [int(n) for n in re.findall(r"сводка №(\d+)", text)]


async def test_pages_are_newest_first_with_no_post_twice_and_none_skipped(db) -> None:  # type: ignore[no-untyped-def]
    # 12 matching posts, three of them at the very same minute (ties broken by id), and noise
    posts = [(f"Обстрел, сводка №{n}", timedelta(hours=n if n not in (4, 5) else 3)) for n in range(12)]
    await ingest(db, [*posts, ("Погода: дождь", timedelta(hours=1))])
    kit = make_kit(db)
    first = await kit.say(ALICE, "/search обстрел")
    assert "обстрел: 12 posts; the newest 5" in visible(first) and not first.edit
    seen = _numbers(visible(first))
    second = await kit.press(ALICE, buttons(first)["More ›"])
    assert "posts 6–10 of 12" in visible(second) and not second.edit  # a new message: page 1 stays
    seen += _numbers(visible(second))
    third = await kit.say(ALICE, "/search more")
    assert "posts 11–12 of 12" in visible(third) and "That is all: 12 posts shown" in visible(third)
    assert "More ›" not in buttons(third)
    seen += _numbers(visible(third))
    assert sorted(seen) == list(range(12)) and len(seen) == 12  # none twice, none skipped
    hours = {n: (n if n not in (4, 5) else 3) for n in range(12)}
    assert [hours[n] for n in seen] == sorted(hours[n] for n in seen)  # newest (fewest hours ago) first
    # nothing left to page; the old button is refused politely
    assert "no search to go on" in visible(await kit.say(ALICE, "/search more"))
    assert "no search to go on" in visible(await kit.press(ALICE, buttons(second)["More ›"]))


async def test_a_new_search_retires_the_old_button_and_each_chat_pages_its_own(db) -> None:  # type: ignore[no-untyped-def]
    await ingest(db, [(f"Обстрел, сводка №{n}", timedelta(hours=n + 1)) for n in range(8)])
    await ingest(db, [(f"Взрыв, сводка №{n}", timedelta(minutes=n + 1)) for n in range(20, 27)], channel=OTHER)
    kit = make_kit(db)
    old = await kit.say(ALICE, "/search обстрел")
    new = await kit.say(ALICE, "/search взрыв")
    assert "no search to go on" in visible(await kit.press(ALICE, buttons(old)["More ›"]))
    boris = await kit.say(BORIS, "/search обстрел")
    assert "Ещё ›" in buttons(boris)
    page = await kit.press(ALICE, buttons(new)["More ›"])
    assert _numbers(visible(page)) == [25, 26]
    theirs = await kit.say(BORIS, "/search ещё")
    assert _numbers(visible(theirs)) == [5, 6, 7] and "посты 6–8 из 8" in visible(theirs)
    assert "Это всё" in visible(theirs)
