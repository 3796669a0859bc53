"""Keyword matching behind the `Matcher` protocol.

This is the foundation's simple matcher: case-insensitive words with ё = е, where a rule word
matches any text word that starts with its stem (the word minus a short inflection ending), so
`батальон` finds `батальонов` and `обстрел` finds `обстрелы`. Several words in a rule must all
occur (AND). The compiled, morphology-aware matcher replaces it behind the same interface.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from bot.domain import Rule, RuleMatch

_WORD = re.compile(r"[^\W_]+(?:[-'’][^\W_]+)*", re.UNICODE)
_ENDINGS = sorted(
    ["ами", "ями", "ого", "его", "ому", "ему", "ыми", "ими", "ах", "ях", "ов", "ев", "ей", "ам", "ям", "ом", "ем", "ой", "ий", "ый", "ая", "яя", "ое", "ее", "ые", "ие", "ую", "юю", "а", "я", "о", "е", "ы", "и", "у", "ю", "ь", "s", "es", "'s"],
    key=len,
    reverse=True,
)


_CACHE_WORDS = 1 << 16


class RuleError(ValueError):
    """A rule that cannot be used, with a message for the user."""


def normalise(word: str) -> str:
    return word.casefold().replace("ё", "е").replace("’", "'")


def stem(word: str) -> str:
    word = normalise(word)
    for ending in _ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= 4:
            return word[: -len(ending)]
    return word


def words(text: str) -> list[tuple[str, int, int]]:
    return [(normalise(m.group()), m.start(), m.end()) for m in _WORD.finditer(text)]


def parse_rule(source: str, *, max_length: int = 500, max_terms: int = 30) -> tuple[str, ...]:
    """The rule's stems. Raises RuleError with what is wrong and an example that works."""
    text = source.strip()
    if not text:
        raise RuleError("the rule is empty; write one or more words, for example: батальон")
    if len(text) > max_length:
        raise RuleError(f"the rule is {len(text)} characters long; the limit is {max_length}")
    terms = tuple(dict.fromkeys(stem(w) for w, _, _ in words(text)))
    if not terms:
        raise RuleError("the rule has no words (only punctuation or emoji); for example: обстрел")
    if len(terms) > max_terms:
        raise RuleError(f"the rule has {len(terms)} words; the limit is {max_terms}")
    return terms


@dataclass(frozen=True, slots=True)
class _Compiled:
    rule_id: int
    stems: tuple[str, ...]
    channels: frozenset[str]


class KeywordMatcher:
    """Every rule's stems in one index: a text word looks up only the rules that can use it."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self._rules: list[_Compiled] = []
        self._by_prefix: dict[str, list[int]] = {}
        self._hits: dict[str, tuple[tuple[int, str], ...]] = {}  # word -> (rule index, stem) it satisfies
        for rule in rules:
            try:
                stems = parse_rule(rule.source)
            except RuleError:
                continue
            index = len(self._rules)
            self._rules.append(_Compiled(rule.id, stems, frozenset(c.lower() for c in rule.channels)))
            for s in stems:
                self._by_prefix.setdefault(s[:3], []).append(index)

    def _word_hits(self, word: str) -> tuple[tuple[int, str], ...]:
        hits = self._hits.get(word)
        if hits is None:
            hits = tuple(
                (index, s)
                for index in self._by_prefix.get(word[:3], ())
                for s in self._rules[index].stems
                if word.startswith(s)
            )
            if len(self._hits) >= _CACHE_WORDS:
                self._hits.clear()  # bounded: a long tail of rare words must not grow it forever
            self._hits[word] = hits
        return hits

    def rule_ids(self) -> frozenset[int]:
        return frozenset(r.rule_id for r in self._rules)

    def match(self, text: str, channel: str | None = None) -> list[RuleMatch]:
        found: dict[int, dict[str, list[tuple[int, int]]]] = {}
        for word, start, end in words(text):
            for index, s in self._word_hits(word):
                found.setdefault(index, {}).setdefault(s, []).append((start, end))
        result = []
        for index, spans in found.items():
            rule = self._rules[index]
            if len(spans) < len(rule.stems):
                continue
            if rule.channels and (channel or "").lower() not in rule.channels:
                continue
            highlights = tuple(sorted(span for group in spans.values() for span in group))
            result.append(RuleMatch(rule.rule_id, highlights))
        result.sort(key=lambda m: m.rule_id)
        return result


def compile_rules(rules: Iterable[Rule]) -> KeywordMatcher:
    return KeywordMatcher(rules)


__all__ = ["KeywordMatcher", "RuleError", "compile_rules", "normalise", "parse_rule", "stem", "words"]
