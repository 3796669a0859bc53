"""Normalised lemma text for the database's full-text index: pure, from the word analysis.

A post's ``lemma_text`` holds, once each, every word's canonical form and every lemma it can have
(apostrophes dropped by `index_key`, so both FTS5's tokenizers and PostgreSQL's 'simple' parser keep
a key whole). Turning a rule into a query over those keys is the archive search's
(bot/search/conditions.py), which uses the same `index_key`.

On PostgreSQL a post also gets its `phrase_vector`: the same keys, each at the positions of the
words that carry it, so a phrase's words in a row are found by the database (`<->`) instead of by
the matcher reading every post that holds them apart. On SQLite, whose FTS5 index cannot place two
keys at one position, a post gets its `phrase_pairs` instead: a token for each two keys of adjacent
words (hashed into 2**20 buckets), so a phrase's words in a row are asked of the index as pairs.
"""

from __future__ import annotations

import itertools
import zlib

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


def index_pairs(text: str) -> tuple[str, str | None]:
    """`index_text` and `phrase_pairs` of ``text`` (SQLite's entries), tokenised once."""
    if not text:
        return "", None
    toks = tokenize(text[:MAX_INDEX_TEXT])
    return index_tokens(toks), phrase_pairs(toks)


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


# SQLite's pairs (`phrase_pairs`): the two keys of adjacent words hashed into one of 2**20 buckets,
# written as a token no key can be (keys are letters and digits; the middle dot is neither). A
# bucket holds many pairs: a phrase asked of the index finds the posts with its pair and those
# with another pair of the same bucket, which the matcher turns away (some 160 posts in a
# million; a rule's words are asked of the index too, so fewer still). Necessary, never wrong.
PAIR_MARK = "\u00b7"
PAIR_BITS = 20
_B32 = "0123456789abcdefghijklmnopqrstuv"
# a bucket's token in two halves of 10 bits (two base-32 letters each): two lookups, no formatting
_HIGH = [PAIR_MARK + _B32[i >> 5] + _B32[i & 31] for i in range(1024)]
_LOW = [_B32[i >> 5] + _B32[i & 31] for i in range(1024)]
# in every post whose pairs are written: a post without it (pairs unknown: stored before migration
# 0032 and not reindexed since, too long to place, or its text changed by a writer that did not
# write them) stays a candidate for every phrase
PAIRS_KNOWN = PAIR_MARK + "p"
MAX_PAIRS = 8192  # distinct pair tokens a post may have; past it (some 3,000 words), its pairs are unknown


def _key_hash(key: str) -> int:
    return zlib.crc32(key.encode("utf-8"))


def _bucket(first: int, second: int) -> int:
    """The bucket of two keys' hashes, in order (a multiplicative mix: its top 20 bits)."""
    return (((first * 0x9E3779B1 + second) * 0x85EBCA6B) & 0xFFFFFFFF) >> (32 - PAIR_BITS)


def _token(bucket: int) -> str:
    return _HIGH[bucket >> 10] + _LOW[bucket & 1023]


def pair_token(first: str, second: str) -> str:
    """The token of two keys of adjacent words (`phrase_pairs`), as the index and a query write it."""
    return _token(_bucket(_key_hash(first), _key_hash(second)))


def _word_hashes(word: str) -> tuple[int, ...]:
    return tuple(_key_hash(key) for key in _index_keys(word) if key)


_HASHES: Generations[tuple[int, ...]] = Generations(1 << 18)  # folded word -> its keys' hashes


def phrase_pairs(toks: Tokens) -> str | None:
    """The post's pair tokens: for each two words that `key_positions` places side by side, each key
    of the first with each key of the second (`pair_token`), led by PAIRS_KNOWN. None when the
    pairs would be too many (the post stays a candidate for every phrase)."""
    words = toks.words
    folded, starts, ends = toks.folded, toks.starts, toks.ends
    tokens: dict[str, None] = {PAIRS_KNOWN: None}
    previous: tuple[int, ...] = ()
    for i, hashes in enumerate(_HASHES.get_many(words, _word_hashes)):
        if previous and phrase_gap_ok(folded, ends[i - 1], starts[i], tight=False):
            for first in previous:
                for second in hashes:
                    tokens[_token(_bucket(first, second))] = None
            if len(tokens) > MAX_PAIRS:
                return None
        previous = hashes
    return " ".join(tokens)


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
