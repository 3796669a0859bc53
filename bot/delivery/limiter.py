"""One rate limiter for every send of a process: Telegram's limits as sliding windows.

At most `global_per_second` messages a second overall, `private_chat_per_second` to one private
chat and `group_per_minute` to one group. A window remembers the times of its last `capacity`
sends; a new send waits until the oldest of them has left the window, so no window of that length
ever holds more than `capacity` sends (the simulated-Telegram benchmark counts violations this way).
A FloodWait slows the global rate down (halving it, down to 1/8) and it recovers step by step as
sends succeed.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta

from bot.config import DeliverySettings
from bot.domain import Clock


class Window:
    """At most `capacity` events in any `period` seconds."""

    __slots__ = ("capacity", "period", "times")

    def __init__(self, capacity: int, period: float) -> None:
        self.capacity = capacity
        self.period = period
        self.times: deque[float] = deque(maxlen=capacity)

    def delay(self, now: float) -> float:
        if len(self.times) < self.capacity:
            return 0.0
        return max(0.0, self.times[0] + self.period - now)

    def record(self, now: float) -> None:
        self.times.append(now)

    def free(self, now: float) -> int:
        """How many events may happen now without waiting."""
        return self.capacity - sum(1 for t in self.times if t + self.period > now)

    def delay_for(self, k: int, now: float) -> float:
        """Seconds until `k` events (at most `capacity`) may happen at once."""
        need = min(k, self.capacity) - (self.capacity - len(self.times))
        if need <= 0:
            return 0.0
        return max(0.0, self.times[need - 1] + self.period - now)


def _window(rate: float, per: float) -> Window:
    """`rate` events per `per` seconds as a window: whole events over the matching period."""
    capacity = max(1, int(rate))
    return Window(capacity, per * capacity / rate)


def is_group(chat_id: int) -> bool:
    """Bot API style ids: users are positive, groups and channels negative."""
    return chat_id < 0


def chat_gap(settings: DeliverySettings, chat_id: int) -> timedelta:
    """The least time between two messages to one chat that keeps its limit (1 s a private chat, 3 s a
    group at 20 a minute): what the outbox makes a chat's next message wait (`outbox.mark_sent`)."""
    return timedelta(seconds=60 / settings.group_per_minute if is_group(chat_id) else 1 / settings.private_chat_per_second)


class RateLimiter:
    def __init__(self, settings: DeliverySettings, clock: Clock, *, max_slowdown: float = 8.0) -> None:
        self.settings = settings
        self.clock = clock
        self.max_slowdown = max_slowdown
        self.slowdown = 1.0
        self.rate = float(settings.global_per_second)  # this process's part of the global limit
        self._global = _window(self.rate, 1.0)
        self._chats: dict[int, Window] = {}
        self._epoch = clock.now()

    def _t(self, now: datetime | None = None) -> float:
        return ((now or self.clock.now()) - self._epoch).total_seconds()

    def _chat(self, chat_id: int) -> Window:
        window = self._chats.get(chat_id)
        if window is None:
            if is_group(chat_id):
                window = _window(self.settings.group_per_minute, 60.0)
            else:
                window = _window(self.settings.private_chat_per_second, 1.0)
            if len(self._chats) > 100_000:  # forget idle chats: their windows have long emptied
                t = self._t()
                self._chats = {k: w for k, w in self._chats.items() if w.times and w.times[-1] + w.period > t}
            self._chats[chat_id] = window
        return window

    def delay(self, chat_id: int) -> float:
        """Seconds until a message to `chat_id` may go (0: now)."""
        t = self._t()
        self._global.period = self.capacity_period()
        return max(self._global.delay(t), self._chat(chat_id).delay(t))

    def chat_delay(self, chat_id: int) -> float:
        """Seconds until `chat_id`'s own window lets a message go (the global window aside)."""
        return self._chat(chat_id).delay(self._t())

    def free_now(self) -> int:
        """How many messages (to distinct chats that are free) may go right now under the global limit."""
        self._global.period = self.capacity_period()
        return self._global.free(self._t())

    def global_delay(self, k: int = 1) -> float:
        """Seconds until `k` messages may go at once under the global limit."""
        self._global.period = self.capacity_period()
        return self._global.delay_for(k, self._t())

    def capacity_period(self) -> float:
        return self._global.capacity / self.rate * self.slowdown

    def set_share(self, share: float) -> None:
        """Pace at `share` of `global_per_second` (several workers split the limit: bot/delivery/share.py).
        The recent sends stay counted, so a smaller share takes effect at once."""
        rate = self.settings.global_per_second * min(max(share, 0.0), 1.0)
        rate = max(rate, 1e-3)
        if rate == self.rate:
            return
        recent = list(self._global.times)
        self.rate = rate
        self._global = _window(rate, 1.0)
        self._global.times.extend(recent[-self._global.capacity :])

    def record(self, chat_id: int) -> None:
        t = self._t()
        self._global.record(t)
        self._chat(chat_id).record(t)

    async def acquire(self, chat_id: int) -> None:
        """Wait for a slot for `chat_id` and take it."""
        while True:
            wait = self.delay(chat_id)
            if wait <= 0:
                self.record(chat_id)
                return
            await self.clock.sleep(wait)

    def flood_wait(self, seconds: float) -> None:
        """Telegram said FloodWait: send slower for a while."""
        self.slowdown = min(self.max_slowdown, self.slowdown * 2)

    def success(self) -> None:
        if self.slowdown > 1.0:
            self.slowdown = max(1.0, self.slowdown * 0.98)
