"""`tgmon login`, `tgmon channels add|list|remove`, `tgmon stats`.

`list`, `remove` and `stats` work from the database alone; `login` and `add` need the Telegram
settings and say which ones when they are missing.
"""

from __future__ import annotations

import json
import sys
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import click

from bot import domain
from bot.cli.base import (
    NETWORK_ERRORS,
    Term,
    UserError,
    cli,
    counted,
    run_async,
    settings_from,
    telegram_unreachable,
    uses_telegram,
)
from bot.domain import MAIN_ACCOUNT

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from bot.app import App
    from bot.config import Settings
    from bot.ingest.accounts import AccountState
    from bot.ingest.channels import ChannelInfo

console = Term()
err_console = Term(stderr=True)


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
@click.option("--account", default=MAIN_ACCOUNT, show_default=True,
              help="which monitoring account: main, or a name listed in TELEGRAM_ACCOUNTS")
@click.pass_context
@run_async
async def login(ctx: click.Context, as_string: bool, phone: str | None, account: str) -> None:
    """Sign in a monitoring account (phone, login code, two-step password) and save its session."""
    from bot.config import ConfigError, account_session_env
    from bot.telegram.clients import (
        interactive_login,
        make_user_client,
        new_string_session,
        session_path,
        session_string,
    )

    settings = settings_from(ctx)
    uses_telegram(ctx)
    try:
        settings.telegram.require_account(account)
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    flag = "" if account == MAIN_ACCOUNT else f" --account {account}"
    env_name = account_session_env(account)
    if not settings.telegram.user_configured:
        raise UserError(
            "tgmon login needs TELEGRAM_API_ID and TELEGRAM_API_HASH (from https://my.telegram.org, "
            f"'API development tools'); put them in .env, then run `tgmon login{flag}` again.")
    if not sys.stdin.isatty():
        raise UserError(
            "tgmon login asks for the login code Telegram sends, so it needs a terminal. Run it interactively "
            f"(docker compose run --rm tgmon login{flag}), or set {env_name} to a session string made by "
            f"`tgmon login{flag} --string` on another machine.")
    secret = settings.telegram.account_session(account)
    if secret is not None and secret.get_secret_value() and not as_string:
        as_string = True  # the session string is in force: the session file would not be used
        click.echo(f"{env_name} is set, so the session is a string: a fresh one is printed below.")
    try:
        client = make_user_client(settings, account=account, session=new_string_session() if as_string else None)
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    try:
        me = await interactive_login(client, phone=phone, echo=click.echo, prompt=click.prompt)
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    except NETWORK_ERRORS as exc:
        raise telegram_unreachable(exc) from None
    finally:
        await client.disconnect()
    name = f"@{me.username}" if me.username else (me.first_name or str(me.id))
    who = f"Account {account} logged in as {name}"
    if as_string:
        click.echo(f"{who}. Put this line in .env (it is the account's key: keep it secret):")
        click.echo(f"{env_name}={session_string(client)}")
    else:
        click.echo(f"{who}. Session saved to {session_path(settings.telegram, account=account)} (mode 600).")


# --- channels ------------------------------------------------------------------------------------------
@cli.group()
def channels() -> None:
    """Channels to watch: add (resolve once and backfill), list, remove."""


@asynccontextmanager
async def _telegram(app: App, account: str = MAIN_ACCOUNT) -> AsyncIterator[Any]:
    """The connected TelethonSource of a monitoring account, with FloodWaits shown as they happen."""
    from bot.config import ConfigError
    from bot.telegram.clients import missing_session

    settings = app.settings
    if not settings.telegram.user_configured:
        raise UserError(
            "Adding a channel resolves it on Telegram: set TELEGRAM_API_ID and TELEGRAM_API_HASH "
            "(https://my.telegram.org) in .env and run `tgmon login` first.")
    try:
        missing = missing_session(settings.telegram, account)  # offline: no connection to find it out
        if missing is not None:
            raise UserError(missing.replace("start tgmon again", "add the channels again"))
        source = app.telegram_source(account)
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    try:
        await source.connect()
    except domain.SessionEndedError as exc:
        await source.disconnect()
        raise UserError(str(exc)) from None
    except NETWORK_ERRORS as exc:
        await source.disconnect()
        raise telegram_unreachable(exc) from None
    try:
        yield source
    finally:
        await source.disconnect()


@channels.command(name="add")
@click.argument("links", nargs=-1, required=True)
@click.option("--no-backfill", is_flag=True, help="only resolve and store; the service backfills later")
@click.option("--account", default=MAIN_ACCOUNT, show_default=True,
              help="the monitoring account that looks the channels up (the ingest processes assign them later)")
