"""The matcher: every rule of every subscriber compiled into one structure, so that the cost of a
post grows with the post and with what it hits, not with the number of rules.

How a post is matched (`CompiledMatcher.match_tokens`):

1. Each word of the post is turned into the rule *atoms* it satisfies. An atom is one word
   position of a rule: a lemma (``батальон``), an exact form (``=Белгорода``) or a prefix
   (``оборон*``). All atoms live in one index (`_AtomIndex`): a dict from lemma / exact-form keys
   to atoms, plus prefix atoms filed under their first three letters. A word's answer is cached
   (`generations.py`), and most words of a post are in no rule at all: the index keeps the set
   of every string a word could be looked up by (its *probe* set), so such a word costs a single
   set operation once, then a cache hit.
2. Word atoms give *word terms* directly. Phrases are chained from adjacent tokens that are both
   phrase words; hyphenated compounds written joined and /regex/ terms are found as spans.
3. A hit word term reports its *direct* rules (a rule that is that one term and nothing else)
   straight away, and names the other rules worth evaluating; an AND rule is named by its first
   term only, because it cannot match unless that term is there.
4. Only those candidate rules are evaluated, against the set of terms hit.

Rules with a topic term (``~"..."``, topics.py) are left out of that path: they are evaluated by
`match_topics`, once the post's vector is there (ingestion embeds posts behind the keyword path),
with the keyword terms found as above and each topic term hit when the post is close enough.

Adding a rule is incremental (`add`); a full build of 10,000 rules takes well under a second
(benchmarks/matching.py measures it, and the matching speed on posts the matcher has not seen).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from bot.config import MatchingSettings
from bot.domain import Matcher, Rule, RuleMatch
from bot.matching.errors import RuleError
from bot.matching.generations import Generations
from bot.matching.literals import exotic, required_literals
from bot.matching.morph import morphology
from bot.matching.quota import RuleQuota
from bot.matching.rules import Atom, Expr, Term, evaluate, parse_rule
from bot.matching.text import PREFIX_HEAD, Tokens, phrase_gap_ok, tokenize

if TYPE_CHECKING:
    from bot.matching.topics import Topic

log = logging.getLogger(__name__)

Span = tuple[int, int]
AtomIds = tuple[int, ...]


class WordHits(NamedTuple):
    """What one text word satisfies: atoms of word terms (reported), atoms of phrases (chained)."""

    word_atoms: AtomIds
    phrase_atoms: AtomIds


# A word in no rule, the common case. Falsy, so the passes below can skip it with `if not hits`.
NO_HITS: WordHits | tuple[()] = ()


class _TermPlan(NamedTuple):
    """What a hit word term leads to, prepared once per atom (`CompiledMatcher._plan_of`)."""

    term: int
    direct_rule_ids: tuple[int, ...]  # rules that are this term alone: a hit is a match
    rules_to_check: tuple[int, ...]  # indexes of the other rules this term may make match


# ---- one compiled rule ----------------------------------------------------------------------------

@dataclass(slots=True)
class _CompiledRule:
    rule_id: int
    expr: Expr  # over the matcher's term ids
    channels: frozenset[str]  # empty: every channel
    positive: tuple[int, ...]  # the terms that can be highlighted (not under NOT)
    subscriber_id: int
    has_regex: bool
    # "one" (a single term), "all" (an AND of terms), "any" (an OR of terms), "expr" (anything else):
    # the first three are checked without walking `expr`
    shape: str
    terms: tuple[int, ...]  # for "one", "all" and "any": the terms
    needed: frozenset[int]  # for "all": the terms that must all be hit

    def matches(self, hit: AbstractSet[int]) -> bool:
        """Whether the rule holds when exactly the terms in ``hit`` are in the post. A candidate of
        shape "one" or "any" was named by one of its terms, so it holds."""
        if self.shape == "all":
            return hit >= self.needed
        if self.shape == "expr":
            return evaluate(self.expr, hit)
        return True

    def found_terms(self, hit: AbstractSet[int]) -> Sequence[int]:
        """The terms whose spans a match highlights."""
        if self.shape == "all":
            return self.terms
        if self.shape == "expr":
            return [t for t in self.positive if t in hit]
        return [t for t in self.terms if t in hit]


def _shape(expr: Expr) -> tuple[str, tuple[int, ...]]:
    """The rule's shape (see `_CompiledRule.shape`) and, for the simple ones, its terms."""
    if expr[0] == "term":
        return "one", (expr[1],)
    if expr[0] in ("and", "or") and all(child[0] == "term" for child in expr[1]):
        return ("all" if expr[0] == "and" else "any"), tuple(child[1] for child in expr[1])
    return "expr", ()


