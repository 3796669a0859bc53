"""What surface forms a rule's words can take, for archive search to skip the matcher where it can.

The matcher analyses every word of a candidate post (pymorphy3, about 40 µs a word it has not met);
a phrase whose words each occur often but seldom side by side has thousands of candidates that
the full-text index (which keeps no positions) cannot tell apart. `PhraseGate` rejects most of them
from the folded words alone: a word can be a phrase word only if it is one of the lemma's
dictionary forms, or a word neither dictionary knows (whose lemma pymorphy3 guesses, so it must
be analysed). A dictionary word's lemmas are the normal forms of its own paradigms, and every
form of a paradigm is in the lexeme of its normal form: a known word outside those forms cannot
carry the lemma. The gate never rejects a post the matcher would accept; it only spares the
matcher the posts where the phrase's words never stand in a row.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import compress
from operator import itemgetter, ne

from bot.matching.generations import Generations
from bot.matching.index import MAX_INDEX_BYTES, MAX_INDEX_TEXT
from bot.matching.morph import morphology
from bot.matching.rules import Atom, Expr, ParsedRule
from bot.matching.text import canonical, has_marks, is_cyrillic


def lemma_forms(key: str) -> frozenset[str]:
    """Every dictionary form of the lexemes whose normal form is ``key`` (both dictionaries,
    ё written е), and ``key`` itself."""
    forms = {key}
    for analyzer in morphology().analyzers():
        for parse in analyzer.parse(key):
            if parse.normal_form.replace("ё", "е") == key:
                forms.update(f.word.replace("ё", "е") for f in parse.lexeme)
    return frozenset(forms)


def rule_forms(rule: ParsedRule) -> frozenset[str] | None:
    """Every surface form the rule's words can take, or None when a word has forms no dictionary
    lists (an English stem, an exact form, a prefix)."""
    forms: set[str] = set()
    for term in rule.terms:
        for atom in term.atoms:
            if atom.kind != "lemma" or any(key.isascii() for key in atom.keys):
                return None
            for key in atom.keys:
                forms |= lemma_forms(key)
    return frozenset(forms)


@dataclass(frozen=True, slots=True)
class _Slot:
    """One phrase word: what a text word must be to stand in its place."""

    kind: str  # "lemma" | "ascii" (an English stem: any ASCII word may carry it) | "exact" | "prefix"
    forms: frozenset[str] = frozenset()  # lemma: the dictionary forms; exact: the form
    prefix: str = ""


def _slot(atom: Atom) -> _Slot:
    if atom.kind == "exact":
        return _Slot("exact", frozenset(atom.keys))
    if atom.kind == "prefix":
        return _Slot("prefix", prefix=atom.keys[0])
    if any(key.isascii() for key in atom.keys):
        return _Slot("ascii")
    return _Slot("lemma", frozenset().union(*(lemma_forms(key) for key in atom.keys)))


def required_phrases(rule: ParsedRule) -> list[tuple[Atom, ...]]:
    """The phrases every post that matches ``rule`` contains (those joined by AND at the top,
    not under OR or NOT)."""

    def walk(e: Expr) -> list[tuple[Atom, ...]]:
        if e[0] == "term":
            term = rule.terms[e[1]]
            return [term.atoms] if term.kind == "phrase" and len(term.atoms) > 1 else []
        if e[0] == "and":
            return [p for c in e[1] if c[0] != "not" for p in walk(c)]
        return []

    return walk(rule.expr)


# folded text word -> (its canonical form, whether its lemmas are guesses: Cyrillic, in no dictionary)
_WORDS: Generations[tuple[str, bool]] = Generations(1 << 17)


def _word(word: str) -> tuple[str, bool]:
    form = canonical(word)
    return form, is_cyrillic(form) and not morphology().knows(form)


class PhraseGate:
    """Whether a post's words can hold every required phrase of a rule (module doc)."""

    def __init__(self, phrases: list[tuple[_Slot, ...]]) -> None:
        self.phrases = phrases
        # each phrase as a pattern over the folded text, when every word of it is a lemma of Cyrillic
        # forms (`may_match_text`)
        patterns = [_pattern(slots) for slots in phrases]
        self._patterns = [p for p in patterns if p is not None] if all(patterns) else []

    @classmethod
    def of(cls, rule: ParsedRule) -> PhraseGate | None:
        phrases = [tuple(_slot(a) for a in atoms) for atoms in required_phrases(rule)]
        return cls(phrases) if phrases else None

    def may_match_text(self, folded: str, keys: str | None) -> bool | None:
        """`may_match` without tokenising, from the folded text and the post's index keys (its
        ``lemma_text``, None while it waits for the indexer); None when it cannot tell.

        It can tell when every token of the post is its own canonical form (no stress marks, no
        Latin letter inside a Cyrillic word, no apostrophe) and a dictionary word: a token's own
        form is one of its index keys, so a word no dictionary knows would be a key no dictionary
        knows that stands in the text as a token. Then a token stands for a phrase word exactly
        when it is one of its forms, and tokens are maximal runs of letters and digits: two
        adjacent tokens are one form, only non-word characters, the next form, which one regular
        expression over the text finds."""
        if (not self._patterns or keys is None or len(keys) > _KEYS_WHOLE or len(folded) > MAX_INDEX_TEXT
                or "'" in folded or has_marks(folded)
                or (_LATIN.search(folded) is not None and _MIXED.search(folded) is not None)):
            return None
        for key in set(keys.split(" ")) - _PLAIN:
            if key not in _GUESSED:
                if _plain_key(key):
                    if len(_PLAIN) >= _PLAIN_LIMIT:
                        _PLAIN.clear()
                    _PLAIN.add(key)
                    continue
                if len(_GUESSED) >= _PLAIN_LIMIT:
                    _GUESSED.clear()
                _GUESSED.add(key)
            if re.search(r"(?<![^\W_])" + re.escape(key) + r"(?![^\W_])", folded):
                return None  # a word no dictionary knows: its lemmas are guesses
        return all(_found(pattern, folded) for pattern in self._patterns)

    def may_match(self, words: Sequence[str]) -> bool:
        """False when some required phrase cannot stand anywhere in ``words`` (a tokenised post's
        folded words): the matcher would not find it. Set operations and C-level maps: a post's
        hundreds of words cost no Python step each."""
        distinct = list(set(words))
        infos = _WORDS.get_many(distinct, _word)
        forms = list(map(itemgetter(0), infos))
        post = _Post(set(distinct), set(compress(distinct, map(itemgetter(1), infos))),
                     dict(compress(zip(distinct, forms, strict=True), map(ne, forms, distinct))))
        for slots in self.phrases:
            fits = [post.fitting(slot) for slot in slots]
            if not all(fits):
                return False
            starts = compress(range(len(words) - len(slots) + 1), map(fits[0].__contains__, words))
            if not any(all(words[i + k] in fits[k] for k in range(1, len(slots))) for i in starts):
                return False
        return True


