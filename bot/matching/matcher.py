"""All rules of all subscribers compiled into one structure over normalised word keys.

A text word is looked up once (through a per-matcher cache of word -> atoms): its lemmas and its
exact form are keys of one dict that lists the rule atoms they satisfy, and prefix atoms are found by
the word's first three letters. The cached value keeps the atoms of word terms apart from the atoms
of phrases, so a post's hit tokens are grouped only for the first and chained (adjacent tokens, then
the following atoms at the following positions) only for the second. A hit word term reports its
direct rules (one unscoped term: hit = match) from one compact record per atom, and marks the rules
to evaluate; an AND rule is marked by its first term only. So the cost of a post grows with the post
and the hits, not with the number of rules. Adding a rule is incremental (`add`); a full build of
10,000 rules takes under a second (benchmarks/matching.py measures it).
"""

from __future__ import annotations

import functools
import itertools
import logging
import operator
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from bot.config import MatchingSettings
from bot.domain import Rule, RuleMatch
from bot.matching.errors import RuleError
from bot.matching.generations import Generations
from bot.matching.morph import morphology
from bot.matching.rules import Atom, Expr, Term, evaluate, parse_rule
from bot.matching.text import PREFIX_HEAD, Tokens, phrase_gap_ok, tokenize

log = logging.getLogger(__name__)

Span = tuple[int, int]
# a cached word: (atoms of word terms, atoms of phrases), or () when it is in no rule
_WordAtoms = tuple[tuple[int, ...], ...]
_NO_ATOMS: tuple[tuple[int, ...], tuple[int, ...]] = ((), ())
_collect_hits: Callable[..., tuple[list[_WordAtoms], list[int], dict[tuple[int, ...], list[int]]]] | None
_report_terms: Callable[..., tuple[list[RuleMatch], dict[int, tuple[Span, ...]], set[int]]] | None
try:  # the first two passes over a post in C (setup.py builds them with the tokenizer's split)
    from bot.matching._speedups import collect_hits as _collect_hits
    from bot.matching._speedups import report_terms as _report_terms
except ImportError:  # pragma: no cover - the pure-Python path is tested by forcing it
    _collect_hits = _report_terms = None
_OF_WORDS = operator.itemgetter(0)
_OF_PHRASES = operator.itemgetter(1)
_new_match = functools.partial(tuple.__new__, RuleMatch)  # RuleMatch((id, spans)) without its Python __new__


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
    needed: frozenset[int] = frozenset()  # "all": the terms that must all be hit


def _shape(expr: Expr) -> tuple[str, tuple[int, ...]]:
    if expr[0] == "term":
        return "one", (expr[1],)
    if expr[0] in ("and", "or") and all(e[0] == "term" for e in expr[1]):
        return ("all" if expr[0] == "and" else "any"), tuple(e[1] for e in expr[1])
    return "expr", ()


