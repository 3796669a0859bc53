"""Shared fixtures: a fresh, migrated database per test, on SQLite and on PostgreSQL.

Time travel: with ``--travel WHEN`` (or TGMON_TEST_TRAVEL=WHEN), e.g. ``2028-01-15T12:00:00Z``, the whole
session runs with the clock moved to WHEN and ticking on (time-machine: ``time.time``, ``datetime.now``,
``date.today`` and the like; not the monotonic clocks asyncio waits on). Child Python processes the tests
start move with it (tests/timetravel/sitecustomize.py). `make test-dates` runs the tests marked
``dates`` so, on the dates that matter (see the Makefile).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.storage.database import Database

PG_ADMIN = os.environ.get("TGMON_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
TRAVEL_ENV = "TGMON_TEST_TRAVEL"
SHIFT_ENV = "TGMON_TEST_TRAVEL_SHIFT"  # read by tests/timetravel/sitecustomize.py in the children
HOOK_DIR = Path(__file__).parent / "timetravel"
_traveller: list[Any] = []


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--travel", metavar="WHEN", default=os.environ.get(TRAVEL_ENV) or None,
                     help="run the session with the clock moved to WHEN, an ISO 8601 time with its offset "
                          "(2028-01-15T12:00:00Z); default: $TGMON_TEST_TRAVEL")


def travel_destination(value: str) -> datetime:
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise pytest.UsageError(f"--travel/{TRAVEL_ENV}: {value!r} is not an ISO 8601 time (2028-01-15T12:00:00Z)") from None
    if when.tzinfo is None:
        raise pytest.UsageError(f"--travel/{TRAVEL_ENV} needs a time with its offset (…Z or +02:00), not {value!r}")
    return when.astimezone(UTC)


def pytest_configure(config: pytest.Config) -> None:
    value = config.getoption("--travel")
    if not value:
        return
    import time_machine

    when = travel_destination(value)
    os.environ[SHIFT_ENV] = repr(when.timestamp() - time.time())  # before the travel: the real clock
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HOOK_DIR), os.environ.get("PYTHONPATH")]))
    traveller = time_machine.travel(when.timestamp(), tick=True)  # a timestamp: TZ stays the machine's
    traveller.start()
    time.time()  # the travelled clock ticks from its first reading: now, as in the children
    _traveller.append(traveller)


def pytest_unconfigure(config: pytest.Config) -> None:
    while _traveller:
        _traveller.pop().stop()


def pytest_report_header(config: pytest.Config) -> str | None:
    if not _traveller:
        return None
    return f"time travel: the clock reads {datetime.now(UTC).isoformat(timespec='seconds')}, TZ={os.environ.get('TZ', '')}"


async def _pg_exec(sql: str, database: str = "test") -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN.rsplit("/", 1)[0] + "/" + database, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A database of its own for this test run, so parallel runs never meet."""
    name = f"tgmon_test_{uuid.uuid4().hex[:10]}"
    try:
        asyncio.run(_pg_exec(f'CREATE DATABASE "{name}"'))
    except (OSError, Exception) as exc:  # unreachable server
        if os.environ.get("CI") == "true":
            raise RuntimeError(f"PostgreSQL is required in CI and not reachable: {exc}") from exc
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    yield PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    asyncio.run(_pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def pgvector_server() -> Iterator[Any]:
    """A throwaway PostgreSQL 16 with pgvector from the pgserver wheel (tests/pgvector_support.py),
    one for the session. Skipped, saying why, where it cannot start; mandatory when CI=true."""
    from tests.pgvector_support import PgvectorServer, PgvectorUnavailable

    server = PgvectorServer()
    try:
        server.start()
    except (PgvectorUnavailable, OSError, Exception) as exc:
        server.stop()
        if os.environ.get("CI") == "true":
            raise RuntimeError(f"the pgvector server is required in CI and did not start: {exc}") from exc
        pytest.skip(f"no PostgreSQL with pgvector: {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pgvector_url(pgvector_server: Any) -> str:
    """An empty database of its own on the pgvector server (the migrations create the extension)."""
    name = f"tgmon_test_{uuid.uuid4().hex[:10]}"
    admin = pgvector_server.url()

    async def create() -> None:
        import asyncpg

        conn = await asyncpg.connect(admin, timeout=10)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    return str(pgvector_server.url(name))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'tgmon.db'}"
    url: str = request.getfixturevalue("pg_database")
    asyncio.run(_pg_exec("DROP SCHEMA public CASCADE; CREATE SCHEMA public", url.rsplit("/", 1)[1]))
    return url


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database.from_url(db_url)
    await database.upgrade()
    yield database
    await database.dispose()
