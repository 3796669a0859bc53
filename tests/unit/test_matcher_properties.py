"""Properties: the parser raises only RuleError, the matcher never raises, and rules compiled
together match exactly as each compiled alone."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.domain import Rule
from bot.matching import RuleError, compile_rules, index_text, parse_rule

WORDS = ["батальон", "обстрел", "оборона", "самооборона", "Белгород", "батальйон", "обстріл", "shelling",
         "battalion's", "self-defense", "само-оборона", "учения", "ёлка", "об'єкт", "обстрел*", "=Белгорода",
         "рота", "стали", "F-16", "155"]
OPERATORS = ["OR", "AND", "NOT", "-", "ИЛИ", "И", "НЕ", "(", ")", '"', "«", "»", "/", "*", "=", "in:@vvgladkov",
             "|", "!", "\\b", "\\w", "[", "]", "+", "?", "{2}", "\n"]
TEXT_PIECES = [*WORDS, "батальоны", "обстрелы", "обстреляли", "оборот", "стрелок", "бaтальон", "🔥", "❗️", " ",
               "\n", ",", ".", "-", "’", "«", "»", "бата\u0301льон", "İ", "ß", "ǅ", "\u0306", "__", "12"]

rule_text = st.one_of(
    st.text(max_size=80),
    st.lists(st.sampled_from(WORDS + OPERATORS), max_size=12).map(" ".join),
    st.lists(st.sampled_from(WORDS + OPERATORS), max_size=12).map("".join),
)
post_text = st.one_of(st.text(max_size=200), st.lists(st.sampled_from(TEXT_PIECES), max_size=40).map("".join))
quick = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@quick
@given(rule_text)
def test_parser_raises_only_rule_error(source: str) -> None:
    try:
        parsed = parse_rule(source)
    except RuleError as err:
        assert str(err) and err.example
        assert err.column is None or 1 <= err.column <= len(source.strip()) + 1
    else:
        assert parsed.terms


@quick
@given(st.lists(rule_text, max_size=6), post_text, st.sampled_from([None, "vvgladkov", "other"]))
def test_matcher_never_raises_and_highlights_fit(rules: list[str], text: str, channel: str | None) -> None:
    matcher = compile_rules([Rule(i, r, subscriber_id=i) for i, r in enumerate(rules, 1)])
    for hit in matcher.match(text, channel):
        assert hit.rule_id in matcher.rule_ids()
        assert all(0 <= a < b <= len(text) for a, b in hit.highlights)
        assert list(hit.highlights) == sorted(set(hit.highlights))
    index_text(text)


@quick
@given(st.lists(rule_text, min_size=1, max_size=8), st.lists(post_text, min_size=1, max_size=4))
def test_together_equals_one_by_one(rules: list[str], texts: list[str]) -> None:
    rules_ = [Rule(i, r, subscriber_id=i) for i, r in enumerate(rules, 1)]
    together = compile_rules(rules_)
    alone = [compile_rules([rule]) for rule in rules_]
    for text in texts:
        expected = sorted((m.rule_id, m.highlights) for single in alone for m in single.match(text, "vvgladkov"))
        got = sorted((m.rule_id, m.highlights) for m in together.match(text, "vvgladkov"))
        assert got == expected


def _reference_split(folded: str, marks: bool) -> tuple[list[str], list[int], list[int]]:
    """The tokenizer's definition: the general compound pattern, nothing else."""
    from bot.matching.text import _COMPOUND_MARKS_SPLIT, _COMPOUND_SPLIT

    parts = (_COMPOUND_MARKS_SPLIT if marks else _COMPOUND_SPLIT).split(folded)
    offsets = list(itertools.accumulate(map(len, parts)))
    return parts[1::2], offsets[0:-1:2], offsets[1::2]


@settings(max_examples=1000, deadline=None)
@given(post_text, st.booleans())
def test_the_split_tokenises_exactly_as_the_compound_pattern(text: str, marks: bool) -> None:
    """`split_words`' cheaper patterns give the tokens and offsets of the general pattern."""
    from bot.matching import text as text_module

    folded = text_module.fold(text)
    words, starts, ends = text_module.split_words(folded, marks)
    assert (words, list(starts), list(ends)) == _reference_split(folded, marks)


@pytest.mark.parametrize("marks", [False, True])
@pytest.mark.parametrize("text", [
    "".join(chr(c) for c in range(0x3F0, 0x510)),  # the whole Cyrillic block and its edges, as one run
    " ".join(chr(c) + "a" for c in range(0x3F0, 0x510)),  # each next to an ASCII letter
    "f-16 abc-дом дом-abc x-я об'єкт a'b ab-cd-яя 𝐀𝐁-z ǅx ß-ь",  # the largest character after a joint
])
def test_the_split_agrees_on_cyrillic_edges_and_mixed_words(text: str, marks: bool) -> None:
    """Cyrillic block edges and mixed-script words: exactly the pattern's words and offsets."""
    from bot.matching import text as text_module

    words, starts, ends = text_module.split_words(text, marks)
    assert (words, list(starts), list(ends)) == _reference_split(text, marks)
    assert [w.isascii() for w in words] == [all(ord(c) < 128 for c in w) for w in words]


@settings(max_examples=500, deadline=None)
@given(post_text)
def test_tokenize_keeps_offsets_and_joins_compounds(text: str) -> None:
    from bot.matching.text import _COMPOUND_MARKS, fold, has_marks, tokenize

    toks = tokenize(text)
    folded = fold(text)
    if has_marks(folded):
        assert toks.words == [w for part in _COMPOUND_MARKS.findall(folded) for w in part.split("-")]
    elif not toks.compounds:
        assert (toks.words, list(toks.starts), list(toks.ends)) == _reference_split(folded, False)
    assert all(folded[s:e] == w for w, s, e in zip(toks.words, toks.starts, toks.ends, strict=True))
    assert all("".join(toks.words[a : b + 1]) == joined for joined, a, b in toks.compounds)
