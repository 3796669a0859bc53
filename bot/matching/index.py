"""Normalised lemma text for the database's full-text index: pure, from the word analysis.

A post's ``lemma_text`` holds, once each, every word's canonical form and every lemma it can have
(apostrophes dropped by `index_key`, so both FTS5's tokenizers and PostgreSQL's 'simple' parser keep
a key whole). Turning a rule into a query over those keys is the archive search's
(bot/search/conditions.py), which uses the same `index_key`.

On PostgreSQL a post also gets its `phrase_vector`: the same keys, each at the positions of the
words that carry it, so a phrase's words in a row are found by the database (`<->`) instead of by
the matcher reading every post that holds them apart.
"""

from __future__ import annotations

import itertools

from bot.matching.generations import Generations
from bot.matching.morph import morphology
from bot.matching.text import Tokens, phrase_gap_ok, tokenize

INDEX_VERSION = "1"  # bump when normalisation changes; `tgmon reindex` rebuilds lemma_text


def index_key(word: str) -> str:
    """A folded word or lemma as it is written in the index (and looked up in it)."""
    return word.replace("'", "")


def _index_keys(word: str) -> tuple[str, ...]:
    """A folded word's index keys: its canonical form and every lemma."""
    form, lemmas, _ = morphology().analyse(word)
    return tuple(dict.fromkeys(index_key(k) for k in (form, *lemmas)))


_KEYS: Generations[tuple[str, ...]] = Generations(1 << 18)  # folded word -> its index keys

# What one post may put in the index. PostgreSQL refuses a tsvector over 1 MB ("string is too long
# for tsvector"), and each distinct key costs it up to 5 times its bytes in lemma_text (a short key
# and its entry, position and alignment): 128 KB of keys stay well within that. A post reaching the
# bound (some ten thousand distinct words; a Telegram message holds 4096 characters) is indexed by
# its first keys; a rule's word found only past them is still found by the matcher on new posts.
MAX_INDEX_BYTES = 128 * 1024
MAX_INDEX_TEXT = 100_000  # characters of a text that are analysed (bot/ingest/sanitize.py's MAX_TEXT)
_CHUNK = 2048  # words analysed at a time, so a huge text stops being analysed at the bound


def index_text(text: str) -> str:
    """The normalised lemma text of ``text`` for the full-text index (at most MAX_INDEX_BYTES)."""
    return index_tokens(tokenize(text[:MAX_INDEX_TEXT])) if text else ""


def index_entries(text: str) -> tuple[str, str | None]:
    """`index_text` and `phrase_vector` of ``text``, tokenised once."""
    if not text:
        return "", None
    toks = tokenize(text[:MAX_INDEX_TEXT])
    return index_tokens(toks), phrase_vector(toks)


# PostgreSQL keeps positions 1..16383 (a larger one becomes 16383) and 256 positions of a lexeme (the
# rest are dropped, silently): a post past either has no phrase vector, never a wrong one
MAX_POSITION = 16383
MAX_LEXEME_POSITIONS = 256


def phrase_vector(toks: Tokens) -> str | None:
    """The post's index keys at their words' positions, as a PostgreSQL tsvector literal (each key of
    a word at the word's position), or None when the positions would not all fit (search then cannot
    rule the post out by position). A word follows the last one at the next position when what
    stands between them may stand inside a phrase (`phrase_gap_ok`: spaces, line breaks, hyphens,
    quotes), and one further on otherwise (a comma, a full stop): ``<->`` never joins words that
    the matcher would not read as one phrase."""
    where = key_positions(toks)
    if where is None:
        return None
    return " ".join(f"{ts_lexeme(key)}:{','.join(map(str, p))}" for key, p in where.items())


def key_positions(toks: Tokens) -> dict[str, list[int]] | None:
    """`phrase_vector` as a map: each key -> the positions of the words that carry it, ascending.
    Hyphenated compounds written joined are not placed: the matcher finds a phrase word by word."""
    words = toks.words
    if len(words) > MAX_POSITION:
        return None
    folded, starts, ends = toks.folded, toks.starts, toks.ends
    where: dict[str, list[int]] = {}
    size = 0
    position = 0
    for i, keys in enumerate(_KEYS.get_many(words, _index_keys)):
        position += 1 if i == 0 or phrase_gap_ok(folded, ends[i - 1], starts[i], tight=False) else 2
        for key in keys:
            found = where.get(key)
            if found is None:
                if key:
                    size += len(key.encode("utf-8")) + 1
                    where[key] = [position]
            else:
                found.append(position)
    if position > MAX_POSITION or size > MAX_INDEX_BYTES or any(len(p) > MAX_LEXEME_POSITIONS for p in where.values()):
        return None
    return where


def ts_lexeme(key: str) -> str:
    """A key quoted as a tsvector or tsquery lexeme (keys are letters and digits; quoted anyway)."""
    return "'" + key.replace("\\", "\\\\").replace("'", "''") + "'"


def index_tokens(toks: Tokens) -> str:
    """`index_text` of a text already tokenised (ingestion tokenises a post once for the index and
    the matcher)."""
    words = list(dict.fromkeys(toks.words))  # each distinct word once: a post repeats most of its words
    if toks.compounds:
        words.extend(joined for joined, _, _ in toks.compounds)
    keys: dict[str, None] = {}
    size = 0
    for start in range(0, len(words), _CHUNK):
        for key in itertools.chain.from_iterable(_KEYS.get_many(words[start : start + _CHUNK], _index_keys)):
            if key and key not in keys:
                size += len(key.encode("utf-8")) + 1
                if size > MAX_INDEX_BYTES:
                    return " ".join(keys)
                keys[key] = None
    return " ".join(keys)