# `may_match_text`: a post's keys are whole (not cut at MAX_INDEX_BYTES) when they are this short
_KEYS_WHOLE = MAX_INDEX_BYTES // 8
_LATIN = re.compile(r"[a-z]")
# a token with a Latin letter and a Cyrillic one (`canonical` folds its look-alike letters): at each
# token's start, both looked for within the token
_MIXED = re.compile(r"(?<![^\W_])(?=[^\W_]*[a-z])(?=[^\W_]*[\u0400-\u04ff])")
# index keys that are not Cyrillic or that a dictionary knows (a set: a post's keys are checked in one
# set difference)
_PLAIN: set[str] = set()
# the other index keys met so far: Cyrillic, in no dictionary (asking the dictionaries again costs
# more than the rest of the check: a phrase's search over 4,000 candidates of made-up words, 0.6 s)
_GUESSED: set[str] = set()
_PLAIN_LIMIT = 1 << 17  # about 10 MB of keys at most, each set


def _plain_key(key: str) -> bool:
    return not is_cyrillic(key) or morphology().knows(key)


def _pattern(slots: tuple[_Slot, ...]) -> re.Pattern[str] | None:
    """A phrase's words as forms in a row with only non-word characters between, each a whole
    token; None unless every word is a lemma whose forms are all Cyrillic."""
    if any(slot.kind != "lemma" or not all(map(is_cyrillic, slot.forms)) for slot in slots):
        return None
    words = [_alternatives(sorted(slot.forms)) for slot in slots]
    # no look back before the first word (`_found` checks it): a pattern that begins with letters
    # lets the engine skip ahead to them
    return re.compile(r"[\W_]+".join(words) + r"(?![^\W_])")


def _found(pattern: re.Pattern[str], folded: str) -> bool:
    """Whether ``pattern`` matches in ``folded`` where a token begins (not after a letter or digit)."""
    at = 0
    while (match := pattern.search(folded, at)) is not None:
        start = match.start()
        if start == 0 or not folded[start - 1].isalnum():
            return True
        at = start + 1
    return False


def _alternatives(forms: Sequence[str]) -> str:
    """A pattern matching any of ``forms`` (sorted), as a tree of their shared beginnings: the
    engine tries one letter at a place in the text, not each form."""
    if forms == [""]:
        return ""
    groups: dict[str, list[str]] = {}
    ends = False
    for form in forms:
        if form:
            groups.setdefault(form[0], []).append(form[1:])
        else:
            ends = True
    branches = [re.escape(head) + _alternatives(rest) for head, rest in groups.items()]
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    return f"(?:{body})?" if ends else body


@dataclass(frozen=True, slots=True)
class _Post:
    """A post's distinct folded words, those whose lemmas are guesses (Cyrillic, in no dictionary),
    and the canonical form of those it differs from."""

    words: set[str]
    guessed: set[str]
    canonical: dict[str, str]

    def fitting(self, slot: _Slot) -> set[str]:
        """The words that may stand for ``slot``; only the matcher can say they do."""
        if slot.kind == "lemma":
            # a dictionary word outside the lexeme cannot carry the lemma; a word no dictionary
            # knows gets a guessed lemma (and itself), which only the matcher can tell
            return (self.words & slot.forms) | self.guessed | {
                w for w, form in self.canonical.items() if form in slot.forms}
        if slot.kind == "exact":
            return {w for w in self.words if self.canonical.get(w, w) in slot.forms}
        if slot.kind == "ascii":
            return {w for w in self.words if self.canonical.get(w, w).isascii()}
        return {w for w in self.words if self.canonical.get(w, w).startswith(slot.prefix)}
