"""All rules of all subscribers compiled into one structure over normalised word keys.

A text word is looked up once (through a per-matcher cache of word -> atoms): its lemmas, its exact
form and its prefixes are keys of one dict that lists the rule atoms they satisfy. Only the terms of
the atoms that were hit are checked (phrases: the following atoms at the following positions), and
only the rules holding a hit term are evaluated. So the cost of a post grows with the post and the
hits, not with the number of rules. Adding a rule is incremental (`add`); a full build of 10,000
rules takes well under 2 s (benchmarks/matching.py measures it).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from bot.config import MatchingSettings
from bot.domain import Rule, RuleMatch
from bot.matching.errors import RuleError
from bot.matching.morph import morphology
from bot.matching.rules import Atom, Expr, Term, evaluate, parse_rule
from bot.matching.text import Tokens, canonical, phrase_gap_ok, tokenize

log = logging.getLogger(__name__)

Span = tuple[int, int]


@dataclass(slots=True)
class _Compiled:
    rule_id: int
    expr: Expr  # over global term ids
    channels: frozenset[str]
    positive: frozenset[int]
    subscriber_id: int


def _remap(expr: Expr, ids: list[int]) -> Expr:
    if expr[0] == "term":
        return ("term", ids[expr[1]])
    if expr[0] == "not":
        return ("not", _remap(expr[1], ids))
    return (expr[0], tuple(_remap(e, ids) for e in expr[1]))


class CompiledMatcher:
    """Implements `domain.Matcher`. Rules that do not parse are skipped and listed in `errors`."""

    def __init__(self, rules: Iterable[Rule] = (), *, settings: MatchingSettings | None = None) -> None:
        self.settings = settings or MatchingSettings()
        self._morph = morphology(self.settings.cache_size)
        self._keys: dict[str, list[int]] = {}
        self._prefix_lengths: list[int] = []
        self._atom_ids: dict[Atom, int] = {}
        self._atom_terms: list[list[int]] = []
        self._atom_phrases: list[list[int]] = []
        self._terms: list[Term] = []
        self._term_ids: dict[tuple[object, ...], int] = {}
        self._term_rules: list[list[int]] = []
        self._regex_terms: list[int] = []
        self._rules: list[_Compiled | None] = []
        self._by_rule_id: dict[int, int] = {}
        self._regex_rules: dict[int, int] = defaultdict(int)  # subscriber -> regex rules compiled
        self._cache: dict[str, tuple[int, ...]] = {}
        self._cache_limit = max(self.settings.cache_size, 1024)
        self.errors: dict[int, str] = {}
        for rule in rules:
            self.add(rule)

    # ---- building
    def add(self, rule: Rule) -> bool:
        """Compile one more rule (replacing one with the same id). False, with `errors[id]`, if unusable."""
        if rule.id in self._by_rule_id:
            self.remove(rule.id)
        try:
            parsed = parse_rule(
                rule.source, max_length=self.settings.max_rule_length, max_terms=self.settings.max_terms
            )
        except RuleError as exc:
            self.errors[rule.id] = str(exc)
            return False
        if parsed.regex_count:
            quota = self.settings.max_regex_rules_per_subscriber
            if self._regex_rules[rule.subscriber_id] >= quota:
                self.errors[rule.id] = f"over the quota of {quota} /pattern/ rules per subscriber"
                log.warning("rule %s skipped: over the regex quota of subscriber %s", rule.id, rule.subscriber_id)
                return False
            self._regex_rules[rule.subscriber_id] += 1
        self.errors.pop(rule.id, None)
        ids = [self._term_id(term) for term in parsed.terms]
        scope = {c.lower().lstrip("@") for c in rule.channels}
        own = set(parsed.channels)
        channels = scope & own if scope and own else scope | own
        index = len(self._rules)
        compiled = _Compiled(
            rule.id, _remap(parsed.expr, ids), frozenset(channels),
            frozenset(ids[t] for t in parsed.positive_terms()), rule.subscriber_id,
        )
        self._rules.append(compiled)
        self._by_rule_id[rule.id] = index
        for tid in set(ids):
            self._term_rules[tid].append(index)
        return True

    def remove(self, rule_id: int) -> None:
        index = self._by_rule_id.pop(rule_id, None)
        if index is None:
            return
        compiled = self._rules[index]
        if compiled is not None and any(self._terms[t].kind == "regex" for t in compiled.positive):
            self._regex_rules[compiled.subscriber_id] -= 1
        self._rules[index] = None

    def _term_id(self, term: Term) -> int:
        key = term.key()
        tid = self._term_ids.get(key)
        if tid is not None:
            return tid
        tid = len(self._terms)
        self._term_ids[key] = tid
        self._terms.append(term)
        self._term_rules.append([])
        if term.kind == "regex":
            self._regex_terms.append(tid)
        elif term.kind == "word":
            self._atom_terms[self._atom_id(term.atoms[0])].append(tid)
        else:
            for atom in term.atoms[1:]:
                self._atom_id(atom)
            self._atom_phrases[self._atom_id(term.atoms[0])].append(tid)
        return tid

    def _atom_id(self, atom: Atom) -> int:
        aid = self._atom_ids.get(atom)
        if aid is not None:
            return aid
        aid = len(self._atom_terms)
        self._atom_ids[atom] = aid
        self._atom_terms.append([])
        self._atom_phrases.append([])
        if atom.kind == "lemma":
            keys = atom.keys
        elif atom.kind == "exact":
            keys = ("=" + atom.keys[0],)
        else:
            keys = ("*" + atom.keys[0],)
            if len(atom.keys[0]) not in self._prefix_lengths:
                self._prefix_lengths.append(len(atom.keys[0]))
        for key in keys:
            self._keys.setdefault(key, []).append(aid)
        self._cache.clear()  # cached words may satisfy the new atom
        return aid

    # ---- matching
    def rule_ids(self) -> frozenset[int]:
        return frozenset(self._by_rule_id)

    def _atoms(self, word: str) -> tuple[int, ...]:
        form = canonical(word)
        keys = self._keys
        found: list[int] = []
        for lemma in self._morph.lemmas(form):
            found.extend(keys.get(lemma, ()))
        found.extend(keys.get("=" + form, ()))
        for length in self._prefix_lengths:
            if length <= len(form):
                found.extend(keys.get("*" + form[:length], ()))
        atoms = tuple(dict.fromkeys(found))
        if len(self._cache) >= self._cache_limit:
            self._cache.clear()  # bounded: a long tail of rare words must not grow it forever
        self._cache[word] = atoms
        return atoms

    def term_hits(self, toks: Tokens) -> dict[int, list[Span]]:
        """Every term found in the text, with its spans."""
        words, starts, ends = toks.words, toks.starts, toks.ends
        cache = self._cache
        positions: dict[int, list[int]] = {}
        for i, word in enumerate(words):
            atoms = cache.get(word)
            if atoms is None:
                atoms = self._atoms(word)
            for aid in atoms:
                found = positions.get(aid)
                if found is None:
                    positions[aid] = [i]
                else:
                    found.append(i)
        hits: dict[int, list[Span]] = {}
        for aid, pos in positions.items():
            for tid in self._atom_terms[aid]:
                hits.setdefault(tid, []).extend((starts[i], ends[i]) for i in pos)
            for tid in self._atom_phrases[aid]:
                spans = self._phrase_spans(self._terms[tid], pos, positions, toks)
                if spans:
                    hits.setdefault(tid, []).extend(spans)
        for joined, first, last in toks.compounds:
            atoms = cache.get(joined)
            if atoms is None:
                atoms = self._atoms(joined)
            for aid in atoms:
                for tid in self._atom_terms[aid]:
                    hits.setdefault(tid, []).append((starts[first], ends[last]))
        for tid in self._regex_terms:
            regex = self._terms[tid].regex
            assert regex is not None
            spans = list(regex.spans(toks.folded))
            if spans:
                hits[tid] = spans
        return hits

    def _phrase_spans(self, term: Term, first: list[int], positions: dict[int, list[int]], toks: Tokens) -> list[Span]:
        following = []
        for atom in term.atoms[1:]:
            pos = positions.get(self._atom_ids[atom])
            if not pos:
                return []
            following.append(set(pos))
        spans = []
        for p in first:
            if all(p + k + 1 in found for k, found in enumerate(following)) and all(
                phrase_gap_ok(toks.folded, toks.ends[p + k], toks.starts[p + k + 1], tight=term.tight)
                for k in range(len(following))
            ):
                spans.append((toks.starts[p], toks.ends[p + len(following)]))
        return spans

    def match(self, text: str, channel: str | None = None) -> list[RuleMatch]:
        if not text:
            return []
        hits = self.term_hits(tokenize(text))
        if not hits:
            return []
        candidates: set[int] = set()
        for tid in hits:
            candidates.update(self._term_rules[tid])
        key = (channel or "").lower().lstrip("@")
        result = []
        for index in candidates:
            rule = self._rules[index]
            if rule is None or (rule.channels and key not in rule.channels):
                continue
            if evaluate(rule.expr, hits):
                spans = {span for tid in rule.positive if tid in hits for span in hits[tid]}
                result.append(RuleMatch(rule.rule_id, tuple(sorted(spans))))
        result.sort(key=lambda m: m.rule_id)
        return result


def compile_rules(rules: Iterable[Rule], *, settings: MatchingSettings | None = None) -> CompiledMatcher:
    """The MatcherFactory the pipeline uses: every rule compiled into one matcher."""
    return CompiledMatcher(rules, settings=settings)
