"""A full run with every secret configured: not one of them in any output, at DEBUG level.

Real processes: `db upgrade`, `demo`, and `run` with every role (Telegram "reachable" at a closed
local port, so the clients fail, retry and log their errors), stopped with SIGTERM. Their stdout
and stderr are searched for the api hash, the session string, the bot token and its secret half.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from telethon.crypto import AuthKey
from telethon.sessions import StringSession

from tests.integration.test_faults import fault_env

pytestmark = pytest.mark.slow


def _session_string() -> str:
    session = StringSession()
    session.set_dc(2, "127.0.0.1", 9)
    session.auth_key = AuthKey(os.urandom(256))
    return str(session.save())


def test_no_secret_in_the_output_of_a_full_run(tmp_path: Path) -> None:
    api_hash = os.urandom(16).hex()
    token = "7012345678:AA" + os.urandom(16).hex()
    session = _session_string()
    secrets = {"api hash": api_hash, "session": session, "bot token": token, "token half": token.split(":")[1]}
    env = fault_env(
        f"sqlite:///{tmp_path / 'tgmon.db'}", tmp_path,
        TELEGRAM_API_ID="12345", TELEGRAM_API_HASH=api_hash, TELEGRAM_SESSION=session,
        TELEGRAM_BOT_TOKEN=token, TELEGRAM_SERVER="127.0.0.1:9", TELEGRAM_DC_ID="2",
        TGMON_LOG_LEVEL="DEBUG", TGMON_LOG_JSON="false", TGMON_METRICS_PORT="0",
    )
    outputs: dict[str, str] = {}
    for name, args in {"upgrade": ["db", "upgrade"], "demo": ["demo"]}.items():
        done = subprocess.run([sys.executable, "-m", "bot", *args], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        outputs[name] = done.stdout + done.stderr

    log = tmp_path / "run.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "bot", "run"], env=env, cwd=tmp_path,
                                stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and "restarting in" not in log.read_text(errors="replace"):
                time.sleep(0.2)  # until a Telegram-facing role has failed and logged it at least once
            time.sleep(2)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
    outputs["run"] = log.read_text(errors="replace")

    run = outputs["run"]
    assert "tgmon running: ingest, scheduler, delivery, bot" in run
    assert "restarting in" in run and "DEBUG" in run  # errors and debug records were written
    for what, secret in secrets.items():
        for name, text in outputs.items():
            assert secret not in text, f"the {what} appears in the output of {name}"