@click.pass_context
@run_async
async def channels_add(ctx: click.Context, links: tuple[str, ...], no_backfill: bool, account: str) -> None:
    """Watch channels: @name, t.me/name, t.me/name/123, t.me/s/name, -100... ids, t.me/+invite."""
    from rich.markup import escape

    from bot.app import build_app
    from bot.config import ConfigError
    from bot.ingest.channels import ChannelError, add_channel, parse_channel_link
    from bot.ingest.service import IngestService

    settings = settings_from(ctx)
    uses_telegram(ctx)
    try:
        settings.telegram.require_account(account)
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    failed, valid = 0, []
    for link in links:  # a malformed link is told at once, before connecting to Telegram
        try:
            parse_channel_link(link)
        except ChannelError as exc:
            failed += 1
            err_console.print(f"[red]{escape(link)}[/red]: {escape(exc.message)}", highlight=False)
            continue
        valid.append(link)
    if not valid:
        raise UserError(f"{_not_added(failed, len(links))} (see above); nothing was stored.")
    app = await build_app(settings)
    try:
        async with _telegram(app, account) as source:
            service = IngestService(app, source)
            record = source.on_flood_wait

            async def show_flood(channel: domain.ChannelRef | None, seconds: int) -> None:
                until = (app.clock.now() + timedelta(seconds=seconds)).strftime("%H:%M:%S UTC")
                err_console.print(f"FloodWait: Telegram asks to wait {seconds} s; waiting until {until}, "
                                  "then going on where it stopped.")
                await record(channel, seconds)

            source.on_flood_wait = show_flood
            for link in valid:
                try:
                    ref = await add_channel(app.db, source, link)
                except ChannelError as exc:
                    failed += 1
                    err_console.print(f"[red]{escape(link)}[/red]: {escape(exc.message)}", highlight=False)
                    continue
                console.print(f"Watching {escape(ref.title or ref.key)} (@{ref.username or ref.telegram_id}).",
                              highlight=False)
                if not no_backfill:
                    await _backfill(service, ref, settings)
        await app.pipeline.flush_index()  # the backfilled posts searchable before the command ends
    except domain.SessionEndedError as exc:
        raise UserError(str(exc)) from None
    except NETWORK_ERRORS as exc:  # the connection dropped midway: what was added so far is kept
        raise telegram_unreachable(exc) from None
    finally:
        await app.close()
    if failed:
        raise UserError(f"{_not_added(failed, len(links))} (see above); nothing was stored for them.")


def _not_added(failed: int, total: int) -> str:
    return f"{failed} of {counted(total, 'link')} {'was' if failed == 1 else 'were'} not added"


