"""What /healthz answers: is every service of this process alive and making progress?

A service is unhealthy when its task ended without being asked to stop, when it has shown no sign
of progress (a heartbeat, see `bot.metrics.heartbeat`) for longer than its window, or, for delivery,
when rows are due in the outbox and nothing was sent for that long. The database probe of the
monitor task counts too: a database unreachable for longer than the window fails the check.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from bot import metrics


@dataclass
class _Service:
    window: float
    started: float
    ended: str | None = None  # why it ended, when it did


class Health:
    def __init__(self, stall_seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.stall = stall_seconds
        self.clock = clock
        self.services: dict[str, _Service] = {}
        self.started = clock()
        self.db_ok_at: float | None = None
        self.db_error: str | None = None
        self.oldest_due_seconds = 0.0  # from the monitor: age of the oldest due pending outbox row
        self.stopping = False

    def register(self, service: str, window: float | None = None) -> None:
        self.services[service] = _Service(window or self.stall, self.clock())
        metrics.service_up(service, True)

    def ended(self, service: str, reason: str) -> None:
        if service in self.services:
            self.services[service].ended = reason
        metrics.service_up(service, False)

    def db_probe(self, error: str | None) -> None:
        if error is None:
            self.db_ok_at, self.db_error = self.clock(), None
        else:
            self.db_error = error

    def check(self) -> tuple[bool, list[str]]:
        now = self.clock()
        problems: list[str] = []
        if self.stopping:
            problems.append("shutting down")
        for name, svc in self.services.items():
            if svc.ended is not None:
                problems.append(f"{name}: stopped ({svc.ended})")
                continue
            beat = metrics.last_beat(name)
            since = now - max(beat if beat is not None else svc.started, svc.started)
            if since > svc.window:
                problems.append(f"{name}: no progress for {since:.0f} s (limit {svc.window:.0f} s)")
        if "delivery" in self.services and self.oldest_due_seconds > self.stall:
            beat = metrics.last_beat("delivery.sent")
            idle = now - (beat if beat is not None else self.started)
            if idle > self.stall:
                problems.append(
                    f"delivery: outbox rows due for {self.oldest_due_seconds:.0f} s and nothing sent for {idle:.0f} s"
                )
        if self.db_error is not None:
            down = now - (self.db_ok_at if self.db_ok_at is not None else self.started)
            if down > self.stall:
                problems.append(f"database unreachable for {down:.0f} s: {self.db_error}")
        return not problems, problems
