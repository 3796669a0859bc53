"""Text normalisation and tokenisation, keeping every token's offsets in the ORIGINAL text.

The whole text is folded in one pass that never changes its length (lower case, ё -> е, every
apostrophe -> ', non-breaking hyphens -> -), so a token's (start, end) in the folded text is its
span in the original. Per-word work (Latin look-alikes inside Cyrillic words, English possessives,
stress marks) happens once per distinct word, in `canonical`, behind the callers' caches.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

_FOLD = (("ё", "е"), ("’", "'"), ("ʼ", "'"), ("‘", "'"), ("`", "'"), ("´", "'"), ("ʹ", "'"),
         ("\u2010", "-"), ("\u2011", "-"))
# A compound: letters/digits, inner apostrophes (об'єкт, battalion's) and inner hyphens (само-оборона).
_COMPOUND = re.compile(r"[^\W_]+(?:['-][^\W_]+)*")
# The same, when the text carries combining marks (stress accents: бата́льон).
_COMPOUND_MARKS = re.compile(r"(?:[^\W_]|[\u0300-\u036f])+(?:['-](?:[^\W_]|[\u0300-\u036f])+)*")
_COMPOUND_SPLIT = re.compile(f"({_COMPOUND.pattern})")
_WORD_SPLIT = re.compile(r"(\w+)")  # the same split for a text without ' - _ (and cheaper)
_COMPOUND_MARKS_SPLIT = re.compile(f"({_COMPOUND_MARKS.pattern})")
_MARKS = re.compile(r"[\u0300-\u036f]")
# The shortest prefix a rule may have (``батальон*`` needs at least three letters): the matcher files
# prefix rules under their first PREFIX_HEAD letters, and a word carries its own as a lookup key.
PREFIX_HEAD = 3
_STRESS = re.compile(r"[\u0300\u0301]")


def has_marks(text: str) -> bool:
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
    for char, replacement in _FOLD:  # str.translate is ~50x slower on non-ASCII text
        if char in low:
            low = low.replace(char, replacement)
    return low


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
    starts: Sequence[int] = field(default_factory=list)
    ends: Sequence[int] = field(default_factory=list)
    # (joined word, index of its first part, index of its last part)
    compounds: list[tuple[str, int, int]] = field(default_factory=list)


def split_words(folded: str, marks: bool) -> tuple[list[str], list[int], list[int]]:
    """The words of a folded text and their offsets: the matches of `_COMPOUND` (`_COMPOUND_MARKS`
    when the text has combining ``marks``), found with a cheaper pattern when the text allows."""
    if marks:
        pattern = _COMPOUND_MARKS_SPLIT
    elif "'" in folded or "-" in folded or "_" in folded:
        pattern = _COMPOUND_SPLIT
    else:  # no apostrophe, hyphen or underscore: a compound is a plain word, and \w+ is [^\W_]+
        pattern = _WORD_SPLIT
    # one split in C (inside `re`): [gap, word, gap, word, ..., gap]; offsets from the running lengths
    parts = pattern.split(folded)
    offsets = list(itertools.accumulate(map(len, parts)))
    return parts[1::2], offsets[0:-1:2], offsets[1::2]


def tokenize(text: str) -> Tokens:
    folded = fold(text)
    words, starts, ends = split_words(folded, has_marks(folded))
    out = Tokens(folded, words, starts, ends)
    if "-" in folded and any("-" in w for w in words):
        _split_compounds(out)
    return out


def _split_compounds(out: Tokens) -> None:
    """Hyphenated words become their parts, and are remembered joined."""
    words: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for word, start in zip(out.words, out.starts, strict=True):
        if "-" not in word:
            words.append(word)
            starts.append(start)
            ends.append(start + len(word))
            continue
        first = len(words)
        for part in word.split("-"):
            words.append(part)
            starts.append(start)
            ends.append(start + len(part))
            start += len(part) + 1
        out.compounds.append((word.replace("-", ""), first, len(words) - 1))
    out.words, out.starts, out.ends = words, starts, ends


def rule_words(fragment: str) -> list[list[str]]:
    """The words of a piece of a rule, each as its hyphen-separated parts."""
    return [w.split("-") for w in _COMPOUND.findall(fold(unicodedata.normalize("NFC", fragment)))]


_PHRASE_GAP = re.compile(r"[\s\-\"'«»“”„*_~|]*")
_TIGHT_GAP = re.compile(r"[\s\-]*")


def phrase_gap_ok(folded: str, start: int, end: int, *, tight: bool) -> bool:
    """Between two words of a phrase: only spaces, line breaks, hyphens and quotes (tight: no quotes)."""
    return (_TIGHT_GAP if tight else _PHRASE_GAP).fullmatch(folded, start, end) is not None
