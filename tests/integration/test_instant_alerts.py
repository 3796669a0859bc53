"""An instant alert goes out when its match is stored, not at the scheduler's tick.

Real processes: `tgmon run --role scheduler --role delivery` with the tick turned off (once an hour),
and `tgmon import` in another process storing the matching posts; Telegram is the recording fake
edge. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bot.storage import models as m
from bot.storage.database import Database
from tests.integration.test_faults import Proc, fault_env, procs, upgrade, wait_until  # noqa: F401

CHAT = 4242


def _seed(url: str) -> None:
    async def go() -> None:
        db = Database.from_url(url)
        try:
            async with db.uow() as session:
                sub = m.Subscriber(chat_id=CHAT, title="instant", frequency="instant")
                session.add(sub)
                await session.flush()
                session.add(m.Rule(subscriber_id=sub.id, source="обстрел*", name="обстрел*", channels=[]))
        finally:
            await db.dispose()

    asyncio.run(go())


def _export(path: Path, message_id: int) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    path.write_text(json.dumps({
        "name": "Гладков Вячеслав", "type": "public_channel", "id": 1302282372,
        "messages": [{"id": message_id, "type": "message", "date": now.strftime("%Y-%m-%dT%H:%M:%S"),
                      "date_unixtime": str(int(now.timestamp())),
                      "text": f"Обстрел Белгорода, сводка {message_id}"}],
    }, ensure_ascii=False), "utf-8")


def _alerts(log: Path) -> int:
    return sum(1 for line in log.read_text().splitlines() if line.split()[0] == str(CHAT)) if log.exists() else 0


def test_an_instant_alert_goes_out_on_its_match_with_the_tick_off(
    db_url: str, tmp_path: Path, procs: Callable[..., Proc]  # noqa: F811
) -> None:
    upgrade(db_url, tmp_path)
    _seed(db_url)
    log = tmp_path / "sends.log"
    env = fault_env(db_url, tmp_path, TGMON_TEST_SENDER_LOG=str(log), TGMON_DIGEST__TICK_SECONDS="3600",
                    TGMON_DELIVERY__INSTANT_BATCH_SECONDS="1")
    service = procs(["run", "--role", "scheduler", "--role", "delivery"], env, tmp_path, "scheduler-delivery")
    wait_until(lambda: "instant alerts as matches are stored" in service.output(), 60, "the scheduler to start")
    time.sleep(1.0)  # the tick at start has run; from here on it is an hour away

    delays = []
    for n in range(1, 4):
        export = tmp_path / f"result{n}.json"
        _export(export, 1000 + n)
        done = subprocess.run([sys.executable, "-m", "bot", "import", str(export), "--channel", "vvgladkov"],
                              env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        stored = time.monotonic()  # the import has committed its match
        wait_until(lambda n=n: _alerts(log) >= n, 30, f"instant alert {n}", step=0.02)  # type: ignore[misc]
        delays.append(time.monotonic() - stored)
        time.sleep(1.1)  # past the batch window: the next match is an alert of its own

    assert service.p.poll() is None, service.output()[-3000:]
    assert _alerts(log) == 3
    assert max(delays) < 10, delays  # the tick would have taken up to an hour
    print(f"\ninstant alert, match stored -> sent: median {statistics.median(delays):.2f} s, "
          f"max {max(delays):.2f} s ({db_url.split(':', 1)[0]})")