def _trigger_terms(expr: Expr, shape: str, terms: tuple[int, ...]) -> tuple[int, ...]:
    """The terms whose hit makes a rule worth evaluating. For an AND, one of its plain terms is
    enough: the rule cannot match without it. Otherwise every term (even one under NOT: the rule
    may be an OR around it, and is then evaluated)."""
    if shape == "all":
        return terms[:1]
    if expr[0] == "and":
        required = [child[1] for child in expr[1] if child[0] == "term"]
        if required:
            return (required[0],)
    return tuple(dict.fromkeys(_all_terms(expr)))


def _all_terms(expr: Expr) -> Iterable[int]:
    if expr[0] == "term":
        yield expr[1]
    elif expr[0] == "not":
        yield from _all_terms(expr[1])
    else:
        for child in expr[1]:
            yield from _all_terms(child)


def _renumber(expr: Expr, term_ids: list[int]) -> Expr:
    """The rule's expression over the matcher's term ids instead of the rule's own term indexes."""
    if expr[0] == "term":
        return ("term", term_ids[expr[1]])
    if expr[0] == "not":
        return ("not", _renumber(expr[1], term_ids))
    return (expr[0], tuple(_renumber(child, term_ids) for child in expr[1]))


def _channel_scope(rule: Rule, own: Iterable[str]) -> frozenset[str]:
    """The channels a rule applies to: those it was added for and those its ``in:@...`` names
    (both: only the channels in both), or every channel when neither says."""
    scope = {c.lower().lstrip("@") for c in rule.channels}
    named = set(own)
    return frozenset(scope & named if scope and named else scope | named)


# ---- the atoms of all rules, and how a word finds them -------------------------------------------

class _AtomIndex:
    """Every atom of every rule, numbered, and the keys a text word finds them by."""

    def __init__(self) -> None:
        self.ids: dict[Atom, int] = {}
        # lemma keys ("батальон") and exact forms ("=белгорода") -> the atoms they satisfy
        self.by_key: dict[str, list[int]] = {}
        # prefix atoms by their first PREFIX_HEAD letters (no prefix is shorter): one lookup a word
        self.by_prefix_head: dict[str, list[tuple[str, int]]] = {}
        # every string a word's probe (morph.py) must share with the rules to satisfy some atom:
        # lemma keys, exact forms and prefix heads. A superset test, so a stray hit costs a lookup.
        self.probe: set[str] = set()

    def __len__(self) -> int:
        return len(self.ids)

    def get(self, atom: Atom) -> int | None:
        return self.ids.get(atom)

    def add(self, atom: Atom) -> int:
        """Number a new atom and file it under its keys."""
        aid = self.ids[atom] = len(self.ids)
        if atom.kind == "lemma":
            self.probe.update(atom.keys)
            for key in atom.keys:
                self.by_key.setdefault(key, []).append(aid)
        elif atom.kind == "exact":
            self.probe.add(atom.keys[0])
            self.by_key.setdefault("=" + atom.keys[0], []).append(aid)
        else:  # prefix
            prefix = atom.keys[0]
            self.probe.add(prefix[:PREFIX_HEAD])
            self.by_prefix_head.setdefault(prefix[:PREFIX_HEAD], []).append((prefix, aid))
        return aid

    def may_hold(self, probe: Iterable[str]) -> bool:
        """False when a word with this probe certainly satisfies no atom."""
        return not self.probe.isdisjoint(probe)

    def atoms_of(self, form: str, lemmas: Iterable[str]) -> list[int]:
        """The atoms a word satisfies, given its canonical form and lemmas (each atom once)."""
        found: list[int] = []
        for lemma in lemmas:
            found += self.by_key.get(lemma, ())
        found += self.by_key.get("=" + form, ())
        for prefix, aid in self.by_prefix_head.get(form[:PREFIX_HEAD], ()):
            if form.startswith(prefix):
                found.append(aid)
        return list(dict.fromkeys(found))


