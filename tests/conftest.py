"""Shared fixtures: a fresh, migrated database per test, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.storage.database import Database

PG_ADMIN = os.environ.get("TGMON_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


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
