"""A throwaway PostgreSQL 16 with pgvector, from the `pgserver` wheel (a dev dependency: its
PostgreSQL build ships `vector.so`), for the tests and benchmarks of topic search on pgvector.

The system's PostgreSQL (127.0.0.1:5432) stays what the rest of the suite uses; on Debian 12 it has
no pgvector, so the topic search there is the bytea scan. This server is started from the wheel's
own `initdb` and `pg_ctl` in a temporary directory, listening on a free port of 127.0.0.1 only, with
trust authentication, and removed when stopped. PostgreSQL refuses to run as root: when the tests
run as root, the server runs as the `postgres` OS user (the system PostgreSQL's; or
TGMON_PGVECTOR_OS_USER).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path


class PgvectorUnavailable(RuntimeError):
    """Why no pgvector server can be started here (the tests say it when they skip)."""


def _bin_dir() -> Path:
    # found, not imported: importing pgserver sets up its own server handling, which is not used here
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise PgvectorUnavailable(
            "the pgserver wheel is not installed (pip install -e '.[dev]'): it brings PostgreSQL 16 with pgvector")
    path = Path(next(iter(spec.submodule_search_locations))) / "pginstall"
    if not (path / "lib" / "postgresql" / "vector.so").exists():
        raise PgvectorUnavailable(f"pgserver at {path} carries no vector.so")
    return path / "bin"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PgvectorServer:
    """``start()``, then ``url(database)``; ``stop()`` ends the server and deletes its files."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="tgmon_pgvector_")))
    port: int = 0
    user: str | None = None  # the OS user the server runs as (None: this process's)
    _bin: Path = field(default_factory=Path)

    def _run(self, *args: str, timeout: float = 120) -> None:
        done = subprocess.run([str(self._bin / args[0]), *args[1:]], user=self.user, capture_output=True,
                              text=True, timeout=timeout, cwd=self.root, check=False)
        if done.returncode != 0:
            log = self.root / "log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise PgvectorUnavailable(f"{args[0]} failed ({done.returncode}): {done.stderr.strip()} {tail}")

    def start(self) -> PgvectorServer:
        self._bin = _bin_dir()
        if os.geteuid() == 0:
            self.user = os.environ.get("TGMON_PGVECTOR_OS_USER", "postgres")
            try:
                entry = pwd.getpwnam(self.user)
            except KeyError as exc:
                raise PgvectorUnavailable(
                    f"running as root and there is no OS user {self.user!r} to run PostgreSQL as "
                    "(set TGMON_PGVECTOR_OS_USER to one)") from exc
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
            # that user may not reach the venv (a checkout under a 0700 directory, as mktemp -d makes):
            # run a copy of the binaries from the server's own directory (34 MB, well under a second)
            # (the binaries find their shared libraries in ../../../pgserver.libs: keep that layout)
            installed = self._bin.parent  # site-packages/pgserver/pginstall
            copy = self.root / "pkg"
            shutil.copytree(installed, copy / "pgserver" / "pginstall", symlinks=True)
            libs = installed.parent.parent / "pgserver.libs"
            if libs.is_dir():
                shutil.copytree(libs, copy / "pgserver.libs", symlinks=True)
            self._bin = copy / "pgserver" / "pginstall" / "bin"
        self.port = _free_port()
        data = str(self.root / "data")
        self._run("initdb", "-D", data, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C",
                  "--no-sync")
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=50")
        self._run("pg_ctl", "-D", data, "-w", "-t", "60", "-o", options, "-l", str(self.root / "log"), "start")
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        if (self.root / "data" / "postmaster.pid").exists():
            with contextlib.suppress(PgvectorUnavailable, subprocess.TimeoutExpired):
                self._run("pg_ctl", "-D", str(self.root / "data"), "-w", "-m", "immediate", "stop", timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PgvectorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
