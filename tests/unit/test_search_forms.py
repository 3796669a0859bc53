"""The phrase gate of archive search never turns away a post the matcher accepts, and turns away
most of those where the phrase's words stand apart."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.domain import Rule
from bot.matching import compile_rules, index_text, parse_rule
from bot.matching.morph import morphology
from bot.matching.text import fold, tokenize
from bot.search.forms import PhraseGate, lemma_forms, required_phrases

# dictionary words in several forms, words no dictionary knows (names, made-up), ё, apostrophes,
# Latin look-alikes, English, numbers, hyphenated compounds
VOCABULARY = ["обстрел", "обстрелы", "обстрелами", "обстріл", "обстрілу", "батальон", "батальона", "батальйону",
              "третий", "третьего", "третій", "стали", "сталь", "стать", "ещё", "еще", "ёлка", "елки", "об'єкт",
              "об’єкта", "шебекино", "шебекинский", "аикам", "аика", "алану", "алан", "гладков", "гладкова",
              "бaтальон", "shelling", "shelled", "battalion's", "f-16", "155", "северо-восток", "северо",
              "восток", "самооборона", "само-оборона", "рота", "роты", "в", "и", "на", "город", "городе",
              "цевыхов", "цевых", "алыхзюов", "алыхзю", "куамицев", "баов"]
RULE_WORDS = ["обстрел", "батальон", "третий", "стали", "сталь", "ёлка", "об'єкт", "шебекино", "аикам", "алан",
              "гладков", "shelling", "battalion", "=батальона", "обстрел*", "самооборона", "рота", "город", "155",
              "восток", "цевых", "алыхзю", "куамиц", "ба"]
GAPS = [" ", "  ", "\n", ", ", " - ", "-", " «", "» ", ". "]

phrase_rule = st.lists(st.sampled_from(RULE_WORDS), min_size=2, max_size=3).map(lambda ws: '"' + " ".join(ws) + '"')
text = st.lists(st.tuples(st.sampled_from(VOCABULARY), st.sampled_from(GAPS)), max_size=30).map(
    lambda parts: "".join(w.capitalize() if i % 7 == 0 else w + g for i, (w, g) in enumerate(parts)))


@st.composite
def planted(draw: st.DrawFn) -> tuple[str, str]:
    """A phrase of the vocabulary's words (forms, made-up words, ё, apostrophes, look-alikes,
    compounds) and a text that holds it, among other text: most such texts match."""
    words = draw(st.lists(st.sampled_from(VOCABULARY), min_size=2, max_size=3))
    said = draw(st.lists(st.sampled_from([" ", "\n", " «", "-"]), min_size=len(words) - 1, max_size=len(words) - 1))
    phrase = words[0] + "".join(g + w for g, w in zip(said, words[1:], strict=True))
    return '"' + " ".join(words) + '"', draw(text) + " " + phrase + " " + draw(text)


def _gate(rule: str) -> PhraseGate:
    gate = PhraseGate.of(parse_rule(rule))
    assert gate is not None
    return gate


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(phrase_rule, st.lists(text, min_size=1, max_size=5))
def test_the_gate_never_turns_away_a_match(rule: str, texts: list[str]) -> None:
    gate = _gate(rule)
    matcher = compile_rules([Rule(1, rule)])
    for t in texts:
        if matcher.match(t):
            assert gate.may_match(tokenize(t).words), (rule, t)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(phrase_rule, st.lists(text, min_size=1, max_size=5))
def test_the_gate_without_tokenising_never_turns_away_a_match(rule: str, texts: list[str]) -> None:
    """From the folded text and the post's index keys: a match always passes, and where the keys
    cannot tell (a word no dictionary knows, an apostrophe, a look-alike letter) it says so."""
    gate = _gate(rule)
    matcher = compile_rules([Rule(1, rule)])
    for t in texts:
        fast = gate.may_match_text(fold(t), index_text(t))
        if matcher.match(t):
            assert fast is not False, (rule, t)
        if fast is not None:
            assert fast or not gate.may_match(tokenize(t).words)


def test_the_gate_on_generated_news() -> None:
    """Posts of inflected dictionary words: every post the matcher finds passes, most others do not."""
    rng = random.Random(5)
    ru, _ = morphology().analyzers()
    lemmas = ["обстрел", "город", "область", "батальон", "район", "дорога", "дом", "школа", "оборона", "ракета",
              "беспилотник", "житель", "граница", "село", "улица", "машина", "человек", "время", "стать", "сталь"]
    forms = [f.word for lemma in lemmas for f in ru.parse(lemma)[0].lexeme]
    posts = [" ".join(rng.choice(forms) for _ in range(rng.randint(5, 80))) for _ in range(300)]
    checked = kept = 0
    for first, second in [("обстрел", "город"), ("житель", "село"), ("стать", "дом"), ("сталь", "школа"),
                          ("ракета", "беспилотник")]:
        rule = f'"{first} {second}"'
        gate, matcher = _gate(rule), compile_rules([Rule(1, rule)])
        for post in posts:
            if not (set(tokenize(post).words) & lemma_forms(first) and set(tokenize(post).words) & lemma_forms(second)):
                continue  # the index would not have given it as a candidate
            checked += 1
            passed = gate.may_match(tokenize(post).words)
            fast = gate.may_match_text(fold(post), index_text(post))
            assert fast is not None  # dictionary words only: the keys tell
            kept += passed
            if matcher.match(post):
                assert passed and fast, (rule, post)
    assert checked > 200
    assert kept < checked / 2  # the gate spares the matcher most candidates


def test_words_no_dictionary_knows_are_left_to_the_matcher() -> None:
    # made-up words: pymorphy3 guesses their lemmas (цевыхов -> цевых), and the guessed paradigm of
    # the lemma need not list the word; only the matcher can tell
    text = "Вчера цевыхов алыхзюов видели"
    assert compile_rules([Rule(1, '"цевых алыхзю"')]).match(text)
    assert _gate('"цевых алыхзю"').may_match(tokenize(text).words)
    # their keys are words no dictionary knows, standing in the text: the keys cannot tell
    assert _gate('"цевых алыхзю"').may_match_text(fold(text), index_text(text)) is None
    for odd in ("Третий батальон об'єкта", "Трeтий батальон", "Тре\u0301тий батальон"):
        assert _gate('"третий батальон"').may_match_text(fold(odd), index_text(odd)) is None
    assert _gate('"третий батальон"').may_match_text(fold("третий город"), None) is None  # not indexed yet
    assert _gate('"третий батальон"').may_match_text(fold("Третий город и батальон"),
                                                   index_text("Третий город и батальон")) is False
    assert _gate('"третий батальон"').may_match_text(fold("Из третьего, батальона"),
                                                   index_text("Из третьего, батальона")) is True
    # a known word outside the lexeme never stands in for a phrase word
    assert not _gate('"третий батальон"').may_match(tokenize("третий город и батальон").words)
    assert _gate('"третий батальон"').may_match(tokenize("Третьего батальона").words)


def test_only_phrases_every_match_needs() -> None:
    assert [len(p) for p in required_phrases(parse_rule('"третий батальон" Белгород'))] == [2]
    assert required_phrases(parse_rule('"третий батальон" OR Белгород')) == []
    assert required_phrases(parse_rule('Белгород -"третий батальон"')) == []
    assert PhraseGate.of(parse_rule("батальон")) is None
