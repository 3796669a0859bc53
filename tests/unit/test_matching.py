from __future__ import annotations

import pytest

from bot.domain import Rule
from bot.matching import RuleError, compile_rules, parse_rule


@pytest.mark.parametrize(
    ("rule", "text", "expected"),
    [
        ("батальон", "Формируем несколько батальонов самообороны", True),
        ("самооборона", "отряды самообороны", True),
        ("обстрел", "ВСУ обстреляли Шебекино", False),  # a verb: not a form of обстрел
        ("обстрел*", "ВСУ обстреляли Шебекино", True),
        ("обстрел", "Обстрелы продолжаются", True),
        ("оборона", "товарный оборот вырос", False),
        ("обстрел", "стрелок задержан", False),
        ("shelling", "The shelling continued", True),
        ("battalions", "a battalion was formed", True),
        ("обстрел Белгород", "Обстрел Белгорода ночью", True),
        ("обстрел Белгород", "Обстрел Шебекино", False),
        ("самолёт", "САМОЛЕТЫ над городом", True),
    ],
)
def test_words(rule: str, text: str, expected: bool) -> None:
    matcher = compile_rules([Rule(1, rule)])
    assert bool(matcher.match(text)) is expected


def test_highlights_point_at_the_words() -> None:
    text = "Утром обстреляли Белгород"
    (hit,) = compile_rules([Rule(7, "обстрел* белгород")]).match(text)
    assert hit.rule_id == 7
    assert [text[a:b] for a, b in hit.highlights] == ["обстреляли", "Белгород"]


def test_channel_scope() -> None:
    matcher = compile_rules([Rule(1, "обстрел", channels=("vvgladkov",))])
    assert matcher.match("обстрел", "vvgladkov")
    assert not matcher.match("обстрел", "other")


@pytest.mark.parametrize("bad", ["", "   ", "🔥🔥", "!!!", "x" * 501])
def test_bad_rules_explain(bad: str) -> None:
    with pytest.raises(RuleError):
        parse_rule(bad)
