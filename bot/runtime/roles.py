"""The four roles of `tgmon run` and what each needs to start.

A role is built into a coroutine function `run(stop)`. Building checks credentials and that the
service exists in this build; it never fakes a missing service.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bot import metrics
from bot.app import App
from bot.config import MAIN_ACCOUNT, ConfigError, Settings
from bot.domain import ROLES
from bot.instrument import BeatingClock, CountingNotifier, CountingSender
from bot.runtime import fake_edge
from bot.runtime.leader import AlwaysLeader, LeaderLock, PgAdvisoryLock, fence, lead

log = logging.getLogger(__name__)

Service = Callable[[asyncio.Event], Awaitable[None]]

USER_NEEDS = "TELEGRAM_API_ID and TELEGRAM_API_HASH, and a logged-in account (TELEGRAM_SESSION, or `tgmon login` once)"
BOT_NEEDS = "TELEGRAM_API_ID, TELEGRAM_API_HASH and TELEGRAM_BOT_TOKEN (from @BotFather)"
WEB_NEEDS = "TGMON_WEB_BASE_URL, the address people open it at (e.g. https://tgmon.example.org; docs/web.md)"


class RoleError(Exception):
    """A role cannot start: missing credentials, or not in this build. The message says which and why."""


def missing_credentials(settings: Settings, role: str) -> str | None:
    """The settings a role still needs, or None when it can start."""
    if role == "ingest" and not settings.telegram.user_configured:
        return USER_NEEDS
    if role == "bot" and not settings.telegram.bot_configured:
        return BOT_NEEDS
    if role == "delivery" and not settings.telegram.bot_configured and fake_edge.ENV_LOG not in _environ():
        return BOT_NEEDS
    if role == "web" and settings.web.base_url is None:
        return WEB_NEEDS
    return None


def _environ() -> dict[str, str]:
    import os

    return dict(os.environ)


def _refused_credentials(exc: BaseException) -> None:
    """Telegram refusing the bot token or the api id is for the operator to fix: a ConfigError (the
    process stops and says so) instead of a retry forever."""
    name = type(exc).__name__
    if name in ("AccessTokenInvalidError", "AccessTokenExpiredError"):
        raise ConfigError("Telegram rejects TELEGRAM_BOT_TOKEN (revoked or mistyped): copy it again from "
                          "@BotFather (/token) into .env, then start tgmon again.") from None
    if name in ("ApiIdInvalidError", "ApiIdPublishedFloodError"):
        raise ConfigError("Telegram rejects TELEGRAM_API_ID/TELEGRAM_API_HASH: copy both again from "
                          "https://my.telegram.org ('API development tools'), then start tgmon again.") from None


class Runtime:
    """What the roles of one process share: the app, the clock, the Telegram clients, and the one
    monitoring account this process runs (`tgmon run --account NAME`, `main` by default)."""

    def __init__(self, app: App, account: str = MAIN_ACCOUNT) -> None:
        self.app = app
        self.settings = app.settings
        self.account = account
        self._bot_client: Any = None
        self._source: Any = None
        self._bot_lock = asyncio.Lock()
        self.roles: tuple[str, ...] = ()
        self._closers: list[Callable[[], Awaitable[Any]]] = []
        # told of every failed connection of the monitoring account (the supervisor says it once, plainly)
        self.on_unreachable: Callable[[BaseException], None] | None = None

    async def bot_client(self) -> Any:
        """The bot's client, signed in; shared by the bot and delivery roles of this process."""
        async with self._bot_lock:
            if self._bot_client is None:
                from bot.telegram.clients import make_bot_client
                client = make_bot_client(self.settings)
                token = self.settings.telegram.bot_token
                assert token is not None
                try:
                    await client.start(bot_token=token.get_secret_value())
                except BaseException as exc:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(client.disconnect(), 1)
                    _refused_credentials(exc)
                    raise
                self._closers.append(client.disconnect)
                self._bot_client = client
            return self._bot_client

    def source(self) -> Any:
        """The monitoring account as a ChannelSource: one per process, shared by ingest and the bot."""
        if self._source is None:
            # the user client, not connected: the ingest service connects it (and checks the login)
            # itself, and reconnects after every drop so it can gap-fill
            source = self.app.telegram_source(self.account)
            self._closers.append(source.client.disconnect)
            connect = source.connect

            async def connect_and_tell() -> None:
                # the ingest service retries a lost connection itself, one line each time: the
                # supervisor only hears of it here, to say once what is wrong and what to do
                try:
                    await connect()
                except (OSError, ConnectionError, TimeoutError, EOFError) as exc:
                    if self.on_unreachable is not None:
                        self.on_unreachable(exc)
                    raise

            source.connect = connect_and_tell  # type: ignore[method-assign]
            self._source = source
        return self._source

    async def close(self) -> None:
        for close in reversed(self._closers):
            with contextlib.suppress(Exception):
                result = close()
                if asyncio.iscoroutine(result):
                    await asyncio.wait_for(result, 1)
        self._closers.clear()