def _triggers(expr: Expr, mode: str, flat: tuple[int, ...]) -> tuple[int, ...]:
    """The terms whose hit makes a rule worth evaluating: one term of an AND suffices (it must be
    hit for the rule to match), every term otherwise."""
    if mode == "all":
        return flat[:1]
    if expr[0] == "and":
        required = [e[1] for e in expr[1] if e[0] == "term"]
        if required:
            return (required[0],)
    found: list[int] = []

    def walk(e: Expr) -> None:
        if e[0] == "term":
            found.append(e[1])
        elif e[0] == "not":
            walk(e[1])
        else:
            for child in e[1]:
                walk(child)

    walk(expr)
    return tuple(dict.fromkeys(found))


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
        # every string a word's probe must share with the rules to hit an atom (morph.py): lemma
        # keys, exact forms and prefix heads; a superset test, so a stray hit costs only a lookup
        self._probe: set[str] = set()
        # prefix atoms by their first three letters (no prefix is shorter): one lookup a word
        self._prefixes: dict[str, list[tuple[str, int]]] = {}
        self._atom_ids: dict[Atom, int] = {}
        self._atom_terms: list[list[int]] = []
        self._terms: list[Term] = []
        self._term_ids: dict[tuple[object, ...], int] = {}
        self._term_rules: list[list[int]] = []  # term -> indexes of rules to evaluate when it is hit
        self._direct: list[list[int]] = []  # term -> ids of unscoped one-term rules: hit = match
        self._regex_terms: list[int] = []
        self._phrases: dict[int, tuple[tuple[int, ...], bool]] = {}  # term -> (its atoms, tight)
        self._phrase_starts: dict[int, dict[int, list[int]]] = {}  # first atom -> second atom -> phrases
        self._rules: list[_Compiled | None] = []
        self._by_rule_id: dict[int, int] = {}
        self._regex_rules: dict[int, int] = defaultdict(int)  # subscriber -> regex rules compiled
        # word -> atoms (generations.py): a generation holds up to cache_size words (at least 1,024)
        self._words: Generations[_WordAtoms] = Generations(max(self.settings.cache_size, 1024))
        self._phrase_atoms: set[int] = set()  # atoms that are a word of some phrase
        self._term_atom: dict[int, int] = {}  # word term -> its atom
        # atom -> ((word term, ids of its direct rules, indexes of rules to evaluate), ...): one
        # compact record per atom, made on first use and dropped when one of its terms changes
        self._plans: list[tuple[tuple[int, tuple[int, ...], tuple[int, ...]], ...] | None] = []
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
            rule.subscriber_id, parsed.regex_count > 0, mode, flat, frozenset(flat),
        )
        self._rules.append(compiled)
        self._by_rule_id[rule.id] = index
        if mode == "one" and not channels:
            self._direct[flat[0]].append(rule.id)
            self._replan(flat[0])
        else:
            # a rule is looked at when one of its terms is hit; an AND needs only one of its terms
            # to be hit to be worth evaluating (the others are checked then)
            for tid in _triggers(expr, mode, flat):
                self._term_rules[tid].append(index)
                self._replan(tid)
        return True

    def _replan(self, tid: int) -> None:
        aid = self._term_atom.get(tid)
        if aid is not None:
            self._plans[aid] = None

    def remove(self, rule_id: int) -> None:
        index = self._by_rule_id.pop(rule_id, None)
        if index is None:
            return
        compiled = self._rules[index]
        if compiled is not None and compiled.has_regex:
            self._regex_rules[compiled.subscriber_id] -= 1
        if compiled is not None and compiled.mode == "one" and rule_id in self._direct[compiled.flat[0]]:
            self._direct[compiled.flat[0]].remove(rule_id)
            self._replan(compiled.flat[0])
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
            aid = self._atom_id(term.atoms[0])
            terms = self._atom_terms[aid]
            if not terms:
                self._forget_words()  # cached words list the atom as a phrase word only
            terms.append(tid)
            self._term_atom[tid] = aid
            self._plans[aid] = None
        else:
            atom_ids = tuple(self._atom_id(atom) for atom in term.atoms)
            if not self._phrase_atoms.issuperset(atom_ids):
                self._phrase_atoms.update(atom_ids)
                self._forget_words()
            self._phrases[tid] = (atom_ids, term.tight)
            self._phrase_starts.setdefault(atom_ids[0], {}).setdefault(atom_ids[1], []).append(tid)
        return tid

    def _atom_id(self, atom: Atom) -> int:
        aid = self._atom_ids.get(atom)
        if aid is not None:
            return aid
        aid = len(self._atom_terms)
        self._atom_ids[atom] = aid
        self._atom_terms.append([])
        self._plans.append(None)
        if atom.kind == "lemma":
            keys = atom.keys
            self._probe.update(keys)
        elif atom.kind == "exact":
            keys = ("=" + atom.keys[0],)
            self._probe.add(atom.keys[0])
        else:
            keys = ()
            self._probe.add(atom.keys[0][:PREFIX_HEAD])
            self._prefixes.setdefault(atom.keys[0][:PREFIX_HEAD], []).append((atom.keys[0], aid))
        for key in keys:
            self._keys.setdefault(key, []).append(aid)
        self._forget_words()  # cached words may satisfy the new atom
        return aid

    def _forget_words(self) -> None:
        if self._words:
            self._words.clear()

    def warm_from(self, other: CompiledMatcher) -> int:
        """Look up now the words ``other`` has in its young generation (the words in recent use),
        so a matcher rebuilt after a rule change does not meet a channel's whole vocabulary cold.
        The pipeline calls it while building, off the event loop; ``other`` goes on serving
        meanwhile. Returns how many words were looked up (0 when ``other`` changed while read)."""
        try:
            words = list(other._words.young)
        except RuntimeError:  # resized by the serving matcher while it was copied: start cold
            return 0
        atoms_of = self._atoms
        for word in words:
            atoms_of(word)
        return len(words)

    # ---- matching
    def rule_ids(self) -> frozenset[int]:
        return frozenset(self._by_rule_id)

    def _atoms(self, word: str) -> _WordAtoms:
        """A word's atoms, split in two: those of word terms (hits to report) and those of phrases
        (hits to chain with the next words); ``()`` when it has neither, the common case."""
        return self._words.get(word, self._verdict)

    def _verdict(self, word: str) -> _WordAtoms:
        form, lemmas, probe = self._morph.analyse(word)
        return () if self._probe.isdisjoint(probe) else self._lookup(form, lemmas)

    def _lookup(self, form: str, lemmas: tuple[str, ...]) -> _WordAtoms:
        """The atoms a word (its form and lemmas) satisfies, split as `_atoms` returns them."""
        keys = self._keys
        found: list[int] = []
        for lemma in lemmas:
            found.extend(keys.get(lemma, ()))
        found.extend(keys.get("=" + form, ()))
        prefixes = self._prefixes.get(form[:PREFIX_HEAD])
        if prefixes:
            found.extend(aid for prefix, aid in prefixes if form.startswith(prefix))
        if not found:
            return ()
        unique = dict.fromkeys(found)
        atom_terms, phrase_atoms = self._atom_terms, self._phrase_atoms
        of_words = tuple(a for a in unique if atom_terms[a])
        of_phrases = tuple(a for a in unique if a in phrase_atoms)
        return (of_words, of_phrases) if of_words or of_phrases else ()

    def _span_hits(
        self, phrase_idx: list[int], found: list[_WordAtoms], toks: Tokens
    ) -> dict[int, list[Span]]:
        """The terms found as spans: phrases, hyphenated compounds written joined, regexes."""
        span_hits: dict[int, list[Span]] = {}
        if len(phrase_idx) > 1:
            self._phrase_hits(phrase_idx, found, toks, span_hits)
        for joined, first, last in toks.compounds:
            atoms = self._atoms(joined)
            for aid in atoms[0] if atoms else ():
                for tid in self._atom_terms[aid]:
                    span_hits.setdefault(tid, []).append((toks.starts[first], toks.ends[last]))
        for tid in self._regex_terms:
            regex = self._terms[tid].regex
            assert regex is not None
            spans = list(regex.spans(toks.folded))
            if spans:
                span_hits[tid] = spans
        return span_hits

    def _phrase_hits(
        self,
        phrase_idx: list[int],
        found: list[_WordAtoms],
        toks: Tokens,
        span_hits: dict[int, list[Span]],
    ) -> None:
        """Phrases are indexed by their first two atoms: only adjacent tokens that are both phrase
        words are looked at."""
        phrase_starts, phrases = self._phrase_starts, self._phrases
        folded, starts, ends = toks.folded, toks.starts, toks.ends
        # the phrase-word tokens whose next token is one too (C-level)
        adjacent = itertools.compress(phrase_idx, map(operator.eq, map((1).__add__, phrase_idx), phrase_idx[1:]))
        for i in adjacent:
            for a in found[i][1]:
                seconds = phrase_starts.get(a)
                if seconds is None:
                    continue
                for b in found[i + 1][1]:
                    tids = seconds.get(b)
                    if not tids:
                        continue
                    for tid in tids:
                        atom_ids, tight = phrases[tid]
                        last = i + len(atom_ids) - 1
                        if last >= len(found):
                            continue
                        if any(atom_ids[k] not in (found[i + k] or _NO_ATOMS)[1] for k in range(2, len(atom_ids))):
                            continue
                        if all(phrase_gap_ok(folded, ends[j], starts[j + 1], tight=tight) for j in range(i, last)):
                            span_hits.setdefault(tid, []).append((starts[i], ends[last]))

    def _collect(
        self, words: list[str]
    ) -> tuple[list[_WordAtoms], list[int], dict[tuple[int, ...], list[int]]]:
        """Each word's atoms, the indexes of the phrase-word tokens, and the tokens grouped by their
        word-term atoms: C-level passes, then one Python step a hit token (`_speedups.collect_hits`
        does the same in C)."""
        found = self._words.get_many(words, self._verdict)
        groups: dict[tuple[int, ...], list[int]] = {}  # the tokens with the same word atoms
        hit_idx = list(itertools.compress(range(len(found)), found))
        if not hit_idx:
            return found, [], groups
        hits = list(map(found.__getitem__, hit_idx))
        word_atoms: list[tuple[int, ...]] = list(map(_OF_WORDS, hits))
        phrase_idx = list(itertools.compress(hit_idx, map(_OF_PHRASES, hits))) if self._phrase_starts else []
        same_atoms = groups.get
        for i, atoms in zip(itertools.compress(hit_idx, word_atoms), filter(None, word_atoms), strict=True):
            same = same_atoms(atoms)
            if same is None:
                groups[atoms] = [i]
            else:
                same.append(i)
        return found, phrase_idx, groups

    def _plan(self, aid: int) -> tuple[tuple[int, tuple[int, ...], tuple[int, ...]], ...]:
        """An atom's compact record: (word term, ids of its direct rules, rules to evaluate) a term."""
        direct, term_rules = self._direct, self._term_rules
        plan = self._plans[aid] = tuple([(t, tuple(direct[t]), tuple(term_rules[t])) for t in self._atom_terms[aid]])
        return plan

    def _report(
        self, groups: dict[tuple[int, ...], list[int]], toks: Tokens, span_hits: dict[int, list[Span]]
    ) -> tuple[list[RuleMatch], dict[int, tuple[Span, ...]], set[int]]:
        """For each atom hit, its spans; for each of its word terms, its spans (with those found
        as a joined compound, taken out of ``span_hits``), a match for each direct rule, and the
        rules to evaluate (`_speedups.report_terms` does the same in C)."""
        positions: dict[int, list[int]] = {}
        for atoms, idx in groups.items():
            for aid in atoms:
                pos = positions.get(aid)
                positions[aid] = idx if pos is None else sorted(pos + idx)
        starts, ends = toks.starts, toks.ends
        spans_of: dict[int, tuple[Span, ...]] = {}  # every term hit, with its spans
        result: list[RuleMatch] = []
        append = result.append
        candidates: set[int] = set()
        plans = self._plans
        for aid, pos in positions.items():
            plan = plans[aid]
            if plan is None:
                plan = self._plan(aid)
            if len(pos) == 1:
                i = pos[0]
                spans: tuple[Span, ...] = ((starts[i], ends[i]),)
            else:
                spans = tuple(zip(map(starts.__getitem__, pos), map(ends.__getitem__, pos), strict=True))
            for tid, ids, indexes in plan:
                extra = span_hits.pop(tid, None) if span_hits else None
                found_spans = tuple(sorted({*spans, *extra})) if extra else spans
                spans_of[tid] = found_spans
                if ids:
                    if len(ids) == 1:
                        append(_new_match((ids[0], found_spans)))
                    else:
                        result.extend(map(_new_match, zip(ids, itertools.repeat(found_spans))))
                if indexes:
                    candidates.update(indexes)
        return result, spans_of, candidates

    def match(self, text: str, channel: str | None = None) -> list[RuleMatch]:
        if not text:
            return []
        return self.match_tokens(tokenize(text), channel)

    def match_tokens(self, toks: Tokens, channel: str | None = None) -> list[RuleMatch]:
        """`match` on a text already tokenised (ingestion shares one tokenisation with the index).

        Two passes over the post's tokens: `_collect` (each word's atoms, phrase-word tokens, tokens
        grouped by atoms) and `_report` (spans, direct matches, rules to evaluate), each run by its
        C version in `_speedups` when that was built; then one Python step per term found only as
        a span and per candidate rule."""
        if _collect_hits is not None:
            found, phrase_idx, groups = _collect_hits(
                toks.words, self._words.young, self._atoms, bool(self._phrase_starts), self._morph.analyses.young,
                self._probe, self._words.limit,
            )
        else:
            found, phrase_idx, groups = self._collect(toks.words)
        span_hits = self._span_hits(phrase_idx, found, toks)
        if not groups and not span_hits:
            return []
        if _report_terms is not None:
            result, spans_of, candidates = _report_terms(
                groups, self._plans, self._plan, toks.starts, toks.ends, span_hits, _new_match
            )
        else:
            result, spans_of, candidates = self._report(groups, toks, span_hits)
        append = result.append
        direct, term_rules = self._direct, self._term_rules
        for tid, extra in span_hits.items():  # terms found only as spans
            found_spans = tuple(sorted(set(extra)))
            spans_of[tid] = found_spans
            if direct[tid]:
                result.extend(map(_new_match, zip(direct[tid], itertools.repeat(found_spans))))
            candidates.update(term_rules[tid])
        if candidates:
            hit = spans_of.keys()
            key = (channel or "").lower().lstrip("@")
            rules = self._rules
            for index in candidates:
                rule = rules[index]
                if rule is None or (rule.channels and key not in rule.channels):
                    continue
                mode = rule.mode
                if mode == "all":
                    if not hit >= rule.needed:
                        continue
                    found_terms: Sequence[int] = rule.flat  # all of them
                elif mode == "expr":
                    if not evaluate(rule.expr, hit):
                        continue
                    found_terms = [t for t in rule.positive if t in hit]
                else:
                    found_terms = [t for t in rule.flat if t in hit]
                if len(found_terms) == 1:
                    highlights = spans_of[found_terms[0]]
                else:
                    highlights = tuple(sorted({s for t in found_terms for s in spans_of[t]}))
                append(_new_match((rule.rule_id, highlights)))
        result.sort()  # by rule id (unique)
        return result


def compile_rules(rules: Iterable[Rule], *, settings: MatchingSettings | None = None) -> CompiledMatcher:
    """The MatcherFactory the pipeline uses: every rule compiled into one matcher."""
    return CompiledMatcher(rules, settings=settings)
