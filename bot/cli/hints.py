"""What a command says when the database it reads holds nothing yet, and how to fill it."""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path

from bot.config import Settings
from bot.storage import channels as stored_channels
from bot.storage.database import Database, masked_url


def tgmon_command() -> str:
    """How to run tgmon again as the user just did: `tgmon` when that is on PATH, else the path typed."""
    typed = sys.argv[0] if sys.argv and sys.argv[0] else "tgmon"
    if Path(typed).name != "tgmon":
        return "tgmon"
    found = shutil.which("tgmon")
    if found and Path(found).resolve() == Path(typed).resolve():
        return "tgmon"
    return shlex.quote(typed)


def demo_url(settings: Settings) -> str:
    return f"sqlite:///{settings.app.data_dir / 'demo.db'}"


def explore_command(url: str) -> str:
    """`tgmon --database URL`, the URL's password as *** (never printed)."""
    return f"{tgmon_command()} --database {shlex.quote(masked_url(url))}"


async def is_empty(db: Database) -> bool:
    """No channel and no post stored."""
    async with db.uow(read_only=True) as session:
        return await stored_channels.nothing_stored(session)


def empty_hint(settings: Settings, lead: str = "") -> str:
    """One line: this database is empty, and the commands that fill it (or where the demo's data is)."""
    url = settings.database.url
    tgmon = tgmon_command()
    fill = (f"{lead}{'t' if lead else 'T'}he database {masked_url(url)} is empty. Fill it: `{tgmon} channels add @name` (watch a channel), "
            f"`{tgmon} import result.json` (a Telegram Desktop export)")
    demo = demo_url(settings)
    demo_file = settings.app.data_dir / "demo.db"
    if demo_file.exists() and Path(_sqlite_file(url)).resolve() != demo_file.resolve():
        return f"{fill}; the offline demo's data is in {demo_file}: `{explore_command(demo)} stats`."
    return f"{fill}, or `{tgmon} demo` (sample data, in {demo_file})."


def _sqlite_file(url: str) -> str:
    """The file of a SQLite URL ('' for another database)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return parsed.database or "" if parsed.get_backend_name() == "sqlite" else ""
