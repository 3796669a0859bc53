"""One `tgmon run` per SQLite database: an exclusive flock on a file next to the database.

The kernel drops the lock when the process dies, however it dies (SIGKILL included), so a crash
never leaves a stale lock behind. PostgreSQL deployments do not need it: several processes there
coordinate through the database itself (advisory lock, SKIP LOCKED).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from sqlalchemy.engine import make_url


class InstanceLocked(Exception):
    """Another tgmon process runs on the same SQLite database."""


def sqlite_path(database_url: str) -> Path | None:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


class InstanceLock:
    def __init__(self, database: Path) -> None:
        self.database = database
        self.path = database.with_name(database.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> InstanceLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise InstanceLocked(
                f"another tgmon process (pid {owner}) is already running on {self.database}; "
                "stop it first, or use PostgreSQL (TGMON_DATABASE_URL=postgresql://...) to run several processes"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
