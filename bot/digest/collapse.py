"""Repost collapsing: the same post forwarded into several channels, or near-identical text
posted by several channels, becomes one cluster.

Forward origins are exact and cheap, so they go first. Near-identical text uses MinHash over word
3-gram shingles with LSH banding: each text lands in a few hash buckets and only texts sharing a
bucket are compared, so the cost grows with the number of texts, not with its square. The MinHash
signatures of all texts are computed together with numpy (multiply-shift hashing, one
``minimum.reduceat`` per permutation).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Hashable, Sequence

import numpy as np

NUM_PERM = 32
BANDS = 8  # 8 bands of 4 rows: pairs with Jaccard >= 0.8 share a band with probability > 0.99
SIMILARITY = 0.8  # estimated Jaccard similarity at which two texts count as the same post
MIN_WORDS = 6  # shorter texts ("Обстрел.", "Срочно") are too generic to merge on text alone

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_MASK32 = np.uint64(0xFFFFFFFF)
_rng = np.random.default_rng(20261124)
_A = _rng.integers(1, 2**63, size=NUM_PERM, dtype=np.uint64) | np.uint64(1)  # odd multipliers
_B = _rng.integers(0, 2**63, size=NUM_PERM, dtype=np.uint64)


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
    words = _WORD.findall(text.casefold().replace("ё", "е"))
    return [hash(w) & 0xFFFFFFFF for w in words]


def signatures(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """MinHash signatures (len(texts) x NUM_PERM, uint32 values in uint64) and a mask of the texts
    long enough to compare."""
    n = len(texts)
    sig = np.zeros((n, NUM_PERM), dtype=np.uint64)
    usable = np.zeros(n, dtype=bool)
    lengths: list[int] = []
    words: list[int] = []
    index: list[int] = []
    for i, text in enumerate(texts):
        hashed = _word_hashes(text)
        if len(hashed) < MIN_WORDS:
            continue
        usable[i] = True
        index.append(i)
        lengths.append(len(hashed))
        words.extend(hashed)
    if not index:
        return sig, usable
    w = np.asarray(words, dtype=np.uint64)
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
    for p in range(NUM_PERM):
        hashed = ((shingles * _A[p] + _B[p]) >> np.uint64(32)) & _MASK32
        sig[rows, p] = np.minimum.reduceat(hashed, shingle_starts)
    return sig, usable


def near_duplicate_groups(texts: Sequence[str], threshold: float = SIMILARITY) -> list[list[int]]:
    """Indexes of texts grouped by near-identity (each group in ascending order; singletons included)."""
    n = len(texts)
    uf = UnionFind(n)
    if n < 2:
        return uf.groups()
    sig, usable = signatures(texts)
    rows_per_band = NUM_PERM // BANDS
    need = int(np.ceil(threshold * NUM_PERM))
    candidates = np.nonzero(usable)[0]
    for band in range(BANDS):
        part = np.ascontiguousarray(sig[candidates, band * rows_per_band : (band + 1) * rows_per_band])
        keys = part.view(np.dtype((np.void, part.dtype.itemsize * rows_per_band))).ravel()
        buckets: dict[object, int] = {}
        for local, key in enumerate(keys.tolist()):
            i = int(candidates[local])
            first = buckets.setdefault(key, i)
            if first != i and uf.find(first) != uf.find(i) and int((sig[first] == sig[i]).sum()) >= need:
                uf.union(first, i)
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


def naive_near_duplicate_groups(texts: Sequence[str], threshold: float = SIMILARITY) -> list[list[int]]:
    """The pairwise baseline (exact Jaccard over shingle sets), for the benchmark and the tests."""
    shingles = []
    for text in texts:
        h = _word_hashes(text)
        shingles.append({(h[k], h[k + 1], h[k + 2]) for k in range(len(h) - 2)} if len(h) >= MIN_WORDS else None)
    uf = UnionFind(len(texts))
    for i in range(len(texts)):
        a = shingles[i]
        if not a:
            continue
        for j in range(i + 1, len(texts)):
            b = shingles[j]
            if b and len(a & b) >= threshold * len(a | b):
                uf.union(i, j)
    return uf.groups()
