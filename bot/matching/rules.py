"""The rule language: a small query language a non-programmer types in the bot.

    батальон                  every form of the word (батальона, батальонов, ...)
    обстрел Белгород          both words (AND)
    "территориальная оборона" the words in this order, each in any form, across line breaks
    shelling OR обстрел       either (also ИЛИ, АБО, |)
    батальон -учения          not if the post has any form of учения (also NOT, НЕ, !)
    (a OR b) c                parentheses
    оборон*                   words starting with оборон
    =Белгород                 exactly this form (no morphology)
    /батальон\\w*/             an RE2 pattern
    in:@vvgladkov             only posts of these channels (in:@a,@b)
    self-defense              one term: "self-defense", "self defense" or "selfdefense"
    ~"удар по энергосистеме"  a topic: posts close in meaning, in any language (also ~'...', ~«...»;
                              ~0.7"..." is stricter, ~0.3"..." looser; bot/matching/topics.py)
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Container
from dataclasses import dataclass

from bot.matching.errors import RuleError
from bot.matching.morph import morphology
from bot.matching.regex import (
    BadCharacterError,
    Regex,
    bad_character,
    check_cost,
    check_literals,
    compile_regex,
)
from bot.matching.text import PREFIX_HEAD, canonical, rule_words

# ---- what a rule compiles to ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Atom:
    """One word position: kind "lemma" (keys = its lemmas), "exact" (keys = (form,)), "prefix"."""

    kind: str
    keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Term:
    """A thing a post contains or not: one word, a phrase (atoms in order), or a regex."""

    kind: str  # "word" | "phrase" | "regex" | "topic"
    atoms: tuple[Atom, ...] = ()
    tight: bool = False  # a hyphenated word's parts: only spaces or hyphens between them
    regex: Regex | None = None
    text: str = ""  # as written, for messages; a topic's phrase
    closeness: float | None = None  # a topic's strictness (None: topics.DEFAULT_CLOSENESS)

    def key(self) -> tuple[object, ...]:
        if self.kind == "topic":
            return (self.kind, self.text, self.closeness)
        return (self.kind, self.atoms, self.tight, self.regex.source if self.regex else None)


# Expressions: ("term", index) | ("and", (e, ...)) | ("or", (e, ...)) | ("not", e)
Expr = tuple


@dataclass(frozen=True, slots=True)
class ParsedRule:
    source: str
    expr: Expr
    terms: tuple[Term, ...]
    channels: tuple[str, ...] = ()  # from in:@...
    positive: frozenset[int] = frozenset()

    @property
    def regex_count(self) -> int:
        return sum(1 for t in self.terms if t.kind == "regex")

    @property
    def topic_count(self) -> int:
        return sum(1 for t in self.terms if t.kind == "topic")

    def positive_terms(self) -> frozenset[int]:
        """Terms whose presence helps the rule match (not under NOT): what highlights show."""
        return self.positive


def _positive(expr: Expr) -> frozenset[int]:
    found: set[int] = set()

    def walk(e: Expr, positive: bool) -> None:
        if e[0] == "term":
            if positive:
                found.add(e[1])
        elif e[0] == "not":
            walk(e[1], not positive)
        else:
            for child in e[1]:
                walk(child, positive)

    walk(expr, True)
    return frozenset(found)


def evaluate(expr: Expr, hit: Container[int]) -> bool:
    kind = expr[0]
    if kind == "term":
        return expr[1] in hit
    if kind == "and":
        return all(evaluate(e, hit) for e in expr[1])
    if kind == "or":
        return any(evaluate(e, hit) for e in expr[1])
    return not evaluate(expr[1], hit)


# ---- lexing -----------------------------------------------------------------------------------

_OR = {"or", "или", "або", "|", "||"}
_AND = {"and", "и", "і", "&", "&&"}
_NOT = {"not", "не", "ні", "!"}
_QUOTES = {'"': '"', "«": "»", "“": "”", "„": "“"}
_STOP = set("()~") | set(_QUOTES) | {"»", "”"}
_TOPIC = re.compile(r"~(\d*(?:[.,]\d+)?)\s*([\"'«“„])")
_CHANNEL = re.compile(r"(?:https?://)?(?:t\.me/|telegram\.me/)?@?([a-z0-9_]{3,64})/?")
_MAX_DEPTH = 12
_MIN_PREFIX = PREFIX_HEAD


@dataclass(slots=True)
class _Tok:
    kind: str  # "(" ")" "or" "and" "not" "term" "scope"
    col: int
    text: str = ""
    value: object = None


class _Parser:
    def __init__(self, source: str, max_terms: int) -> None:
        self.source = source
        self.max_terms = max_terms
        self.terms: list[Term] = []
        self.index: dict[tuple[object, ...], int] = {}
        self.channels: list[str] = []
        self.atoms = 0
        # a rule that is one operator word alone (`и`, `или`, `не`, `and`, `or`, `not`) is that word:
        # nothing else can be meant, and a subscriber who watches it wants the word
        lone = source.strip().lower()
        self.lone_word = lone.isalpha() and lone in _OR | _AND | _NOT
        self.toks = self._lex()
        self.pos = 0

    # -- lexer
    def _lex(self) -> list[_Tok]:
        s, toks, i = self.source, [], 0
        while i < len(s):
            ch = s[i]
            if ch.isspace():
                i += 1
            elif ch in "()":
                toks.append(_Tok(ch, i + 1))
                i += 1
            elif ch in _QUOTES:
                close = s.find(_QUOTES[ch], i + 1)
                if close < 0:
                    raise RuleError(f"the phrase opened with {ch} is not closed", column=i + 1,
                                    example='"территориальная оборона"', code="phrase_unclosed", quote=ch)
                toks.append(self._phrase(s[i + 1 : close], i + 1))
                i = close + 1
            elif ch == "~":
                i = self._topic(s, i, toks)
            elif ch in "-!" and s[i + 1 : i + 2] and s[i + 1] in "(/~" + "".join(_QUOTES):
                toks.append(_Tok("not", i + 1, ch))
                i += 1
            elif ch in "»”":
                raise RuleError(f"{ch} closes a phrase that was never opened", column=i + 1,
                                example="«территориальная оборона»", code="phrase_unopened", quote=ch)
            elif ch == "/" and (i == 0 or s[i - 1].isspace() or s[i - 1] in "(-!"):
                end = i + 1
                while end < len(s) and s[end] != "/":
                    end += 2 if s[end] == "\\" else 1
                if end >= len(s):
                    raise RuleError("the /pattern/ has no closing /", column=i + 1, example="/батальон\\w*/",
                                    code="regex_unclosed")
                regex = compile_regex(s[i + 1 : end], i + 2)
                toks.append(_Tok("term", i + 1, s[i : end + 1], self._term(Term("regex", regex=regex, text=s[i : end + 1]), i + 1)))
                i = end + 1
            else:
                end = i
                while end < len(s) and not s[end].isspace() and s[end] not in _STOP:
                    end += 1
                toks.extend(self._chunk(s[i:end], i + 1))
                i = end
        return toks

    def _topic(self, s: str, i: int, toks: list[_Tok]) -> int:
        """``~"phrase"``, ``~'phrase'``, ``~«phrase»``, with an optional closeness: ``~0.7"..."``.
        Appends the term's token; returns where the lexer goes on."""
        found = _TOPIC.match(s, i)
        example = '~"удар по энергосистеме"'
        if found is None:
            raise RuleError("~ starts a topic and needs a phrase in quotes after it", column=i + 1, example=example)
        quote = found.group(2)
        close = s.find("'" if quote == "'" else _QUOTES[quote], found.end())
        if close < 0:
            raise RuleError(f"the topic opened with {quote} is not closed", column=found.start(2) + 1, example=example)
        phrase = " ".join(s[found.end() : close].split())
        if not any(c.isalnum() for c in phrase):
            raise RuleError("the topic has no words", column=i + 1, example=example)
        closeness = None
        if found.group(1):
            try:
                closeness = float(found.group(1).replace(",", "."))
            except ValueError:
                closeness = -1.0
            from bot.matching.topics import MAX_CLOSENESS, MIN_CLOSENESS

            if not MIN_CLOSENESS <= closeness <= MAX_CLOSENESS:
                raise RuleError(f"a topic's strictness is a number from {MIN_CLOSENESS} to {MAX_CLOSENESS}",
                                column=i + 2, example='~0.6"удар по энергосистеме"')
        from bot.matching.topics import SemanticUnavailable, available

        if not available():
            raise SemanticUnavailable(column=i + 1)
        written = s[i : close + 1]
        term = self._term(Term("topic", text=phrase, closeness=closeness), i + 1)
        toks.append(_Tok("term", i + 1, written, term))
        return close + 1

    def _chunk(self, chunk: str, col: int) -> list[_Tok]:
        low = chunk.lower()
        if self.lone_word:
            pass
        elif low in _OR:
            return [_Tok("or", col, chunk)]
        elif low in _AND:
            return [_Tok("and", col, chunk)]
        elif low in _NOT:
            return [_Tok("not", col, chunk)]
        if low.startswith("in:"):
            self._scope(chunk[3:], col)
            return [_Tok("scope", col, chunk)]
        out: list[_Tok] = []
        if chunk[:1] in "-!" and len(chunk) > 1:
            out.append(_Tok("not", col, chunk[0]))
            chunk, col = chunk[1:], col + 1
        exact = chunk.startswith("=")
        if exact:
            chunk, col = chunk[1:], col + 1
        prefix = chunk.endswith("*")
        body = chunk.rstrip("*")
        words = rule_words(body)
        if not words:
            if exact or prefix:
                raise RuleError(f"{'=' if exact else '*'} needs a word", column=col,
                                example="=Белгород" if exact else "оборон*", code="needs_word",
                                op="=" if exact else "*")
            return [] if not out else self._drop_not(out)
        for n, parts in enumerate(words):
            last = n == len(words) - 1
            term = self._word_term(parts, exact=exact, prefix=prefix and last, col=col, written=chunk)
            out.append(_Tok("term", col, chunk, term))
        return out

    @staticmethod
    def _drop_not(out: list[_Tok]) -> list[_Tok]:
        return []  # "-🔥": emoji are ignored everywhere, so is their exclusion

    def _phrase(self, inner: str, col: int) -> _Tok:
        # slots: one atom per plain word; a hyphenated word is (its parts, or the parts joined)
        slots: list[list[tuple[Atom, ...]]] = []
        for chunk_match in re.finditer(r"\S+", inner):
            chunk = chunk_match.group()
            exact = chunk.startswith("=")
            prefix = chunk.endswith("*")
            at = col + 1 + chunk_match.start()
            words = rule_words(chunk.lstrip("=").rstrip("*"))
            for n, parts in enumerate(words):
                last = n == len(words) - 1
                split = tuple(
                    self._atom(p, exact=exact, prefix=prefix and last and k == len(parts) - 1, col=at)
                    for k, p in enumerate(parts)
                )
                if len(parts) == 1:
                    slots.append([split])
                    continue
                joined = self._atom("".join(parts), exact=exact, prefix=prefix and last, col=at)
                self.atoms -= 1  # the joined form is the same word
                slots.append([split, (joined,)])
        if not slots:
            raise RuleError("the phrase has no words", column=col, example='"территориальная оборона"',
                            code="phrase_empty")
        if sum(len(options) > 1 for options in slots) > 3:
            raise RuleError("a phrase may hold at most 3 hyphenated words", column=col,
                            example='"self-defense units"', code="phrase_hyphens", limit=3)
        text = inner.strip()
        variants = []
        for choice in itertools.product(*slots):
            atoms = tuple(atom for group in choice for atom in group)
            kind = "word" if len(atoms) == 1 else "phrase"
            variants.append(self._term(Term(kind, atoms=atoms, text=text), col))
        expr = variants[0] if len(variants) == 1 else ("or", tuple(variants))
        return _Tok("term", col, text, expr)

    def _atom(self, word: str, *, exact: bool, prefix: bool, col: int) -> Atom:
        self.atoms += 1
        if self.atoms > self.max_terms:
            raise RuleError(f"the rule has more than {self.max_terms} words; split it into several rules",
                            column=col, example="батальон OR обстрел", code="too_many_words",
                            limit=self.max_terms)
        form = canonical(word)
        if prefix:
            if len(form) < _MIN_PREFIX:
                raise RuleError(f"the prefix {word}* is too short; give at least {_MIN_PREFIX} letters",
                                column=col, example="оборон*", code="prefix_short", prefix=word,
                                limit=_MIN_PREFIX)
            return Atom("prefix", (form,))
        if exact:
            return Atom("exact", (form,))
        return Atom("lemma", morphology().rule_lemmas(form))

    def _word_term(self, parts: list[str], *, exact: bool, prefix: bool, col: int, written: str) -> object:
        if len(parts) == 1:
            atom = self._atom(parts[0], exact=exact, prefix=prefix, col=col)
            return self._term(Term("word", atoms=(atom,), text=written), col)
        # a hyphenated word is one term: its parts in order with only a hyphen or space between,
        # or the parts written together
        atoms = tuple(
            self._atom(p, exact=exact, prefix=prefix and k == len(parts) - 1, col=col) for k, p in enumerate(parts)
        )
        joined = self._atom("".join(parts), exact=exact, prefix=prefix, col=col)
        self.atoms -= 1  # the joined form is the same word, not another one
        together = self._term(Term("phrase", atoms=atoms, tight=True, text=written), col)
        apart = self._term(Term("word", atoms=(joined,), text=written), col)
        return ("or", (together, apart))

    def _term(self, term: Term, col: int) -> object:
        key = term.key()
        if key not in self.index:
            self.index[key] = len(self.terms)
            self.terms.append(term)
        return ("term", self.index[key])

    def _scope(self, value: str, col: int) -> None:
        names = [v for v in value.split(",") if v]
        if not names:
            raise RuleError("in: needs a channel", column=col, example="обстрел in:@vvgladkov", code="in_empty")
        for name in names:
            found = _CHANNEL.fullmatch(name.lower())
            if not found:
                raise RuleError(f"{name!r} is not a channel username", column=col,
                                example="обстрел in:@vvgladkov,@bbcrussian", code="in_bad_channel", name=name)
            self.channels.append(found.group(1))

    # -- parser (recursive descent over the tokens; scope tokens are skipped)
    def parse(self) -> Expr:
        self.toks = [t for t in self.toks if t.kind != "scope"]
        if not self.toks:
            if self.channels:
                raise RuleError("the rule names channels but no words to look for", column=None,
                                example="обстрел in:@vvgladkov", code="channels_only")
            raise RuleError("the rule has no words (only punctuation or emoji)", column=None, example="обстрел",
                            code="no_words")
        expr = self._or(0)
        if self.pos < len(self.toks):
            tok = self.toks[self.pos]
            raise RuleError(f"unexpected {tok.text or tok.kind!r}", column=tok.col, example="(батальон OR рота) Белгород",
                            code="unexpected", token=tok.text or tok.kind)
        return expr

    def _peek(self) -> _Tok | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def _or(self, depth: int) -> Expr:
        parts = [self._and(depth)]
        while (tok := self._peek()) is not None and tok.kind == "or":
            self.pos += 1
            if self._peek() is None or self._peek().kind in ("or", "and", ")"):  # type: ignore[union-attr]
                raise RuleError(f"{tok.text} needs a word on both sides", column=tok.col, example="обстрел OR shelling",
                                code="both_sides", op=tok.text)
            parts.append(self._and(depth))
        return parts[0] if len(parts) == 1 else ("or", tuple(parts))

    def _and(self, depth: int) -> Expr:
        parts = [self._unary(depth)]
        while (tok := self._peek()) is not None and tok.kind not in ("or", ")"):
            if tok.kind == "and":
                self.pos += 1
                nxt = self._peek()
                if nxt is None or nxt.kind in ("or", "and", ")"):
                    raise RuleError(f"{tok.text} needs a word on both sides", column=tok.col,
                                    example="обстрел AND Белгород", code="both_sides", op=tok.text)
            parts.append(self._unary(depth))
        return parts[0] if len(parts) == 1 else ("and", tuple(parts))

    def _unary(self, depth: int) -> Expr:
        tok = self._peek()
        if tok is None:
            raise RuleError("the rule ends where a word was expected", column=len(self.source), example="батальон -учения",
                            code="ends_early")
        if tok.kind == "not":
            self.pos += 1
            if self._peek() is None or self._peek().kind in ("or", "and", ")"):  # type: ignore[union-attr]
                raise RuleError(f"{tok.text} needs a word after it", column=tok.col, example="батальон NOT учения",
                                code="needs_word_after", op=tok.text)
            return ("not", self._unary(depth))
        if tok.kind == "(":
            if depth >= _MAX_DEPTH:
                raise RuleError("too many nested parentheses", column=tok.col, example="(a OR b) c", code="too_nested")
            self.pos += 1
            if (nxt := self._peek()) is not None and nxt.kind == ")":
                raise RuleError("empty parentheses", column=tok.col, example="(батальон OR рота) Белгород",
                                code="parens_empty")
            expr = self._or(depth + 1)
            close = self._peek()
            if close is None or close.kind != ")":
                raise RuleError("this ( is never closed", column=tok.col, example="(батальон OR рота) Белгород",
                                code="paren_unclosed")
            self.pos += 1
            return expr
        if tok.kind == ")":
            raise RuleError(") without a matching (", column=tok.col, example="(батальон OR рота) Белгород",
                            code="paren_unopened")
        if tok.kind in ("or", "and"):
            raise RuleError(f"{tok.text} needs a word on both sides", column=tok.col, example="обстрел OR shelling",
                            code="both_sides", op=tok.text)
        self.pos += 1
        return tok.value  # type: ignore[return-value]