async def _backfill(service: Any, ref: domain.ChannelRef, settings: Settings) -> None:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        Task,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    from bot.ingest.channels import ChannelError

    class _Rate(ProgressColumn):
        """Posts a second, once there is a rate to show."""

        def render(self, task: Task) -> Text:
            return Text(f"{task.speed:,.0f}/s" if task.speed else "")

    columns = (TextColumn("backfill {task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("posts"),
               _Rate(), TimeRemainingColumn())
    with Progress(*columns, console=console.get(), transient=True) as bar:
        task = bar.add_task(ref.key, total=settings.ingest.backfill_posts or None)
        try:
            result = await service.backfill(ref, progress=lambda n, of: bar.update(task, completed=n, total=of))
        except ChannelError as exc:
            err_console.print(f"backfill of {ref.key} stopped: {exc.message}")
            return
    console.print(f"  backfilled {ref.key}: {counted(result.stored, 'new post')}, {result.updated} updated, "
                  f"{counted(result.matches, 'new match', 'new matches')} (last "
                  f"{counted(settings.ingest.backfill_days, 'day')} or "
                  f"{counted(settings.ingest.backfill_posts, 'post')}).", highlight=False)


def _today(app: App) -> datetime:
    return app.clock.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


async def _lags(app: App, infos: list[ChannelInfo]) -> dict[int, float]:
    """Per channel: how long after its publication the newest post was stored (seconds)."""
    from bot.storage import channels as stored_channels

    lags: dict[int, float] = {}
    async with app.db.uow(read_only=True) as session:
        for info in infos:
            times = await stored_channels.newest_post_times(session, info.id)
            if times is not None:
                published, stored = times
                lags[info.id] = (stored - published).total_seconds()
    return lags


async def _accounts(app: App) -> dict[str, AccountState]:
    from bot.ingest.accounts import account_states, stale_after

    stale = stale_after(app.settings.ingest.gap_fill_minutes)
    return {state.name: state for state in await account_states(app.db, app.clock.now(), stale)}


def _account_cell(info: ChannelInfo, accounts: dict[str, AccountState]) -> str:
    if info.status != domain.ChannelStatus.ACTIVE.value:
        return "-"
    if info.account is None:
        return "[yellow]none[/yellow]"
    state = accounts.get(info.account)
    return info.account if state is not None and state.live else f"{info.account} [yellow](down)[/yellow]"


def _account_report(infos: list[ChannelInfo], accounts: dict[str, AccountState], now: datetime) -> None:
    """One line per monitoring account, and a warning for active channels that no live account watches."""
    for state in accounts.values():
        seen = f"heartbeat {_ago(state.heartbeat_at, now)}"
        how = "live" if state.live else "[yellow]down[/yellow] (its channels go to a live account)"
        console.print(f"account {state.name}: {state.channels} of its cap of {counted(state.cap, 'channel')}; "
                      f"{how}, {seen}", highlight=False)
    active = [i for i in infos if i.status == domain.ChannelStatus.ACTIVE.value]
    orphaned = [i for i in active if i.account is None or not (accounts.get(i.account) and accounts[i.account].live)]
    if not orphaned:
        return
    live = [s for s in accounts.values() if s.live]
    if not live:
        why = "no ingest process is running (`tgmon run --role ingest`)"
    elif sum(s.cap for s in live) < len(active):
        why = (f"every live account is at its cap ({', '.join(f'{s.name} {s.cap}' for s in live)}): add an account "
               "(TELEGRAM_ACCOUNTS, then `tgmon run --role ingest --account NAME`) or raise TELEGRAM_ACCOUNT_CAP")
    else:
        why = "a live account claims them at its next gap-fill pass"
    names = ", ".join(i.name for i in orphaned[:10]) + (", ..." if len(orphaned) > 10 else "")
    are = "is" if len(orphaned) == 1 else "are"
    console.print(f"[yellow]Warning: {counted(len(orphaned), 'active channel')} {are} watched by no live monitoring account "
                  f"({names}): {why}.[/yellow]", highlight=False)


def _failing_report(infos: list[ChannelInfo]) -> None:
    """Channels that cannot be read, why and since when: each one is retried with backoff meanwhile."""
    from rich.markup import escape

    failing = [i for i in infos if i.error]
    for info in failing:
        since = f" since {info.error_since:%Y-%m-%d %H:%M UTC}" if info.error_since else ""
        console.print(f"[red]{info.name} cannot be read{since}: {escape(info.error or '')}[/red] "
                      "(retried with backoff; the other channels go on)", highlight=False)


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when is not None else None


def _channel_json(info: ChannelInfo, accounts: dict[str, AccountState], lags: dict[int, float]) -> dict[str, Any]:
    state = accounts.get(info.account) if info.account else None
    return {
        "channel": info.name, "telegram_id": info.telegram_id, "username": info.username, "title": info.title,
        "status": info.status, "account": info.account, "account_live": bool(state and state.live),
        "joined": info.joined, "posts": info.posts, "posts_today": info.posts_today,
        "last_post_at": _iso(info.last_post_at), "lag_seconds": lags.get(info.id),
        "gaps_recovered": info.gaps_recovered, "flood_wait_seconds": info.flood_wait_seconds,
        "error": info.error, "error_since": _iso(info.error_since),
    }


def _accounts_json(accounts: dict[str, AccountState]) -> list[dict[str, Any]]:
    return [{"name": s.name, "channels": s.channels, "cap": s.cap, "live": s.live,
             "heartbeat_at": _iso(s.heartbeat_at)} for s in accounts.values()]


def _print_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False))


JSON_HELP = "print one JSON object (for scripts) instead of the table"


