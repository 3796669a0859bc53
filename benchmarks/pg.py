"""PostgreSQL housekeeping the benchmarks share: a statement on the server, a throwaway database."""

from __future__ import annotations


async def admin(server: str, sql: str) -> None:
    """Run ``sql`` on ``server`` (a URL; its database is only connected to) outside a transaction."""
    import asyncpg

    conn = await asyncpg.connect(server.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def database_url(server: str, name: str) -> str:
    """The URL of database ``name`` on the server of ``server``."""
    return server.rsplit("/", 1)[0] + "/" + name


async def fresh(server: str, name: str) -> str:
    """Database ``name`` dropped if it was there and created empty; its URL."""
    await admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin(server, f'CREATE DATABASE "{name}"')
    return database_url(server, name)


async def drop(server: str, name: str) -> None:
    await admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
