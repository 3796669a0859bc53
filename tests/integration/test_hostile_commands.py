"""Hostile bot input: lone surrogates, NUL and control characters, slow /patterns/; a clear reply in
the user's language, no row written, and no user text in the log (SQLite and PostgreSQL)."""

from __future__ import annotations

import logging

import pytest

from bot.commands import router
from bot.storage import models as m
from bot.storage.database import Database
from tests.integration.test_commands_kit import ALICE, BORIS, make_kit, visible


@pytest.mark.parametrize(
    ("text", "english", "russian"),
    [
        ("/watch a\x00b", "control character", "управляющий"),
        ("/watch батальон \x07", "control character", "управляющий"),
        ("/watch /a\x00b/", "control character", "управляющий"),
        ("/watch /(a?){1000}/", "too slow", "слишком медленное"),
        ("/watch /((б?|[a-z]){1000})+/", "too slow", "слишком медленное"),
        ("/watch /(\\w+\\s*){100}/", "too complex", "слишком сложное"),  # refused by size
    ],
)
async def test_bad_rules_are_refused_clearly(
    db: Database, caplog: pytest.LogCaptureFixture, text: str, english: str, russian: str
) -> None:
    kit = make_kit(db)
    with caplog.at_level(logging.WARNING):
        reply = await kit.say(ALICE, text)
        assert english in visible(reply)
        assert russian in visible(await kit.say(BORIS, text))
        search = await kit.say(ALICE, text.replace("/watch", "/search"))
        assert english in visible(search)
    assert await kit.count(m.Rule) == 0
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_pattern_with_no_fixed_text_is_not_watched(db: Database) -> None:
    """It would run on every post of every channel: refused at /watch with a way to write it; a
    one-off /search may still use it."""
    kit = make_kit(db)
    reply = visible(await kit.say(ALICE, "/watch /[а-я]{5,9}ость/"))  # "ость" is only 4 letters: fine
    assert "no fixed piece" not in reply
    for text, said in [(ALICE, "no fixed piece of text"), (BORIS, "нет постоянного куска текста")]:
        assert said in visible(await kit.say(text, "/watch /[а-я]{5,9}/"))
    assert "no fixed piece" not in visible(await kit.say(ALICE, "/search /[а-я]{5,9}/"))
    assert await kit.count(m.Rule) == 1


@pytest.mark.parametrize(
    "text",
    ["/watch /\ud800/", "/watch \udcff", "/settings size \ud800", "/settings tz \ud800\x00", "/settings \x00",
     "/follow \ud800", "/unwatch \x00", "/search \ud800", "\ud800", "/lang \x00", "/digest \udfff"],
)
async def test_surrogates_and_nul_get_a_reply_not_a_trace(
    db: Database, caplog: pytest.LogCaptureFixture, text: str
) -> None:
    kit = make_kit(db)
    await kit.say(ALICE, "/start")
    with caplog.at_level(logging.ERROR):
        reply = await kit.say(ALICE, text)
    assert reply.text.strip() and "went wrong" not in reply.text
    reply.text.encode("utf-8")
    assert "\x00" not in reply.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    pressed = await kit.press(ALICE, "s:n:\ud800")
    assert pressed.toast


async def test_a_good_regex_is_still_accepted(db: Database) -> None:
    kit = make_kit(db)
    reply = await kit.say(ALICE, "/watch /батальон\\w*/")
    assert "Rule 1 added" in visible(reply)
    assert await kit.count(m.Rule) == 1


async def test_a_failing_command_logs_no_user_text(
    db: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    kit = make_kit(db)
    secret = "секретное правило"

    async def broken(ctx: object, req: object) -> object:
        raise RuntimeError(f"INSERT refused: {secret}")  # as a database error quotes its parameters

    monkeypatch.setitem(router.COMMANDS, "watch", router.Spec(broken, True))  # type: ignore[arg-type]
    with caplog.at_level(logging.ERROR):
        reply = await kit.say(ALICE, f"/watch {secret}")
    assert "Something went wrong" in visible(reply)
    logged = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert "command failed in chat 1001: RuntimeError" in logged and "broken" in logged  # where it failed
    assert secret not in logged and "секрет" not in logged