@channels.command(name="list")
@click.option("--all", "include_removed", is_flag=True, help="also show removed channels")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_context
@run_async
async def channels_list(ctx: click.Context, include_removed: bool, as_json: bool) -> None:
    """Every watched channel with its last post, lag and counts (from the database alone)."""
    from rich.markup import escape
    from rich.table import Table

    from bot.app import build_app
    from bot.cli.hints import empty_hint, is_empty
    from bot.ingest.channels import list_channels

    settings = settings_from(ctx)
    app = await build_app(settings)
    try:
        infos = await list_channels(app.db, since=_today(app), include_removed=include_removed)
        lags = await _lags(app, infos)
        accounts = await _accounts(app)
        empty = not infos and await is_empty(app.db)
    finally:
        await app.close()
    if as_json:
        _print_json({"channels": [_channel_json(i, accounts, lags) for i in infos],
                     "accounts": _accounts_json(accounts)})
    if empty:
        err_console.print(empty_hint(settings, "No channels are watched: "), highlight=False, markup=False)
        return
    if as_json:
        return
    if not infos:
        console.print("No channels are watched. Add one: tgmon channels add @name")
        return
    now = app.clock.now()
    table = Table("channel", "title", "status", "account", "joined", "posts", "today (UTC)", "last post", "lag")
    for info in infos:
        table.add_row(info.name, escape(info.title), info.status, _account_cell(info, accounts),
                      "yes" if info.joined else "polled", str(info.posts),
                      str(info.posts_today), _ago(info.last_post_at, now), _duration(lags.get(info.id)))
    console.print(table)
    _account_report(infos, accounts, now)
    _failing_report(infos)


@channels.command(name="remove")
@click.argument("links", nargs=-1, required=True)
@click.option("--purge", is_flag=True, help="also delete the channel's stored posts and their matches")
@click.pass_context
@run_async
async def channels_remove(ctx: click.Context, links: tuple[str, ...], purge: bool) -> None:
    """Stop watching channels. Their posts stay unless --purge."""
    from rich.markup import escape

    from bot.app import build_app
    from bot.ingest.channels import ChannelError, remove_channel

    app = await build_app(settings_from(ctx))
    failed = 0
    try:
        for link in links:
            try:
                ref, purged = await remove_channel(app.db, link, purge=purge)
            except ChannelError as exc:
                failed += 1
                err_console.print(f"{escape(link)}: {escape(exc.message)}", highlight=False)
                continue
            kept = f"{counted(purged, 'post')} deleted" if purge else "its posts are kept (--purge deletes them)"
            console.print(f"No longer watching {escape(ref.title or ref.key)}; {kept}.", highlight=False)
    finally:
        await app.close()
    if failed:
        were = "was" if failed == 1 else "were"
        raise UserError(f"{failed} of {counted(len(links), 'channel')} {were} not removed (see above).")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@click.pass_context
@run_async
async def stats(ctx: click.Context, as_json: bool) -> None:
    """Per channel: last post, lag, posts today, gaps recovered, FloodWait seconds."""
    from rich.table import Table

    from bot.app import build_app
    from bot.cli.hints import empty_hint, is_empty
    from bot.ingest.channels import list_channels
    from bot.search import pending_count

    settings = settings_from(ctx)
    app = await build_app(settings)
    try:
        infos = await list_channels(app.db, since=_today(app))
        lags = await _lags(app, infos)
        accounts = await _accounts(app)
        unindexed = await pending_count(app.db)
        empty = not infos and await is_empty(app.db)
    finally:
        await app.close()
    now = app.clock.now()
    totals = {"channels": len(infos), "posts_today": sum(i.posts_today for i in infos),
              "gaps_recovered": sum(i.gaps_recovered for i in infos),
              "flood_wait_seconds": sum(i.flood_wait_seconds for i in infos)}
    if as_json:
        _print_json({"as_of": now.isoformat(), "channels": [_channel_json(i, accounts, lags) for i in infos],
                     "accounts": _accounts_json(accounts), "totals": totals, "search_index_pending": unindexed})
    if empty:
        err_console.print(empty_hint(settings), highlight=False, markup=False)
        return
    if as_json:
        return
    table = Table("channel", "account", "last post", "lag", "posts today (UTC)", "gaps recovered", "FloodWait s",
                  "posts")
    for info in infos:
        last = info.last_post_at.strftime("%Y-%m-%d %H:%M UTC") if info.last_post_at else "-"
        table.add_row(info.name, _account_cell(info, accounts), last, _duration(lags.get(info.id)),
                      str(info.posts_today), str(info.gaps_recovered), str(info.flood_wait_seconds), str(info.posts))
    console.print(table)
    _account_report(infos, accounts, now)
    _failing_report(infos)
    console.print(f"{counted(totals['channels'], 'channel')}, {counted(totals['posts_today'], 'post')} today, "
                  f"{totals['gaps_recovered']} recovered by gap fill, "
                  f"{totals['flood_wait_seconds']} s of FloodWait; as of {now:%H:%M UTC}.", highlight=False)
    # the search indexer runs behind ingestion: a number that stays high means no ingest process runs it
    waiting = f"{counted(unindexed, 'post')} waiting (search reads them too)"
    console.print(f"Search index: {'up to date' if not unindexed else waiting}.", highlight=False)
