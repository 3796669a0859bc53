"""The rule language: what parses into what, and errors that say what, where and how to fix it."""

from __future__ import annotations

import pytest

from bot.domain import Rule
from bot.matching import RuleError, compile_rules, parse_rule


def matches(rule: str, text: str, channel: str | None = None) -> bool:
    return bool(compile_rules([Rule(1, rule)]).match(text, channel))


@pytest.mark.parametrize(
    ("rule", "column", "fragment"),
    [
        ("(батальон", 1, "never closed"),
        ("батальон)", 9, "unexpected"),
        ("OR батальон", 1, "both sides"),
        ("батальон OR", 10, "both sides"),
        ("батальон AND", 10, "both sides"),
        ("батальон NOT", 10, "after it"),
        ('"батальон', 1, "not closed"),
        ("/(a/", 2, "RE2 cannot use"),
        ("/(a)\\1/", 2, "backreferences"),
        ("/a", 1, "no closing /"),
        ("о*", 1, "too short"),
        ("in:", 1, "needs a channel"),
        ("in:@a!b обстрел", 1, "not a channel"),
        ("=", 2, "needs a word"),
        ("()", 1, "empty parentheses"),
        ('""', 1, "no words"),
        ("/\\bб\\bа/", 4, "only at the very start or end"),
        ("» x", 1, "never opened"),
        ("батальон -(учения", 11, "never closed"),
    ],
)
def test_errors_say_where(rule: str, column: int, fragment: str) -> None:
    with pytest.raises(RuleError) as info:
        parse_rule(rule)
    err = info.value
    assert err.column == column
    assert fragment.lower() in str(err).lower()
    assert err.example and err.example in str(err)
    parse_rule(err.example)  # the example given always works


@pytest.mark.parametrize(
    "rule",
    ["", "   ", "🔥🔥", "!!!", "-батальон", "NOT батальон", "-батальон -рота", "in:@vvgladkov", "x" * 501],
)
def test_rules_that_cannot_work_are_refused(rule: str) -> None:
    with pytest.raises(RuleError) as info:
        parse_rule(rule)
    assert info.value.example
    assert isinstance(info.value, ValueError)


def test_limits_come_from_arguments() -> None:
    parse_rule("a " * 30)
    with pytest.raises(RuleError, match="more than 30 words"):
        parse_rule("слово " * 31)
    with pytest.raises(RuleError, match="more than 2 words"):
        parse_rule("раз два три", max_terms=2)
    with pytest.raises(RuleError, match="limit is 10"):
        parse_rule("батальон обстрел", max_length=10)


def test_operators_and_aliases() -> None:
    assert parse_rule("a OR b").expr[0] == "or"
    assert parse_rule("a ИЛИ b").expr[0] == "or"
    assert parse_rule("a И b").expr[0] == "and"
    assert parse_rule("a b").expr[0] == "and"
    assert parse_rule("a НЕ b").expr == ("and", (("term", 0), ("not", ("term", 1))))
    assert parse_rule("a -(b OR c)").expr[1][1][0] == "not"


def test_scope() -> None:
    parsed = parse_rule("обстрел in:@VVGladkov,t.me/bel_gov")
    assert parsed.channels == ("vvgladkov", "bel_gov")
    assert matches("обстрел in:@vvgladkov", "Обстрел", "vvgladkov")
    assert not matches("обстрел in:@vvgladkov", "Обстрел", "other")
    assert not matches("обстрел in:@vvgladkov", "Обстрел", None)
    # a scope stored with the rule and one written in it: the posts in both
    both = compile_rules([Rule(1, "обстрел in:@chan_a,@chan_b", channels=("chan_b", "chan_c"))])
    assert both.match("обстрел", "chan_b")
    assert not both.match("обстрел", "chan_a") and not both.match("обстрел", "chan_c")


def test_regex_classes_are_unicode_and_case_insensitive() -> None:
    assert matches(r"/\bбатальон\w*\b/", "Три БАТАЛЬОНА ушли")
    assert not matches(r"/\bбатальон\b/", "батальонов")
    assert matches(r"/\d{2} км/", "в 12 км от границы")
    assert matches(r"/[\w]+ской/", "Белгородской области")
    assert matches("/ёлка/", "Елка")


def test_regex_quota_per_subscriber() -> None:
    from bot.config import MatchingSettings

    settings = MatchingSettings(max_regex_rules_per_subscriber=2)
    rules = [Rule(i, f"/слово{i}/", subscriber_id=1) for i in range(1, 4)] + [Rule(9, "/слово9/", subscriber_id=2)]
    matcher = compile_rules(rules, settings=settings)
    assert matcher.rule_ids() == {1, 2, 9}
    assert "quota" in matcher.errors[3]
    matcher.remove(1)
    assert matcher.add(Rule(3, "/слово3/", subscriber_id=1))


def test_highlights_are_offsets_into_the_original_text() -> None:
    text = "🔥 ВСУ обстреляли\nБЕЛГОРОД. Отряды само-обороны и «территориальной\nобороны» на месте"
    matcher = compile_rules([
        Rule(1, "обстрел* Белгород"), Rule(2, "самооборона"), Rule(3, '"территориальная оборона"'),
    ])
    got = {m.rule_id: [text[a:b] for a, b in m.highlights] for m in matcher.match(text)}
    assert got == {1: ["обстреляли", "БЕЛГОРОД"], 2: ["само-обороны"], 3: ["территориальной\nобороны"]}


def test_excluded_words_are_not_highlighted() -> None:
    text = "Батальон и учения"
    (hit,) = compile_rules([Rule(1, "батальон OR (рота -учения)")]).match(text)
    assert [text[a:b] for a, b in hit.highlights] == ["Батальон"]


def test_incremental_add_and_remove() -> None:
    matcher = compile_rules([Rule(1, "батальон")])
    assert matcher.add(Rule(2, "обстрел"))
    assert [m.rule_id for m in matcher.match("батальон под обстрелом")] == [1, 2]
    matcher.remove(1)
    assert [m.rule_id for m in matcher.match("батальон под обстрелом")] == [2]
    assert matcher.add(Rule(2, "батальон"))  # the same id again: replaced
    assert [m.rule_id for m in matcher.match("обстрел")] == []
    assert not matcher.add(Rule(5, "(сломано"))
    assert 5 in matcher.errors and 5 not in matcher.rule_ids()


def test_index_text_holds_forms_and_lemmas() -> None:
    from bot.matching import index_text

    keys = set(index_text("Батальоны сбили беспилотники; об’єкт, самo-обороны").split())
    assert {"батальоны", "батальон", "беспилотник", "обєкт", "самооборона", "оборона"} <= keys
