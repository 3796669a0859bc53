"""All rules of all subscribers compiled into one structure over normalised word keys.

A text word is looked up once (through a per-matcher cache of word -> atoms): its lemmas, its exact
form and its prefixes are keys of one dict that lists the rule atoms they satisfy. Only the terms of
the atoms that were hit are checked (phrases: the following atoms at the following positions), and
only the rules holding a hit term are evaluated. So the cost of a post grows with the post and the
hits, not with the number of rules. Adding a rule is incremental (`add`); a full build of 10,000
rules takes well under 2 s (benchmarks/matching.py measures it).
"""

from __future__ import annotations

import itertools
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
    positive: tuple[int, ...]
    subscriber_id: int
    has_regex: bool
    # fast paths: "one" (a single term), "all" (AND of terms), "any" (OR of terms), "expr"
    mode: str = "expr"
    flat: tuple[int, ...] = ()


def _shape(expr: Expr) -> tuple[str, tuple[int, ...]]:
    if expr[0] == "term":
        return "one", (expr[1],)
    if expr[0] in ("and", "or") and all(e[0] == "term" for e in expr[1]):
        return ("all" if expr[0] == "and" else "any"), tuple(e[1] for e in expr[1])
    return "expr", ()


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
        self._terms: list[Term] = []
        self._term_ids: dict[tuple[object, ...], int] = {}
        self._term_rules: list[list[int]] = []  # term -> indexes of rules to evaluate when it is hit
        self._direct: list[list[int]] = []  # term -> ids of unscoped one-term rules: hit = match
        self._regex_terms: list[int] = []
        self._phrases: dict[int, tuple[tuple[int, ...], bool]] = {}  # term -> (its atoms, tight)
        self._pair_phrases: dict[tuple[int, int], list[int]] = {}  # (first atom, second atom) -> phrases
        self._rules: list[_Compiled | None] = []
        self._by_rule_id: dict[int, int] = {}
        self._regex_rules: dict[int, int] = defaultdict(int)  # subscriber -> regex rules compiled
        # word -> atoms, in two generations: when the young one is full it becomes the old one, and
        # words still in use move back on their next sighting (an LRU without per-hit bookkeeping)
        self._cache: dict[str, tuple[int, ...]] = {}
        self._old: dict[str, tuple[int, ...]] = {}
        self._cache_limit = max(self.settings.cache_size // 2, 1024)
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
        expr = _remap(parsed.expr, ids)
        mode, flat = _shape(expr)
        compiled = _Compiled(
            rule.id, expr, frozenset(channels), tuple(sorted({ids[t] for t in parsed.positive_terms()})),
            rule.subscriber_id, parsed.regex_count > 0, mode, flat,
        )
        self._rules.append(compiled)
        self._by_rule_id[rule.id] = index
        if mode == "one" and not channels:
            self._direct[flat[0]].append(rule.id)
        else:
            for tid in set(ids):
                self._term_rules[tid].append(index)
        return True

    def remove(self, rule_id: int) -> None:
        index = self._by_rule_id.pop(rule_id, None)
        if index is None:
            return
        compiled = self._rules[index]
        if compiled is not None and compiled.has_regex:
            self._regex_rules[compiled.subscriber_id] -= 1
        if compiled is not None and compiled.mode == "one" and rule_id in self._direct[compiled.flat[0]]:
            self._direct[compiled.flat[0]].remove(rule_id)
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
        self._direct.append([])
        if term.kind == "regex":
            self._regex_terms.append(tid)
        elif term.kind == "word":
            self._atom_terms[self._atom_id(term.atoms[0])].append(tid)
        else:
            atom_ids = tuple(self._atom_id(atom) for atom in term.atoms)
            self._phrases[tid] = (atom_ids, term.tight)
            self._pair_phrases.setdefault((atom_ids[0], atom_ids[1]), []).append(tid)
        return tid

    def _atom_id(self, atom: Atom) -> int:
        aid = self._atom_ids.get(atom)
        if aid is not None:
            return aid
        aid = len(self._atom_terms)
        self._atom_ids[atom] = aid
        self._atom_terms.append([])
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
        if self._cache or self._old:
            self._cache.clear()  # cached words may satisfy the new atom
            self._old.clear()
        return aid

    # ---- matching
    def rule_ids(self) -> frozenset[int]:
        return frozenset(self._by_rule_id)

    def _atoms(self, word: str) -> tuple[int, ...]:
        atoms = self._old.get(word)
        if atoms is None:
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
            self._old, self._cache = self._cache, {}
        self._cache[word] = atoms
        return atoms

    def term_hits(self, toks: Tokens) -> tuple[dict[int, list[int]], dict[int, list[Span]]]:
        """Every term found in the text: word terms as token indexes, the others as spans."""
        words = toks.words
        found = list(map(self._cache.get, words))  # C-level: most words are cached
        if None in found:
            for i, atoms in enumerate(found):
                if atoms is None:
                    found[i] = self._atoms(words[i])
        positions: dict[int, list[int]] = {}
        pairs: list[tuple[int, tuple[int, ...], tuple[int, ...]]] = []  # adjacent tokens that both hit
        before = -2
        for i in itertools.compress(range(len(found)), found):  # C-level: only the tokens that hit
            atoms = found[i]
            for aid in atoms:  # type: ignore[union-attr]
                hit = positions.get(aid)
                if hit is None:
                    positions[aid] = [i]
                else:
                    hit.append(i)
            if before == i - 1:
                pairs.append((before, found[before], atoms))  # type: ignore[arg-type]
            before = i
        word_hits: dict[int, list[int]] = {}
        span_hits: dict[int, list[Span]] = {}
        atom_terms = self._atom_terms
        for aid, pos in positions.items():
            for tid in atom_terms[aid]:
                word_hits[tid] = pos  # a word term has one atom: its token indexes, ascending
        if pairs and self._pair_phrases:
            self._phrase_hits(pairs, found, toks, span_hits)
        for joined, first, last in toks.compounds:
            atoms = self._cache.get(joined)
            if atoms is None:
                atoms = self._atoms(joined)
            for aid in atoms:
                for tid in self._atom_terms[aid]:
                    span_hits.setdefault(tid, []).append((toks.starts[first], toks.ends[last]))
        for tid in self._regex_terms:
            regex = self._terms[tid].regex
            assert regex is not None
            spans = list(regex.spans(toks.folded))
            if spans:
                span_hits[tid] = spans
        return word_hits, span_hits

    def _phrase_hits(
        self,
        pairs: list[tuple[int, tuple[int, ...], tuple[int, ...]]],
        found: list[tuple[int, ...] | None],
        toks: Tokens,
        span_hits: dict[int, list[Span]],
    ) -> None:
        """Phrases are indexed by their first two atoms: only adjacent hit tokens are looked at."""
        pair_phrases, phrases = self._pair_phrases, self._phrases
        folded, starts, ends = toks.folded, toks.starts, toks.ends
        for i, first, second in pairs:
            for a in first:
                for b in second:
                    tids = pair_phrases.get((a, b))
                    if not tids:
                        continue
                    for tid in tids:
                        atom_ids, tight = phrases[tid]
                        last = i + len(atom_ids) - 1
                        if last >= len(found):
                            continue
                        if any(atom_ids[k] not in (found[i + k] or ()) for k in range(2, len(atom_ids))):
                            continue
                        if all(phrase_gap_ok(folded, ends[j], starts[j + 1], tight=tight) for j in range(i, last)):
                            span_hits.setdefault(tid, []).append((starts[i], ends[last]))

    def match(self, text: str, channel: str | None = None) -> list[RuleMatch]:
        if not text:
            return []
        toks = tokenize(text)
        word_hits, span_hits = self.term_hits(toks)
        if not word_hits and not span_hits:
            return []
        starts, ends = toks.starts, toks.ends
        spans_of: dict[int, tuple[Span, ...]] = {}

        def spans(tid: int) -> tuple[Span, ...]:
            found = spans_of.get(tid)
            if found is None:
                pos = word_hits.get(tid)
                listed = [(starts[i], ends[i]) for i in pos] if pos is not None else []
                extra = span_hits.get(tid)
                found = tuple(sorted({*listed, *extra})) if extra else tuple(listed)
                spans_of[tid] = found
            return found

        result: list[RuleMatch] = []
        direct, term_rules = self._direct, self._term_rules
        candidates: set[int] = set()
        for tid in (*word_hits, *(t for t in span_hits if t not in word_hits)):
            ids = direct[tid]
            if ids:
                found = spans(tid)
                result.extend([RuleMatch(rid, found) for rid in ids])
            candidates.update(term_rules[tid])
        if candidates:
            hit = word_hits.keys() | span_hits.keys()
            key = (channel or "").lower().lstrip("@")
            rules = self._rules
            for index in candidates:
                rule = rules[index]
                if rule is None or (rule.channels and key not in rule.channels):
                    continue
                mode = rule.mode
                if mode == "all":
                    if not all(t in hit for t in rule.flat):
                        continue
                elif mode == "expr" and not evaluate(rule.expr, hit):
                    continue
                found_terms = [t for t in rule.positive if t in hit]
                if len(found_terms) == 1:
                    highlights = spans(found_terms[0])
                else:
                    highlights = tuple(sorted({s for t in found_terms for s in spans(t)}))
                result.append(RuleMatch(rule.rule_id, highlights))
        result.sort(key=lambda m: m.rule_id)
        return result


def compile_rules(rules: Iterable[Rule], *, settings: MatchingSettings | None = None) -> CompiledMatcher:
    """The MatcherFactory the pipeline uses: every rule compiled into one matcher."""
    return CompiledMatcher(rules, settings=settings)
