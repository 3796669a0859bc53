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
def test_every_split_tokenises_exactly_as_the_compound_pattern(text: str, marks: bool) -> None:
    """The C split and the cheaper `re` paths give the tokens and offsets of the general pattern."""
    from bot.matching import text as text_module

    folded = text_module.fold(text)
    expected = _reference_split(folded, marks)
    splits = [text_module.split_words_re]
    if text_module.NATIVE_TOKENIZER:
        from bot.matching._speedups import split_words

        splits.append(split_words)
    for split in splits:
        words, starts, ends = split(folded, marks)
        assert (words, list(starts), list(ends)) == expected, split


@pytest.mark.parametrize("marks", [False, True])
@pytest.mark.parametrize("text", [
    "".join(chr(c) for c in range(0x3F0, 0x510)),  # the whole Cyrillic block and its edges, as one run
    " ".join(chr(c) + "a" for c in range(0x3F0, 0x510)),  # each next to an ASCII letter
    "f-16 abc-дом дом-abc x-я об'єкт a'b ab-cd-яя 𝐀𝐁-z ǅx ß-ь",  # the largest character after a joint
])
def test_the_c_split_agrees_on_cyrillic_edges_and_mixed_words(text: str, marks: bool) -> None:
    """The C split's Cyrillic shortcut and the words it builds itself (their size from the largest
    character it saw) give exactly the pattern's words: equal strings, so the same compact kind.
    (`test_ci_runs_the_c_builds` makes sure CI has the C split to check.)"""
    from bot.matching import text as text_module

    for split in {text_module.split_words, text_module.split_words_re}:
        words, starts, ends = split(text, marks)
        assert (words, list(starts), list(ends)) == _reference_split(text, marks), split
        assert [w.isascii() for w in words] == [all(ord(c) < 128 for c in w) for w in words]


@settings(max_examples=500, deadline=None)
@given(post_text)
def test_tokenize_keeps_offsets_and_joins_compounds(text: str) -> None:
    from bot.matching.text import _COMPOUND_MARKS, _has_marks, fold, tokenize

    toks = tokenize(text)
    folded = fold(text)
    if _has_marks(folded):
        assert toks.words == [w for part in _COMPOUND_MARKS.findall(folded) for w in part.split("-")]
    elif not toks.compounds:
        assert (toks.words, list(toks.starts), list(toks.ends)) == _reference_split(folded, False)
    assert all(folded[s:e] == w for w, s, e in zip(toks.words, toks.starts, toks.ends, strict=True))
    assert all("".join(toks.words[a : b + 1]) == joined for joined, a, b in toks.compounds)


@quick
@given(st.lists(rule_text, min_size=1, max_size=6), st.lists(post_text, min_size=1, max_size=3))
def test_all_pure_python_matches_the_same(rules: list[str], texts: list[str]) -> None:
    """Where no C compiler built the extensions, tgmon runs the `re` split, the matcher's Python
    passes and the pure matcher module: same matches, same highlights as the C builds."""
    from bot.matching import matcher as pure_module
    from bot.matching import text as text_module
    from bot.matching.native import pure_compile_rules

    rules_ = [Rule(i, r, subscriber_id=i) for i, r in enumerate(rules, 1)]
    native = [compile_rules(rules_).match(t) for t in texts]
    saved = text_module.split_words, pure_module._collect_hits, pure_module._report_terms
    text_module.split_words, pure_module._collect_hits, pure_module._report_terms = text_module.split_words_re, None, None
    try:
        fallback = [pure_compile_rules(rules_).match(t) for t in texts]
    finally:
        text_module.split_words, pure_module._collect_hits, pure_module._report_terms = saved
    assert fallback == native


@quick
@given(st.lists(rule_text, min_size=1, max_size=8), st.lists(post_text, min_size=1, max_size=4))
def test_the_compiled_matcher_equals_the_pure_one(rules: list[str], texts: list[str]) -> None:
    from bot.matching.native import pure_compile_rules

    rules_ = [Rule(i, r, subscriber_id=i) for i, r in enumerate(rules, 1)]
    compiled, pure = compile_rules(rules_), pure_compile_rules(rules_)
    assert compiled.errors == pure.errors
    for text in texts:
        for channel in (None, "vvgladkov"):
            assert compiled.match(text, channel) == pure.match(text, channel)


def test_ci_runs_the_c_builds() -> None:
    """`make setup` compiles the tokenizer and the matcher; on CI a silent fallback would hide a broken
    build, or a compiled matcher older than matcher.py."""
    import os

    from bot.matching import native

    if os.environ.get("CI") != "true" and not (native.NATIVE_TOKENIZER and native.NATIVE_MATCHER):
        pytest.skip(f"pure Python here ({native.describe()})")
    assert native.NATIVE_TOKENIZER and native.NATIVE_MATCHER, native.describe()
    assert compile_rules([]).__class__.__module__ == "bot.matching._matcher_native"


def test_a_compiled_matcher_older_than_its_source_is_not_used(tmp_path, monkeypatch, caplog) -> None:
    """An edited matcher.py runs as pure Python (with a warning) until the build is redone."""
    import types

    from bot.matching import native

    if not native.NATIVE_MATCHER:
        pytest.skip("no compiled matcher here")
    edited = tmp_path / "matcher.py"
    edited.write_text("# edited since the build\n")
    monkeypatch.setattr(native, "_pure", types.SimpleNamespace(__file__=str(edited)))
    module, build = native._built_matcher()
    assert module is None and build.startswith("stale")
    assert "older than bot/matching/matcher.py" in caplog.text
