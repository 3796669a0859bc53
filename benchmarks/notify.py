"""Notifications: outbox rows sent through apprise to a local webhook, against the same number of rows
to a Telegram sender that answers at once, in the same run. Medians.

    python -m benchmarks.notify [--rows 300] [--repeat 3]

The real `deliver_due` on a SQLite database with the real clock and the rate limits lifted, so what
is measured is the worker's own speed, not Telegram's pacing: N rows to N chats' json:// targets, a
local HTTP server answering 200 at once (one request a row, the notifier's 8 threads; the server runs
in this process, so it shares the interpreter with the worker), against N rows to the chats
themselves through a sender that returns at once (the outbox's own cost: claim, send, record).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bot.config import DeliverySettings, Settings
from bot.delivery.clock import SystemClock
from bot.delivery.limiter import RateLimiter
from bot.delivery.worker import deliver_due
from bot.domain import SendResult
from bot.notify.sender import AppriseNotifier
from bot.storage import models as m
from bot.storage.database import Database

SETTINGS = Settings(delivery=DeliverySettings(global_per_second=100_000, private_chat_per_second=1_000))
TEXT = "<b>Instant alert</b>\n• 12:00 <b>Обстрел</b> Шебекино: повреждены дома\n<a href=\"https://t.me/x/1\">link</a>"


class _Instant:
    async def send_html(self, chat_id: int, html: str, *, random_id: int, **options: object) -> SendResult:
        return SendResult(1)


class _Hook(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


async def _run(rows: int, to_targets: bool, port: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database.from_url(f"sqlite:///{Path(tmp) / 'notify.db'}")
        await db.upgrade()
        now = datetime.now(UTC) - timedelta(seconds=1)
        async with db.uow() as session:
            for i in range(rows):
                sub = m.Subscriber(chat_id=10_000 + i, title="b", created_at=now)
                session.add(sub)
                await session.flush()
                target_id = None
                if to_targets:
                    target = m.NotifyTarget(subscriber_id=sub.id, mode="only", url=f"plain:json://127.0.0.1:{port}/hook",
                                            masked="json://127.0.0.1", body_format="text", body_limit=32768,
                                            keyed=True, created_at=now)
                    session.add(target)
                    await session.flush()
                    target_id = target.id
                session.add(m.Outbox(subscriber_id=sub.id, chat_id=sub.chat_id, kind="alert", text=TEXT,
                                     random_id=i + 1, not_before=now, created_at=now, target_id=target_id))
        clock = SystemClock()
        started = time.perf_counter()
        sent = await deliver_due(db, _Instant(), RateLimiter(SETTINGS.delivery, clock), clock,
                                 notifier=AppriseNotifier(db, SETTINGS))
        took = time.perf_counter() - started
        await db.dispose()
        assert sent == rows, f"{sent} of {rows} sent"
        return took


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.notify", description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = int(server.server_address[1])
    try:
        telegram, hooks = [], []
        for _ in range(args.repeat):  # interleaved, so a load spike hits both
            telegram.append(asyncio.run(_run(args.rows, False, port)))
            hooks.append(asyncio.run(_run(args.rows, True, port)))
    finally:
        server.shutdown()
    t, h = statistics.median(telegram), statistics.median(hooks)
    print(f"{args.rows} rows, median of {args.repeat}:")
    print(f"  to Telegram (a sender that answers at once): {t:.2f} s, {args.rows / t:.0f} rows/s")
    print(f"  to json:// webhooks through apprise:         {h:.2f} s, {args.rows / h:.0f} rows/s "
          f"({h / t:.1f}x the time)")


if __name__ == "__main__":
    main()
