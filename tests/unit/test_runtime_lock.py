"""The SQLite instance lock and the choice of roles."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import load_settings
from bot.runtime import InstanceLock, InstanceLocked, missing_credentials
from bot.runtime.instance_lock import sqlite_path

NO_ENV = Path("/nonexistent/.env")


def test_second_lock_on_the_same_database_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "tgmon.db"
    first = InstanceLock(db).acquire()
    with pytest.raises(InstanceLocked, match=r"another tgmon process \(pid \d+\) is already running on .*tgmon.db"):
        InstanceLock(db).acquire()
    InstanceLock(tmp_path / "other.db").acquire().release()  # another database is independent
    first.release()
    InstanceLock(db).acquire().release()  # free again once released


def test_sqlite_path_only_for_file_databases() -> None:
    assert sqlite_path("sqlite+aiosqlite:///data/x.db") == Path("data/x.db")
    assert sqlite_path("sqlite+aiosqlite:///:memory:") is None
    assert sqlite_path("postgresql+asyncpg://u@h/db") is None


def test_roles_say_which_settings_they_need(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TGMON_TEST_SENDER_LOG", raising=False)
    bare = load_settings(environ={}, env_file=NO_ENV)
    assert missing_credentials(bare, "scheduler") is None
    assert "TELEGRAM_API_ID" in (missing_credentials(bare, "ingest") or "")
    assert "TELEGRAM_BOT_TOKEN" in (missing_credentials(bare, "delivery") or "")
    full = load_settings(environ={"TELEGRAM_API_ID": "1", "TELEGRAM_API_HASH": "a" * 32,
                                  "TELEGRAM_BOT_TOKEN": "1:" + "b" * 30}, env_file=NO_ENV)
    assert all(missing_credentials(full, r) is None for r in ("ingest", "scheduler", "delivery", "bot"))
