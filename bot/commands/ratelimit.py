"""Per-user token buckets for commands: a burst, then a steady rate. Flooders are told once.

A button press costs a fraction of a command: going through a settings menu takes several presses
in a few seconds, and that is not a flood."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float
    warned: bool = False


class RateLimiter:
    """`check(user)` is "allow", "warn" (refused; tell the user once) or "drop" (refused, stay quiet)."""

    def __init__(
        self,
        per_minute: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_users: int = 100_000,
    ) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self._clock = clock
        self._buckets: dict[int, _Bucket] = {}
        self._max_users = max_users

    def check(self, user_id: int, cost: float = 1.0) -> str:
        now = self._clock()
        bucket = self._buckets.get(user_id)
        if bucket is None:
            if len(self._buckets) >= self._max_users:
                self._forget_full(now)
            bucket = self._buckets[user_id] = _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.stamp) * self.rate)
        bucket.stamp = now
        if bucket.tokens >= cost:
            bucket.tokens -= cost
            bucket.warned = False
            return "allow"
        if bucket.warned:
            return "drop"
        bucket.warned = True
        return "warn"

    def retry_after(self, user_id: int) -> float:
        bucket = self._buckets.get(user_id)
        if bucket is None or bucket.tokens >= 1.0:
            return 0.0
        return (1.0 - bucket.tokens) / self.rate

    def _forget_full(self, now: float) -> None:
        """Drop users whose bucket has refilled: they are indistinguishable from new ones."""
        full = [u for u, b in self._buckets.items() if b.tokens + (now - b.stamp) * self.rate >= self.burst]
        for user in full:
            del self._buckets[user]
        if len(self._buckets) >= self._max_users:  # everyone is mid-flood: keep memory bounded anyway
            self._buckets.clear()
