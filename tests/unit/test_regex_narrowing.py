"""Narrowing /pattern/ rules by their required literals changes which regexes run on a post, never
what matches: a differential test of the matcher with narrowing against the same rules with every
regex run on every post, over generated patterns and posts."""

from __future__ import annotations

import random

import pytest

from bot.domain import Rule
from bot.matching import compile_rules
from bot.matching import matcher as matcher_module
from bot.matching.literals import required_literals
from bot.matching.regex import MAX_MATCHES, compile_regex
from bot.matching.rules import parse_rule

STEMS = ["конд", "обстрел", "взрыв", "белгород", "ранен", "буде", "явля", "яким", "shell", "stop", "батальйон", "об'єкт"]
PIECES = [r"\w*", r"\w{0,3}", "[а-яё]{2,6}", "[a-z]+", r"\d+ ", "s?", "(а|е)?", " ", ".", "ё", "-", r"\b"]
FILLER = ["и", "в", "будет", "кондиционер", "Обстрелы", "ВЗРЫВ", "взрывы", "Белгорода", "ранены", "раненых", "12",
          "100 ранено", "яким", "является", "Shelling", "stopped", "ſtop", "ſhell", "батальйону", "об’єкт", "ёлка",
          "КОНДИТЕР", "🔥", "\n", ",", ".", " ", "-", "__", "\u0301", "İ", "ᲀ"]


def _patterns(rng: random.Random, n: int) -> list[str]:
    out: dict[str, None] = {}
    while len(out) < n:
        a, b = rng.choice(STEMS), rng.choice(STEMS)
        shape = rng.randrange(6)
        if shape == 0:
            source = a + rng.choice(PIECES)
        elif shape == 1:
            source = f"({a}|{b}){rng.choice(PIECES)}"
        elif shape == 2:
            source = rng.choice(PIECES) + a.upper()
        elif shape == 3:
            source = rf"\b{a}{rng.choice(PIECES)}"
        elif shape == 4:
            source = f"{a[:2]}{rng.choice(PIECES)}{a[2:]}"
        else:
            source = rng.choice(PIECES) + rng.choice(PIECES)  # often no literal: runs on every post
        try:
            compile_regex(source, 0)
        except Exception:
            continue
        out[source] = None
    return list(out)


def _posts(rng: random.Random, n: int) -> list[str]:
    return ["".join(rng.choice(FILLER) + rng.choice(["", " ", " ", "\n"]) for _ in range(rng.randint(0, 30)))
            for _ in range(n)]


def _unnarrowed(rules: list[Rule], monkeypatch: pytest.MonkeyPatch) -> matcher_module.CompiledMatcher:
    with monkeypatch.context() as patch:
        patch.setattr(matcher_module, "required_literals", lambda pattern: ())
        return compile_rules(rules)


@pytest.mark.parametrize("seed", range(4))
def test_narrowed_matching_equals_every_regex_on_every_post(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    patterns = _patterns(rng, 60)
    rules = [Rule(i + 1, f"/{p}/", subscriber_id=i + 1) for i, p in enumerate(patterns)]
    rules += [Rule(1000 + i, f"/{p}/ {rng.choice(['белгород', 'будет', '-кондитер'])}", subscriber_id=1000 + i)
              for i, p in enumerate(patterns[:20])]
    narrowed = compile_rules(rules)
    everything = _unnarrowed(rules, monkeypatch)
    assert not narrowed.errors and not everything.errors
    assert narrowed._regex_by_literal and not everything._regex_by_literal  # the two differ in what runs
    assert all(narrowed._terms[tid].regex.health.warm for tid in narrowed._regex_terms)  # DFAs built at compile
    matched = 0
    for post in _posts(rng, 400):
        expected = everything.match(post)
        assert narrowed.match(post) == expected, post
        matched += bool(expected)
    assert matched > 40  # the posts do hit the patterns: the comparison is not between two empty lists
    assert sum(bool(required_literals(p)) for p in patterns) > 30  # and most patterns are narrowed


def _reference_spans(pattern: str, text: str) -> list[tuple[int, int]]:
    """Where the pattern matches ``text``, through the binding's own `finditer` over the UTF-8 bytes
    (what tgmon ran before calling RE2's search directly)."""
    regex = compile_regex(pattern, 0)
    data = text.encode("utf-8")
    out = []
    for n, match in enumerate(regex.compiled.finditer(data), 1):
        if n > MAX_MATCHES:
            break
        start, end = match.start(), match.end()
        if start == end:
            continue
        start, end = len(data[:start].decode("utf-8")), len(data[:end].decode("utf-8"))
        if regex.start_boundary and start > 0 and _word(text[start - 1]) == _word(text[start]):
            continue
        if regex.end_boundary and end < len(text) and _word(text[end - 1]) == _word(text[end]):
            continue
        out.append((start, end))
    return out


def _word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


@pytest.mark.parametrize("seed", range(3))
def test_spans_equal_the_bindings_finditer(seed: int) -> None:
    rng = random.Random(100 + seed)
    for pattern in [*_patterns(rng, 40), "x*", "(?:)", "ё?", r"\w*"]:
        regex = compile_regex(pattern, 0)
        for post in _posts(rng, 25):
            folded = post.lower().replace("ё", "е")
            assert regex._spans(folded) == _reference_spans(pattern, folded), (pattern, folded)
    parse_rule.cache_clear()
