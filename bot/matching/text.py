"""Text normalisation and tokenisation, keeping every token's offsets in the ORIGINAL text.

The whole text is folded in one pass that never changes its length (lower case, ё -> е, every
apostrophe -> ', non-breaking hyphens -> -), so a token's (start, end) in the folded text is its
span in the original. Per-word work (Latin look-alikes inside Cyrillic words, English possessives,
stress marks) happens once per distinct word, in `canonical`, behind the callers' caches.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

_FOLD = str.maketrans(
    {
        "ё": "е",
        "’": "'",
        "ʼ": "'",
        "‘": "'",
        "`": "'",
        "´": "'",
        "ʹ": "'",
        "\u2010": "-",
        "\u2011": "-",
    }
)
# A compound: letters/digits, inner apostrophes (об'єкт, battalion's) and inner hyphens (само-оборона).
_COMPOUND = re.compile(r"[^\W_]+(?:['-][^\W_]+)*")
# The same, when the text carries combining marks (stress accents: бата́льон).
_COMPOUND_MARKS = re.compile(r"(?:[^\W_]|[\u0300-\u036f])+(?:['-](?:[^\W_]|[\u0300-\u036f])+)*")
_MARKS = re.compile(r"[\u0300-\u036f]")
_STRESS = re.compile(r"[\u0300\u0301]")


def _has_marks(text: str) -> bool:
    # the usual marks first: a substring test is far cheaper than a regex scan
    return ("\u0301" in text or "\u0306" in text or "\u0308" in text or "\u0300" in text) and bool(
        _MARKS.search(text)
    )

# Latin letters that look like Cyrillic ones, folded only inside words that also hold Cyrillic.
_LOOKALIKE = str.maketrans(
    {"a": "а", "b": "в", "c": "с", "e": "е", "h": "н", "i": "і", "k": "к", "m": "м", "o": "о",
     "p": "р", "t": "т", "x": "х", "y": "у"}
)
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_LATIN = re.compile(r"[a-z]")


def fold(text: str) -> str:
    """Lower case, ё = е, one apostrophe, one hyphen; always the same length as ``text``."""
    low = text.lower()
    if len(low) != len(text):  # a few letters lower to two characters (İ); keep offsets exact
        low = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
    return low.translate(_FOLD)


def is_cyrillic(word: str) -> bool:
    return _CYRILLIC.search(word) is not None


def canonical(word: str) -> str:
    """One word's comparable form: no stress marks, look-alike Latin letters folded inside
    Cyrillic words, no English possessive. ``word`` is already folded."""
    if _MARKS.search(word):
        # decomposed letters (и + breve = й, е + diaeresis = ё) compose; stress marks go
        word = _STRESS.sub("", unicodedata.normalize("NFC", word)).replace("ё", "е")
    if _CYRILLIC.search(word):
        if _LATIN.search(word):
            word = word.translate(_LOOKALIKE)
        return word
    if word.endswith("'s") and len(word) > 2:
        return word[:-2]
    if word.endswith("s'") and len(word) > 2:
        return word[:-1]
    return word


@dataclass(slots=True)
class Tokens:
    """The words of a text in order, with spans; hyphenated compounds also as one joined word."""

    folded: str
    words: list[str] = field(default_factory=list)  # folded surface forms (not yet canonical)
    starts: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)
    # (joined word, index of its first part, index of its last part)
    compounds: list[tuple[str, int, int]] = field(default_factory=list)


def tokenize(text: str) -> Tokens:
    folded = fold(text)
    pattern = _COMPOUND_MARKS if _has_marks(folded) else _COMPOUND
    out = Tokens(folded)
    words, starts, ends = out.words, out.starts, out.ends
    for match in pattern.finditer(folded):
        word = match.group()
        if "-" not in word:
            words.append(word)
            starts.append(match.start())
            ends.append(match.end())
            continue
        first = len(words)
        position = match.start()
        for part in word.split("-"):
            words.append(part)
            starts.append(position)
            ends.append(position + len(part))
            position += len(part) + 1
        out.compounds.append((word.replace("-", ""), first, len(words) - 1))
    return out


def rule_words(fragment: str) -> list[list[str]]:
    """The words of a piece of a rule, each as its hyphen-separated parts."""
    return [w.split("-") for w in _COMPOUND.findall(fold(unicodedata.normalize("NFC", fragment)))]


_PHRASE_GAP = re.compile(r"[\s\-\"'«»“”„*_~|]*")
_TIGHT_GAP = re.compile(r"[\s\-]*")


def phrase_gap_ok(folded: str, start: int, end: int, *, tight: bool) -> bool:
    """Between two words of a phrase: only spaces, line breaks, hyphens and quotes (tight: no quotes)."""
    return (_TIGHT_GAP if tight else _PHRASE_GAP).fullmatch(folded, start, end) is not None
