"""`tgmon digest preview`: print the digest a subscriber with these rules would receive."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click

from bot.cli.base import UserError, cli, counted, run_async, settings_from
from bot.i18n import DEFAULT_LANGUAGE, LANGUAGES


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
@click.option("--tz", "zone", default=None,
              help="IANA timezone for days and times (default: --chat's, else [digest] default_timezone)")
@click.option("--lang", type=click.Choice(LANGUAGES), default=None,
              help="the digest's language (default: --chat's, else en)")
@click.option("--chat", "chat_id", type=int, default=None,
              help="a subscriber's chat id: the preview takes its language and timezone")
@click.option("--html", "as_html", is_flag=True, help="print the exact HTML messages, each followed by a line '-----'")
@click.pass_context
@run_async
async def preview(ctx: click.Context, rules_file: Path, since: str | None, until: str | None, zone: str | None,
                  lang: str | None, chat_id: int | None, as_html: bool) -> None:
    """Build, from the stored posts, the digest a subscriber with these rules would receive. Sends nothing."""
    from bot.app import build_app
    from bot.cli.hints import empty_hint, is_empty
    from bot.digest.preview import period, preview_digest, read_rules, subscriber_language_and_zone
    from bot.telegram.sender import plain_text

    settings = settings_from(ctx)
    if zone is not None:
        _check_zone(zone)
    try:
        lines = rules_file.read_text("utf-8").splitlines()  # noqa: ASYNC240
    except FileNotFoundError:
        raise UserError(f"--rules {rules_file}: cannot read it: no such file; give a text file with one rule a line") from None
    except OSError as exc:
        raise UserError(f"--rules {rules_file}: cannot read it ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise UserError(f"--rules {rules_file}: not UTF-8 text; save it as UTF-8") from None
    try:
        rules = read_rules(lines, settings)
    except ValueError as exc:
        raise UserError(f"--rules {rules_file}: {exc}") from None
    first, last = _date(since, "--since"), _date(until, "--until")
    app = await build_app(settings)  # --database, when given, is in the settings
    try:
        if chat_id is not None:
            found = await subscriber_language_and_zone(app.db, chat_id)
            if found is None:
                raise UserError(f"--chat {chat_id}: no subscriber has this chat id; give a subscribed chat's id, "
                                "or --lang and --tz instead")
            lang, zone = lang or found[0], zone or found[1]
        tz = zone or settings.digest.default_timezone
        _check_zone(tz)
        try:
            start, end = period(first, last, tz, app.clock.now())
        except ValueError as exc:
            raise UserError(str(exc)) from None
        built = await preview_digest(app.db, settings, rules, since=start, until=end, tz=tz,
                                     daily_title=since is None and until is None, lang=lang or DEFAULT_LANGUAGE)
        empty = not built.chunks and await is_empty(app.db)
    finally:
        await app.close()
    if not built.chunks:
        click.echo(f"No post from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} ({tz}) matches these rules: "
                   "the bot would send nothing.", err=True)
        if empty:
            click.echo(empty_hint(settings), err=True)
        return
    for chunk in built.chunks:
        if as_html:
            click.echo(chunk)
            click.echo("-----")
        else:
            click.echo(plain_text(chunk, links=True))
            click.echo()
    click.echo(f"{counted(built.total, 'item')} in {counted(len(built.chunks), 'message')} "
               f"({counted(built.matches, 'match', 'matches')}).", err=True)


def _check_zone(zone: str) -> None:
    from bot.config import valid_timezone

    try:
        valid_timezone(zone)
    except ValueError as exc:
        raise UserError(f"--tz: {exc}") from None
