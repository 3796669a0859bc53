"""One rate limiter for every send of a process: Telegram's limits as sliding windows.

At most `global_per_second` messages a second overall, `private_chat_per_second` to one private
chat and `group_per_minute` to one group. A window remembers its last `capacity` sends; a new send
waits until fewer than `capacity` of them are in the window, so no window of that length ever holds
more than `capacity` sends (the simulated-Telegram benchmark counts violations this way).

Telegram counts a message when it arrives, which is some time after the worker took its slot and
before the answer comes back. So a send in flight counts as happening "now" until its answer, and
then at the time of its answer (`begin`/`end`): whatever the time on the wire, any `capacity + 1`
arrivals are more than a window apart. The global window holds a whole number of messages a
second (a share of 30 over 7 workers is 4 a second, not 4.29 per 0.93 s, which could put 8 in one
second), so the workers' shares add up to at most the bot's limit in every second.

A FloodWait slows the global rate down (halving it, down to 1/8) and it recovers step by step as
sends succeed. A smaller share takes effect at once; a larger one only a window later, once the
sends of the worker that left have left the window too.
"""

from __future__ import annotations

import math
from collections import deque
from datetime import datetime, timedelta

from bot.config import DeliverySettings
from bot.domain import Clock


class Window:
    """At most `capacity` events in any `period` seconds; an event in flight counts as now."""

    __slots__ = ("capacity", "in_flight", "period", "times")

    def __init__(self, capacity: int, period: float) -> None:
        self.capacity = capacity
        self.period = period
        self.times: deque[float] = deque(maxlen=capacity)  # ended events, in order
        self.in_flight = 0

    def delay(self, now: float) -> float:
        return self.delay_for(1, now)

    def begin(self) -> None:
        self.in_flight += 1

    def end(self, now: float) -> None:
        self.in_flight = max(0, self.in_flight - 1)
        self.times.append(now)

    def record(self, now: float) -> None:
        """An event that began and ended at `now`."""
        self.times.append(now)

    def free(self, now: float) -> int:
        """How many events may happen now without waiting."""
        return max(0, self.capacity - self.in_flight - sum(1 for t in self.times if t + self.period > now))

    def delay_for(self, k: int, now: float) -> float:
        """Seconds until `k` events (at most `capacity`) may happen at once; with too many in flight,
        a window's period (an answer ends the wait sooner)."""
        room = self.capacity - self.in_flight  # slots not held by events in flight
        k = min(k, self.capacity)
        if k > room:
            return self.period
        # k events now keep the window at capacity when at most room - k ended ones are in it
        oldest_kept = len(self.times) - (room - k) - 1
        if oldest_kept < 0:
            return 0.0
        return _whole_us(self.times[oldest_kept] + self.period - now)


def _whole_us(seconds: float) -> float:
    """A wait rounded up to a whole microsecond (a clock's resolution: a shorter sleep moves no clock)."""
    return max(0.0, math.ceil(seconds * 1_000_000 - 1e-3) / 1_000_000)


def _window(rate: float, per: float) -> Window:
    """`rate` events per `per` seconds as a window: whole events over the matching period."""
    capacity = max(1, int(rate))
    return Window(capacity, per * capacity / rate)


EDGE_MARGIN = 0.002  # seconds added to the global window: the clocks' rounding at Telegram's side


def _global_window(rate: float) -> Window:
    """A whole number of messages a second (or one per 1/rate seconds below one a second)."""
    if rate >= 1:
        return Window(int(rate), 1.0)
    return Window(1, 1.0 / rate)


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
        self._global = _global_window(self.rate)
        self._base_period = self._global.period
        self._growth: tuple[float, float] | None = None  # (a larger rate, from when)
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
                self._chats = {k: w for k, w in self._chats.items()
                               if w.in_flight or (w.times and w.times[-1] + w.period > t)}
            self._chats[chat_id] = window
        return window

    def _sync(self, t: float) -> Window:
        """The global window as of `t`: a larger share that is due applied, the slowdown in its period."""
        if self._growth is not None and t >= self._growth[1]:
            rate, self._growth = self._growth[0], None
            self._resize(rate)
        self._global.period = self.capacity_period()
        return self._global

    def delay(self, chat_id: int) -> float:
        """Seconds until a message to `chat_id` may go (0: now)."""
        t = self._t()
        return max(self._sync(t).delay(t), self._chat(chat_id).delay(t))

    def chat_delay(self, chat_id: int) -> float:
        """Seconds until `chat_id`'s own window lets a message go (the global window aside)."""
        return self._chat(chat_id).delay(self._t())

    def free_now(self) -> int:
        """How many messages (to distinct chats that are free) may go right now under the global limit."""
        t = self._t()
        return self._sync(t).free(t)

    def global_delay(self, k: int = 1) -> float:
        """Seconds until `k` messages may go at once under the global limit."""
        t = self._t()
        return self._sync(t).delay_for(k, t)

    def capacity_period(self) -> float:
        return self._base_period * self.slowdown + EDGE_MARGIN

    def set_share(self, share: float) -> None:
        """Pace at `share` of `global_per_second` (several workers split the limit: bot/delivery/share.py).
        A smaller share takes effect at once, the recent sends still counted; a larger one a window
        later, when the last sends of the worker whose share it takes over can no longer be in it."""
        rate = self.settings.global_per_second * min(max(share, 0.0), 1.0)
        rate = max(rate, 1e-3)
        if rate > self.rate:
            if self._growth is None or self._growth[0] != rate:
                self._growth = (rate, self._t() + self.capacity_period())
            return
        self._growth = None
        if rate < self.rate:
            self._resize(rate)

    def _resize(self, rate: float) -> None:
        old = self._global
        self.rate = rate
        self._global = _global_window(rate)
        self._base_period = self._global.period
        self._global.times.extend(list(old.times)[-self._global.capacity :])
        self._global.in_flight = old.in_flight

    def record(self, chat_id: int) -> None:
        """A message that went now (its answer too)."""
        t = self._t()
        self._global.record(t)
        self._chat(chat_id).record(t)

    def begin(self, chat_id: int) -> None:
        """A message to `chat_id` is about to go: it holds its slots until `end`."""
        self._global.begin()
        self._chat(chat_id).begin()

    def end(self, chat_id: int) -> None:
        """Its answer came (or the request ended otherwise): it counts as sent now."""
        t = self._t()
        self._global.end(t)
        self._chat(chat_id).end(t)

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
