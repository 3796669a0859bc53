"""The engine, sessions and the unit of work. Repositories never commit; the unit of work does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from bot.config import DatabaseSettings, async_database_url


def make_engine(settings: DatabaseSettings | str) -> AsyncEngine:
    if isinstance(settings, str):
        settings = DatabaseSettings(url=settings)
    url = make_url(async_database_url(settings.url))
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            url,
            echo=settings.echo,
            poolclass=NullPool if url.database in (None, "", ":memory:") else None,
            connect_args={"timeout": settings.busy_timeout_ms / 1000},
        )
        _sqlite_setup(engine, settings.busy_timeout_ms)
        return engine
    return create_async_engine(
        url, echo=settings.echo, pool_size=settings.pool_size, pool_pre_ping=True, pool_recycle=1800
    )


def _sqlite_setup(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    """WAL, a busy timeout, foreign keys, and our own BEGIN: IMMEDIATE for writers.

    A deferred transaction that later writes fails at once with "database is locked", ignoring the
    busy timeout; a writer that takes the lock up front waits for it instead.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        conn.exec_driver_sql(f"BEGIN {mode}")


class Database:
    """Owns the engine. `uow()` opens one transaction per use case."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)

    @classmethod
    def from_url(cls, url: str) -> Database:
        return cls(make_engine(url))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def uow(self, *, read_only: bool = False, snapshot: bool = False) -> AsyncIterator[AsyncSession]:
        """One transaction: commits when the block ends normally, rolls back on any exception.

        ``snapshot``: every statement of the block sees the same committed state (PostgreSQL:
        REPEATABLE READ; a SQLite transaction always does), for reads that must agree with each other.
        """
        async with self.sessions() as session:
            options: dict[str, str] = {"sqlite_begin": "DEFERRED" if read_only else "IMMEDIATE"}
            if snapshot and self.dialect == "postgresql":
                options["isolation_level"] = "REPEATABLE READ"
            await session.connection(execution_options=options)
            try:
                yield session
            except BaseException:
                await session.rollback()
                raise
            if not read_only:
                await session.commit()
            # a read-only block ends by closing the session: its transaction is dropped and the
            # loaded objects stay readable (a rollback would expire them)

    async def upgrade(self) -> None:
        from bot.storage.migrate import upgrade

        await upgrade(self.engine)

    async def dispose(self) -> None:
        await self.engine.dispose()
