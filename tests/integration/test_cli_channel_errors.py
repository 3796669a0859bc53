"""`tgmon channels list` and `tgmon stats` show a channel that cannot be read: why, and since when."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import update

from bot.cli import cli
from bot.storage import models as m
from bot.storage.database import Database


async def _failing_channel(db_url: str, since: datetime) -> None:
    db = Database.from_url(db_url)
    await db.upgrade()
    async with db.uow() as session:
        session.add(m.Channel(telegram_id=1, username="fine", title="Fine", account="main"))
        session.add(m.Channel(telegram_id=2, username="broken", title="Broken", account="main"))
    async with db.uow() as session:
        await session.execute(update(m.Channel).where(m.Channel.username == "broken").values(
            error="IndexError: list index out of range", error_since=since))
    await db.dispose()


@pytest.mark.dates  # the error dated from the real clock, "since" shown by the commands on it
def test_list_and_stats_name_the_channel_that_cannot_be_read(db_url: str, tmp_path: Path) -> None:
    since = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    asyncio.run(_failing_channel(db_url, since))
    env = {"TGMON_DATABASE_URL": db_url, "TGMON_DATA_DIR": str(tmp_path), "TGMON_CONFIG": str(tmp_path / "x.toml"),
           "TGMON_ENV_FILE": str(tmp_path / "x.env"), "COLUMNS": "200"}
    for command in (["channels", "list"], ["stats"]):
        result = CliRunner().invoke(cli, command, env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        lines = [line for line in result.output.splitlines() if "cannot be read" in line]
        assert len(lines) == 1, result.output
        assert "@broken" in lines[0] and "IndexError: list index out of range" in lines[0]
        assert f"since {since:%Y-%m-%d %H:%M} UTC" in lines[0]
