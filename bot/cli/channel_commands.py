"""`tgmon login`, `tgmon channels add|list|remove`, `tgmon stats`.

`list`, `remove` and `stats` work from the database alone; `login` and `add` need the Telegram
settings and say which ones when they are missing.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from sqlalchemy import select

from bot import domain
from bot.app import App, build_app
from bot.cli.base import UserError, cli, run_async, settings_from
from bot.config import ConfigError, Settings
from bot.ingest.channels import ChannelError, ChannelInfo, add_channel, list_channels, remove_channel
from bot.storage import models as m

console = Console()
err_console = Console(stderr=True)


def _ago(when: datetime | None, now: datetime) -> str:
    if when is None:
        return "-"
    seconds = max(0, int((now - when).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


# --- login ---------------------------------------------------------------------------------------------
@cli.command()
@click.option("--string", "as_string", is_flag=True,
              help="print a session string for TELEGRAM_SESSION instead of writing the session file")
@click.option("--phone", default=None, help="the account's phone number, international format (+7...)")
@click.pass_context
@run_async
async def login(ctx: click.Context, as_string: bool, phone: str | None) -> None:
    """Sign in the monitoring account (phone, login code, two-step password) and save the session."""
    from telethon.sessions import StringSession

    from bot.telegram.clients import interactive_login, make_user_client, session_path

    settings = settings_from(ctx)
    if not settings.telegram.user_configured:
        raise UserError(
            "tgmon login needs TELEGRAM_API_ID and TELEGRAM_API_HASH (from https://my.telegram.org, "
            "'API development tools'); put them in .env, then run `tgmon login` again.")
    if not sys.stdin.isatty():
        raise UserError(
            "tgmon login asks for the login code Telegram sends, so it needs a terminal. Run it interactively "
            "(docker compose run --rm tgmon login), or set TELEGRAM_SESSION to a session string made by "
            "`tgmon login --string` on another machine.")
    if settings.telegram.session is not None and settings.telegram.session.get_secret_value() and not as_string:
        as_string = True  # TELEGRAM_SESSION is in force: the session file would not be used
        click.echo("TELEGRAM_SESSION is set, so the session is a string: a fresh one is printed below.")
    try:
        client = make_user_client(settings, session=StringSession() if as_string else None)
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    try:
        me = await interactive_login(client, phone=phone, echo=click.echo, prompt=click.prompt)
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    except (ConnectionError, OSError) as exc:
        raise UserError(f"Cannot reach Telegram ({exc.__class__.__name__}); check the network "
                        "(and TELEGRAM_SERVER if set).") from None
    finally:
        await client.disconnect()
    name = f"@{me.username}" if me.username else (me.first_name or str(me.id))
    if as_string:
        click.echo(f"Logged in as {name}. Put this line in .env (it is the account's key: keep it secret):")
        click.echo(f"TELEGRAM_SESSION={StringSession.save(client.session)}")
    else:
        click.echo(f"Logged in as {name}. Session saved to {session_path(settings.telegram)} (mode 600).")


# --- channels ------------------------------------------------------------------------------------------
@cli.group()
def channels() -> None:
    """Channels to watch: add (resolve once and backfill), list, remove."""


@asynccontextmanager
async def _telegram(app: App) -> AsyncIterator[Any]:
    """The connected TelethonSource of the monitoring account, with FloodWaits shown as they happen."""
    from bot.telegram.clients import make_user_client
    from bot.telegram.source import TelethonSource

    settings = app.settings
    if not settings.telegram.user_configured:
        raise UserError(
            "Adding a channel resolves it on Telegram: set TELEGRAM_API_ID and TELEGRAM_API_HASH "
            "(https://my.telegram.org) in .env and run `tgmon login` first.")
    try:
        client = make_user_client(settings)
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    source = TelethonSource(client, app.clock, page_size=settings.ingest.page_size)
    try:
        await source.connect()
    except domain.SessionEndedError as exc:
        await source.disconnect()
        raise UserError(str(exc)) from None
    except (ConnectionError, OSError) as exc:
        raise UserError(f"Cannot reach Telegram ({exc.__class__.__name__}); check the network "
                        "(and TELEGRAM_SERVER if set).") from None
    try:
        yield source
    finally:
        await source.disconnect()


@channels.command(name="add")
@click.argument("links", nargs=-1, required=True)
@click.option("--no-backfill", is_flag=True, help="only resolve and store; the service backfills later")
@click.pass_context
@run_async
async def channels_add(ctx: click.Context, links: tuple[str, ...], no_backfill: bool) -> None:
    """Watch channels: @name, t.me/name, t.me/name/123, t.me/s/name, -100... ids, t.me/+invite."""
    from bot.ingest.service import IngestService

    settings = settings_from(ctx)
    app = await build_app(settings)
    failed = 0
    try:
        async with _telegram(app) as source:
            service = IngestService(app, source)
            record = source.on_flood_wait

            async def show_flood(channel: domain.ChannelRef | None, seconds: int) -> None:
                until = (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%H:%M:%S UTC")
                err_console.print(f"FloodWait: Telegram asks to wait {seconds} s; waiting until {until}, "
                                  "then going on where it stopped.")
                await record(channel, seconds)

            source.on_flood_wait = show_flood
            for link in links:
                try:
                    ref = await add_channel(app.db, source, link)
                except ChannelError as exc:
                    failed += 1
                    err_console.print(f"[red]{link}[/red]: {exc.message}", highlight=False)
                    continue
                console.print(f"Watching {ref.title or ref.key} (@{ref.username or ref.telegram_id}).", highlight=False)
                if not no_backfill:
                    await _backfill(service, ref, settings)
    except domain.SessionEndedError as exc:
        raise UserError(str(exc)) from None
    finally:
        await app.close()
    if failed:
        raise UserError(f"{failed} of {len(links)} links were not added (see above); nothing was stored for them.")


async def _backfill(service: Any, ref: domain.ChannelRef, settings: Settings) -> None:
    columns = (TextColumn("backfill {task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("posts"),
               TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(ref.key, total=settings.ingest.backfill_posts or None)
        try:
            result = await service.backfill(ref, progress=lambda n: bar.update(task, completed=n))
        except ChannelError as exc:
            err_console.print(f"backfill of {ref.key} stopped: {exc.message}")
            return
    console.print(f"  backfilled {ref.key}: {result.stored} new posts, {result.updated} updated, "
                  f"{result.matches} new matches (last {settings.ingest.backfill_days} days or "
                  f"{settings.ingest.backfill_posts} posts).")


def _today() -> datetime:
    now = datetime.now(UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


async def _lags(app: App, infos: list[ChannelInfo]) -> dict[int, float]:
    """Per channel: how long after its publication the newest post was stored (seconds)."""
    lags: dict[int, float] = {}
    async with app.db.uow(read_only=True) as session:
        for info in infos:
            row = (await session.execute(
                select(m.Post.date, m.Post.stored_at).where(m.Post.channel_id == info.id)
                .order_by(m.Post.message_id.desc()).limit(1))).first()
            if row is not None:
                lags[info.id] = (row.stored_at - row.date).total_seconds()
    return lags


@channels.command(name="list")
@click.option("--all", "include_removed", is_flag=True, help="also show removed channels")
@click.pass_context
@run_async
async def channels_list(ctx: click.Context, include_removed: bool) -> None:
    """Every watched channel with its last post, lag and counts (from the database alone)."""
    app = await build_app(settings_from(ctx))
    try:
        infos = await list_channels(app.db, since=_today(), include_removed=include_removed)
        lags = await _lags(app, infos)
    finally:
        await app.close()
    if not infos:
        console.print("No channels are watched. Add one: tgmon channels add @name")
        return
    now = datetime.now(UTC)
    table = Table("channel", "title", "status", "joined", "posts", "today (UTC)", "last post", "lag")
    for info in infos:
        table.add_row(info.name, info.title, info.status, "yes" if info.joined else "polled", str(info.posts),
                      str(info.posts_today), _ago(info.last_post_at, now), _duration(lags.get(info.id)))
    console.print(table)


@channels.command(name="remove")
@click.argument("links", nargs=-1, required=True)
@click.option("--purge", is_flag=True, help="also delete the channel's stored posts and their matches")
@click.pass_context
@run_async
async def channels_remove(ctx: click.Context, links: tuple[str, ...], purge: bool) -> None:
    """Stop watching channels. Their posts stay unless --purge."""
    app = await build_app(settings_from(ctx))
    failed = 0
    try:
        for link in links:
            try:
                ref, purged = await remove_channel(app.db, link, purge=purge)
            except ChannelError as exc:
                failed += 1
                err_console.print(f"{link}: {exc.message}", highlight=False)
                continue
            kept = f"{purged} posts deleted" if purge else "its posts are kept (--purge deletes them)"
            console.print(f"No longer watching {ref.title or ref.key}; {kept}.", highlight=False)
    finally:
        await app.close()
    if failed:
        raise UserError(f"{failed} of {len(links)} channels were not removed.")


@cli.command()
@click.pass_context
@run_async
async def stats(ctx: click.Context) -> None:
    """Per channel: last post, lag, posts today, gaps recovered, FloodWait seconds."""
    app = await build_app(settings_from(ctx))
    try:
        infos = await list_channels(app.db, since=_today())
        lags = await _lags(app, infos)
    finally:
        await app.close()
    now = datetime.now(UTC)
    table = Table("channel", "last post", "lag", "posts today (UTC)", "gaps recovered", "FloodWait s", "posts")
    for info in infos:
        last = info.last_post_at.strftime("%Y-%m-%d %H:%M UTC") if info.last_post_at else "-"
        table.add_row(info.name, last, _duration(lags.get(info.id)), str(info.posts_today), str(info.gaps_recovered),
                      str(info.flood_wait_seconds), str(info.posts))
    console.print(table)
    console.print(f"{len(infos)} channels, {sum(i.posts_today for i in infos)} posts today, "
                  f"{sum(i.gaps_recovered for i in infos)} recovered by gap fill, "
                  f"{sum(i.flood_wait_seconds for i in infos)} s of FloodWait; as of {now:%H:%M UTC}.")
