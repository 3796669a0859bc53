"""The text a /pattern/ cannot match without: its required literals.

`required_literals("конд[а-я]{2,6}")` is ``("конд",)``: a post whose folded text does not contain
"конд" cannot match, so the matcher runs the regex only on posts that contain one of its literals
(found for all regexes at once by one Aho-Corasick pass, matcher.py), and the archive search reads
only the posts that contain them. ``(обстрел|взрыв)\\w*`` requires one of two: ``("обстрел", "взрыв")``.

The pattern is read with Python's own regex parser, whose syntax is RE2's for everything that yields
a literal; what it cannot read (RE2's ``\\pL``, ``\\Q...\\E``) gives no literal, so the regex runs on
every post, as before. Literals are lower case, as the folded text the regexes read (ё = е); only
letters, digits and a few punctuation marks go into one, and the characters RE2's case-insensitive
matching would take for them although lower-casing does not map them there (``ſ`` for ``s``,
``ᲀ`` for ``в``) are `exotic`: a text holding one is given to every regex.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

try:  # Python 3.11+: the parser lives in re._parser (sre_parse is a deprecated alias)
    import re._constants as _c
    import re._parser as _p
except ImportError:  # pragma: no cover - Python before 3.11
    import sre_constants as _c  # type: ignore[no-redef]
    import sre_parse as _p  # type: ignore[no-redef]

MIN_LITERAL = 3  # characters: a shorter literal is in nearly every post and narrows nothing
MAX_ALTERNATIVES = 16  # a requirement of more alternatives than this is not worth filing


def _key(ch: str) -> str:
    """The lower case form RE2's case folding would take ``ch`` for (``ſ`` -> ``s``, ``ς`` -> ``σ``)."""
    upper = ch.upper()
    return upper.lower() if len(upper) == 1 else ch


def _allowed(ch: str) -> bool:
    """A character that can stand in a literal: lower case letters and digits that are their own
    case-folding key, space and - . , : ' # @ _"""
    if ch in " -.,:'#@_":
        return True
    return (ch.isalnum() and ch == ch.lower() and _key(ch) == ch
            and unicodedata.category(ch) in ("Ll", "Lo", "Nd"))


Requirement = frozenset[str]  # at least one of these strings is in every text the pattern matches


def _best(options: Iterable[Requirement]) -> Requirement | None:
    """The most selective requirement: longest shortest alternative, then fewest alternatives."""
    best: Requirement | None = None
    for req in options:
        if not req or len(req) > MAX_ALTERNATIVES:
            continue
        key = (min(len(s) for s in req), -len(req))
        if best is None or key > (min(len(s) for s in best), -len(best)):
            best = req
    return best


def _exact(items: Sequence[tuple[Any, Any]]) -> Requirement | None:
    """The strings a piece of pattern made only of literal characters, groups and alternatives of
    them matches (``(явля|яким)``: ``явля``, ``яким``), lower case; None when it is anything else or
    has more than MAX_ALTERNATIVES of them."""
    strings = [""]
    for op, av in items:
        if op is _c.LITERAL:
            low = chr(av).lower().replace("ё", "е")
            if len(low) != 1 or not _allowed(low):
                return None
            strings = [s + low for s in strings]
            continue
        if op is _c.SUBPATTERN:
            options = _exact(av[-1])
        elif op is _c.BRANCH:
            found = [_exact(branch) for branch in av[1]]
            options = None if any(f is None for f in found) else frozenset().union(*found)  # type: ignore[arg-type]
        else:
            return None
        if options is None or len(strings) * len(options) > MAX_ALTERNATIVES:
            return None
        strings = [s + o for s in strings for o in options]
    return frozenset(strings)


def _of_sequence(items: Sequence[tuple[Any, Any]]) -> Requirement | None:
    found: list[Requirement] = []
    # the text the pattern matches here for sure, one of these strings (literal characters and
    # alternatives of them joined: "я" then "вля|ким" is "явля" or "яким"); [""] when none yet
    run: list[str] = [""]

    def flush() -> None:
        if run != [""]:
            found.append(frozenset(run))
        run[:] = [""]

    def extend(options: Iterable[str]) -> None:
        run[:] = [s + o for s in run for o in options]

    for op, av in items:
        if op is _c.LITERAL:
            ch = chr(av)
            low = ch.lower().replace("ё", "е")
            if len(low) == 1 and _allowed(low):
                extend([low])
                continue
            flush()
            continue
        if op in (_c.SUBPATTERN, _c.BRANCH):
            exact = _exact([(op, av)])
            if exact is not None:
                if len(run) * len(exact) > MAX_ALTERNATIVES:
                    flush()
                extend(exact)
                continue
        flush()
        if op is _c.SUBPATTERN:
            sub = _of_sequence(av[-1])
            if sub is not None:
                found.append(sub)
        elif op is _c.BRANCH:
            alternatives = [_of_sequence(branch) for branch in av[1]]
            known = [a for a in alternatives if a is not None]
            if alternatives and len(known) == len(alternatives):
                found.append(frozenset().union(*known))
        elif op in (_c.MAX_REPEAT, _c.MIN_REPEAT, getattr(_c, "POSSESSIVE_REPEAT", None)):
            least, _, body = av
            if least >= 1:
                sub = _of_sequence(body)
                if sub is not None:
                    found.append(sub)
        elif op is getattr(_c, "ATOMIC_GROUP", None):
            sub = _of_sequence(av)
            if sub is not None:
                found.append(sub)
    flush()
    return _best(found)


@functools.lru_cache(maxsize=4096)
def required_literals(pattern: str) -> tuple[str, ...]:
    """The literals of which every text the pattern matches (case-insensitively, over folded text)
    contains at least one, each at least MIN_LITERAL characters; () when there is no such set."""
    if pattern.startswith(r"\b"):
        pattern = pattern[2:]
    if pattern.endswith(r"\b") and not pattern.endswith(r"\\b"):
        pattern = pattern[:-2]
    try:
        parsed = _p.parse(pattern.replace("ё", "е").replace("Ё", "Е"))
    except (re.error, RecursionError, OverflowError, ValueError):
        return ()
    if parsed.state.flags & re.VERBOSE:  # RE2 has no verbose mode: what Python reads is not what RE2 runs
        return ()
    req = _of_sequence(list(parsed))
    if req is None or min(len(s) for s in req) < MIN_LITERAL:
        return ()
    return tuple(sorted(req))


@functools.cache
def exotic() -> re.Pattern[str]:
    """A character class of the characters that lower-casing leaves as they are but RE2's case
    folding equates with a character a literal may hold (``ſ`` ~ ``s``, ``ᲀ`` ~ ``в``, ``ς`` ~ ``σ``)."""
    odd: list[str] = []
    for code in range(0x80, 0x10000):
        ch = chr(code)
        if 0xD800 <= code <= 0xDFFF or ch != ch.lower():  # not in folded text
            continue
        others = {ch.upper().lower(), ch.casefold(), ch.title().lower(), _key(ch)}
        if any(len(o) == 1 and o != ch and _allowed(o) for o in others):
            odd.append(ch)
    return re.compile("[" + "".join(re.escape(ch) for ch in odd) + "]") if odd else re.compile(r"(?!x)x")
