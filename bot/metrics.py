"""Prometheus metrics, and the HTTP endpoint serving /metrics and /healthz.

Services record what they do through the small functions below (no Prometheus types leak out);
`serve(host, port, health)` starts the endpoint in a daemon thread. Metric names:

| name | type | labels | meaning |
|---|---|---|---|
| tgmon_posts_ingested_total | counter | result=stored/updated/unchanged | posts through the pipeline |
| tgmon_matches_total | counter | | new (rule, post) matches |
| tgmon_channel_lag_seconds | gauge | channel | newest post's date to the moment it was stored |
| tgmon_digests_built_total | counter | | digests the scheduler built |
| tgmon_messages_sent_total | counter | kind=digest/alert/reply/message | messages Telegram accepted |
| tgmon_send_failures_total | counter | reason=flood_wait/unavailable/uncertain/failed/error | failed sends |
| tgmon_notifications_total | counter | outcome=sent/failed/uncertain/gone | messages to other services (bot/notify) |
| tgmon_flood_wait_seconds_total | counter | where=ingest/delivery/bot | FloodWait seconds imposed |
| tgmon_channel_failures_total | counter | reason | failed reads of one channel (it is retried with backoff) |
| tgmon_outbox_rows | gauge | state, kind | outbox rows by state (the whole database; only the scheduler's leader reports it, others 0, so a sum is right) |
| tgmon_outbox_oldest_due_seconds | gauge | | age of the oldest pending row that is due (leader only, like the above) |
| tgmon_search_index_pending | gauge | | stored posts the search indexer has not reached (the whole database; leader only) |
| tgmon_scheduler_leader | gauge | | 1 while this process holds the scheduler lock |
| tgmon_service_up | gauge | service | 1 while a service of this process runs |
| tgmon_heartbeat_timestamp_seconds | gauge | service | last sign of progress (unix time) |
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    disable_created_metrics,
    generate_latest,
)

from bot.domain import IngestResult

log = logging.getLogger(__name__)

disable_created_metrics()  # no `_created` twin of every counter: half the series, nothing lost
REGISTRY = CollectorRegistry(auto_describe=True)
for _collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
    REGISTRY.register(_collector)

POSTS = Counter("tgmon_posts_ingested", "Posts through the pipeline", ["result"], registry=REGISTRY)
MATCHES = Counter("tgmon_matches", "New (rule, post) matches", registry=REGISTRY)
CHANNEL_LAG = Gauge("tgmon_channel_lag_seconds", "Newest post's date to when it was stored", ["channel"],
                    registry=REGISTRY)
DIGESTS_BUILT = Counter("tgmon_digests_built", "Digests built by the scheduler", registry=REGISTRY)
SENT = Counter("tgmon_messages_sent", "Messages Telegram accepted", ["kind"], registry=REGISTRY)
SEND_FAILURES = Counter("tgmon_send_failures", "Failed sends by reason", ["reason"], registry=REGISTRY)
NOTIFICATIONS = Counter("tgmon_notifications", "Messages to other services by outcome", ["outcome"],
                        registry=REGISTRY)
FLOOD_WAIT = Counter("tgmon_flood_wait_seconds", "FloodWait seconds imposed", ["where"], registry=REGISTRY)
CHANNEL_FAILURES = Counter("tgmon_channel_failures", "Failed lookups, joins or reads of one channel", ["reason"],
                           registry=REGISTRY)
OUTBOX = Gauge("tgmon_outbox_rows", "Outbox rows by state and kind", ["state", "kind"], registry=REGISTRY)
OUTBOX_OLDEST_DUE = Gauge("tgmon_outbox_oldest_due_seconds", "Age of the oldest due pending row", registry=REGISTRY)
SEARCH_PENDING = Gauge("tgmon_search_index_pending", "Stored posts not in the search index yet", registry=REGISTRY)
LEADER = Gauge("tgmon_scheduler_leader", "1 while this process holds the scheduler lock", registry=REGISTRY)
SERVICE_UP = Gauge("tgmon_service_up", "1 while a service runs in this process", ["service"], registry=REGISTRY)
HEARTBEAT = Gauge("tgmon_heartbeat_timestamp_seconds", "Last progress of a service", ["service"], registry=REGISTRY)

_beats: dict[str, float] = {}  # service -> time.monotonic() of its last progress, read by the health check


def record_ingest(result: IngestResult, lag: dict[str, float] | None = None) -> None:
    """One pipeline batch: counts by outcome, new matches, and per-channel lag in seconds."""
    POSTS.labels("stored").inc(result.stored)
    POSTS.labels("updated").inc(result.updated)
    POSTS.labels("unchanged").inc(result.unchanged)
    MATCHES.inc(result.matches)
    for channel, seconds in (lag or {}).items():
        CHANNEL_LAG.labels(channel).set(max(0.0, seconds))
    heartbeat("ingest")


def digest_built(count: int = 1) -> None:
    DIGESTS_BUILT.inc(count)


def message_sent(kind: str = "message") -> None:
    SENT.labels(kind).inc()


def send_failed(reason: str) -> None:
    """reason: flood_wait, unavailable (blocked/deactivated), uncertain, failed, error."""
    SEND_FAILURES.labels(reason).inc()


def notification(outcome: str) -> None:
    """A message to another service (bot/notify): sent, failed (retried), uncertain, gone (target removed)."""
    NOTIFICATIONS.labels(outcome).inc()


def flood_wait(seconds: float, where: str) -> None:
    FLOOD_WAIT.labels(where).inc(max(0.0, seconds))


def channel_failed(reason: str) -> None:
    """reason: a ChannelError code (not_found, private, banned, flood_wait, ...) or `unexpected`."""
    CHANNEL_FAILURES.labels(reason).inc()


def set_leader(leading: bool) -> None:
    LEADER.set(1 if leading else 0)


def service_up(service: str, up: bool) -> None:
    SERVICE_UP.labels(service).set(1 if up else 0)


def heartbeat(service: str) -> None:
    """A service made progress (a loop pass, a batch, a send). /healthz fails when beats stop."""
    _beats[service] = time.monotonic()
    HEARTBEAT.labels(service).set(time.time())


def last_beat(service: str) -> float | None:
    return _beats.get(service)


def set_outbox(rows: dict[tuple[str, str], int], oldest_due: datetime | None, now: datetime | None = None) -> None:
    OUTBOX.clear()
    for (state, kind), count in rows.items():
        OUTBOX.labels(state, kind).set(count)
    now = now or datetime.now(UTC)
    OUTBOX_OLDEST_DUE.set(max(0.0, (now - oldest_due).total_seconds()) if oldest_due else 0.0)


def set_search_pending(posts: int) -> None:
    SEARCH_PENDING.set(posts)


def clear_database_gauges() -> None:
    """A process that does not lead reports no whole-database count (the leader does)."""
    OUTBOX.clear()
    OUTBOX_OLDEST_DUE.set(0)
    SEARCH_PENDING.set(0)


def value(name: str, **labels: str) -> float:
    """A sample's current value (0 when never set): for tests and the health check."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


HealthCheck = Callable[[], tuple[bool, list[str]]]


class MetricsServer:
    """/metrics (Prometheus text format) and /healthz (200 "ok", or 503 and the problems)."""

    def __init__(self, host: str, port: int, health: HealthCheck) -> None:
        check = health

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._reply(200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
                elif path in ("/healthz", "/health"):
                    try:
                        ok, problems = check()
                    except Exception as exc:  # the check itself broke: that is unhealthy too
                        ok, problems = False, [f"health check failed: {type(exc).__name__}"]
                    body = "ok\n" if ok else "".join(p + "\n" for p in problems)
                    self._reply(200 if ok else 503, body.encode(), "text/plain; charset=utf-8")
                else:
                    self._reply(404, b"not found; try /metrics or /healthz\n", "text/plain")

            def _reply(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # scrapes every 15 s would flood the log

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="metrics", daemon=True)

    def start(self) -> MetricsServer:
        self._thread.start()
        log.info("metrics on http://%s:%d/metrics, health on /healthz", self.httpd.server_address[0], self.port)
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
