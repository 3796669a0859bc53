"""`tgmon run`: start the roles, keep them running, stop them cleanly on SIGTERM/SIGINT.

- SQLite: one process per database (`instance_lock`); PostgreSQL: any number of processes.
- A service that fails is logged and restarted with backoff (1 s doubling to 60 s): a database
  restart or a network error costs a pause, not the process. /healthz reports it meanwhile.
- SIGTERM/SIGINT set the stop event: each service finishes its current transaction and returns;
  whatever is still running after `runtime.shutdown_grace_seconds` is cancelled (its open
  transaction rolls back, so nothing is half-written). A second signal cancels at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Coroutine, Sequence
from typing import Any

from bot import metrics
from bot.app import App, build_app
from bot.config import MAIN_ACCOUNT, ConfigError, Settings
from bot.domain import SessionEndedError
from bot.runtime import heap
from bot.runtime.health import Health
from bot.runtime.instance_lock import InstanceLock, sqlite_path
from bot.runtime.monitor import monitor
from bot.runtime.roles import RoleError, Runtime, Service, build_role

log = logging.getLogger(__name__)


def service_window(settings: Settings, role: str) -> float:
    if role == "ingest":  # a gap fill pass touches every channel at least this often
        return max(settings.runtime.stall_seconds, 3 * 60 * settings.ingest.gap_fill_minutes)
    return settings.runtime.stall_seconds


FATAL = (ConfigError, SessionEndedError)
NETWORK = (OSError, ConnectionError, TimeoutError, EOFError)  # EOFError: asyncio.IncompleteReadError

TELEGRAM_ROLES_HINT = ("check the network, and any firewall or proxy between this host and Telegram "
                       "(and TELEGRAM_SERVER if set)")


class FatalServiceError(Exception):
    """A service stopped for good (a dead session, a wrong setting); the message says which and why."""


def network_reason(exc: BaseException) -> str:
    """A short reason for a network failure: 'connection refused', 'the server closed the connection', ..."""
    if type(exc) is ConnectionError and str(exc).startswith("Connection to Telegram failed"):
        from bot.telegram.clients import last_connection_failure

        last = last_connection_failure()  # Telethon gave up after its retries: why the last one failed
        if last is not None and type(last) is not ConnectionError:
            return f"{network_reason(last)}; {str(exc).removeprefix('Connection to Telegram ').strip()}"
    if isinstance(exc, EOFError):  # asyncio.IncompleteReadError: the peer hung up mid-handshake
        return "the server closed the connection"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[:1].lower() + exc.strerror[1:]
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _database_error(exc: BaseException) -> str | None:
    """The one-line explanation when `exc` is the database being unreachable, else None."""
    from sqlalchemy.exc import DBAPIError

    from bot.storage.database import DatabaseUnavailable

    seen, item = 0, exc  # type: tuple[int, BaseException | None]
    while isinstance(item, BaseException) and seen < 10:
        if isinstance(item, DatabaseUnavailable):
            return str(item)
        if isinstance(item, DBAPIError) and item.connection_invalidated:  # the server went away mid-work
            return f"the connection to the database was lost ({type(item.orig).__name__})"
        item, seen = item.__cause__ or item.__context__ or getattr(item, "orig", None), seen + 1
    return None


class Outages:
    """What is unreachable now (Telegram, the database), each said plainly once per incident; every
    retry after that is one line, and a traceback only at DEBUG."""

    def __init__(self) -> None:
        self.told: set[str] = set()
        self.unexpected: set[tuple[str, str]] = set()

    def failed(self, name: str, exc: Exception, delay: float) -> None:
        database = _database_error(exc)
        if database is None and not isinstance(exc, NETWORK):
            key = (name, type(exc).__name__)
            first = key not in self.unexpected
            self.unexpected.add(key)
            log.error("%s failed (%s: %s); restarting in %.0f s%s", name, type(exc).__name__, exc, delay,
                      "" if first else " (the same error as before; its traceback was logged then)",
                      exc_info=first)
            return
        log.debug("%s: the traceback of the failure", name, exc_info=exc)
        if database is not None or name == "scheduler":
            kind, plain = "database", database or f"the database cannot be reached ({network_reason(exc)})"
        else:
            kind = "Telegram"
            plain = f"Telegram cannot be reached ({network_reason(exc)}): {TELEGRAM_ROLES_HINT}"
        self._tell(kind, plain)
        why = network_reason(exc) if database is None else "see above"
        log.warning("%s: %s unreachable (%s); restarting in %.0f s", name, kind, why, delay)

    def _tell(self, kind: str, plain: str) -> None:
        if kind not in self.told:
            self.told.add(kind)
            log.error("%s. tgmon keeps retrying with backoff (up to 60 s) until it comes back.", plain.rstrip("."))

    def telegram_unreachable(self, exc: BaseException) -> None:
        """The monitoring account could not connect (its service retries and logs each try itself)."""
        log.debug("the traceback of the failed connection", exc_info=exc)
        self._tell("Telegram", f"Telegram cannot be reached ({network_reason(exc)}): {TELEGRAM_ROLES_HINT}")

    def recovered(self) -> None:
        """A service ran fine for a while: the next outage is a new incident, told plainly again."""
        self.told.clear()


async def supervise(
    name: str, service: Service, stop: asyncio.Event, health: Health, window: float, fatal: list[str],
    outages: Outages | None = None,
) -> None:
    outages = outages or Outages()
    delay = 1.0
    while not stop.is_set():
        health.register(name, window)
        started = time.monotonic()
        try:
            await service(stop)
            if stop.is_set():
                break
            log.warning("%s returned without being asked to stop; restarting in %.0f s", name, delay)
            health.ended(name, "returned early, restarting")
        except FATAL as exc:  # restarting cannot help: the whole process stops and says why
            log.error("%s cannot go on: %s", name, exc)
            health.ended(name, f"fatal: {type(exc).__name__}")
            fatal.append(f"{name}: {exc}")
            stop.set()
            return
        except Exception as exc:
            outages.failed(name, exc, delay)
            health.ended(name, f"failed with {type(exc).__name__}, restarting")
        if time.monotonic() - started > 120:
            delay = 1.0  # it ran fine for a while: this is a new incident
            outages.recovered()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        delay = min(delay * 2, 60.0)
    health.ended(name, "stopped")


async def _cancel_orphans(existing: set[asyncio.Task[Any]], seconds: float = 1.0) -> int:
    """Cancel the tasks started since `existing` was taken (the services' own: sends in flight, ...)
    and wait a little; returns how many are still running."""
    me = asyncio.current_task()
    rest = {t for t in asyncio.all_tasks() if t is not me and t not in existing and not t.done()}
    for task in rest:
        task.cancel()
    if not rest:
        return 0
    _done, still = await asyncio.wait(rest, timeout=seconds)
    return len(still)


async def _bounded(closing: Coroutine[Any, Any, Any], what: str, seconds: float = 1.0) -> None:
    try:
        await asyncio.wait_for(closing, seconds)
    except Exception as exc:  # closing must never keep the process from ending
        log.warning("closing %s failed (%s)", what, type(exc).__name__)


async def run_roles(
    settings: Settings, roles: Sequence[str], *, optional: bool = False, account: str = MAIN_ACCOUNT
) -> int:
    """Run `roles` until SIGTERM/SIGINT. With `optional`, a role not in this build is skipped, not fatal.
    `account` is the monitoring account of the ingest role (and of the bot's /follow lookups)."""
    loop = asyncio.get_running_loop()
    existing = asyncio.all_tasks()  # whoever called us keeps its tasks; ours are cancelled at the end
    stop = asyncio.Event()
    signals: list[str] = []
    stop_signals = signals
    fatal: list[str] = []

    def on_signal(sig: signal.Signals) -> None:
        signals.append(sig.name)
        if len(signals) == 1:
            log.info("%s received: stopping (finishing current writes, up to %.0f s)", sig.name,
                     settings.runtime.shutdown_grace_seconds)
            stop.set()
        else:
            log.warning("%s received again: cancelling now", sig.name)
            for task in asyncio.all_tasks(loop):
                if task is not asyncio.current_task(loop):
                    task.cancel()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)

    lock = None
    db_file = sqlite_path(settings.database.url)
    if db_file is not None:
        lock = InstanceLock(db_file).acquire()  # raises InstanceLocked with a clear message
    app: App | None = None
    rt: Runtime | None = None
    server: metrics.MetricsServer | None = None
    tasks: dict[str, asyncio.Task[None]] = {}
    frozen = 0
    try:
        app = await build_app(settings)
        health = Health(settings.runtime.stall_seconds)
        if settings.app.metrics_port is not None:
            host, port = settings.app.metrics_host, settings.app.metrics_port
            try:
                server = metrics.MetricsServer(host, port, health.check).start()
            except OSError as exc:
                raise RoleError(f"cannot serve metrics on {host}:{port} ({exc.strerror}); "
                                "set TGMON_METRICS_PORT to a free port, or unset it") from None
        outages = Outages()
        rt = Runtime(app, account)
        rt.roles = tuple(roles)
        rt.on_unreachable = outages.telegram_unreachable
        services: dict[str, Service] = {}
        for role in roles:
            try:
                services[role] = await build_role(rt, role)
            except RoleError as exc:
                if not optional:
                    raise
                log.warning("role %s skipped: %s", role, exc)
        if not services:
            raise RoleError("none of the roles can start in this build: " + ", ".join(roles))
        roles = list(services)
        for role, service in services.items():
            window = service_window(settings, role)
            tasks[role] = asyncio.create_task(supervise(role, service, stop, health, window, fatal, outages),
                                              name=role)
        tasks["monitor"] = asyncio.create_task(
            monitor(app.db, health, stop, settings.runtime.monitor_seconds), name="monitor")
        frozen = heap.freeze()
        log.info("tgmon running: %s (database %s)", ", ".join(roles), app.db.dialect)
        await stop.wait()
        health.stopping = True
        _done, pending = await asyncio.wait(tasks.values(), timeout=settings.runtime.shutdown_grace_seconds)
        for task in pending:
            log.warning("%s did not stop within %.0f s: cancelling it", task.get_name(),
                        settings.runtime.shutdown_grace_seconds)
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=1)
        if fatal:
            raise FatalServiceError("; ".join(fatal))
        return 0
    finally:
        if frozen:
            heap.thaw()
        stop.set()
        for task in tasks.values():
            task.cancel()
        stuck = await _cancel_orphans(existing)  # tasks the services spawned (sends in flight, ...)
        if rt is not None:
            await _bounded(rt.close(), "the Telegram clients")
        if app is not None:
            await _bounded(app.close(), "the database")
        if server is not None:
            server.stop()
        if lock is not None:
            lock.release()
        if tasks:  # it ran: say it stopped (a start that failed says why instead)
            log.info("tgmon stopped")
        if stuck:
            # asyncio.run() would wait for them forever; every transaction is committed or rolled
            # back by now, so leaving without them loses nothing
            log.warning("%d tasks ignored cancellation; exiting without them", stuck)
            logging.shutdown()
            os._exit(0 if stop_signals else 1)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
