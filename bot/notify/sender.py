"""The delivery worker's `domain.Notifier`: one outbox row to its notification target, through apprise.

What "exactly once" means here (docs/notifications.md):
- A webhook (json://, form://, xml://) and an e-mail carry the row's idempotency key
  (`Idempotency-Key` header; `X-Tgmon-Key` on a mail). Any send whose outcome is unknown (a timeout,
  a worker killed mid-send) goes again with the same key: at least once on the wire, exactly once
  for a receiver that drops a key it has seen.
- Any other service (Slack, Discord, Matrix, ntfy, ...) has nothing that recognises a repeat: a
  failure apprise reports (the service answered with an error, or could not be reached) is retried;
  an unknown outcome (no answer in time, the worker gone mid-send) is reported uncertain and never
  sent again: at most once once the request may have left. The row is stamped right before its
  request leaves (`on_wire`, in a free thread), so a row a killed worker had claimed but not yet
  sent goes again: nothing is lost that had not left.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from bot.config import Settings
from bot.delivery.errors import DestinationGone, SendFailed, SendInDoubt, SendUncertain
from bot.domain import SendResult
from bot.notify import edge
from bot.notify.render import fit, render, title_of
from bot.notify.secret import SealError, unseal
from bot.storage import notify as stored_targets
from bot.storage.database import Database

log = logging.getLogger(__name__)

THREADS = 8  # notification requests in flight at once, per worker
CUT_NOTE = "(cut to fit this service: /digest in Telegram shows it all)"


@dataclass(frozen=True, slots=True)
class _Target:
    url: str
    masked: str
    body_format: str
    body_limit: int
    keyed: bool


class AppriseNotifier:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self._urls: dict[str, str] = {}  # stored (sealed) form -> URL
        # apprise is synchronous: its requests run in these threads, never more at once than threads
        self._threads = ThreadPoolExecutor(THREADS, thread_name_prefix="notify")
        self._slots = asyncio.Semaphore(THREADS)

    async def _target(self, target_id: int, subscriber_id: int | None = None) -> _Target:
        """The target as stored now (read on every send: SQLite may give a removed target's id to the
        next one added, so an id alone never stands for a URL); the unsealed URL is remembered by its
        sealed form, so decryption runs once per target."""
        async with self.db.uow(read_only=True) as session:
            row = await stored_targets.by_id(session, target_id)
            if row is None or (subscriber_id is not None and row.subscriber_id != subscriber_id):
                raise DestinationGone(f"notification target #{target_id} was removed")
            stored, masked, fmt, limit, keyed = row.url, row.masked, row.body_format, row.body_limit, row.keyed
        url = self._urls.get(stored)
        if url is None:
            try:
                url = unseal(stored, self.settings.notify.key)
            except SealError as exc:
                raise DestinationGone(f"notification target #{target_id} ({masked}): {exc}") from None
            if len(self._urls) > 10_000:
                self._urls.clear()
            self._urls[stored] = url
        return _Target(url, masked, fmt, limit, keyed)

    async def notify(self, target_id: int, html: str, *, key: str,
                     on_wire: Callable[[], Awaitable[None]] | None = None,
                     subscriber_id: int | None = None) -> SendResult:
        target = await self._target(target_id, subscriber_id)
        body = fit(render(html, target.body_format), target.body_limit, CUT_NOTE)
        timeout = self.settings.notify.timeout_seconds
        loop = asyncio.get_running_loop()
        call = functools.partial(edge.deliver, target.url, title=title_of(html), body=body,
                                 body_format=target.body_format, key=key if target.keyed else None, timeout=timeout)
        try:
            async with self._slots:  # a free thread: the request leaves the moment on_wire returns
                if on_wire is not None and not target.keyed:
                    await on_wire()
                # the plugin's own socket timeouts end it first; this bounds a plugin that ignores them
                await asyncio.wait_for(loop.run_in_executor(self._threads, call), 3 * timeout + 5)
        except TimeoutError:
            if target.keyed:
                raise SendUncertain(f"no answer from {target.masked} in time") from None
            raise SendInDoubt(f"no answer from {target.masked} in time") from None
        except edge.DeliveryRefused as exc:
            raise SendFailed(f"{target.masked}: {exc}") from None
        return SendResult(None)
