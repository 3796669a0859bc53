"""Failures through the real command line (issue 16): every one is one line that says what is wrong and
what to do, exit code 2, no traceback, no secret. Each test runs `tgmon` as a user would, in a process
of its own, with an environment of its own (no .env, no settings file, no Telegram credentials unless given).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

API_HASH = "0123456789abcdef0123456789abcdef"
BOT_TOKEN = "123456:AAHabcdefghijklmnopqrstuvwxyz012345"
PG = "postgresql://postgres@127.0.0.1:5432"


def tgmon_argv() -> list[str]:
    script = Path(sys.executable).parent / "tgmon"
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot"]


def base_env(tmp: Path, **extra: str | None) -> dict[str, str]:
    """A clean environment: no .env, no settings file, data in tmp/data; a None in `extra` unsets a name."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp), "LANG": "C.UTF-8", "PYTHONUTF8": "1",
           "TGMON_CONFIG": str(tmp / "none.toml"), "TGMON_ENV_FILE": str(tmp / "none.env"),
           "TGMON_DATA_DIR": str(tmp / "data"), "TGMON_DATABASE_URL": f"sqlite:///{tmp / 'data' / 'tgmon.db'}"}
    env.update(extra)  # type: ignore[arg-type]
    return {name: value for name, value in env.items() if value is not None}


def tgmon(tmp: Path, *args: str, timeout: float = 60, **env: str | None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*tgmon_argv(), *args], cwd=tmp, env=base_env(tmp, **env), capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False)


