"""The engine, sessions and the unit of work. Repositories never commit; the unit of work does."""

from __future__ import annotations

import errno
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from bot.config import DatabaseSettings, async_database_url

CONNECT_TIMEOUT_SECONDS = 10  # PostgreSQL: a host that never answers fails after this, not asyncpg's 60 s
URL_SETTING = "TGMON_DATABASE_URL"  # what the messages below tell the user to check; the CLI names --database


class DatabaseUnavailable(SQLAlchemyError):
    """The database cannot be reached or opened. The message is one line: what is wrong and what to do,
    with the URL's password masked. A SQLAlchemyError, so code that tells database failures from others
    (a channel's own failure, say) counts it among the database's."""


def masked_url(url: str | URL) -> str:
    """The URL as the user wrote it (plain driver name), its password as ***."""
    parsed = make_url(url) if isinstance(url, str) else url
    parsed = parsed.set(drivername=parsed.get_backend_name())
    return parsed.render_as_string(hide_password=True)


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception, what it wraps (SQLAlchemy's .orig), its causes and contexts; each once."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        item = todo.pop(0)
        if id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        for nxt in (getattr(item, "orig", None), item.__cause__, item.__context__):
            if isinstance(nxt, BaseException):
                todo.append(nxt)


_REFUSED = {errno.ECONNREFUSED: "connection refused", errno.EHOSTUNREACH: "no route to the host",
            errno.ENETUNREACH: "the network is unreachable", errno.ETIMEDOUT: "the connection timed out",
            errno.ECONNRESET: "the connection was reset"}


def explain_database_error(exc: BaseException, url: str | URL) -> str | None:
    """One line saying why the database at `url` cannot be used and how to fix it, or None when `exc`
    is not a connection problem (a bug, a failed statement: the caller shows it its own way)."""
    if isinstance(exc, DatabaseUnavailable):
        return str(exc)
    parsed = make_url(url) if isinstance(url, str) else url
    shown = masked_url(parsed)
    setting = URL_SETTING
    check = f"Check {setting}."
    if parsed.get_backend_name() == "sqlite":
        return _explain_sqlite(exc, parsed.database or "", setting)
    host, port, user, name = parsed.host or "localhost", parsed.port or 5432, parsed.username, parsed.database
    where = f"{host}:{port}"
    for item in exception_chain(exc):
        state = getattr(item, "sqlstate", None)
        if state == "3D000":
            return (f"the database {name!r} does not exist on the PostgreSQL server at {where}. Create it "
                    f"(createdb -h {host} -p {port}{f' -U {user}' if user else ''} {name}) or fix the name "
                    f"in {setting}.")
        if state == "28P01":
            return f"PostgreSQL at {where} refused the password of the role {user!r}. Fix the password in {setting}."
        if state == "28000":
            reason = str(item).strip().splitlines()[0] if str(item).strip() else "access refused"
            if "does not exist" in reason:
                return (f"PostgreSQL at {where} has no role {user!r}. Create it (createuser -h {host} -p {port} "
                        f"{user}, or CREATE ROLE {user} LOGIN) or fix the user in {setting}.")
            return f"PostgreSQL at {where} refused the connection as {user!r} ({reason}). {check}"
        if state == "57P03":
            return (f"PostgreSQL at {where} is starting up or shutting down and accepts no connections yet; "
                    "try again in a moment.")
        if state in ("42501", "3F000"):  # permission denied; no schema it may create in
            reason = str(item).strip().splitlines()[0] if str(item).strip() else "permission denied"
            return (f"PostgreSQL at {where} refused the role {user!r} an operation ({reason}). Grant it the "
                    f"rights (GRANT ALL ON DATABASE {name} TO {user}; GRANT ALL ON SCHEMA public TO {user}) or "
                    f"use the database's owner in {setting}.")
        if state == "53300":
            return (f"PostgreSQL at {where} has no free connections (too many clients). Lower "
                    "TGMON_DATABASE__POOL_SIZE or raise max_connections on the server.")
        if isinstance(item, socket.gaierror):
            return f"cannot reach the database at {shown}: the host name {host!r} is not known. {check}"
        if isinstance(item, TimeoutError):
            return (f"cannot reach the database at {shown}: no answer within {CONNECT_TIMEOUT_SECONDS} s. "
                    f"Is PostgreSQL running, and is {where} reachable from here (firewall)? {check}")
        if isinstance(item, OSError) and (item.errno in _REFUSED or isinstance(item, ConnectionRefusedError)):
            why = _REFUSED.get(item.errno or errno.ECONNREFUSED, "connection refused")
            return f"cannot reach the database at {shown}: {why}. Is PostgreSQL running? {check}"
    return None


def _explain_sqlite(exc: BaseException, path: str, setting: str) -> str | None:
    for item in exception_chain(exc):
        text = str(item)
        if isinstance(item, PermissionError) or "unable to open database file" in text:
            return (f"cannot open the SQLite database {path}: its folder is missing or not writable by this "
                    f"user. Create the folder, or give another path in {setting}.")
        if "database is locked" in text:
            return (f"the SQLite database {path} stayed locked by another process past the busy timeout: is "
                    "another tgmon writing to it? Stop that one, or use PostgreSQL for several processes.")
        if "readonly database" in text:
            return f"the SQLite database {path} is read-only for this user. Fix its permissions, or give another path in {setting}."
        if "file is not a database" in text:
            return f"{path} is not a SQLite database (another kind of file?). Give another path in {setting}."
        if "disk I/O error" in text or (isinstance(item, OSError) and item.errno == errno.ENOSPC):
            return f"cannot write the SQLite database {path}: disk error or disk full ({text})."
    return None


def make_engine(settings: DatabaseSettings | str) -> AsyncEngine:
    if isinstance(settings, str):
        settings = DatabaseSettings(url=settings)
    url = make_url(async_database_url(settings.url))
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            try:
                Path(url.database).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DatabaseUnavailable(
                    f"cannot create the folder of the SQLite database {url.database} ({exc.strerror}). "
                    f"Create it, or give another path in {URL_SETTING}.") from None
        engine = create_async_engine(
            url,
            echo=settings.echo,
            poolclass=NullPool if url.database in (None, "", ":memory:") else None,
            connect_args={"timeout": settings.busy_timeout_ms / 1000},
        )
        _sqlite_setup(engine, settings.busy_timeout_ms)
    else:
        engine = create_async_engine(
            url, echo=settings.echo, pool_size=settings.pool_size, pool_pre_ping=True, pool_recycle=1800,
            connect_args={"timeout": CONNECT_TIMEOUT_SECONDS},
        )
    _explain_connect_errors(engine, url)
    return engine


def _explain_connect_errors(engine: AsyncEngine, url: URL) -> None:
    """Every new connection, wherever it is made (a command, a service, the pool after a restart),
    fails with a DatabaseUnavailable saying what is wrong instead of the driver's own error."""

    @event.listens_for(engine.sync_engine, "do_connect")
    def _connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        try:
            return dialect.connect(*cargs, **cparams)
        except Exception as exc:
            message = explain_database_error(exc, url)
            if message is None:
                raise
            raise DatabaseUnavailable(message) from exc


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


Session = AsyncSession  # a unit of work as services hold it: they pass it to the repositories

# the failures services tell apart, named here so that they need not import SQLAlchemy
DatabaseError = SQLAlchemyError  # anything the database or a statement raised (DatabaseUnavailable too)
DuplicateRow = IntegrityError  # a unique key another writer stored first (a constraint, in general)


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

    @property
    def one_writer(self) -> bool:
        """One write transaction at a time (SQLite): writers of a process take turns, and long
        runs of writes pause between transactions so others get in."""
        return self.dialect == "sqlite"

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

    async def upgrade_in_turns(self) -> None:
        """`upgrade()`, taking turns with other processes that start at once (PostgreSQL)."""
        from bot.storage.migrate import upgrade_in_turns

        await upgrade_in_turns(self.engine)

    async def dispose(self) -> None:
        await self.engine.dispose()
