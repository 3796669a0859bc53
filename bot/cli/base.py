"""The `tgmon` command group and what every command shares: settings, errors, the event loop, output.

Every failure reaches the user as one line (`Error: ...`) that says what is wrong and how to fix it,
with exit code 2; the traceback goes to the log at DEBUG level only (`TGMON_LOG_LEVEL=DEBUG`).
`--config` and `--database` are accepted by the group and by every command.

`tgmon --help` and every command's `--help` import only click and this package's command modules:
whatever a command needs (settings, SQLAlchemy, the app, Telethon, the matcher, rich) is imported
inside it (tests/unit/test_cli_startup.py checks which modules `--help` loads).
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable, Coroutine
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from bot.config import Settings

T = TypeVar("T")
log = logging.getLogger("bot.cli")

TELEGRAM_UNREACHABLE = ("Telegram cannot be reached ({why}): check the network, and any firewall or proxy between "
                        "this host and Telegram (and TELEGRAM_SERVER if set); then run the command again.")


class UserError(click.ClickException):
    """A problem the user can fix: printed without a traceback, exit code 2."""

    exit_code = 2


class InternalError(click.ClickException):
    """A failure tgmon did not expect (a bug): one line, exit code 1, the traceback in the DEBUG log."""

    exit_code = 1


# --- options every command takes -------------------------------------------------------------------------
def _remember(key: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def store(ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
        if value is not None:
            root = ctx.find_root()
            if root.obj is None:
                root.obj = {}
            root.obj[key] = value
        return value

    return store


def _shared_options() -> list[click.Option]:
    return [
        click.Option(["--config", "config_file"], type=click.Path(dir_okay=False), default=None, expose_value=False,
                     callback=_remember("config_file"),
                     help="settings file (default: config/settings.toml, or $TGMON_CONFIG)"),
        click.Option(["--database", "database_url"], default=None, expose_value=False, callback=_remember("database"),
                     metavar="URL", help="database URL, e.g. sqlite:///data/demo.db (default: TGMON_DATABASE_URL)"),
    ]


def _add_shared(command: click.Command) -> None:
    names = {name for p in command.params for name in p.opts}
    command.params.extend(o for o in _shared_options() if not names.intersection(o.opts))


class Command(click.Command):
    """A tgmon command: also takes --config and --database (given here or before the command name)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _add_shared(self)

    def invoke(self, ctx: click.Context) -> Any:
        _obj(ctx)["command"] = ctx.command_path
        return super().invoke(ctx)


class Group(click.Group):
    """A tgmon group: its commands and subgroups take the shared options too. The root group turns
    every exception into one line."""

    command_class = Command
    group_class = type  # subgroups are of this class too

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _add_shared(self)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            raise _one_line_usage(exc) from None

    def invoke(self, ctx: click.Context) -> Any:
        if ctx.parent is not None:
            return super().invoke(ctx)
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            raise _one_line_usage(exc) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except BrokenPipeError:  # `tgmon search ... | head`: the reader has what it wanted
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the final flush must not fail
            raise click.exceptions.Exit(141) from None
        except Exception as exc:
            raise one_line_error(exc, ctx) from None


def _one_line_usage(exc: click.UsageError) -> click.ClickException:
    """A wrong option or argument as one line that points at the command's --help (click's own is three)."""
    if type(exc).__name__ == "NoArgsIsHelpError":  # `tgmon` alone: the help is the answer
        return exc
    where = exc.ctx.command_path if exc.ctx is not None else "tgmon"
    return UserError(f"{exc.format_message().rstrip('.')}; see `{where} --help`.")


def _version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("tgmon")
    except PackageNotFoundError:  # run from a source tree that was never installed
        found = "unknown (not installed: pip install -e .)"
    click.echo(f"tgmon {found}")
    ctx.exit()


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_version,
              help="print the version and exit")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """tgmon: watch Telegram channels, match keyword rules, deliver digests."""
    if ctx.obj is None:
        ctx.obj = {}


