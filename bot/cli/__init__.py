"""`tgmon` commands. Each command group lives in its own module and registers itself here."""

from __future__ import annotations

from bot.cli.base import cli

# Importing a module registers its commands on `cli`.
from bot.cli import db as _db  # noqa: F401  # isort: skip
from bot.cli import main_commands as _main  # noqa: F401  # isort: skip
from bot.cli import digest_commands as _digest  # noqa: F401  # isort: skip
from bot.cli import channel_commands as _channels  # noqa: F401  # isort: skip
from bot.cli import match_commands as _match  # noqa: F401  # isort: skip


def main() -> None:
    cli(prog_name="tgmon")


__all__ = ["cli", "main"]
