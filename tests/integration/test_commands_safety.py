"""Rate limits, private mode, groups, and hostile or odd input: always a helpful reply, never a trace."""

from __future__ import annotations

import logging
import string
from dataclasses import replace

import pytest

from bot.commands import Caller, ChatKind
from bot.storage import models as m
from bot.storage.database import Database
from tests.integration.test_commands_kit import ALICE, BORIS, check_html, make_kit, visible

GROUP = -1001234567890
MEMBER = Caller(GROUP, 501, ChatKind.GROUP, is_group_admin=False, language_code="en", title="Ops <room>")
ADMIN = replace(MEMBER, user_id=502, is_group_admin=True)


async def test_rate_limit_throttles_the_flooding_user_only(db: Database) -> None:
    kit = make_kit(db, commands_per_minute=6, command_burst=3)
    replies = [await kit.bot.handle_text(ALICE, "/help") for _ in range(8)]
    assert all(r is not None and "Commands" in visible(r) for r in replies[:3])  # the burst
    assert replies[3] is not None and "faster than I can take them" in visible(replies[3])
    assert "about 10 s" in visible(replies[3])  # 6 a minute: one token every 10 s
    assert replies[4:] == [None, None, None, None]  # told once, then quiet
    # Boris, at the same moment, is served as usual
    for _ in range(3):
        other = await kit.bot.handle_text(BORIS, "/help")
        assert other is not None and "Команды" in visible(other)
    # buttons count too, and are answered with a short note
    assert await kit.bot.handle_button(ALICE, "go:help") is None
    # time passes: one token back
    kit.ticker.value += 10
    back = await kit.bot.handle_text(ALICE, "/help")
    assert back is not None and "Commands" in visible(back)
    assert await kit.bot.handle_text(ALICE, "/help") is not None  # a new warning after a new flood
    assert await kit.bot.handle_text(ALICE, "/help") is None


async def test_private_mode_refuses_politely(db: Database) -> None:
    kit = make_kit(db, private_mode=True, allowlist=[BORIS.user_id], admins=[42])
    refused = await kit.say(ALICE, "/start")
    assert "this bot is private" in visible(refused)
    assert "this bot is private" in visible(await kit.say(ALICE, "/watch батальон"))
    pressed = await kit.press(ALICE, "r:page:0")
    assert pressed.alert and pressed.toast and "private" in pressed.toast
    assert await kit.count(m.Subscriber) == 0
    assert "Здравствуйте" in visible(await kit.say(BORIS, "/start"))
    admin = replace(ALICE, chat_id=42, user_id=42)
    assert "Hi!" in visible(await kit.say(admin, "/start"))


async def test_groups_only_admins_change_rules_and_settings(db: Database) -> None:
    kit = make_kit(db)
    assert "Only this group's admins" in visible(await kit.say(MEMBER, "/start"))
    started = await kit.say(ADMIN, "/start")
    assert "Hi, group!" in visible(started)
    assert "Only this group's admins" in visible(await kit.say(MEMBER, "/watch батальон"))
    assert "Only this group's admins" in visible(await kit.say(MEMBER, "/settings time 07:00"))
    added = await kit.say(ADMIN, "/watch батальон")
    assert "Rule 1 added" in visible(added)
    # members may read the group's rules and help, but not press the delete button
    listing = await kit.say(MEMBER, "/rules")
    assert "1. батальон" in visible(listing)
    delete = next(b.data for row in listing.buttons for b in row if b.data and b.data.startswith("r:del:"))
    refused = await kit.press(MEMBER, delete)
    assert refused.alert and refused.text == ""
    assert await kit.count(m.Rule) == 1
    assert "Commands" in visible(await kit.say(MEMBER, "/help"))
    # ordinary group chatter, and commands meant for another bot, get no answer
    assert await kit.bot.handle_text(MEMBER, "hello everyone") is None
    kit.ctx.bot_username = "tgmon_bot"
    assert await kit.bot.handle_text(MEMBER, "/help@other_bot") is None
    assert await kit.bot.handle_text(MEMBER, "/help@TgMon_Bot") is not None
    async with db.uow(read_only=True) as session:
        from sqlalchemy import select

        group = await session.scalar(select(m.Subscriber).where(m.Subscriber.chat_id == GROUP))
    assert group is not None and group.kind == "group" and group.title == "Ops <room>"
    deleted = await kit.press(ADMIN, delete)
    assert deleted.toast == "Deleted: батальон"


ODD_INPUTS = [
    "/frobnicate",
    "/" + "x" * 5000,
    "/watch",
    "/unwatch",
    "/follow",
    "/search",
    "x" * 10_240,
    "/watch " + "батальон " * 1200,
    "/search " + "я" * 10_240,
    "/follow " + "a" * 10_240,
    "/settings tz " + "z" * 10_240,
    "/watch 🔥🔥🔥",
    "/watch 💥 обстрел",
    "/watch שלום עולם",
    "/watch مرحبا <i>x</i>",
    "/unwatch <b>1</b>",
    "<script>alert(1)</script>",
    "/watch x<y more & AT&T </b>",
    "/settings <b>",
    "/lang <i>",
    "/admin <a href='x'>",
    "/digest <b>",
    "/",
    "/ watch батальон",
    "/start\u200f\u202e",
]


async def test_odd_input_gets_a_clean_reply(db: Database, caplog: pytest.LogCaptureFixture) -> None:
    kit = make_kit(db)
    for text in ODD_INPUTS:
        with caplog.at_level(logging.ERROR):
            reply = await kit.say(ALICE, text)  # check_html: Telethon's parser keeps every character
        assert reply.text.strip(), text
        assert len(reply.text.encode("utf-16-le")) // 2 <= 4096, text[:50]
        assert "Traceback" not in reply.text and "Error:" not in reply.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_failing_command_answers_politely_and_logs(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    kit = make_kit(db)

    async def broken() -> None:
        raise RuntimeError("matcher exploded at /srv/secret/path")

    kit.ctx.rules_changed = broken
    with caplog.at_level(logging.ERROR):
        reply = await kit.say(ALICE, "/watch батальон")
    assert "Something went wrong on my side" in visible(reply)
    assert "exploded" not in reply.text and "/srv" not in reply.text
    assert any("command failed" in r.getMessage() for r in caplog.records)
    pressed = await kit.press(ALICE, "r:del:1:0")
    assert pressed.text == "" and pressed.alert and "went wrong" in (pressed.toast or "")


def test_every_string_survives_telethons_html_parser() -> None:
    """Every template of every language, filled with a hostile value escaped as t() escapes it."""
    from bot.i18n import LANGUAGES
    from bot.i18n.catalogs import entries

    for lang in LANGUAGES:
        for key, forms in entries(lang).items():
            if key.endswith("_btn"):
                continue
            for template in forms:
                fields = {f for _, f, _, _ in string.Formatter().parse(template) if f}
                filled = template.format(**{f: "&lt;x&amp;y&gt;" for f in fields})
                check_html(filled)
