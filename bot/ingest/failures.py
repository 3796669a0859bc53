"""A channel's failure is that channel's alone.

Looking up, joining or reading one channel can fail in ways nobody foresaw (an `IndexError` from
deep inside Telethon, a channel made private, a FloodWait on a resolve). Such a failure must not
stop the other channels of the account: the channel is set aside with a growing backoff (one
minute, doubling, at most an hour) while every other channel goes on. The reason and the moment
the failures began are kept on the channel row (`channels.error`, `channels.error_since`), shown by
`tgmon stats` and `tgmon channels list`, and the bot's admins are told once per run of failures
(the process whose UPDATE turned the error on tells them; retries do not).

What is not one channel's problem is raised on: a lost connection to Telegram (the service
reconnects), a dead session (fatal), a database error (the supervisor restarts the role).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from bot import domain
from bot.delivery.outbox import queue_notice
from bot.i18n import known_language, t
from bot.ingest.channels import ChannelError
from bot.storage import channels as stored_channels
from bot.storage.database import Database, DatabaseError

log = logging.getLogger(__name__)

T = TypeVar("T")

# Errors that say nothing about one channel: the caller handles them for the whole account.
NOT_THE_CHANNELS = (domain.SessionEndedError, ConnectionError, TimeoutError, OSError, EOFError, DatabaseError)
FIRST_RETRY = timedelta(minutes=1)
LAST_RETRY = timedelta(hours=1)


def shown(ref: domain.ChannelRef) -> str:
    """How people know a channel: @username, else its title and id."""
    if ref.username:
        return f"@{ref.username}"
    return f"{ref.title} ({ref.telegram_id})" if ref.title else str(ref.telegram_id)


def describe(exc: BaseException) -> str:
    """One line for people: a ChannelError's own message, else the error's kind and text."""
    if isinstance(exc, ChannelError):
        return exc.message
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:500] if text else type(exc).__name__


def reason_code(exc: BaseException) -> str:
    """A short, bounded label for metrics."""
    return exc.code if isinstance(exc, ChannelError) else "unexpected"


@dataclass(slots=True)
class _Backoff:
    attempts: int
    retry_at: datetime


class ChannelFailures:
    """Per-channel backoff in memory; reason and start of the failures on the channel row."""

    def __init__(self, db: Database, clock: domain.Clock, admins: list[int],
                 on_failure: Callable[[str], None] | None = None) -> None:
        self.db = db
        self.clock = clock
        self.admins = admins
        self.on_failure = on_failure  # metrics, given by the runtime
        self._backoff: dict[int, _Backoff] = {}  # channel row id ->

    def due(self, channel_row_id: int) -> bool:
        """False while a failed channel waits for its next retry."""
        backoff = self._backoff.get(channel_row_id)
        return backoff is None or self.clock.now() >= backoff.retry_at

    def retry_at(self, channel_row_id: int) -> datetime | None:
        backoff = self._backoff.get(channel_row_id)
        return backoff.retry_at if backoff else None

    async def attempt(self, channel_row_id: int, key: str, work: Callable[[], Awaitable[T]]) -> T | None:
        """Run one channel's work. Its own failure is recorded and None returned; the rest is raised."""
        try:
            result = await work()
        except NOT_THE_CHANNELS:
            raise
        except Exception as exc:
            await self.failed(channel_row_id, key, exc)
            return None
        await self.succeeded(channel_row_id, key)
        return result

    async def failed(self, channel_row_id: int, key: str, exc: BaseException) -> None:
        now = self.clock.now()
        if isinstance(exc, ChannelError) and exc.code == "flood_wait":
            # Telegram pacing the account, not a broken channel: wait as asked, tell nobody
            self._backoff[channel_row_id] = _Backoff(0, now + timedelta(seconds=exc.retry_after or 60))
            if self.on_failure is not None:
                self.on_failure(reason_code(exc))
            log.info("channel %s waits for a FloodWait: %s", key, exc.message)
            return
        previous = self._backoff.get(channel_row_id)
        attempts = previous.attempts + 1 if previous else 1
        wait = min(FIRST_RETRY * 2 ** (attempts - 1), LAST_RETRY)
        if isinstance(exc, ChannelError) and exc.retry_after:
            wait = max(wait, timedelta(seconds=exc.retry_after))
        self._backoff[channel_row_id] = _Backoff(attempts, now + wait)
        reason = describe(exc)
        if self.on_failure is not None:
            self.on_failure(reason_code(exc))
        log.debug("channel %s failed", key, exc_info=exc)
        first = await self._record(channel_row_id, reason, now)
        if first:
            log.warning("channel %s cannot be read: %s; retrying it with backoff, the other channels go on",
                        key, reason)
            await self._tell_admins(key, reason, now)
        else:
            log.info("channel %s still failing (attempt %d): %s; next try in %d s",
                     key, attempts, reason, wait.total_seconds())

    async def succeeded(self, channel_row_id: int, key: str) -> None:
        had_backoff = self._backoff.pop(channel_row_id, None) is not None
        async with self.db.uow() as session:
            cleared = await stored_channels.clear_error(session, channel_row_id)
        if cleared or had_backoff:
            log.info("channel %s reads again", key)

    async def _record(self, channel_row_id: int, reason: str, now: datetime) -> bool:
        """Store the reason; True when this call began the failures (the error was not set before)."""
        async with self.db.uow() as session:
            return await stored_channels.set_error(session, channel_row_id, reason, now)

    async def _tell_admins(self, key: str, reason: str, now: datetime) -> None:
        """One message to each admin who has talked to the bot, through the outbox like any other."""
        if not self.admins:
            return
        async with self.db.uow() as session:
            await queue_notice(session, self.admins, lambda lang: t(
                known_language(lang), "admin_channel_failing", channel=key, reason=reason), now)
