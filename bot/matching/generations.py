"""A bounded cache for the per-word hot paths: two plain dicts ("generations") instead of an LRU.

Reads go straight to `young` (one `dict.get`); a miss looks in `old`, then makes the value. When `young` holds `limit` entries it becomes `old` and
a new `young` starts: entries still in use move back on their next read, the others leave with the
next turn. An LRU without bookkeeping on every hit; at most twice `limit` entries are held.

Several threads may use one (the pipeline builds a matcher in a worker thread while the event loop
matches): every step is a single dict operation, so the worst a race does is lose an entry, which
is made again on its next miss.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

V = TypeVar("V")


class Generations(Generic[V]):
    __slots__ = ("limit", "old", "young")

    def __init__(self, limit: int) -> None:
        self.young: dict[str, V] = {}
        self.old: dict[str, V] = {}
        self.limit = max(limit, 1)

    def get(self, key: str, make: Callable[[str], V]) -> V:
        """The value for ``key``: from `young`, else moved back from `old`, else ``make(key)``."""
        value = self.young.get(key)
        if value is None:
            value = self.old.get(key)
            if value is None:
                value = make(key)
            self.put(key, value)
        return value

    def get_many(self, keys: Sequence[str], make: Callable[[str], V]) -> list[V]:
        """`get` for each of ``keys``, in order. Most words of a post are in `young`: they are read
        in one `map` over `dict.get` (no Python step a word), and only the others go through `get`."""
        found = list(map(self.young.get, keys))
        if None in found:
            found = [v if v is not None else self.get(k, make) for v, k in zip(found, keys, strict=True)]
        return found  # type: ignore[return-value]

    def put(self, key: str, value: V) -> None:
        if len(self.young) >= self.limit:
            self.old, self.young = self.young, {}
        self.young[key] = value

    def clear(self) -> None:
        self.young.clear()
        self.old.clear()

    def __len__(self) -> int:
        return len(self.young) + len(self.old)
