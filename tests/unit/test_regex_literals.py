"""Required literals of /patterns/: the matcher runs a regex only on posts that hold one of them,
so a literal must be in every text the pattern matches (property-tested against RE2 itself)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.domain import Rule
from bot.matching import compile_rules
from bot.matching.literals import exotic, required_literals
from bot.matching.regex import compile_regex
from bot.matching.text import tokenize


@pytest.mark.parametrize(("pattern", "literals"), [
    ("конд[а-яё]{2,6}", ("конд",)),
    (r"(обстрел|взрыв)\w*", ("взрыв", "обстрел")),
    (r"(явля|яким)\w*", ("явля", "яким")),  # parsed as я(вля|ким): the letter before joins each alternative
    ("x(|abc)yz", ("xabcyz", "xyz")),
    (r"\bБатальон\w*", ("батальон",)),
    ("Белгород(а|е)?", ("белгород",)),
    ("(?:об)?стрёл", ("стрел",)),
    (r"\d+ ранен", (" ранен",)),
    ("[а-я]+", ()),  # nothing required: runs on every post
    ("ab|cde", ()),  # one branch too short to narrow anything
    (r"\pLfoo", ()),  # RE2 syntax Python's parser does not read: no literal, never a wrong one
    ("(?x)a b c d", ()),  # verbose mode, which RE2 does not have
])
def test_required_literals(pattern: str, literals: tuple[str, ...]) -> None:
    assert required_literals(pattern) == literals


_PIECES = ["об", "стрел", "ряд", "(", ")", "|", "?", "*", "+", "{2}", "{1,3}", "[а-я]", r"\w", ".", " ", "ё", "Б", "s"]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(pieces=st.lists(st.sampled_from(_PIECES), min_size=1, max_size=8),
       text=st.text(st.sampled_from(list("обстрелрядБОСТРЕЛЁё sſ.\n")), max_size=30))
def test_a_text_the_pattern_matches_holds_a_literal(pieces: list[str], text: str) -> None:
    pattern = "".join(pieces)
    try:
        regex = compile_regex(pattern, 0)
    except Exception:
        return
    literals = required_literals(pattern)
    folded = tokenize(text).folded
    if literals and regex._spans(folded) and exotic().search(folded) is None:
        assert any(lit in folded for lit in literals), (pattern, text, literals)


def test_the_matcher_runs_a_regex_only_where_its_literal_is() -> None:
    matcher = compile_rules([Rule(1, "/конд[а-я]{2,6}/"), Rule(2, "/[0-9]{3}/"), Rule(3, "батальон")])
    assert [m.rule_id for m in matcher.match("Кондиционер сломался, 911")] == [1, 2]
    assert [m.rule_id for m in matcher.match("Батальон, 12")] == [3]
    regex_terms = matcher._regex_terms
    assert list(matcher._regexes_for(tokenize("без литерала 123").folded)) == [regex_terms[1]]
    assert set(matcher._regexes_for(tokenize("кондитер").folded)) == set(regex_terms)
    # a character RE2's case folding equates with a literal's gives the text to every regex
    assert [m.rule_id for m in compile_rules([Rule(1, "/ſtop/"), Rule(2, "/stop/")]).match("ſtop")] == [1, 2]
