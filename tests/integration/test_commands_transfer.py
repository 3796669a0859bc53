"""/export rules, a rules file sent back as a document (import), and /export matches of any period,
through the real command handlers on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.commands import Caller, ChatKind, Reply
from bot.storage import models as m
from bot.storage.database import Database
from tests.integration.test_commands_kit import (
    ALICE,
    BORIS,
    OTHER,
    Kit,
    check_html,
    ingest,
    make_kit,
    visible,
)

pytestmark = pytest.mark.dates  # /watch dry-runs and /export windows read the real clock
CAROL = Caller(chat_id=3003, user_id=3003, kind=ChatKind.PRIVATE, language_code="en")


async def send_file(kit: Kit, caller: Caller, data: bytes, name: str = "rules.json", caption: str = "") -> Reply | None:
    downloads: list[int] = []

    async def download() -> bytes:
        downloads.append(1)
        return data

    reply = await kit.bot.handle_document(caller, name, len(data), caption, download)
    if reply is not None:
        check_html(reply.text)
    return reply


async def _rules(db: Database, chat_id: int) -> list[tuple[str, str, str]]:
    async with db.uow(read_only=True) as session:
        rows = await session.execute(
            select(m.Rule.source, m.Rule.name, m.Rule.delivery).join(m.Subscriber)
            .where(m.Subscriber.chat_id == chat_id).order_by(m.Rule.id))
        return [tuple(r) for r in rows]  # type: ignore[misc]


async def test_rules_and_settings_move_to_another_chat_and_duplicates_are_skipped(db: Database) -> None:
    await ingest(db, [("Обстрел Белгорода ночью", timedelta(hours=3))])
    kit = make_kit(db)
    await kit.say(ALICE, "/watch обстрел*")
    await kit.say(ALICE, "/watch батальон in:@vvgladkov")
    await kit.say(ALICE, "/watch погода")
    await kit.say(ALICE, "/name 1 Обстрелы <Белгород>")
    await kit.say(ALICE, "/delivery 1 instant")
    await kit.say(ALICE, "/delivery 3 muted")
    await kit.say(ALICE, "/settings tz Asia/Yekaterinburg")
    await kit.say(ALICE, "/settings time 07:30")
    await kit.say(ALICE, "/settings quiet 23:00-07:00")
    exported = await kit.say(ALICE, "/export rules")
    assert exported.file is not None and exported.file.name.endswith(".json")
    doc = json.loads(exported.file.data)
    assert (doc["tgmon"], doc["version"]) == ("rules", 1)
    assert doc["rules"][0] == {"rule": "обстрел*", "name": "Обстрелы <Белгород>", "delivery": "instant"}
    assert doc["settings"]["timezone"] == "Asia/Yekaterinburg" and doc["settings"]["quiet"] == "23:00-07:00"

    reply = await send_file(kit, BORIS, exported.file.data)  # a new chat: registered by the import
    assert reply is not None and "Импортировано: 3 правила" in visible(reply)
    assert await _rules(db, BORIS.chat_id) == await _rules(db, ALICE.chat_id)
    async with db.uow(read_only=True) as session:
        boris = await session.scalar(select(m.Subscriber).where(m.Subscriber.chat_id == BORIS.chat_id))
    assert boris is not None and (boris.timezone, boris.digest_hour, boris.digest_minute) == ("Asia/Yekaterinburg", 7, 30)
    assert boris.language == "ru"  # his own: a file carries no language
    # the new rule's matches on the last days' posts are recorded as /watch records them
    assert await kit.count(m.Match) == 2
    again = await send_file(kit, BORIS, exported.file.data)
    assert again is not None and "Импортировано: 0 правил (уже бывших у вас пропущено: 3)" in visible(again)
    assert len(await _rules(db, BORIS.chat_id)) == 3


async def test_a_bad_file_changes_nothing_and_says_what_is_wrong_with_each_entry(db: Database) -> None:
    kit = make_kit(db)
    bad = {"tgmon": "rules", "version": 1,
           "settings": {"timezone": "Mars/Olympus", "colour": "red", "time": "07:30"},
           "rules": [{"rule": "обстрел"}, {"rule": "(обстрел OR"}, {"name": "x"}, {"rule": "дрон", "delivery": "hourly"},
                     {"rule": "бпла", "nmae": "typo"}, "батальон"]}
    reply = await send_file(kit, CAROL, json.dumps(bad, ensure_ascii=False).encode())
    assert reply is not None
    lines = visible(reply).splitlines()
    assert lines[0] == "Nothing was imported; fix the file and send it again (6 problems):"
    assert len(lines) == 7  # one line per bad entry
    text = visible(reply)
    assert "Setting timezone:" in text and "Setting colour is unknown" in text
    assert "Rule #2 ((обстрел OR):" in text and "Rule #3: it needs a \"rule\"" in text
    assert "Rule #4 (дрон): hourly is not a delivery" in text and "\"nmae\" is unknown" in text
    assert await kit.count(m.Subscriber) == 0 and await kit.count(m.Rule) == 0  # all or nothing
    for data, name, expected in (
        (b"{not json", "rules.json", "its JSON breaks at line 1, column 2"),
        (b'{"rules": []}', "rules.json", "not a tgmon rules file"),
        (b'{"tgmon": "rules", "version": 2}', "rules.json", "version 2; I read version 1"),
        (b"\xff\xfe", "rules.json", "not UTF-8 text"),
        (b"hello", "notes.txt", "not notes.txt"),
        (b" " * 300_000, "rules.json", "too big"),
    ):
        refused = await send_file(kit, CAROL, data, name)
        assert refused is not None and expected in visible(refused), (name, visible(refused))
    assert await kit.count(m.Rule) == 0
    assert "send me the file" in visible(await kit.say(CAROL, "/import"))


async def test_the_rule_quota_counts_the_rules_kept(db: Database) -> None:
    kit = make_kit(db, max_rules=3)
    await kit.say(CAROL, "/watch обстрел")
    await kit.say(CAROL, "/watch погода")
    data = json.dumps({"tgmon": "rules", "version": 1, "rules": ["обстрел", "дрон", "бпла"]}).encode()
    reply = await send_file(kit, CAROL, data)
    assert reply is not None and "You have 2 rules and the file adds 2: over the 3 allowed" in visible(reply)
    assert len(await _rules(db, CAROL.chat_id)) == 2
    ok = await send_file(kit, CAROL, json.dumps({"tgmon": "rules", "version": 1, "rules": ["обстрел", "дрон"]}).encode())
    assert ok is not None and "Imported 1 rule (1 you already had" in visible(ok)


async def test_in_a_group_only_an_admins_file_captioned_import_is_taken(db: Database) -> None:
    kit = make_kit(db)
    data = json.dumps({"tgmon": "rules", "version": 1, "rules": ["обстрел"]}).encode()
    member = Caller(chat_id=-100777, user_id=55, kind=ChatKind.GROUP, is_group_admin=False, language_code="en")
    admin = replace(member, user_id=56, is_group_admin=True)
    assert await send_file(kit, member, data) is None  # a file shared in the group: not for the bot
    refused = await send_file(kit, member, data, caption="/import")
    assert refused is not None and "Only this group's admins" in visible(refused)
    done = await send_file(kit, admin, data, caption="/import")
    assert done is not None and "Imported 1 rule " in visible(done)


async def test_matches_of_any_period_as_csv_muted_rules_included(db: Database) -> None:
    await ingest(db, [("Обстрел вчера", timedelta(days=1))])
    kit = make_kit(db)
    await kit.say(ALICE, "/watch обстрел")
    await kit.say(ALICE, "/watch погода")
    await kit.say(ALICE, "/delivery 2 muted")
    # /watch records the last 7 days; older matches come from ingestion once a rule exists
    await ingest(db, [("Обстрел давно", timedelta(days=50)), ("Погода давно", timedelta(days=45)),
                      ("Обстрел совсем давно", timedelta(days=400))], channel=OTHER)

    def texts(reply: Reply) -> list[str]:
        assert reply.file is not None
        rows = list(csv.reader(io.StringIO(reply.file.data.decode("utf-8-sig"))))
        assert rows[0][-2:] == ["rule_name", "delivery"]
        return [r[6] for r in rows[1:] if r[0] == "match"]

    week = await kit.say(ALICE, "/export matches 7d")
    assert texts(week) == ["Обстрел вчера"]
    assert "1 match from" in visible(week)
    since = (await kit.say(ALICE, "/export matches 90d"))
    assert texts(since) == ["Обстрел вчера", "Погода давно", "Обстрел давно"]  # the muted rule's too, newest first
    assert texts(await kit.say(ALICE, "/export matches 2020-01-01 2030-12-31")) == [
        "Обстрел вчера", "Погода давно", "Обстрел давно", "Обстрел совсем давно"]
    for bad in ("2026-13-01", "2026-11-30 2026-11-01", "week", "0d"):
        assert "is not a period" in visible(await kit.say(ALICE, f"/export matches {bad}")), bad
    assert "/export rules" in visible(await kit.say(ALICE, "/export everything"))
    legacy = await kit.say(ALICE, "/export")
    assert texts(legacy) == ["Обстрел вчера"]