# --- settings ---------------------------------------------------------------------------------------------
def _one_line(message: str) -> str:
    """A ConfigError's lines ("Configuration error:", "  X: ...", ...) as one line."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].endswith(":"):
        return f"{lines[0]} {'; '.join(lines[1:])}"
    return "; ".join(lines)


def _obj(ctx: click.Context) -> dict[str, Any]:
    root = ctx.find_root()
    if root.obj is None:
        root.obj = {}
    return root.obj  # type: ignore[no-any-return]


def database_option(ctx: click.Context) -> str | None:
    """The --database URL given to this command (or the group), checked; None when not given."""
    given = _obj(ctx).get("database")
    if given is None:
        return None
    from bot.config import async_database_url

    try:
        async_database_url(given)
    except ValueError as exc:
        raise UserError(f"--database: {exc}") from None
    return str(given)


def settings_from(ctx: click.Context) -> Settings:
    from pathlib import Path

    from bot.config import ConfigError, load_settings

    obj = _obj(ctx)
    cached = obj.get("settings")
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    config_file = obj.get("config_file")
    try:
        settings = load_settings(config_file=Path(config_file) if config_file else None)
    except ConfigError as exc:
        raise UserError(_one_line(str(exc))) from None
    database = database_option(ctx)
    if database is not None:
        from bot.config import DatabaseSettings
        from bot.storage import database as storage

        storage.URL_SETTING = "--database"
        fields = settings.database.model_dump()
        fields["url"] = database
        if not database.startswith("postgres"):
            fields["password"] = None  # TGMON_DATABASE_PASSWORD is for the PostgreSQL URL
        try:
            settings = settings.model_copy(update={"database": DatabaseSettings.model_validate(fields)})
        except ValueError as exc:  # pydantic's ValidationError is one
            raise UserError(f"--database: {_one_line(str(exc))}") from None
    obj["settings"] = settings
    from bot.logging_setup import setup_logging

    setup_logging(settings)  # one line a record, JSON when configured, secrets redacted
    return settings


# --- errors -----------------------------------------------------------------------------------------------
NETWORK_ERRORS = (ConnectionError, TimeoutError, EOFError, OSError)


def telegram_unreachable(exc: BaseException) -> UserError:
    return UserError(TELEGRAM_UNREACHABLE.format(why=network_reason(exc)))


def network_reason(exc: BaseException) -> str:
    """A short reason for a network failure: 'connection refused', 'the server closed the connection', ..."""
    from bot.runtime.supervisor import network_reason as reason

    return reason(exc)


def _scrub(text: str, ctx: click.Context) -> str:
    """No secret in a message: URL passwords masked, every configured secret redacted."""
    text = re.sub(r"(://[^:/@\s]+:)[^@\s]+@", r"\1***@", text)
    settings = _obj(ctx).get("settings")
    if settings is not None:
        from bot.logging_setup import RedactSecrets

        text = RedactSecrets(settings.secrets()).redact(text)
    return text


def one_line_error(exc: Exception, ctx: click.Context) -> click.ClickException:
    """The one line an exception that escaped a command is shown as; the traceback goes to the DEBUG log."""
    from sqlalchemy.exc import SQLAlchemyError

    from bot.storage.database import DatabaseUnavailable, exception_chain, explain_database_error

    log.debug("the traceback of the error below", exc_info=exc)
    obj = _obj(ctx)
    if isinstance(exc, DatabaseUnavailable):
        return UserError(_scrub(str(exc), ctx))
    url = obj.get("database_in_use") or (obj["settings"].database.url if obj.get("settings") else None)
    if url is not None and any(isinstance(e, SQLAlchemyError) for e in exception_chain(exc)):  # the database's
        message = explain_database_error(exc, url)
        if message is not None:
            return UserError(_scrub(message, ctx))
    if obj.get("telegram") and isinstance(exc, NETWORK_ERRORS):
        return telegram_unreachable(exc)
    command = obj.get("command") or "tgmon"
    if isinstance(exc, OSError) and exc.strerror:
        where = f" ({exc.filename})" if exc.filename else ""
        return UserError(_scrub(f"{command}: {exc.strerror}{where}.", ctx))
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return InternalError(_scrub(
        f"{command} failed unexpectedly ({type(exc).__name__}{': ' + first[:300] if first else ''}). "
        "Run it again with TGMON_LOG_LEVEL=DEBUG to see the traceback, and report it.", ctx))


def uses_telegram(ctx: click.Context) -> None:
    """Mark this command as one that talks to Telegram: a network error is then reported as Telegram's."""
    _obj(ctx)["telegram"] = True


def run_async(func: Callable[..., Coroutine[Any, Any, T]]) -> Callable[..., T]:
    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        import asyncio

        try:
            return asyncio.run(func(*args, **kwargs))
        except KeyboardInterrupt:
            click.echo("Interrupted. Everything committed so far is kept; run the command again to go on.", err=True)
            sys.exit(130)

    return wrapper


# --- output -----------------------------------------------------------------------------------------------
def counted(count: int, one: str, many: str | None = None) -> str:
    """'1 post', '2 posts', '0 matches': the number and the English form that goes with it (the
    plural rule of bot.i18n)."""
    from bot.i18n import plural_form

    return f"{count} {one if plural_form('en', count) == 0 else (many or one + 's')}"


class Term:
    """A rich Console for stdout (or stderr) as it is at the moment of printing: on a terminal, its
    width; piped or redirected, never wrapped or cut (a table keeps every name whole)."""

    def __init__(self, *, stderr: bool = False) -> None:
        self.stderr = stderr
        self._made: tuple[Any, Any] | None = None

    def _console(self) -> Any:
        from rich.console import Console

        stream = sys.stderr if self.stderr else sys.stdout
        if self._made is None or self._made[0] is not stream:
            tty = stream.isatty()
            self._made = (stream, Console(file=stream, width=None if tty else 100_000, soft_wrap=not tty))
        return self._made[1]

    def get(self) -> Any:
        """The rich Console itself (for rich's own classes: Progress, Live)."""
        return self._console()

    @property
    def is_terminal(self) -> bool:
        return bool(self._console().is_terminal)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._console(), name)
