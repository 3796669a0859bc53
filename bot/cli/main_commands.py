"""`tgmon run`, `tgmon demo`, `tgmon import`."""

from __future__ import annotations

import html
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bot.cli.base import (
    Term,
    UserError,
    cli,
    counted,
    database_option,
    run_async,
    settings_from,
    uses_telegram,
)
from bot.domain import MAIN_ACCOUNT, ROLES

if TYPE_CHECKING:
    from bot.config import Settings

console = Term()
log = logging.getLogger(__name__)


@cli.command(name="import")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--channel", "username", default=None, help="the channel's username, for links (t.me/USERNAME/id)")
@click.pass_context
@run_async
async def import_(ctx: click.Context, path: Path, username: str | None) -> None:
    """Import a Telegram Desktop export (result.json) of a channel or chat."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    from bot.app import build_app
    from bot.ingest.export import ExportError, ExportStats, read_export
    from bot.ingest.pipeline import as_async

    settings = settings_from(ctx)
    if username is not None and not re.fullmatch(r"@?[A-Za-z][A-Za-z0-9_]{3,31}", username):
        raise UserError(f"--channel {username!r} is not a Telegram username (5-32 letters, digits, _)")
    try:  # a first pass checks the whole file, so a malformed one imports nothing
        stats = ExportStats()
        checked = sum(1 for _ in read_export(path, username=username, stats=stats))
    except ExportError as exc:
        raise UserError(f"{path}: {exc}. Nothing was imported.") from None
    size = (path / "result.json" if path.is_dir() else path).stat().st_size  # noqa: ASYNC240
    app = await build_app(settings)
    try:
        with Progress(TextColumn("importing"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                      console=console.get(), transient=True) as bar:
            task = bar.add_task("import", total=size)
            posts = read_export(path, username=username, on_progress=lambda pos: bar.update(task, completed=pos))
            result = await app.pipeline.ingest_stream(as_async(posts), settings.ingest.batch_size)
        await app.pipeline.flush_index()  # searchable before the command ends
        click.echo(
            f"{counted(checked, 'post')} read: {result.stored} new, {result.updated} updated, "
            f"{result.unchanged} already stored; {counted(result.matches, 'new match', 'new matches')}"
            + "".join(f"; {note}" for note in stats.notes())
        )
    finally:
        await app.close()


@cli.command()
@click.option("--out", type=click.Path(path_type=Path), default=None, help="where to write the digest HTML")
@click.option("--database", "database_url", default=None, metavar="URL",
              help="database URL (default: sqlite:///data/demo.db, apart from tgmon's own database)")
@click.pass_context
@run_async
async def demo(ctx: click.Context, out: Path | None, database_url: str | None) -> None:
    """Offline demo: replay a sample channel export and show the digest a subscriber would get."""
    if database_url is not None:
        ctx.find_root().obj["database"] = database_url  # checked like TGMON_DATABASE_URL
    database = database_option(ctx)
    settings = settings_from(ctx)
    await _demo(ctx, database, out, settings)


async def _demo(ctx: click.Context, database: str | None, out: Path | None, settings: Settings) -> None:
    from bot.app import build_app
    from bot.cli.hints import demo_url, explore_command, tgmon_command
    from bot.demo import run_demo
    from bot.storage.database import masked_url

    data_dir = settings.app.data_dir
    url = database or demo_url(settings)
    ctx.find_root().obj["database_in_use"] = url  # an error names this database
    app = await build_app(settings, database_url=url)
    try:
        report = await run_demo(app)
        await app.pipeline.flush_index()
    finally:
        await app.close()
    result, chunks = report.result, report.chunks
    if console.is_terminal:
        console.rule("[bold]tgmon offline demo")
    else:
        console.print("--- tgmon offline demo ---")
    console.print(
        f"Sample export replayed into {masked_url(url)}: {counted(result.stored, 'new post')}, "
        f"{result.updated} updated, {result.unchanged} already stored, "
        f"{counted(result.matches, 'new match', 'new matches')}.", highlight=False
    )
    for chunk in chunks:
        console.print(_terminal(chunk, inline_links=not console.is_terminal), highlight=False)
    out = out or data_dir / "demo-digest.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    body = "\n<hr>\n".join(f"<div>{c.replace(chr(10), '<br>')}</div>" for c in chunks)
    out.write_text(f'<!doctype html><meta charset="utf-8"><title>tgmon digest</title>\n{body}\n', "utf-8")
    console.print(f"\nDigest as HTML: {out}", highlight=False)
    explore = explore_command(url)
    console.print(f"Explore the demo's data: {explore} search обстрел (the same --database works with stats "
                  "and channels list)", highlight=False, markup=False)
    if masked_url(url) != masked_url(settings.database.url):
        console.print(f"The demo keeps its data apart: `{tgmon_command()} stats`, `search` and `channels list` "
                      f"without --database read tgmon's own database, {masked_url(settings.database.url)}.",
                      highlight=False, markup=False)
    console.print(
        "To watch real channels, set TELEGRAM_API_ID and TELEGRAM_API_HASH (https://my.telegram.org) "
        "and TELEGRAM_BOT_TOKEN (@BotFather) in .env; see config/.env.example."
    )


def _terminal(chunk: str, *, inline_links: bool = False) -> str:
    """Telegram HTML to rich markup: bold stays bold, a link stays a link (terminals that know links
    open it; with `inline_links`, for a pipe, its address follows in parentheses), everything else
    is literal."""
    from rich.markup import escape

    parts = re.split(r"(<a href=\"[^\"]*\">|</a>|</?b>|</?i>)", chunk)
    tags = {"<b>": "[bold yellow]", "</b>": "[/bold yellow]", "<i>": "[italic cyan]", "</i>": "[/italic cyan]",
            "</a>": "[/link]"}
    out, url = [], ""
    for part in parts:
        if part.startswith("<a href="):
            url = html.unescape(part[9:-2])
            out.append(f"[link={url}]")
        elif part == "</a>" and inline_links:
            out.append(f"[/link] ({escape(url)})")
        else:
            out.append(tags.get(part) or escape(html.unescape(part)))
    return "".join(out)


@cli.command()
@click.option("--role", "roles", multiple=True, type=click.Choice([*ROLES, "all"]),
              help="what this process does (repeat for several; default: every role whose credentials are set)")
@click.option("--account", default=MAIN_ACCOUNT, show_default=True,
              help="the monitoring account the ingest role runs (one of TELEGRAM_ACCOUNTS)")
@click.pass_context
@run_async
async def run(ctx: click.Context, roles: tuple[str, ...], account: str) -> None:
    """Run tgmon until SIGTERM/SIGINT: the service with credentials, the offline demo without them."""
    from bot.config import ConfigError
    from bot.logging_setup import setup_logging
    from bot.runtime import FatalServiceError, InstanceLocked, RoleError, run_roles

    settings = settings_from(ctx)
    chosen = _roles(settings, roles)
    if account != MAIN_ACCOUNT:
        _check_account(settings, account, chosen)
    if not chosen:
        console.print("[yellow]No Telegram credentials configured (TELEGRAM_API_ID, TELEGRAM_API_HASH, "
                      "TELEGRAM_BOT_TOKEN): running the offline demo.[/yellow]")
        await _demo(ctx, database_option(ctx), None, settings)
        return
    uses_telegram(ctx)
    _check_session(settings, account, chosen)
    label = "+".join(chosen) + (f"@{account}" if account != MAIN_ACCOUNT else "")
    setup_logging(settings, role=label)
    try:
        await run_roles(settings, chosen, optional=not roles, account=account)
    except (InstanceLocked, RoleError, ConfigError) as exc:
        raise UserError(str(exc)) from None
    except FatalServiceError as exc:
        raise click.ClickException(f"tgmon stopped: {exc}") from None  # exit code 1: a supervisor restarts it


def _check_session(settings: Settings, account: str, chosen: list[str]) -> None:
    """The roles that use the monitoring account need its session: without one, say so now (exit 2)
    instead of starting and failing at every retry."""
    from bot.config import ConfigError
    from bot.telegram.clients import missing_session

    if "ingest" not in chosen:
        return
    try:
        missing = missing_session(settings.telegram, account)
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    if missing is not None:
        raise UserError(missing)


def _check_account(settings: Settings, account: str, chosen: list[str]) -> None:
    from bot.config import ConfigError

    if "ingest" not in chosen:
        raise UserError(f"--account {account} names the monitoring account of the ingest role, which this "
                        "process does not run; add --role ingest.")
    try:
        settings.telegram.require_account(account)
    except ConfigError as exc:
        raise UserError(str(exc)) from None


def _roles(settings: Settings, given: tuple[str, ...]) -> list[str]:
    """The roles to run. Named roles must have their credentials; by default, roles without them are skipped."""
    from bot.runtime import missing_credentials

    if not given:
        chosen = [r for r in ROLES if missing_credentials(settings, r) is None]
        if chosen == ["scheduler"]:
            return []  # nothing Telegram-facing configured: the offline demo
        for role in ROLES:
            if role not in chosen:  # the web view is optional: not wanting it is no warning
                log.log(logging.DEBUG if role == "web" else logging.WARNING,
                        "role %s not started: it needs %s", role, missing_credentials(settings, role))
        return chosen
    chosen = list(ROLES) if "all" in given else list(dict.fromkeys(given))
    for role in chosen:
        need = missing_credentials(settings, role)
        if need is not None:
            raise UserError(f"--role {role} needs {need}. See config/.env.example.")
    return chosen