async def _together(*parts: Awaitable[None]) -> None:
    """Run the parts side by side until all end; the first to fail cancels the others and its
    error goes on."""
    tasks = [asyncio.ensure_future(p) for p in parts]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def scheduler_lock(settings: Settings, database_url: str) -> LeaderLock:
    if database_url.startswith("postgresql"):
        return PgAdvisoryLock(database_url, lease_seconds=settings.runtime.leader_lease_seconds)
    return AlwaysLeader()


async def build_role(rt: Runtime, role: str) -> Service:
    settings, app = rt.settings, rt.app
    if role == "scheduler":
        from bot.digest.scheduler import DigestScheduler
        lock = scheduler_lock(settings, str(app.db.engine.url.render_as_string(hide_password=False)))
        lease = settings.runtime.leader_lease_seconds

        class MeteredScheduler(DigestScheduler):
            async def tick(self) -> int:
                built = int(await super().tick())
                metrics.digest_built(built)
                metrics.heartbeat("scheduler")
                return built

        async def run_scheduler(stop: asyncio.Event) -> None:
            clock = BeatingClock(app.clock, "scheduler")
            # every scheduler process builds: due digests claimed in batches (SKIP LOCKED), instant
            # alerts on their own task; the leader only keeps the paused subscribers' watermark
            builder = MeteredScheduler(app.db, settings, clock, housekeeping=False, wakeups=app.wakeups)
            app.wakeups.start()  # matches stored by other processes wake the instant alerts (PostgreSQL)

            async def leader_work(inner: asyncio.Event) -> None:
                keeper = DigestScheduler(app.db, settings, clock)
                keeper.fence = fence("scheduler", lock.generation)  # this term's writes only
                await keeper.housekeep(inner)

            app.pipeline.on_matches.append(builder.matches_stored)  # matches of this process: at once
            try:
                await _together(
                    builder.run(stop),
                    lead(lock, leader_work, stop, retry_seconds=settings.runtime.leader_retry_seconds,
                         grace_seconds=settings.runtime.shutdown_grace_seconds,
                         check_seconds=min(settings.runtime.leader_retry_seconds, lease / 3)),
                )
            finally:
                app.pipeline.on_matches.remove(builder.matches_stored)
                await lock.release()

        return run_scheduler
    if role == "delivery":
        from bot.delivery.worker import DeliveryWorker
        fake: Any = fake_edge.RecordingSender.from_env()

        async def run_delivery(stop: asyncio.Event) -> None:
            # the bot client starts inside the supervised service: Telegram being unreachable at
            # start means a retry with backoff, not a dead process
            if fake is not None:
                sender: Any = fake
            else:
                from bot.telegram.sender import TelethonSender

                sender = TelethonSender(await rt.bot_client())
            from bot.notify.sender import AppriseNotifier

            clock = BeatingClock(app.clock, "delivery")
            app.wakeups.start()  # rows queued by other processes wake the worker (PostgreSQL)
            await DeliveryWorker(app.db, CountingSender(sender), settings, clock,
                                 notifier=CountingNotifier(AppriseNotifier(app.db, settings)),
                                 wakeups=app.wakeups).run(stop)

        return run_delivery
    if role == "ingest":
        from bot.ingest.service import IngestService
        source = rt.source()
        # the ingest loop sleeps on its app's clock between gap-fill passes: that clock beats
        ingest_app = dataclasses.replace(app, clock=BeatingClock(app.clock, "ingest"))

        async def run_ingest(stop: asyncio.Event) -> None:
            service = IngestService(ingest_app, source, account=rt.account)
            recorded = source.on_flood_wait  # the service's own bookkeeping, then the metric

            async def on_flood_wait(channel: Any, seconds: int) -> None:
                metrics.flood_wait(seconds, "ingest")
                if recorded is not None:
                    await recorded(channel, seconds)

            source.on_flood_wait = on_flood_wait
            service.failures.on_failure = metrics.channel_failed
            app.pipeline.indexer.wake()  # posts a previous run stored but did not index yet
            await service.run(stop)

        return run_ingest
    if role == "bot":
        from bot.telegram.bot_runner import BotService
        # /follow resolves a new channel at once through the monitoring account when this process
        # also ingests (the ingest service keeps that connection); otherwise an admin approves it
        source = rt.source() if "ingest" in rt.roles else None

        async def run_bot(stop: asyncio.Event) -> None:
            await BotService(app, await rt.bot_client(), source=source).run(stop)

        return run_bot
    if role == "web":
        from bot.commands import CommandContext
        from bot.domain import Rule
        from bot.matching import compile_rules
        from bot.web import create_web_app
        from bot.web.server import serve

        async def run_web(stop: asyncio.Event) -> None:
            # rule changes reach this process's matcher at once, and the others' through the
            # pipeline's rule watcher, as the bot's do
            commands = CommandContext(db=app.db, settings=settings, now=app.clock.now,
                                      rules_changed=app.pipeline.reload_rules)
            web = await create_web_app(app.db, settings, app.clock, commands)
            # the word dictionaries load on a process's first analysed word (0.25 s): at start, not
            # in a person's first search (a no-op when this process's matcher has loaded them)
            compile_rules([Rule(0, "обстрел")]).match("обстрел test")
            await serve(web, settings.web.host, settings.web.port, stop, beat=lambda: metrics.heartbeat("web"))

        return run_web
    raise RoleError(f"unknown role {role!r}; use one of {', '.join(ROLES)} or all")