# ---- the matcher ----------------------------------------------------------------------------------

class CompiledMatcher:
    """Implements `domain.Matcher`. Rules that do not parse are skipped and listed in `errors`."""

    def __init__(self, rules: Iterable[Rule] = (), *, settings: MatchingSettings | None = None) -> None:
        self.settings = settings or MatchingSettings()
        self.errors: dict[int, str] = {}  # rule id -> why it was skipped
        self._morph = morphology(self.settings.cache_size)
        self._atoms = _AtomIndex()
        self._word_terms_of_atom: list[list[int]] = []  # atom -> the word terms that are this atom
        self._phrase_atoms: set[int] = set()  # atoms that are a word of some phrase
        # terms, numbered: the same word or phrase in many rules is one term
        self._terms: list[Term] = []
        self._term_ids: dict[tuple[object, ...], int] = {}
        self._atom_of_word_term: dict[int, int] = {}
        self._regex_terms: list[int] = []
        # regexes narrowed by their required literals (literals.py): run only on a post holding one
        self._regex_always: list[int] = []  # regex terms with no required literal: every post
        self._regex_by_literal: dict[str, list[int]] = {}
        self._literal_automaton: Any = None  # made on first use after a change
        self._phrases: dict[int, tuple[AtomIds, bool]] = {}  # phrase term -> (its atoms, tight)
        # phrases by their first two atoms: first atom -> second atom -> phrase terms
        self._phrases_by_start: dict[int, dict[int, list[int]]] = {}
        # term -> what its hit leads to: ids of its direct rules, indexes of the rules to evaluate
        self._direct_rules: list[list[int]] = []
        self._rules_to_check: list[list[int]] = []
        # atom -> its word terms' `_TermPlan`s, made on first use, dropped when one of them changes
        self._plans: list[tuple[_TermPlan, ...] | None] = []
        self._rules: list[_CompiledRule | None] = []  # None: removed
        self._rule_index: dict[int, int] = {}  # rule id -> index in `_rules`
        self._regex_rules_of: Counter[int] = Counter()  # subscriber -> their /regex/ rules here
        self._topics: dict[int, Topic] = {}  # topic term -> its embedded, calibrated phrase
        self._topic_rules: set[int] = set()  # indexes of the rules that hold a topic term
        # text word -> its WordHits (or NO_HITS); a generation holds cache_size words (at least 1,024)
        self._word_cache: Generations[WordHits | tuple[()]] = Generations(max(self.settings.cache_size, 1024))
        for rule in rules:
            self.add(rule)

    # ---- building ---------------------------------------------------------------------------------

    def add(self, rule: Rule) -> bool:
        """Compile one more rule (replacing one with the same id). False, with `errors[id]`, if unusable."""
        self.remove(rule.id)
        try:
            parsed = parse_rule(rule.source, max_length=self.settings.max_rule_length,
                                max_terms=self.settings.max_terms)
        except RuleError as exc:
            self.errors[rule.id] = str(exc)
            return False
        topics: dict[int, Topic] = {}
        if parsed.topic_count:
            try:
                topics = _embed_topics(parsed.terms)
            except RuleError as exc:  # the semantic extra is not installed
                self.errors[rule.id] = str(exc)
                return False
        if parsed.regex_count and not self._take_regex_quota(rule):
            return False
        self.errors.pop(rule.id, None)
        term_ids = [self._term_id(term) for term in parsed.terms]
        for n, found in topics.items():
            self._topics[term_ids[n]] = found
        expr = _renumber(parsed.expr, term_ids)
        shape, terms = _shape(expr)
        compiled = _CompiledRule(
            rule_id=rule.id, expr=expr, channels=_channel_scope(rule, parsed.channels),
            positive=tuple(sorted({term_ids[t] for t in parsed.positive_terms()})),
            subscriber_id=rule.subscriber_id, has_regex=parsed.regex_count > 0,
            shape=shape, terms=terms, needed=frozenset(terms),
        )
        index = len(self._rules)
        self._rules.append(compiled)
        self._rule_index[rule.id] = index
        if topics:  # evaluated by match_topics, once the post's vector is there
            self._topic_rules.add(index)
        elif shape == "one" and not compiled.channels:
            self._direct_rules[terms[0]].append(rule.id)
            self._forget_plan(terms[0])
        else:
            for term in _trigger_terms(expr, shape, terms):
                self._rules_to_check[term].append(index)
                self._forget_plan(term)
        return True

    def _take_regex_quota(self, rule: Rule) -> bool:
        """RE2 patterns cost memory and time on every post: a few per subscriber."""
        quota = RuleQuota.when_matching(self.settings)
        if not quota.allows_regex(self._regex_rules_of[rule.subscriber_id]):
            self.errors[rule.id] = f"over the quota of {quota.regex_rules} /pattern/ rules per subscriber"
            log.warning("rule %s skipped: over the regex quota of subscriber %s", rule.id, rule.subscriber_id)
            return False
        self._regex_rules_of[rule.subscriber_id] += 1
        return True

    def remove(self, rule_id: int) -> None:
        """Forget a rule (nothing when it is not here). Its terms stay: other rules may share them."""
        index = self._rule_index.pop(rule_id, None)
        if index is None:
            return
        compiled = self._rules[index]
        self._rules[index] = None  # the indexes listed in `_rules_to_check` now lead nowhere
        self._topic_rules.discard(index)
        if compiled is None:
            return
        if compiled.has_regex:
            self._regex_rules_of[compiled.subscriber_id] -= 1
        if compiled.shape == "one" and rule_id in self._direct_rules[compiled.terms[0]]:
            self._direct_rules[compiled.terms[0]].remove(rule_id)
            self._forget_plan(compiled.terms[0])

    def _term_id(self, term: Term) -> int:
        """The number of ``term``, registering it (and its atoms) when it is new."""
        key = term.key()
        tid = self._term_ids.get(key)
        if tid is not None:
            return tid
        tid = self._term_ids[key] = len(self._terms)
        self._terms.append(term)
        self._direct_rules.append([])
        self._rules_to_check.append([])
        if term.kind == "regex":
            self._add_regex_term(tid, term)
        elif term.kind == "topic":
            pass  # scored against the post's vector (`match_topics`), never looked up by word
        elif term.kind == "word":
            self._add_word_term(tid, self._atom_id(term.atoms[0]))
        else:
            self._add_phrase(tid, tuple(self._atom_id(atom) for atom in term.atoms), term.tight)
        return tid

    def _add_regex_term(self, tid: int, term: Term) -> None:
        assert term.regex is not None
        self._regex_terms.append(tid)
        literals = required_literals(term.regex.source)
        term.regex.warm_up(literals)
        if not literals:
            self._regex_always.append(tid)
            return
        for literal in literals:
            self._regex_by_literal.setdefault(literal, []).append(tid)
        self._literal_automaton = None

    def _regexes_for(self, folded: str) -> Iterable[int]:
        """The regex terms worth running on a post: those with no required literal, and those one
        of whose literals the post holds (one Aho-Corasick pass for all of them)."""
        if not self._regex_by_literal:
            return self._regex_always
        if exotic().search(folded) is not None:  # a character RE2 folds where lower() does not
            return self._regex_terms
        automaton = self._literal_automaton
        if automaton is None:
            import ahocorasick

            automaton = ahocorasick.Automaton(ahocorasick.STORE_ANY, ahocorasick.KEY_STRING)
            for literal in self._regex_by_literal:
                automaton.add_word(literal, literal)
            automaton.make_automaton()
            self._literal_automaton = automaton
        found = {literal for _, literal in automaton.iter(folded)}
        if not found:
            return self._regex_always
        by_literal = self._regex_by_literal
        return dict.fromkeys([*self._regex_always, *(tid for lit in found for tid in by_literal[lit])])

    def _add_word_term(self, tid: int, aid: int) -> None:
        word_terms = self._word_terms_of_atom[aid]
        if not word_terms:
            self._forget_words()  # cached words list this atom as a phrase word only
        word_terms.append(tid)
        self._atom_of_word_term[tid] = aid
        self._plans[aid] = None

    def _add_phrase(self, tid: int, atom_ids: AtomIds, tight: bool) -> None:
        if not self._phrase_atoms.issuperset(atom_ids):
            self._phrase_atoms.update(atom_ids)
            self._forget_words()  # cached words do not list these atoms as phrase words yet
        self._phrases[tid] = (atom_ids, tight)
        self._phrases_by_start.setdefault(atom_ids[0], {}).setdefault(atom_ids[1], []).append(tid)

    def _atom_id(self, atom: Atom) -> int:
        aid = self._atoms.get(atom)
        if aid is None:
            aid = self._atoms.add(atom)
            self._word_terms_of_atom.append([])
            self._plans.append(None)
            self._forget_words()  # cached words may satisfy the new atom
        return aid

    def _forget_plan(self, tid: int) -> None:
        aid = self._atom_of_word_term.get(tid)
        if aid is not None:
            self._plans[aid] = None

    def _forget_words(self) -> None:
        if self._word_cache:
            self._word_cache.clear()

    def warm_from(self, other: Matcher) -> int:
        """Look up now the words ``other`` has in recent use (its cache's young generation), so a
        matcher rebuilt after a rule change does not meet a channel's whole vocabulary cold. The
        pipeline calls it while building, off the event loop; ``other`` goes on serving meanwhile.
        Returns how many words were looked up (0 when ``other`` changed while read, or is not a
        `CompiledMatcher`)."""
        if not isinstance(other, CompiledMatcher):
            return 0
        try:
            words = list(other._word_cache.young)
        except RuntimeError:  # resized by the serving matcher while it was copied: start cold
            return 0
        for word in words:
            self._word_cache.get(word, self._look_up)
        return len(words)

    def assume_no_hits(self, words: Iterable[str]) -> None:
        """Cache ``words`` (folded) as in no rule without analysing them: for a caller that knows
        they cannot be (archive search highlighting a rule the index already answered exactly)."""
        for word in words:
            self._word_cache.put(word, NO_HITS)

    # ---- one word -----------------------------------------------------------------------------------

    def rule_ids(self) -> frozenset[int]:
        return frozenset(self._rule_index)

    def _hits_of(self, word: str) -> WordHits | tuple[()]:
        """A text word's `WordHits`, cached."""
        return self._word_cache.get(word, self._look_up)

    def _look_up(self, word: str) -> WordHits | tuple[()]:
        """A text word's `WordHits`, from its analysis (itself cached process-wide, morph.py)."""
        form, lemmas, probe = self._morph.analyse(word)
        if not self._atoms.may_hold(probe):
            return NO_HITS
        atoms = self._atoms.atoms_of(form, lemmas)
        word_atoms = tuple(a for a in atoms if self._word_terms_of_atom[a])
        phrase_atoms = tuple(a for a in atoms if a in self._phrase_atoms)
        return WordHits(word_atoms, phrase_atoms) if word_atoms or phrase_atoms else NO_HITS

    # ---- one post -----------------------------------------------------------------------------------

    def match(self, text: str, channel: str | None = None) -> list[RuleMatch]:
        if not text:
            return []
        return self.match_tokens(tokenize(text), channel)

    def match_tokens(self, toks: Tokens, channel: str | None = None) -> list[RuleMatch]:
        """`match` on a text already tokenised (ingestion shares one tokenisation with the index).
        Matches come sorted by rule id."""
        hits = self._word_cache.get_many(toks.words, self._look_up)
        positions, phrase_words = _positions(hits, with_phrases=bool(self._phrases_by_start))
        span_hits = self._span_hits(toks, phrase_words)
        if not positions and not span_hits:
            return []
        result: list[RuleMatch] = []
        spans_of: dict[int, tuple[Span, ...]] = {}  # every term hit -> its spans
        candidates: set[int] = set()  # indexes of the rules to evaluate
        self._report_word_terms(positions, toks, span_hits, result, spans_of, candidates)
        self._report_span_terms(span_hits, result, spans_of, candidates)
        if candidates:
            self._check_rules(candidates, spans_of, channel, result)
        result.sort()  # by rule id (each rule matches once)
        return result

    def _report_word_terms(
        self,
        positions: dict[int, list[int]],
        toks: Tokens,
        span_hits: dict[int, list[Span]],
        result: list[RuleMatch],
        spans_of: dict[int, tuple[Span, ...]],
        candidates: set[int],
    ) -> None:
        """For each atom hit (at these token ``positions``), each of its word terms: its spans
        (with those where it was found as a joined compound, taken out of ``span_hits``), a match
        for each of its direct rules, and its rules to evaluate, added to ``candidates``."""
        starts, ends = toks.starts, toks.ends
        for aid, where in positions.items():
            spans = tuple([(starts[i], ends[i]) for i in where])
            for tid, direct_rule_ids, rules_to_check in self._plan_of(aid):
                also = span_hits.pop(tid, None)
                term_spans = tuple(sorted({*spans, *also})) if also else spans
                spans_of[tid] = term_spans
                for rule_id in direct_rule_ids:
                    result.append(RuleMatch(rule_id, term_spans))
                candidates.update(rules_to_check)

    def _report_span_terms(
        self,
        span_hits: dict[int, list[Span]],
        result: list[RuleMatch],
        spans_of: dict[int, tuple[Span, ...]],
        candidates: set[int],
    ) -> None:
        """The same for the terms found only as spans: phrases, compounds, regexes."""
        for tid, spans in span_hits.items():
            term_spans = tuple(sorted(set(spans)))
            spans_of[tid] = term_spans
            for rule_id in self._direct_rules[tid]:
                result.append(RuleMatch(rule_id, term_spans))
            candidates.update(self._rules_to_check[tid])

    def _plan_of(self, aid: int) -> tuple[_TermPlan, ...]:
        """What a hit of atom ``aid`` leads to, one `_TermPlan` a word term (made once, then kept
        until a rule about one of its terms changes)."""
        plan = self._plans[aid]
        if plan is None:
            plan = self._plans[aid] = tuple(
                _TermPlan(tid, tuple(self._direct_rules[tid]), tuple(self._rules_to_check[tid]))
                for tid in self._word_terms_of_atom[aid]
            )
        return plan

    def _check_rules(
        self, candidates: set[int], spans_of: dict[int, tuple[Span, ...]], channel: str | None,
        result: list[RuleMatch],
    ) -> None:
        """Evaluate the candidate rules against the terms hit; a match highlights its terms' spans."""
        hit = spans_of.keys()
        channel_key = (channel or "").lower().lstrip("@")
        for index in candidates:
            rule = self._rules[index]
            if rule is None or (rule.channels and channel_key not in rule.channels):
                continue
            if not rule.matches(hit):
                continue
            found = rule.found_terms(hit)
            if len(found) == 1:
                highlights = spans_of[found[0]]
            else:
                highlights = tuple(sorted({span for tid in found for span in spans_of[tid]}))
            result.append(RuleMatch(rule.rule_id, highlights))

    # ---- topic rules ----------------------------------------------------------------------------------

    def has_topics(self) -> bool:
        """Whether some rule holds a topic term (then posts need their vectors: `match_topics`)."""
        return bool(self._topic_rules)

    def rule_topics(self, rule_id: int) -> list[tuple[Topic, float]]:
        """The topics a rule looks for (not under NOT), each with its strictness."""
        from bot.matching.topics import DEFAULT_CLOSENESS

        index = self._rule_index.get(rule_id)
        rule = self._rules[index] if index is not None else None
        if rule is None:
            return []
        return [(self._topics[tid], self._terms[tid].closeness or DEFAULT_CLOSENESS)
                for tid in rule.positive if tid in self._topics]

    def topic_closeness(self, vector: Any, text: str | None = None) -> dict[int, float]:
        """Topic term -> the post's closeness to it (0..1), for a post's vector (and its text: the
        scale of its language; without it, the scale of all languages)."""
        from bot.matching.topics import language

        lang = language(text) if text else None
        return {tid: float(found.closeness(vector, lang)) for tid, found in self._topics.items()}

    def match_topics(self, text: str, vector: Any, channel: str | None = None,
                     toks: Tokens | None = None) -> list[RuleMatch]:
        """The rules with a topic term that ``text`` (whose vector is ``vector``) matches: the
        keyword terms as `match_tokens` finds them, a topic term when the post's closeness reaches
        its strictness. A topic highlights the sentence closest to it. Sorted by rule id."""
        if not self._topic_rules or not text:
            return []
        from bot.matching.topics import DEFAULT_CLOSENESS, best_sentence

        toks = toks if toks is not None else tokenize(text)
        spans_of = self._term_spans(toks)
        close = self.topic_closeness(vector, text)
        topic_hits = {tid for tid, value in close.items()
                      if value >= (self._terms[tid].closeness or DEFAULT_CLOSENESS)}
        hit = spans_of.keys() | topic_hits
        channel_key = (channel or "").lower().lstrip("@")
        result: list[RuleMatch] = []
        sentence: tuple[int, int] | None = None
        for index in sorted(self._topic_rules):
            rule = self._rules[index]
            if rule is None or (rule.channels and channel_key not in rule.channels):
                continue
            if not evaluate(rule.expr, hit):  # `matches` assumes a candidate named by a term: not here
                continue
            found = [t for t in rule.positive if t in hit]
            spans = {span for tid in found for span in spans_of.get(tid, ())}
            if any(tid in topic_hits for tid in found):
                if sentence is None:
                    sentence = best_sentence(text, [self._topics[t] for t in found if t in topic_hits]) or (0, 0)
                if sentence != (0, 0):
                    spans.add(sentence)
            result.append(RuleMatch(rule.rule_id, tuple(sorted(spans))))
        result.sort()
        return result

    def match_all(self, text: str, channel: str | None = None, vector: Any = None) -> list[RuleMatch]:
        """Keyword rules and topic rules at once (the CLI, search): embeds ``text`` when a topic
        rule needs it and no ``vector`` is given."""
        if not text:
            return []
        toks = tokenize(text)
        result = self.match_tokens(toks, channel)
        if self._topic_rules:
            if vector is None:
                from bot.matching.topics import embedder

                vector = embedder().passages([text])[0]
            result = sorted(result + self.match_topics(text, vector, channel, toks))
        return result

    def _term_spans(self, toks: Tokens) -> dict[int, tuple[Span, ...]]:
        """Every keyword term found in the post, with its spans."""
        hits = self._word_cache.get_many(toks.words, self._look_up)
        positions, phrase_words = _positions(hits, with_phrases=bool(self._phrases_by_start))
        span_hits = self._span_hits(toks, phrase_words)
        spans_of: dict[int, tuple[Span, ...]] = {}
        self._report_word_terms(positions, toks, span_hits, [], spans_of, set())
        self._report_span_terms(span_hits, [], spans_of, set())
        return spans_of

    # ---- terms found as spans -----------------------------------------------------------------------

    def _span_hits(self, toks: Tokens, phrase_words: dict[int, AtomIds]) -> dict[int, list[Span]]:
        """The terms found as spans: phrases, hyphenated compounds written joined, regexes."""
        span_hits: dict[int, list[Span]] = {}
        if len(phrase_words) > 1:
            self._find_phrases(toks, phrase_words, span_hits)
        for joined, first, last in toks.compounds:
            joined_hits = self._hits_of(joined)
            for aid in joined_hits[0] if joined_hits else ():
                for tid in self._word_terms_of_atom[aid]:
                    span_hits.setdefault(tid, []).append((toks.starts[first], toks.ends[last]))
        for tid in self._regexes_for(toks.folded) if self._regex_terms else ():
            regex = self._terms[tid].regex
            assert regex is not None
            spans = list(regex.spans(toks.folded))
            if spans:
                span_hits[tid] = spans
        return span_hits

    def _find_phrases(self, toks: Tokens, phrase_words: dict[int, AtomIds], span_hits: dict[int, list[Span]]) -> None:
        """Phrases are filed by their first two atoms: only two adjacent tokens that are both
        phrase words can start one; the rest of the phrase is checked from there."""
        for i, first_atoms in phrase_words.items():
            second_atoms = phrase_words.get(i + 1)
            if second_atoms is None:
                continue
            for first in first_atoms:
                by_second = self._phrases_by_start.get(first)
                if by_second is None:
                    continue
                for second in second_atoms:
                    for tid in by_second.get(second, ()):
                        last = self._phrase_end(tid, i, toks, phrase_words)
                        if last is not None:
                            span_hits.setdefault(tid, []).append((toks.starts[i], toks.ends[last]))

    def _phrase_end(self, tid: int, i: int, toks: Tokens, phrase_words: dict[int, AtomIds]) -> int | None:
        """The last token of phrase ``tid`` when, its first two atoms being at tokens i and i + 1,
        it is all there: its other atoms at the next tokens, only the gaps a phrase allows."""
        atom_ids, tight = self._phrases[tid]
        last = i + len(atom_ids) - 1
        for k in range(2, len(atom_ids)):
            if atom_ids[k] not in phrase_words.get(i + k, ()):
                return None
        gaps_ok = all(phrase_gap_ok(toks.folded, toks.ends[j], toks.starts[j + 1], tight=tight) for j in range(i, last))
        return last if gaps_ok else None