def one_line_error(result: subprocess.CompletedProcess[str], code: int = 2) -> str:
    """The failure's message: exit `code`, nothing but one `Error: ...` line on stderr, no traceback."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    assert "Aborted!" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: "), lines[0]
    return lines[0]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def session_string(port: int) -> str:
    """A well-formed session string (an authorisation key of zeros' worth) bound to 127.0.0.1:port."""
    from telethon.crypto import AuthKey
    from telethon.sessions import StringSession

    session = StringSession()
    session.set_dc(2, "127.0.0.1", port)
    session.auth_key = AuthKey(bytes(range(256)))
    return str(session.save())


def telegram_env(port: int, *, session: bool = True) -> dict[str, str]:
    env = {"TELEGRAM_API_ID": "1", "TELEGRAM_API_HASH": API_HASH, "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
           "TELEGRAM_SERVER": f"127.0.0.1:{port}", "TELEGRAM_DC_ID": "2"}
    if session:
        env["TELEGRAM_SESSION"] = session_string(port)
    return env


def no_secret(text: str, *secrets: str) -> None:
    for secret in (API_HASH, BOT_TOKEN, BOT_TOKEN.split(":")[1], *secrets):
        assert secret not in text


@pytest.fixture
def tmp(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    return tmp_path


# --- the database ----------------------------------------------------------------------------------------
@pytest.mark.postgres
def test_a_postgresql_database_that_does_not_exist(tmp: Path, pg_database: str) -> None:
    missing = f"tgmon_missing_{uuid.uuid4().hex[:8]}"
    line = one_line_error(tgmon(tmp, "demo", "--database", f"{PG}/{missing}"))
    assert f"the database '{missing}' does not exist on the PostgreSQL server at 127.0.0.1:5432" in line
    assert f"createdb -h 127.0.0.1 -p 5432 -U postgres {missing}" in line and "--database" in line
    line = one_line_error(tgmon(tmp, "stats", TGMON_DATABASE_URL=f"{PG}/{missing}"))
    assert "does not exist" in line and "TGMON_DATABASE_URL" in line


@pytest.mark.postgres
def test_a_postgresql_role_that_does_not_exist(tmp: Path, pg_database: str) -> None:
    line = one_line_error(tgmon(tmp, "stats", TGMON_DATABASE_URL="postgresql://no_such_role_16@127.0.0.1:5432/test"))
    assert "PostgreSQL at 127.0.0.1:5432 has no role 'no_such_role_16'" in line
    assert "TGMON_DATABASE_URL" in line


@pytest.mark.postgres
def test_a_postgresql_role_without_the_rights_to_create_the_tables(tmp: Path, pg_database: str) -> None:
    import asyncio

    from tests.conftest import _pg_exec

    name, role = f"tgmon_perm_{uuid.uuid4().hex[:8]}", f"tgmon_weak_{uuid.uuid4().hex[:8]}"
    asyncio.run(_pg_exec(f'CREATE DATABASE "{name}"'))
    asyncio.run(_pg_exec(f'CREATE ROLE "{role}" LOGIN'))
    try:
        asyncio.run(_pg_exec("REVOKE ALL ON SCHEMA public FROM PUBLIC", name))
        line = one_line_error(tgmon(tmp, "db", "upgrade", TGMON_DATABASE_URL=f"postgresql://{role}@127.0.0.1:5432/{name}"))
        assert f"PostgreSQL at 127.0.0.1:5432 refused the role '{role}' an operation" in line
        assert f"GRANT ALL ON SCHEMA public TO {role}" in line
    finally:
        asyncio.run(_pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        asyncio.run(_pg_exec(f'DROP ROLE IF EXISTS "{role}"'))


def test_a_port_with_nothing_listening_and_the_password_masked(tmp: Path) -> None:
    port = closed_port()
    result = tgmon(tmp, "db", "upgrade", TGMON_DATABASE_URL=f"postgresql://postgres:s3cret-pw@127.0.0.1:{port}/x")
    line = one_line_error(result)
    assert line == (f"Error: cannot reach the database at postgresql://postgres:***@127.0.0.1:{port}/x: "
                    "connection refused. Is PostgreSQL running? Check TGMON_DATABASE_URL.")
    assert "s3cret-pw" not in result.stdout + result.stderr


def test_an_unsupported_database_given_with_database_or_the_environment(tmp: Path) -> None:
    line = one_line_error(tgmon(tmp, "demo", "--database", "mysql://x@y/z"))
    assert line == "Error: --database: unsupported database 'mysql'; use sqlite:///... or postgresql://..."
    line = one_line_error(tgmon(tmp, "--database", "mysql://x@y/z", "stats"))
    assert "--database: unsupported database 'mysql'" in line
    line = one_line_error(tgmon(tmp, "stats", TGMON_DATABASE_URL="mysql://x@y/z"))
    assert line == ("Error: Configuration error: TGMON_DATABASE_URL (database.url): unsupported database 'mysql'; "
                    "use sqlite:///... or postgresql://...")


def test_sqlite_files_that_cannot_be_used(tmp: Path) -> None:
    (tmp / "a-file").write_text("not a folder")
    line = one_line_error(tgmon(tmp, "stats", TGMON_DATABASE_URL=f"sqlite:///{tmp / 'a-file' / 'x.db'}"))
    assert "cannot create the folder of the SQLite database" in line and "TGMON_DATABASE_URL" in line
    (tmp / "garbage.db").write_bytes(b"this is no database " * 100)
    line = one_line_error(tgmon(tmp, "search", "обстрел", "--database", f"sqlite:///{tmp / 'garbage.db'}"))
    assert "is not a SQLite database" in line and "--database" in line


# --- Telegram --------------------------------------------------------------------------------------------
class HangUp:
    """A TCP server that answers like a filtering proxy (an HTTP 403) and hangs up: Telethon reads its first
    bytes as a huge length and gets asyncio.IncompleteReadError, an EOFError click would turn into `Aborted!`."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = int(self.sock.getsockname()[1])
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    conn.recv(4096)
                    conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                except OSError:
                    pass

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def hang_up() -> Iterator[HangUp]:
    server = HangUp()
    yield server
    server.close()


def test_channels_add_when_telegram_hangs_up_says_so(tmp: Path, hang_up: HangUp) -> None:
    result = tgmon(tmp, "channels", "add", "@durov", **telegram_env(hang_up.port))
    line = one_line_error(result)
    assert line == ("Error: Telegram cannot be reached (the server closed the connection): check the network, and "
                    "any firewall or proxy between this host and Telegram (and TELEGRAM_SERVER if set); then run "
                    "the command again.")
    no_secret(result.stdout + result.stderr, telegram_env(hang_up.port)["TELEGRAM_SESSION"])


@pytest.mark.slow
def test_channels_add_when_nothing_listens_says_so(tmp: Path) -> None:
    port = closed_port()
    line = one_line_error(tgmon(tmp, "channels", "add", "@durov", **telegram_env(port)))
    assert line.startswith("Error: Telegram cannot be reached (connection refused")
    assert "check the network, and any firewall or proxy" in line


def test_a_malformed_link_is_refused_before_connecting(tmp: Path) -> None:
    port = closed_port()  # connecting would fail: the link must be refused before that
    started = time.monotonic()
    result = tgmon(tmp, "channels", "add", "t.me/addstickers/x", **telegram_env(port))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "'t.me/addstickers/x' is not a channel link: it is a sticker set, not a channel" in result.stderr
    assert "Error: 1 of 1 link was not added (see above); nothing was stored." in result.stderr
    assert "Telegram cannot be reached" not in result.stderr
    assert time.monotonic() - started < 30


def test_channels_add_without_a_session_says_to_log_in(tmp: Path) -> None:
    env = telegram_env(closed_port(), session=False)
    line = one_line_error(tgmon(tmp, "channels", "add", "@durov", **env))
    assert "the monitoring account main is not signed in" in line and "`tgmon login`" in line
    assert not (tmp / "data" / "tgmon-user.session").exists()  # nothing was created on the way


# --- tgmon run -------------------------------------------------------------------------------------------
def test_run_without_a_session_exits_2_at_once(tmp: Path) -> None:
    result = tgmon(tmp, "run", **telegram_env(closed_port(), session=False))
    line = one_line_error(result)
    assert line == ("Error: the monitoring account main is not signed in (no TELEGRAM_SESSION and no session file "
                    "data/tgmon-user.session): run `tgmon login` once (or set TELEGRAM_SESSION to the line "
                    "`tgmon login --string` prints), then start tgmon again.")
    assert "tgmon running" not in result.stderr  # no role was started
    no_secret(result.stdout + result.stderr)


def test_run_with_the_database_unreachable_at_start_exits_2_in_one_line(tmp: Path) -> None:
    port = closed_port()
    result = tgmon(tmp, "run", **telegram_env(closed_port()),
                   TGMON_DATABASE_URL=f"postgresql://tgmon:pa55word-x@127.0.0.1:{port}/tgmon")
    line = one_line_error(result)
    assert line == (f"Error: cannot reach the database at postgresql://tgmon:***@127.0.0.1:{port}/tgmon: connection "
                    "refused. Is PostgreSQL running? Check TGMON_DATABASE_URL.")
    no_secret(result.stdout + result.stderr, "pa55word-x")


@pytest.mark.slow
def test_run_with_telegram_unreachable_says_so_once_retries_quietly_and_stops_on_sigterm(tmp: Path) -> None:
    port = closed_port()
    env = base_env(tmp, **telegram_env(port), TGMON_RUNTIME__SHUTDOWN_GRACE_SECONDS="2")
    proc = subprocess.Popen([*tgmon_argv(), "run"], cwd=tmp, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and sum("unreachable (" in ln for ln in lines) < 2:
        time.sleep(0.2)
        assert proc.poll() is None, "".join(lines)
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=30)
    reader.join(timeout=5)
    out = "".join(lines)
    assert code == 0, out
    assert "Traceback" not in out
    told = [ln for ln in lines if "Telegram cannot be reached (connection refused" in ln]
    assert len(told) == 1, out  # said once, plainly
    assert "check the network, and any firewall or proxy" in told[0] and " ERROR " in told[0]
    retries = [ln for ln in lines if "Telegram unreachable (" in ln or "Telegram connection lost" in ln]
    assert retries and all(" WARNING " in ln for ln in retries)
    assert "Attempt 1 at connecting failed" not in out  # Telethon's own tries show at DEBUG only
    assert "SIGTERM received" in out and "tgmon stopped" in out
    no_secret(out, env["TELEGRAM_SESSION"])


async def test_the_supervisor_tells_an_outage_once_then_one_line_a_retry(caplog: pytest.LogCaptureFixture) -> None:
    import asyncio
    import logging

    from bot.runtime.health import Health
    from bot.runtime.supervisor import Outages, supervise

    outages, stop, calls = Outages(), asyncio.Event(), {"delivery": 0, "scheduler": 0}

    def failing(name: str, exc: Exception) -> object:
        async def service(_stop: asyncio.Event) -> None:
            calls[name] += 1
            if calls[name] >= 3:
                stop.set()
                return
            raise exc

        return service

    caplog.set_level(logging.INFO, logger="bot.runtime.supervisor")
    hang_up = asyncio.IncompleteReadError(b"HTTP/1.1 403" * 8, 1347703872)
    await supervise("delivery", failing("delivery", hang_up), stop, Health(600), 600, [], outages)  # type: ignore[arg-type]
    records = [r for r in caplog.records if r.name == "bot.runtime.supervisor"]
    told = [r for r in records if r.levelname == "ERROR"]
    assert [r.getMessage() for r in told] == [
        "Telegram cannot be reached (the server closed the connection): check the network, and any firewall or "
        "proxy between this host and Telegram (and TELEGRAM_SERVER if set). tgmon keeps retrying with backoff "
        "(up to 60 s) until it comes back."]
    retries = [r.getMessage() for r in records if r.levelname == "WARNING"]
    assert retries == ["delivery: Telegram unreachable (the server closed the connection); restarting in 1 s",
                       "delivery: Telegram unreachable (the server closed the connection); restarting in 2 s"]
    assert not any(r.exc_info or r.exc_text for r in records if r.levelno >= logging.INFO)

    caplog.clear()
    stop.clear()
    await supervise("scheduler", failing("scheduler", RuntimeError("a bug")), stop, Health(600), 600, [],  # type: ignore[arg-type]
                    outages)
    errors = [r for r in caplog.records if r.name == "bot.runtime.supervisor" and r.levelname == "ERROR"]
    assert len(errors) == 2 and errors[0].exc_info and not errors[1].exc_info  # the traceback once
    assert errors[1].getMessage().endswith("(the same error as before; its traceback was logged then)")
