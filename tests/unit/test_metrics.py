"""The /metrics and /healthz endpoint, over real HTTP."""

from __future__ import annotations

import time
import urllib.error
import urllib.request

from bot import metrics
from bot.domain import IngestResult
from bot.runtime.health import Health


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_metrics_endpoint_serves_counters() -> None:
    before = metrics.value("tgmon_posts_ingested_total", result="stored")
    metrics.record_ingest(IngestResult(stored=3, unchanged=2, matches=4), {"vvgladkov": 12.5})
    metrics.send_failed("flood_wait")
    metrics.flood_wait(30, "delivery")
    metrics.set_leader(True)
    server = metrics.MetricsServer("127.0.0.1", 0, lambda: (True, [])).start()
    try:
        status, body = _get(server.port, "/metrics")
    finally:
        server.stop()
    assert status == 200
    assert metrics.value("tgmon_posts_ingested_total", result="stored") == before + 3
    for line in (
        'tgmon_channel_lag_seconds{channel="vvgladkov"} 12.5',
        "tgmon_scheduler_leader 1.0",
        'tgmon_send_failures_total{reason="flood_wait"}',
        'tgmon_flood_wait_seconds_total{where="delivery"}',
        "tgmon_matches_total",
        "process_resident_memory_bytes",
    ):
        assert line in body
    metrics.set_leader(False)


def test_healthz_fails_when_a_service_stalls() -> None:
    clock = FakeTime()
    # heartbeats are process-wide and on the monotonic clock: an earlier test's beat must be in the past
    clock.now = time.monotonic() + 10_000
    health = Health(stall_seconds=60, clock=clock)
    health.register("scheduler")
    server = metrics.MetricsServer("127.0.0.1", 0, health.check).start()
    try:
        assert _get(server.port, "/healthz") == (200, "ok\n")
        clock.now += 61
        status, body = _get(server.port, "/healthz")
        assert status == 503 and "scheduler: no progress for 61 s" in body
        metrics.heartbeat("scheduler")  # a beat from the real monotonic clock is "now" only when
        clock.now = metrics.last_beat("scheduler") or 0  # the fake clock agrees
        assert _get(server.port, "/healthz")[0] == 200
        assert _get(server.port, "/nothing")[0] == 404
    finally:
        server.stop()


def test_health_delivery_stuck_with_due_work() -> None:
    clock = FakeTime()
    health = Health(stall_seconds=60, clock=clock)
    health.register("delivery", window=10_000)
    health.oldest_due_seconds = 30
    clock.now += 100
    assert health.check()[0]  # rows due, but not for long
    health.oldest_due_seconds = 120
    ok, problems = health.check()
    assert not ok and "outbox rows due for 120 s" in problems[0]


def test_health_database_down_and_ended_service() -> None:
    clock = FakeTime()
    health = Health(stall_seconds=60, clock=clock)
    health.register("ingest", window=10_000)
    health.db_probe(None)
    health.db_probe("ConnectionRefusedError")
    clock.now += 30
    assert health.check()[0]  # a short outage is tolerated
    clock.now += 31
    assert "database unreachable for 61 s" in health.check()[1][0]
    health.db_probe(None)
    health.ended("ingest", "failed with OSError, restarting")
    assert health.check() == (False, ["ingest: stopped (failed with OSError, restarting)"])