@functools.lru_cache(maxsize=65536)
def parse_rule(source: str, *, max_length: int = 500, max_terms: int = 30) -> ParsedRule:
    """Parse a rule. Raises RuleError (what, the column, a working example) and nothing else."""
    if not isinstance(source, str):
        raise RuleError("a rule must be text", example="батальон", code="empty")
    text = source.strip()
    if not text:
        raise RuleError("the rule is empty; write one or more words", example="батальон", code="empty")
    bad = bad_character(text)
    if bad is not None:  # NUL, other control characters, a lone surrogate: no database or RE2 takes them
        raise BadCharacterError("the rule holds a control character or an invalid one; type it as plain text",
                                column=bad + 1, example="батальон")
    if len(text) > max_length:
        raise RuleError(f"the rule is {len(text)} characters long; the limit is {max_length}",
                        column=max_length + 1, example="батальон OR обстрел", code="too_long",
                        length=len(text), limit=max_length)
    try:
        parser = _Parser(text, max_terms)
        expr = parser.parse()
    except RecursionError:
        raise RuleError("the rule is nested too deeply", example="(a OR b) c", code="too_nested") from None
    if evaluate(expr, set()):
        raise RuleError(
            "the rule only says what to leave out, so it would match almost every post; add a word to look for",
            example="батальон -учения",
            code="only_not",
        )
    return ParsedRule(
        source=text, expr=expr, terms=tuple(parser.terms), channels=tuple(dict.fromkeys(parser.channels)),
        positive=_positive(expr),
    )


def check_single_letters(rule: ParsedRule) -> None:
    """Raise RuleError ("one_letter") when a word of one letter or digit alone can make the rule
    match: it is in nearly every post (a preposition, a list item). What a new rule must pass before
    it is accepted; `рота Б` (both) passes. Stored rules are not checked again."""
    for index, term in enumerate(rule.terms):
        if term.kind == "word" and len(term.text) == 1 and evaluate(rule.expr, {index}):
            raise RuleError(f"{term.text!r} is a single character: it would match almost every post; write a "
                            "whole word, or keep it inside a phrase", example="батальон",
                            code="one_letter", word=term.text)


def check_rule_cost(rule: ParsedRule, *, need_literals: bool = False) -> None:
    """Raise RuleError (a RegexTooSlowError) when one of the rule's /patterns/ is too slow to run on
    every post: what a new rule must pass before it is accepted (bot/matching/regex.py). With
    ``need_literals`` (a rule to watch), also a RegexNoLiteralError for a /pattern/ that requires no
    literal: the matcher would run it on every post instead of those that hold the literal."""
    for term in rule.terms:
        if term.regex is not None:
            check_cost(term.regex)
            if need_literals:
                check_literals(term.regex)
