"""`tgmon digest preview`: print the digest a subscriber with these rules would receive."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import click

from bot.app import build_app
from bot.cli.base import UserError, cli, run_async, settings_from
from bot.config import valid_timezone


@cli.group()
def digest() -> None:
    """Digests: preview what subscribers receive."""


def _date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UserError(f"{option} {value!r} is not a date; use YYYY-MM-DD, for example 2026-11-24") from None


@digest.command()
@click.option("--rules", "rules_file", required=True, type=click.Path(path_type=Path),
              help="a text file with one rule a line (# starts a comment)")
@click.option("--since", default=None, help="first local day, YYYY-MM-DD (default: the last 24 hours)")
@click.option("--until", default=None, help="last local day, YYYY-MM-DD (default: now)")
@click.option("--tz", "zone", default=None, help="IANA timezone for days and times (default: [digest] default_timezone)")
@click.option("--html", "as_html", is_flag=True, help="print the exact HTML messages, each followed by a line '-----'")
@click.option("--database", default=None, help="database URL (default: the configured one)")
@click.pass_context
@run_async
async def preview(ctx: click.Context, rules_file: Path, since: str | None, until: str | None, zone: str | None,
                  as_html: bool, database: str | None) -> None:
    """Build, from the stored posts, the digest a subscriber with these rules would receive. Sends nothing."""
    from telethon.extensions import html as telethon_html

    from bot.digest.preview import period, preview_digest, read_rules

    settings = settings_from(ctx)
    tz = zone or settings.digest.default_timezone
    try:
        valid_timezone(tz)
    except ValueError as exc:
        raise UserError(f"--tz: {exc}") from None
    try:
        lines = rules_file.read_text("utf-8").splitlines()  # noqa: ASYNC240
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"--rules {rules_file}: cannot read it ({exc.__class__.__name__}: {exc})") from None
    try:
        rules = read_rules(lines, settings)
        start, end = period(_date(since, "--since"), _date(until, "--until"), tz, datetime.now(UTC))
    except ValueError as exc:
        raise UserError(f"--rules {rules_file}: {exc}" if "line" in str(exc) or "rules file" in str(exc)
                        else str(exc)) from None
    app = await build_app(settings, database_url=database)
    try:
        built = await preview_digest(app.db, settings, rules, since=start, until=end, tz=tz,
                                     daily_title=since is None and until is None)
    finally:
        await app.close()
    if not built.chunks:
        click.echo(f"No post from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} ({tz}) matches these rules: "
                   "the bot would send nothing.", err=True)
        return
    for chunk in built.chunks:
        if as_html:
            click.echo(chunk)
            click.echo("-----")
        else:
            click.echo(telethon_html.parse(chunk)[0])
            click.echo()
    click.echo(f"{built.total} items in {len(built.chunks)} messages ({built.matches} matches).", err=True)
