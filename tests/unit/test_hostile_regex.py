"""Hostile /patterns/: bounded programs, timed before acceptance, bounded and budgeted in production."""

from __future__ import annotations

import logging
import time

import pytest

from bot.domain import Rule
from bot.matching import RuleError, compile_rules, parse_rule
from bot.matching import regex as regex_module
from bot.matching.regex import (
    MAX_MATCHES,
    MAX_PROGRAM,
    REGEX_TEXT,
    BadCharacterError,
    Regex,
    RegexTooSlowError,
    compile_regex,
    worst_posts,
)
from bot.matching.rules import check_rule_cost


@pytest.mark.parametrize("rule", ["/(a?){1000}/", "/((б?|[a-z]){1000})+/", "/.{1000}/", "/(a?){300}/"])
def test_slow_patterns_are_refused_before_acceptance(rule: str) -> None:
    """Slow even once RE2's DFA is warm (`(a?){100}` is slow only on its first post, and accepted)."""
    parsed = parse_rule(rule)  # the parser takes them: their programs are within bounds
    with pytest.raises(RegexTooSlowError, match="too slow to run on every post"):
        check_rule_cost(parsed)


@pytest.mark.parametrize("rule", ["/батальон\\w*/", "/\\d{1,3}[.,]\\d+/", "/.{0,50}обстрел/", "обстрел /бпла\\w*/",
                                  "/\\bбатальон\\b/"])
def test_ordinary_patterns_pass(rule: str) -> None:
    check_rule_cost(parse_rule(rule))


def test_programs_are_bounded() -> None:
    with pytest.raises(RuleError, match=f"limit is {MAX_PROGRAM:,}"):
        parse_rule("/(\\w+\\s*){100}/")


@pytest.mark.parametrize("rule", ["/\udcff/", "/\ud800/", "a\x00b", "/a\x00/", "батальон \x1b[31m", "x\x7f"])
def test_control_characters_and_lone_surrogates_are_refused(rule: str) -> None:
    with pytest.raises(BadCharacterError, match="control character or an invalid one") as err:
        parse_rule(rule)
    assert err.value.column is not None
    assert "\x00" not in str(err.value) and "\udcff" not in str(err.value)


def test_tabs_and_newlines_are_whitespace() -> None:
    assert parse_rule("обстрел\tБелгород\nбатальон").terms


def test_matching_a_text_with_a_lone_surrogate_works() -> None:
    matcher = compile_rules([Rule(1, "/бат\\w+/")])
    hits = matcher.match("батальон \ud800 рядом")
    assert [h.rule_id for h in hits] == [1] and hits[0].highlights == ((0, 8),)


def test_a_regex_reads_a_bounded_text_and_reports_bounded_matches() -> None:
    matcher = compile_rules([Rule(1, "/хвост/"), Rule(2, "/а/")])
    text = "а" * (REGEX_TEXT + 10) + " хвост"
    hits = {h.rule_id: h.highlights for h in matcher.match(text)}
    assert 1 not in hits  # past REGEX_TEXT: regexes do not read it (words do)
    assert len(hits[2]) == MAX_MATCHES


class _Burner:
    """Stands for a compiled pattern that costs ``seconds`` of this thread's CPU on every text (RE2's
    DFA makes real patterns this slow only on texts too long for a unit test)."""

    programsize = 0

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._regexp = self  # the RE2 object the binding wraps, whose search `Regex` calls

    def Match(self, anchor: object, data: bytes, pos: int, endpos: int) -> list[tuple[int, int]]:
        started = time.thread_time()
        while time.thread_time() - started < self.seconds:
            pass
        return [(-1, -1)]  # no match


def test_the_post_budget_spares_cheap_regexes_and_slow_ones_are_switched_off(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    slow = Regex("slow", _Burner(0.03), False, False)  # plays a costly pattern: 30 ms of CPU a post
    cheap = compile_regex("бат", 1)  # ~0.01 ms a post
    monkeypatch.setattr(regex_module, "POST_BUDGET", 0.0)  # every post's budget is spent at once
    monkeypatch.setattr(regex_module, "CHEAP", 0.002)  # wide margins both ways: a loaded machine is no matter
    monkeypatch.setattr(regex_module, "SLOW_RUN", 0.01)
    with caplog.at_level(logging.WARNING):
        for n in range(5):
            text = f"бат {n} " + "a" * 8000
            assert cheap.spans(text) == [(0, 3)]
            slow.spans(text)  # runs on the first post (cost unknown), then skips: the budget is spent
            assert cheap.spans(text) == [(0, 3)]  # the cheap one runs whatever the budget
        assert slow.health.slow_runs == 1 and not slow.health.off
        assert "costly regex runs skipped" in caplog.text
        monkeypatch.setattr(regex_module, "POST_BUDGET", 10.0)  # budget to spare: slow runs count
        for n in range(5):
            slow.spans(f"{n} " + "a" * 8000)
    assert slow.health.off and not cheap.health.off
    assert slow.spans("a" * 10) == []
    logged = caplog.text
    assert "switched off" in logged and "slow" not in logged.replace("slow run", "")  # no pattern in the log


def test_worst_posts_are_deterministic() -> None:
    assert worst_posts("ab+c", 64) == worst_posts("ab+c", 64)
    assert all(len(p) == 64 for p in worst_posts("ab+c", 64))
