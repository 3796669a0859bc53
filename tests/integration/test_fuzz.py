"""Fuzzing the entry points with hostile input (hypothesis, bounded in examples and time): rules
(parser, matcher, /watch), bot messages and buttons (BotCommands), and exports (the reader and the
import path). Whatever comes in: a reply or a refusal, never an unexpected exception, and nothing
logged at ERROR (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import domain
from bot.commands import Caller, ChatKind
from bot.ingest.export import ExportError, read_export
from bot.ingest.pipeline import Pipeline, as_async
from bot.matching import RuleError, compile_rules, parse_rule
from bot.matching.rules import check_rule_cost
from bot.storage import models as m
from bot.storage.database import Database
from tests.integration.test_commands_kit import ALICE, check_html, make_kit

HOSTILE = ["\x00", "\ud800", "\udcff", "\x07", "\x1b", "\u202e", "\ufeff", "/", "\\", "(", ")", '"', "«", "*", "=",
           "-", "!", "|", "{1000}", "?", "<b>", "&amp;", "in:@", ":", " ", "\n", "ё", "б", "a", "9", "🔥"]
hostile_text = st.lists(
    st.one_of(st.sampled_from(HOSTILE), st.text(st.characters(codec=None, exclude_categories=()), max_size=8)),
    max_size=12,
).map("".join)
FAST = settings(max_examples=400, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@settings(max_examples=1000, deadline=None, database=None, derandomize=True)
@given(rule=hostile_text, text=hostile_text)
def test_rules_parse_or_refuse_and_match(rule: str, text: str) -> None:
    try:
        parsed = parse_rule(rule)
        check_rule_cost(parsed)
    except RuleError as err:
        assert str(err) and "\n" not in err.message
        return
    for hit in compile_rules([domain.Rule(1, rule)]).match(text + " " + rule, "chan"):
        assert all(0 <= a < b <= len(text) + 1 + len(rule) for a, b in hit.highlights)


COMMANDS = ["start", "help", "lang", "watch", "rules", "unwatch", "search", "channels", "follow", "settings",
            "digest", "pause", "resume", "export", "stop", "admin", "frobnicate"]
SUBCOMMANDS = ["", "time", "tz", "size", "quiet", "day", "freq", "stats", "users", "channels add", "channels remove",
               "ru", "en", "week", "yes"]
GOOD = ["/start", "/watch батальон", "/watch /бат\\w+/ -учения", "/watch обстрел in:@vvgladkov", "/rules", "/settings",
        "/follow https://t.me/vvgladkov", "/channels", "/digest", "/search обстрел", "/lang ru", "/stop"]
message = st.one_of(
    st.sampled_from(GOOD),
    st.tuples(st.sampled_from(GOOD), hostile_text).map(" ".join),
    st.tuples(st.sampled_from(COMMANDS), st.sampled_from(SUBCOMMANDS), hostile_text).map(
        lambda c: f"/{c[0]} {c[1]} {c[2]}"),
    hostile_text,
)
BUTTON_PREFIXES = ["go", "lang", "r:del", "r:page", "c", "c:f", "c:u", "s", "s:n", "s:z", "s:t", "s:q", "s:f", "s:d",
                   "stop", "stop:yes", "a", "a:approve", "a:reject"]
button = st.tuples(st.sampled_from(BUTTON_PREFIXES), st.lists(hostile_text, max_size=3)).map(
    lambda b: ":".join([b[0], *b[1]]))
GROUP = Caller(-100777, 501, ChatKind.GROUP, is_group_admin=True, language_code="ru", title="\x00<g>\ud800")


def _no_errors(caplog: pytest.LogCaptureFixture) -> None:
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, errors[0].getMessage() + (errors[0].exc_text or "")


def test_bot_messages_and_buttons(db_url: str, caplog: pytest.LogCaptureFixture) -> None:
    with asyncio.Runner() as runner:
        db = Database.from_url(db_url)
        runner.run(db.upgrade())
        kit = make_kit(db, admins=[ALICE.user_id])
        admin = ALICE
        stranger = replace(ALICE, chat_id=3003, user_id=3003, language_code="uk")

        @FAST
        @given(steps=st.lists(st.tuples(st.sampled_from([admin, stranger, GROUP]), st.booleans(), message, button),
                              min_size=1, max_size=4))
        def run(steps: list[tuple[Caller, bool, str, str]]) -> None:
            for caller, press, text, data in steps:
                kit.ticker.value += 100  # never rate limited
                reply = runner.run(kit.bot.handle_button(caller, data) if press else kit.bot.handle_text(caller, text))
                if reply is not None:
                    check_html(reply.text)
                    reply.text.encode("utf-8")
                    assert len(reply.text.encode("utf-16-le")) // 2 <= 4096
                    assert "Traceback" not in reply.text

        with caplog.at_level(logging.ERROR):
            try:
                run()
                rules = runner.run(kit.count(m.Rule))
            finally:
                runner.run(db.dispose())
        _no_errors(caplog)
        assert rules > 0  # the fuzzer got past the gates: some rules were accepted


json_value = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False), hostile_text),
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(hostile_text, children, max_size=3)),
    max_leaves=12,
)
message_object = st.fixed_dictionaries(
    {"id": st.one_of(st.integers(-5, 30), st.integers(2**62, 2**63 - 1), st.just(1.5), st.none())},
    optional={
        "type": st.sampled_from(["message", "service", ""]),
        "date": st.one_of(st.just("2026-11-01T08:00:00"), st.just("0001-01-01T00:00:00+05:00"), hostile_text),
        "date_unixtime": st.one_of(st.just("1793520000"), st.just(-1e18), st.just("9" * 40), json_value),
        "edited_unixtime": json_value,
        "text": st.one_of(hostile_text, st.lists(st.one_of(hostile_text, st.fixed_dictionaries(
            {"type": st.just("bold"), "text": hostile_text})), max_size=3), json_value),
        "text_entities": json_value,
        "forwarded_from": st.one_of(hostile_text, st.just("F" * 300), json_value),
        "reply_to_message_id": json_value,
        "media_type": st.one_of(hostile_text, st.just("m" * 100)),
        "file": json_value,
        "photo": json_value,
    },
)
export = st.fixed_dictionaries(
    {"messages": st.lists(st.one_of(message_object, json_value), max_size=5)},
    optional={"name": st.one_of(hostile_text, json_value), "type": st.sampled_from(["public_channel", "weird"]),
              "id": st.one_of(st.integers(1, 2**40), st.just(1.5e300), st.just(7.0), json_value)},
)


def test_exports_read_and_import(db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "result.json"
    with asyncio.Runner() as runner:
        db = Database.from_url(db_url)
        runner.run(db.upgrade())
        pipeline = Pipeline(db, compile_rules)
        stored: list[int] = []

        @FAST
        @given(data=export, cut=st.one_of(st.none(), st.integers(0, 400)))
        def run(data: dict[str, object], cut: int | None) -> None:
            raw = json.dumps(data, ensure_ascii=True)  # \\u escapes: lone surrogates and NUL reach the parser
            path.write_text(raw if cut is None else raw[:cut], "utf-8")
            try:
                posts = list(read_export(path, username="fuzzchan"))
            except ExportError as err:
                assert "\n" not in str(err) and len(str(err)) < 600
                return
            stored.append(runner.run(pipeline.ingest_stream(as_async(posts), 2)).stored)
            runner.run(pipeline.flush_index())

        with caplog.at_level(logging.ERROR):
            try:
                run()
            finally:
                runner.run(pipeline.close())
                runner.run(db.dispose())
        _no_errors(caplog)
        assert sum(stored) > 0  # the fuzzer got past the reader: some posts were stored
