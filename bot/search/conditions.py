"""Index queries built from rules: what a post's ``lemma_text`` must contain to be able to match.

A rule becomes a necessary condition over the index keys (bot/matching/index.py): a post that can
match the rule always passes it; the real matcher then confirms the candidates. The condition is
written as an FTS5 MATCH query (SQLite) or a tsquery (PostgreSQL). A rule's required phrases also
become their words in a row: on PostgreSQL `phrase_tsquery`, over the posts' keys by position; on
SQLite `fts5_pairs`, over the posts' pairs of adjacent words' keys.
"""

from __future__ import annotations

import itertools

from bot.matching.index import PAIRS_KNOWN, pair_token, ts_lexeme
from bot.matching.index import index_key as _key
from bot.matching.rules import Atom, Expr, ParsedRule, Term
from bot.search.forms import required_phrases

# A condition: None (anything passes) | ("key", k) | ("prefix", p) | ("and"|"or", (cond, ...))
# | ("andnot", cond, excluded cond)
Cond = tuple | None


def _atom_cond(atom: Atom) -> Cond:
    if atom.kind == "prefix":
        return ("prefix", _key(atom.keys[0]))
    keys = [k for k in dict.fromkeys(_key(k) for k in atom.keys) if k]
    if not keys:
        return None
    return ("key", keys[0]) if len(keys) == 1 else ("or", tuple(("key", k) for k in keys))


def _term_cond(term: Term) -> Cond:
    if term.kind in ("regex", "topic"):  # a topic is found through the vector index, not this one
        return None
    return _combine("and", [_atom_cond(a) for a in term.atoms])


def _combine(kind: str, parts: list[Cond]) -> Cond:
    kept: list[Cond]
    if kind == "and":
        kept = [p for p in parts if p is not None]
        if not kept:
            return None
    else:
        if any(p is None for p in parts):
            return None
        kept = parts
    return kept[0] if len(kept) == 1 else (kind, tuple(kept))


def _plain(rule: ParsedRule, e: Expr) -> bool:
    """Words (lemmas) combined with AND/OR: the index answers exactly whether a post has them."""
    if e[0] == "term":
        term = rule.terms[e[1]]
        return term.kind == "word" and term.atoms[0].kind == "lemma"
    if e[0] == "not":
        return False
    return all(_plain(rule, c) for c in e[1])


def condition(rule: ParsedRule) -> Cond:
    """What a post must contain to be able to match ``rule`` (None: no constraint). Exclusions of
    plain words become NOT in the index query: `батальон -учения` reads no post about учения."""

    def walk(e: Expr) -> Cond:
        if e[0] == "term":
            return _term_cond(rule.terms[e[1]])
        if e[0] == "not":
            return None
        if e[0] == "and":
            positive = _combine("and", [walk(c) for c in e[1] if c[0] != "not"])
            excluded = [walk(c[1]) for c in e[1] if c[0] == "not" and _plain(rule, c[1])]
            kept: list[Cond] = [c for c in excluded if c is not None]
            if positive is not None and kept:
                return ("andnot", positive, _combine("or", kept))
            return positive
        return _combine(e[0], [walk(c) for c in e[1]])

    return walk(rule.expr)


def exact_by_index(rule: ParsedRule) -> bool:
    """True when the index condition is the rule itself: words (lemmas) with AND, OR and
    exclusions of words, so the index can count the matches without reading any post."""

    def walk(e: Expr) -> bool:
        if e[0] == "and" and any(c[0] == "not" for c in e[1]):
            kept = [c for c in e[1] if c[0] != "not"]
            return bool(kept) and all(walk(c) for c in kept) and all(
                _plain(rule, c[1]) for c in e[1] if c[0] == "not"
            )
        return _plain(rule, e) or (e[0] in ("and", "or") and all(walk(c) for c in e[1]))

    return walk(rule.expr)


def fts5_query(cond: Cond) -> str:
    assert cond is not None
    kind = cond[0]
    if kind == "key":
        return f'"{cond[1]}"'
    if kind == "prefix":
        return f'"{cond[1]}"*'
    if kind == "andnot":
        return f"({fts5_query(cond[1])} NOT {fts5_query(cond[2])})"
    joiner = " AND " if kind == "and" else " OR "
    return "(" + joiner.join(fts5_query(c) for c in cond[1]) + ")"


def tsquery(cond: Cond) -> str:
    assert cond is not None
    kind = cond[0]
    if kind == "key":
        return f"'{cond[1]}'"
    if kind == "prefix":
        return f"'{cond[1]}':*"
    if kind == "andnot":
        return f"({tsquery(cond[1])} & !{tsquery(cond[2])})"
    joiner = " & " if kind == "and" else " | "
    return "(" + joiner.join(tsquery(c) for c in cond[1]) + ")"


def phrase_tsquery(rule: ParsedRule) -> str | None:
    """The phrases every match of ``rule`` contains, each word a key (or keys, or a prefix) at the
    position after the last one's, as a tsquery literal over ``posts.phrase_tsv`` (no parsing: the
    lexemes are the keys, as `phrase_vector` writes them); None when the rule requires no phrase.
    Like `condition`, it is necessary, not sufficient: the matcher still confirms (and checks what
    may stand between the words)."""
    parts = []
    for atoms in required_phrases(rule):
        words = [_atom_cond(atom) for atom in atoms]
        if all(word is not None for word in words):
            parts.append(" <-> ".join(_positioned(word) for word in words))
    return " & ".join(f"({part})" for part in parts) if parts else None


def _positioned(cond: Cond) -> str:
    assert cond is not None
    if cond[0] == "key":
        return ts_lexeme(cond[1])
    if cond[0] == "prefix":
        return ts_lexeme(cond[1]) + ":*"
    return "(" + " | ".join(_positioned(c) for c in cond[1]) + ")"


def fts5_pairs(rule: ParsedRule) -> str | None:
    """The pairs of adjacent words every match of ``rule`` contains, as an FTS5 query over the posts'
    pair tokens (bot/matching/index.py `phrase_pairs`): for each two adjacent words of a required
    phrase, one of the tokens of a key of the first with a key of the second. None when the rule
    requires no phrase or no pair can be asked (a prefix stands on either side). Necessary, not
    sufficient: a phrase of three words holds both its pairs, not always in one place."""
    pairs: dict[str, None] = {}
    for atoms in required_phrases(rule):
        words = [_atom_cond(atom) for atom in atoms]
        for first, second in itertools.pairwise(words):
            a, b = _keys(first), _keys(second)
            if a and b:
                tokens = sorted({pair_token(x, y) for x in a for y in b})
                pairs["(" + " OR ".join(f'"{t}"' for t in tokens) + ")"] = None
    return " AND ".join(pairs) if pairs else None


def with_pairs(words: str, pairs: str | None, *, unpaired: bool = True) -> str:
    """An FTS5 query for the posts that hold ``words`` and, when their pairs are known, ``pairs``;
    ``unpaired`` False: every post with keys has its pairs (the part for the others is left out)."""
    if pairs is None:
        return words
    if not unpaired:
        return f"{words} AND {pairs}"
    return f'({words} AND {pairs}) OR ({words} NOT "{PAIRS_KNOWN}")'


def _keys(cond: Cond) -> list[str]:
    """A phrase word's keys (one of which a post's word carries), or [] for a prefix or no key."""
    if cond is None or cond[0] == "prefix":
        return []
    if cond[0] == "key":
        return [cond[1]]
    return [c[1] for c in cond[1]]
