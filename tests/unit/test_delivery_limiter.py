"""The shared rate limiter on a manual clock: no window ever holds more than its limit."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from bot.config import DeliverySettings
from bot.delivery.clock import ManualClock
from bot.delivery.limiter import EDGE_MARGIN, RateLimiter

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
    assert limiter.capacity_period() == 2.0 + EDGE_MARGIN  # 30 messages per 2 s: half the rate
    for chat in range(1, 61):
        await limiter.acquire(chat)
    assert _us(clock) == 2_000_000 + EDGE_MARGIN * 1_000_000  # 30 at once, the next 30 two seconds later
    for _ in range(200):
        limiter.success()
    assert limiter.capacity_period() == 1.0 + EDGE_MARGIN


async def test_a_share_of_the_global_limit_holds_at_once_and_can_grow_back() -> None:
    clock = ManualClock(START)
    limiter = RateLimiter(DeliverySettings(global_per_second=30), clock)
    for chat in range(1, 6):  # five sends just now
        await limiter.acquire(chat)
    limiter.set_share(1 / 3)  # two more workers came up: 10 a second here
    assert limiter.rate == 10 and limiter.capacity_period() == 1.0 + EDGE_MARGIN
    sent: list[int] = [_us(clock)] * 5
    for chat in range(6, 66):
        await limiter.acquire(chat)
        sent.append(_us(clock))
    assert _max_in_window(sent, 1_000_000) == 10  # the five earlier sends counted too
    limiter.set_share(1)  # the others stopped: 30 a second again, once their last sends have left the window
    before = _us(clock)
    for chat in range(100, 160):
        await limiter.acquire(chat)
    assert _us(clock) - before <= 2_100_000


def test_a_send_in_flight_holds_its_slot_until_its_answer() -> None:
    clock = ManualClock(START)
    limiter = RateLimiter(DeliverySettings(global_per_second=30), clock)
    for chat in range(1, 31):
        limiter.begin(chat)
    assert limiter.free_now() == 0
    clock.advance(5)  # answers are slow: the 30 still count, however long ago they began
    assert limiter.free_now() == 0
    for chat in range(1, 31):
        limiter.end(chat)
    clock.advance(0.9)
    assert limiter.free_now() == 0  # they count at their answer, 0.9 s ago
    clock.advance(0.2)
    assert limiter.free_now() == 30


def _simulate(shares: list[float], seconds: float, rnd: random.Random, latency: float) -> list[float]:
    """Workers (one limiter each, on one clock) sending as fast as their limiter lets them; each
    message reaches Telegram at a random time between its slot and its answer. The arrival times."""
    clock = ManualClock(START)
    limiters = [RateLimiter(DeliverySettings(global_per_second=30), clock) for _ in shares]
    for limiter, share in zip(limiters, shares, strict=True):
        limiter.set_share(share)
    arrivals: list[float] = []
    answers: list[tuple[float, int, int]] = []  # (when, worker, chat)
    chat = 0
    while (now := (clock.now() - START).total_seconds()) < seconds:
        for when, worker, to in [a for a in answers if a[0] <= now]:
            limiters[worker].end(to)
            answers.remove((when, worker, to))
        for worker, limiter in enumerate(limiters):
            for _ in range(limiter.free_now()):
                chat += 1
                limiter.begin(chat)
                took = rnd.uniform(0, latency)
                arrivals.append(now + rnd.uniform(0, took))
                answers.append((now + took, worker, chat))
        clock.advance(rnd.uniform(0.0005, 0.02))
    return sorted(arrivals)


def _most_in_a_second(times: list[float]) -> int:
    return _max_in_window([round(t * 1_000_000) for t in times], 1_000_000)


def test_arrivals_keep_the_limit_whatever_the_time_on_the_wire() -> None:
    """Telegram counts a message when it arrives: anywhere between the slot and the answer."""
    rnd = random.Random(19)
    one = _simulate([1.0], 20, rnd, latency=0.3)
    assert _most_in_a_second(one) <= 30
    assert len(one) / 20 > 30 / 1.3 * 0.9  # about 30 per (1 s + the time on the wire)


def test_shares_of_several_workers_add_up_to_the_limit_in_every_second() -> None:
    rnd = random.Random(7)
    for workers in (2, 3, 7):
        arrivals = _simulate([1 / workers] * workers, 10, rnd, latency=0.1)
        assert _most_in_a_second(arrivals) <= 30, workers
    # 7 workers: 4 a second each (30/7 = 4.29 whole messages), never 8 in one second
    assert len(arrivals) / 10 >= 28 * 0.85


def test_a_larger_share_waits_until_the_window_has_passed() -> None:
    clock = ManualClock(START)
    limiter = RateLimiter(DeliverySettings(global_per_second=30), clock)
    limiter.set_share(1 / 2)
    for chat in range(1, 16):
        limiter.record(chat)
    limiter.set_share(1)  # the other worker stopped: its last sends may still be in this second
    assert limiter.rate == 15 and limiter.free_now() == 0
    clock.advance(1.01)
    assert limiter.free_now() == 30 and limiter.rate == 30
