"""The `tgmon` command group and what every command shares: settings, errors, the event loop."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from functools import wraps
from typing import Any, TypeVar

import click

from bot.config import ConfigError, Settings, load_settings

T = TypeVar("T")


class UserError(click.ClickException):
    """A problem the user can fix: printed without a traceback, exit code 2."""

    exit_code = 2


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              help="settings file (default: config/settings.toml, or $TGMON_CONFIG)")
@click.pass_context
def cli(ctx: click.Context, config_file: str | None) -> None:
    """tgmon: watch Telegram channels, match keyword rules, deliver digests."""
    ctx.obj = {"config_file": config_file}


def settings_from(ctx: click.Context) -> Settings:
    from pathlib import Path

    cached = ctx.find_root().obj.get("settings") if ctx.find_root().obj else None
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    config_file = ctx.find_root().obj.get("config_file")
    try:
        settings = load_settings(config_file=Path(config_file) if config_file else None)
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    ctx.find_root().obj["settings"] = settings
    from bot.logging_setup import setup_logging

    setup_logging(settings)  # one line a record, JSON when configured, secrets redacted
    return settings


def run_async(func: Callable[..., Coroutine[Any, Any, T]]) -> Callable[..., T]:
    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return asyncio.run(func(*args, **kwargs))
        except KeyboardInterrupt:
            click.echo("Interrupted. Everything committed so far is kept; run the command again to go on.", err=True)
            sys.exit(130)

    return wrapper