def _positions(hits: list[WordHits | tuple[()]], *, with_phrases: bool) -> tuple[dict[int, list[int]], dict[int, AtomIds]]:
    """From the post's words: atom -> the tokens where it was hit (in order), and token -> its
    phrase atoms for the tokens that are phrase words (only when some rule has a phrase)."""
    positions: dict[int, list[int]] = {}
    phrase_words: dict[int, AtomIds] = {}
    for i, word in enumerate(hits):
        if not word:  # in no rule: most words
            continue
        word_atoms, phrase_atoms = word
        for aid in word_atoms:
            where = positions.get(aid)
            if where is None:
                positions[aid] = [i]
            else:
                where.append(i)
        if with_phrases and phrase_atoms:
            phrase_words[i] = phrase_atoms
    return positions, phrase_words


def _embed_topics(terms: Sequence[Term]) -> dict[int, Topic]:
    """The rule's topic terms (by their index in the rule), embedded and calibrated."""
    from bot.matching.topics import topic

    return {n: topic(term.text) for n, term in enumerate(terms) if term.kind == "topic"}


def compile_rules(rules: Iterable[Rule], *, settings: MatchingSettings | None = None) -> CompiledMatcher:
    """The MatcherFactory the pipeline uses: every rule compiled into one matcher."""
    return CompiledMatcher(rules, settings=settings)
