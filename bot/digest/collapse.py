"""Repost collapsing: the same post forwarded into several channels, or near-identical text
posted by several channels, becomes one cluster.

Forward origins are exact and cheap, so they go first. Near-identical text uses MinHash over word
3-gram shingles with LSH banding: each text lands in a few hash buckets and only texts sharing a
bucket are compared, so the cost grows with the number of texts, not with its square. The MinHash
signatures of all texts are computed together with numpy (multiply-shift hashing, one
``minimum.reduceat`` per permutation).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Sequence
from functools import cache, lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy is loaded by the first batch of more than SMALL texts: a bot's digest needs none
    import numpy as np

NUM_PERM = 32
BANDS = 8  # 8 bands of 4 rows: pairs with Jaccard >= 0.8 share a band with probability > 0.99
SIMILARITY = 0.8  # estimated Jaccard similarity at which two texts count as the same post
SMALL = 400  # up to this many texts (one digest) a pure-Python index beats numpy's call overhead
BOTTOM_K = 6  # the small path indexes each text under its 6 smallest shingle hashes
SLACK = 0.2  # the estimate's margin: pairs estimated this far below the threshold are checked exactly
MIN_WORDS = 6  # shorter texts ("Обстрел.", "Срочно") are too generic to merge on text alone



@cache
def _permutations() -> tuple[np.ndarray, np.ndarray]:
    """The MinHash permutations' odd multipliers and offsets (the same in every process)."""
    import numpy as np

    rng = np.random.default_rng(20261124)
    a = rng.integers(1, 2**63, size=NUM_PERM, dtype=np.uint64) | np.uint64(1)  # odd multipliers
    return a, rng.integers(0, 2**63, size=NUM_PERM, dtype=np.uint64)


class UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, x: int) -> int:
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)  # the smaller index (the earlier text) stays the root

    def groups(self) -> list[list[int]]:
        out: dict[int, list[int]] = defaultdict(list)
        for i in range(len(self.parent)):
            out[self.find(i)].append(i)
        return list(out.values())


def _word_hashes(text: str) -> list[int]:
    """A hash per whitespace-separated word, case-folded. Punctuation stays on its word: reposts
    copy it too, and splitting on it costs more than all the rest. Python's str hash is salted per
    process, which is fine: signatures are only ever compared within one process."""
    return list(map(hash, text.casefold().split()))


BLOCK = 2_000  # texts per numpy pass: keeps the (shingles x permutations) array near 30 MB


