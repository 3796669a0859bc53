"""Word forms: pymorphy3 (Russian and Ukrainian dictionaries) and the Snowball English stemmer.

The analyzers load once per process (about 0.3 s and 15 MB); every distinct word is analysed once
and kept in a bounded cache (`settings.matching.cache_size` words in all, `generations.py`), whose
hits the matcher's compiled pass reads itself.
"""

from __future__ import annotations

import functools
import logging
import sys
import threading
from collections.abc import Callable
from typing import Any

from bot.matching.generations import Generations
from bot.matching.text import PREFIX_HEAD, canonical, is_cyrillic

_UKRAINIAN_ONLY = frozenset("іїєґ'")
Analysis = tuple[str, tuple[str, ...], tuple[str, ...]]  # (canonical form, lemmas, probe)


class Morphology:
    def __init__(self, cache_size: int = 1 << 18) -> None:
        import pymorphy3
        import Stemmer

        logging.getLogger("pymorphy3").setLevel(logging.WARNING)  # it logs every dictionary load at INFO

        self._ru = pymorphy3.MorphAnalyzer(lang="ru")
        self._uk = pymorphy3.MorphAnalyzer(lang="uk")
        self._en = Stemmer.Stemmer("english")
        self._en_lock = threading.Lock()  # a PyStemmer object is not thread-safe
        self.cache_size = cache_size
        self.lemmas: Callable[[str], tuple[str, ...]] = functools.lru_cache(maxsize=cache_size)(self._lemmas)
        self.analyses: Generations[Analysis] = Generations(cache_size // 2)  # word -> its Analysis
        self.known: Generations[bool] = Generations(cache_size // 2)  # word -> `knows`

    def analyzers(self) -> tuple[Any, ...]:
        """The Russian and Ukrainian pymorphy3 analyzers (to list a lemma's forms)."""
        return (self._ru, self._uk)

    def analyse(self, word: str) -> Analysis:
        """`_analyse`, cached."""
        return self.analyses.get(word, self._analyse)

    def _analyse(self, word: str) -> Analysis:
        """A folded text word's canonical form, its lemmas and its probe, in one cached step (the
        matcher and the index both start from these, and a text repeats its words).

        The probe is every string the word can be looked up by: its form, its lemmas and its first
        PREFIX_HEAD letters. A matcher whose keys meet none of them has nothing for the word, and
        learns it with one set operation (most words of a post are in no rule)."""
        form = canonical(word)
        lemmas = self.lemmas(form)
        probe = (form, *(lemma for lemma in lemmas if lemma != form), sys.intern(form[:PREFIX_HEAD]))
        return form, lemmas, probe

    def _lemmas(self, word: str) -> tuple[str, ...]:
        """Every normal form ``word`` (canonical) can have; the word itself for numbers and codes."""
        if not word:
            return ()
        if is_cyrillic(word):
            return self._cyrillic(word)
        if (word.isascii() and word.isalpha()) or ("'" in word and word.replace("'", "").isalpha()):
            with self._en_lock:
                return (self._en.stemWord(word),)
        return (word,)

    def _cyrillic(self, word: str) -> tuple[str, ...]:
        # both dictionaries: a word may be Russian or Ukrainian, or both (оборони: a Russian verb
        # form and the Ukrainian genitive of оборона); every known normal form is kept
        ru = [] if _UKRAINIAN_ONLY.intersection(word) else self._ru.parse(word)
        uk = self._uk.parse(word) if self._uk.word_is_known(word) or not any(p.is_known for p in ru) else []
        forms = {p.normal_form.replace("ё", "е"): None for p in (*ru, *uk) if p.is_known}
        if forms:
            return tuple(forms)
        # unknown to both (a name, an abbreviation, slang): the likelier language's best guess,
        # and the word itself
        guess = (ru or uk)[:1]
        forms = {p.normal_form.replace("ё", "е"): None for p in guess}
        forms[word] = None
        return tuple(forms)

    def knows(self, word: str) -> bool:
        """Whether a dictionary lists ``word`` (canonical, Cyrillic): its lemmas are then the normal
        forms of its own paradigms (`_cyrillic`), never guesses. A dictionary lookup, no analysis;
        cached."""
        return self.known.get(word, self._knows)

    def _knows(self, word: str) -> bool:
        return ((not _UKRAINIAN_ONLY.intersection(word) and self._ru.word_is_known(word))
                or self._uk.word_is_known(word))

    def rule_lemmas(self, word: str) -> tuple[str, ...]:
        """A rule word's lemmas: the word itself when it is a dictionary form (``рота`` means the
        company, not the mouth's genitive), otherwise all its normal forms (``стали``)."""
        forms = self.lemmas(word)
        return (word,) if word in forms else forms

    def cache_info(self) -> str:
        return str(self.lemmas.cache_info())  # type: ignore[attr-defined]


_shared: Morphology | None = None
_lock = threading.Lock()


def morphology(cache_size: int | None = None) -> Morphology:
    """The process-wide analyzers, loaded on first use."""
    global _shared
    if _shared is None:
        with _lock:
            if _shared is None:
                _shared = Morphology(cache_size if cache_size is not None else 1 << 18)
    return _shared
