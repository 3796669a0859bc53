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


def test_a_rebuilt_matcher_warmed_from_the_old_one_matches_as_a_fresh_one() -> None:
    """`warm_from` looks the old matcher's words up again with the NEW rules: a word that was in no
    rule before (cached as "nothing") matches once a rule about it is added."""
    text = "Два батальона самообороны, обстрел Шебекино, =Белгорода нет, батальонов много"
    old = compile_rules([Rule(1, "обстрел", subscriber_id=1)])
    assert [m.rule_id for m in old.match(text)] == [1]
    rules = [Rule(1, "обстрел", subscriber_id=1), Rule(2, "батальон", subscriber_id=1),
             Rule(3, "самооборон*", subscriber_id=1), Rule(4, "=шебекино", subscriber_id=2),
             Rule(5, '"два батальона"', subscriber_id=2)]
    warmed = compile_rules(rules)
    assert warmed.warm_from(old) >= 8
    fresh = compile_rules(rules)
    assert warmed.match(text) == fresh.match(text)
    assert [m.rule_id for m in warmed.match(text)] == [1, 2, 3, 4, 5]


def test_words_already_analysed_elsewhere_still_match() -> None:
    """A word another matcher (or the search index) has analysed takes the shortcut past the
    analysis: it must still find lemma, exact-form, prefix and phrase rules."""
    text = "Силы самообороны Шебекино: батальоны и рота"
    compile_rules([Rule(9, "погода", subscriber_id=1)]).match(text)  # every word analysed, in no rule
    matcher = compile_rules([Rule(1, "батальон", subscriber_id=1), Rule(2, "самооборон*", subscriber_id=1),
                             Rule(3, "=шебекино", subscriber_id=1), Rule(4, '"силы самообороны"', subscriber_id=1),
                             Rule(5, "=роты", subscriber_id=1)])
    assert [m.rule_id for m in matcher.match(text)] == [1, 2, 3, 4]


def test_matching_is_the_same_across_a_turn_of_the_word_cache() -> None:
    """The word cache keeps two generations of at least 1,024 words: a text of 3,000 distinct words
    turns it in the middle of the compiled pass (which then writes into the generation just retired),
    and the words it had must still give the same matches as a fresh matcher's."""
    from bot.config import MatchingSettings

    rules = [Rule(1, "батальон", subscriber_id=1), Rule(2, "слово1*", subscriber_id=1),
             Rule(3, '"два батальона"', subscriber_id=1), Rule(4, "=слово2999", subscriber_id=1)]
    filler = " ".join(f"слово{i}" for i in range(3000))
    text = f"Два батальона. {filler}. Два батальона."
    matcher = compile_rules(rules, settings=MatchingSettings(cache_size=0))
    first = matcher.match(text)
    assert matcher._word_cache.old and len(matcher._word_cache.young) <= matcher._word_cache.limit  # type: ignore[attr-defined]
    again = matcher.match(text)
    assert first == again == compile_rules(rules).match(text)
    assert {m.rule_id for m in first} == {1, 2, 3, 4}
    assert len(next(m for m in first if m.rule_id == 2).highlights) == 1111  # слово1, слово10.., слово1000..
