"""`run_roles` in-process: the scheduler role on SQLite, SIGTERM, and a port already taken."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import socket
from pathlib import Path

import pytest

from bot import metrics
from bot.config import load_settings
from bot.runtime import RoleError, run_roles

NO_ENV = Path("/nonexistent/.env")


@pytest.mark.dates  # the scheduler role ticks on the real clock and the machine's time zone
async def test_scheduler_role_leads_and_stops_on_sigterm(tmp_path: Path) -> None:
    settings = load_settings(environ={"TGMON_DATABASE_URL": f"sqlite:///{tmp_path / 't.db'}",
                                      "TGMON_METRICS_PORT": "0"}, env_file=NO_ENV)
    task = asyncio.create_task(run_roles(settings, ["scheduler"]))
    for _ in range(200):
        if metrics.value("tgmon_scheduler_leader") == 1 and metrics.value("tgmon_digests_built_total") >= 0:
            break
        await asyncio.sleep(0.05)
    assert metrics.value("tgmon_scheduler_leader") == 1  # SQLite: the only process leads
    assert metrics.value("tgmon_service_up", service="scheduler") == 1
    assert (tmp_path / "t.db.lock").exists()
    assert gc.get_freeze_count() > 10_000  # the start-up heap is out of the collector's full passes
    os.kill(os.getpid(), signal.SIGTERM)  # handled by the runtime's loop handler: a clean stop
    assert await asyncio.wait_for(task, 15) == 0
    assert metrics.value("tgmon_scheduler_leader") == 0
    assert metrics.value("tgmon_service_up", service="scheduler") == 0
    assert gc.get_freeze_count() == 0  # and back in when the service stops


async def test_metrics_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = load_settings(environ={"TGMON_DATABASE_URL": f"sqlite:///{tmp_path / 't.db'}",
                                          "TGMON_METRICS_PORT": str(port)}, env_file=NO_ENV)
        with pytest.raises(RoleError, match=f"cannot serve metrics on 127.0.0.1:{port}"):
            await run_roles(settings, ["scheduler"])