def signatures(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """MinHash signatures (len(texts) x NUM_PERM, uint32 values in uint64) and a mask of the texts
    long enough to compare."""
    import numpy as np

    n = len(texts)
    sig = np.zeros((n, NUM_PERM), dtype=np.uint64)
    usable = np.zeros(n, dtype=bool)
    for first in range(0, n, BLOCK):
        _block_signatures(texts, first, min(n, first + BLOCK), sig, usable)
    return sig, usable


def _block_signatures(texts: Sequence[str], first: int, last: int, sig: np.ndarray, usable: np.ndarray) -> None:
    lengths: list[int] = []
    words: list[int] = []
    index: list[int] = []
    for i in range(first, last):
        hashed = _word_hashes(texts[i])
        if len(hashed) < MIN_WORDS:
            continue
        usable[i] = True
        index.append(i)
        lengths.append(len(hashed))
        words.extend(hashed)
    if not index:
        return
    import numpy as np

    mult, offset = _permutations()
    w = np.asarray(words, dtype=np.int64).view(np.uint64) & np.uint64(0xFFFFFFFF)
    lens = np.asarray(lengths, dtype=np.int64)
    starts = np.concatenate(([0], np.cumsum(lens)[:-1]))
    # word 3-gram shingles inside each text: combine three consecutive word hashes
    valid = np.ones(len(w), dtype=bool)
    ends = starts + lens
    valid[np.concatenate((ends - 1, ends - 2))] = False
    pos = np.nonzero(valid)[0]
    shingles = (w[pos] * np.uint64(0x9E3779B1) ^ (w[pos + 1] << np.uint64(21)) ^ (w[pos + 2] * np.uint64(0x85EBCA77)))
    shingle_starts = starts - 2 * np.arange(len(starts), dtype=np.int64)  # two positions dropped per text
    rows = np.asarray(index, dtype=np.int64)
    hashed = shingles[:, None] * mult[None, :]  # every permutation at once, in place: (shingles x 32)
    hashed += offset[None, :]
    hashed >>= np.uint64(32)
    sig[rows] = np.minimum.reduceat(hashed, shingle_starts, axis=0)


def near_duplicate_groups(texts: Sequence[str], threshold: float = SIMILARITY) -> list[list[int]]:
    """Indexes of texts grouped by near-identity (each group in ascending order; singletons included)."""
    n = len(texts)
    uf = UnionFind(n)
    if n < 2:
        return uf.groups()
    if n <= SMALL:
        return _small_groups(texts, threshold)
    import numpy as np

    sig, usable = signatures(texts)
    rows_per_band = NUM_PERM // BANDS
    need = int(np.ceil((threshold - SLACK) * NUM_PERM))
    candidates = np.nonzero(usable)[0]
    if len(candidates) < 2:
        return uf.groups()
    # one bucket key per (text, band): the band's 4 values folded into 64 bits, salted by the band
    part = sig[candidates].reshape(len(candidates), BANDS, rows_per_band)
    key = np.arange(1, BANDS + 1, dtype=np.uint64)[None, :] * np.uint64(0x9E3779B97F4A7C15)
    for col in range(rows_per_band):
        key = (key * np.uint64(0x100000001B3)) ^ part[:, :, col]
    flat = key.ravel()  # row-major: text i's bands at i * BANDS ... i * BANDS + BANDS - 1
    _, first, inverse = np.unique(flat, return_index=True, return_inverse=True)
    owner = candidates[np.arange(len(flat)) // BANDS]
    leader = owner[first[inverse.ravel()]]
    shared = np.nonzero(leader != owner)[0]  # (text, band) pairs whose bucket an earlier text opened
    pairs: set[tuple[int, int]] = set()
    if len(shared):
        a, b = leader[shared], owner[shared]
        close = (sig[a] == sig[b]).sum(axis=1) >= need  # a bucket clash is not enough: estimate first
        pairs.update(zip(a[close].tolist(), b[close].tolist(), strict=True))
    sets: dict[int, frozenset[int]] = {}

    def shingle_set(i: int) -> frozenset[int]:
        found = sets.get(i)
        if found is None:
            found = sets[i] = _shingle_set(texts[i])
        return found

    # then the exact Jaccard similarity decides, so the result never hangs on an estimate's noise
    pairs = {(a_i, b_i) for a_i, b_i in pairs if jaccard(shingle_set(a_i), shingle_set(b_i)) >= threshold}
    for a_i, b_i in pairs:
        uf.union(a_i, b_i)
    return uf.groups()


def collapse(keys: Sequence[Hashable], forward_of: Sequence[Hashable | None], texts: Sequence[str]) -> list[list[int]]:
    """Group posts into clusters. ``keys[i]`` identifies post i (channel id, message id);
    ``forward_of[i]`` is the key of the post it forwards, if any. Forwards of the same origin, and the
    origin itself, form one cluster; then near-identical texts merge clusters."""
    n = len(keys)
    uf = UnionFind(n)
    by_key: dict[Hashable, int] = {}
    for i, key in enumerate(keys):
        by_key.setdefault(key, i)
    by_origin: dict[Hashable, int] = {}
    for i, origin in enumerate(forward_of):
        if origin is None:
            continue
        if origin in by_key:
            uf.union(by_key[origin], i)
        first = by_origin.setdefault(origin, i)
        if first != i:
            uf.union(first, i)
    for group in near_duplicate_groups(texts):
        for other in group[1:]:
            uf.union(group[0], other)
    return uf.groups()


def _small_groups(texts: Sequence[str], threshold: float) -> list[list[int]]:
    """Bottom-k sketches: each text is filed under its k smallest shingle hashes; two texts with
    Jaccard similarity >= 0.8 share one of them with probability above 0.999. Only texts sharing a
    key are compared, exactly."""
    uf = UnionFind(len(texts))
    index: dict[int, list[int]] = {}
    sets: list[frozenset[int]] = []
    for i, text in enumerate(texts):
        shingles, sketch = _sketch(text)
        sets.append(shingles)
        if not shingles:
            continue
        seen: set[int] = set()
        for value in sketch:
            bucket = index.setdefault(value, [])
            for j in bucket:
                if j not in seen:
                    seen.add(j)
                    if jaccard(sets[j], shingles) >= threshold:
                        uf.union(j, i)
            bucket.append(i)
    return uf.groups()


@lru_cache(maxsize=1 << 16)  # one tick builds thousands of digests over the same posts
def _sketch(text: str) -> tuple[frozenset[int], tuple[int, ...]]:
    """A text's shingle set (empty when it is too short to compare) and its bottom-k sketch."""
    shingles = _shingle_set(text)
    if len(shingles) < MIN_WORDS - 2:
        return frozenset(), ()
    return shingles, tuple(sorted(shingles)[:BOTTOM_K])


@lru_cache(maxsize=1 << 16)
def _shingle_set(text: str) -> frozenset[int]:
    w = text.casefold().split()
    return frozenset(map(hash, zip(w, w[1:], w[2:], strict=False)))


def jaccard(a: frozenset[int], b: frozenset[int]) -> float:
    if not a or not b:
        return 0.0
    common = len(a & b)
    return common / (len(a) + len(b) - common)


def naive_near_duplicate_groups(texts: Sequence[str], threshold: float = SIMILARITY) -> list[list[int]]:
    """The pairwise baseline (exact Jaccard over shingle sets), for the benchmark and the tests."""
    shingles = [_shingle_set(t) if len(_word_hashes(t)) >= MIN_WORDS else None for t in texts]
    uf = UnionFind(len(texts))
    for i in range(len(texts)):
        a = shingles[i]
        if not a:
            continue
        for j in range(i + 1, len(texts)):
            b = shingles[j]
            if b and jaccard(a, b) >= threshold:
                uf.union(i, j)
    return uf.groups()
