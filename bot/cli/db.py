"""`tgmon db ...`: the schema."""

from __future__ import annotations

import click

from bot.cli.base import cli, run_async, settings_from


@cli.group()
def db() -> None:
    """Database schema (Alembic)."""


@db.command()
@click.pass_context
@run_async
async def upgrade(ctx: click.Context) -> None:
    """Apply every migration (alembic upgrade head)."""
    from bot.storage.database import Database
    from bot.storage.migrate import current

    database = Database.from_url(settings_from(ctx).database.url)
    try:
        await database.upgrade()
        click.echo(f"database at revision {await current(database.engine)}")
    finally:
        await database.dispose()
