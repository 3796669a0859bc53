"""The shared rate limiter on a manual clock: no window ever holds more than its limit."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from bot.config import DeliverySettings
from bot.delivery.clock import ManualClock
from bot.delivery.limiter import RateLimiter

START = datetime(2026, 11, 20, tzinfo=UTC)


def _us(clock: ManualClock) -> int:
    return round((clock.now() - START).total_seconds() * 1_000_000)


def _max_in_window(times: list[int], span_us: int) -> int:
    best, left = 0, 0
    for right, t in enumerate(times):
        while times[left] <= t - span_us:
            left += 1
        best = max(best, right - left + 1)
    return best


async def test_global_private_and_group_limits_hold_and_the_global_rate_is_reached() -> None:
    settings = DeliverySettings(global_per_second=30, private_chat_per_second=1, group_per_minute=20)
    clock = ManualClock(START)
    limiter = RateLimiter(settings, clock)
    rnd = random.Random(3)
    chats = [*range(1, 200), *range(-20, 0)]
    sent: list[tuple[int, int]] = []
    for _ in range(3000):
        chat = rnd.choice(chats)
        await limiter.acquire(chat)
        sent.append((_us(clock), chat))
    times = [t for t, _ in sent]
    assert _max_in_window(times, 1_000_000) == 30
    for chat in chats:
        mine = [t for t, c in sent if c == chat]
        if chat < 0:
            assert _max_in_window(mine, 60_000_000) <= 20
        else:
            assert _max_in_window(mine, 1_000_000) <= 1
    assert times == sorted(times)


async def test_one_busy_chat_waits_one_second_between_messages() -> None:
    clock = ManualClock(START)
    limiter = RateLimiter(DeliverySettings(), clock)
    for _ in range(5):
        await limiter.acquire(42)
    assert _us(clock) == 4_000_000


async def test_flood_wait_slows_the_global_rate_and_success_recovers_it() -> None:
    clock = ManualClock(START)
    limiter = RateLimiter(DeliverySettings(global_per_second=30), clock)
    limiter.flood_wait(60)
    assert limiter.capacity_period() == 2.0  # 30 messages per 2 s: half the rate
    for chat in range(1, 61):
        await limiter.acquire(chat)
    assert _us(clock) == 2_000_000  # 30 at once, the next 30 only two seconds later
    for _ in range(200):
        limiter.success()
    assert limiter.capacity_period() == 1.0


async def test_a_share_of_the_global_limit_holds_at_once_and_can_grow_back() -> None:
    clock = ManualClock(START)
    limiter = RateLimiter(DeliverySettings(global_per_second=30), clock)
    for chat in range(1, 6):  # five sends just now
        await limiter.acquire(chat)
    limiter.set_share(1 / 3)  # two more workers came up: 10 a second here
    assert limiter.rate == 10 and limiter.capacity_period() == 1.0
    sent: list[int] = [_us(clock)] * 5
    for chat in range(6, 66):
        await limiter.acquire(chat)
        sent.append(_us(clock))
    assert _max_in_window(sent, 1_000_000) == 10  # the five earlier sends counted too
    limiter.set_share(1)  # the others stopped
    before = _us(clock)
    for chat in range(100, 130):
        await limiter.acquire(chat)
    assert _us(clock) - before <= 1_000_000  # 30 a second again
