"""What every command can use: the database, settings, clock, channel source and hooks."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.commands.ratelimit import RateLimiter
from bot.commands.types import Caller
from bot.config import Settings
from bot.domain import ChannelSource
from bot.storage.database import Database
from bot.storage.models import Subscriber

if TYPE_CHECKING:
    from bot.commands.search import OpenSearches


def _utcnow() -> datetime:
    return datetime.now(UTC)


class PendingInputs:
    """What a chat's next plain message means after a button asked for it ("send the city name")."""

    def __init__(self, ttl_seconds: float = 600, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl_seconds
        self._clock = clock
        self._items: dict[tuple[int, int], tuple[str, float]] = {}

    def expect(self, caller: Caller, kind: str) -> None:
        if len(self._items) > 10_000:
            now = self._clock()
            self._items = {k: v for k, v in self._items.items() if v[1] > now}
        self._items[(caller.chat_id, caller.user_id)] = (kind, self._clock() + self._ttl)

    def take(self, caller: Caller) -> str | None:
        item = self._items.pop((caller.chat_id, caller.user_id), None)
        if item is None or item[1] < self._clock():
            return None
        return item[0]

    def forget_chat(self, chat_id: int) -> None:
        self._items = {k: v for k, v in self._items.items() if k[0] != chat_id}


@dataclass
class CommandContext:
    db: Database
    settings: Settings
    now: Callable[[], datetime] = _utcnow
    source: ChannelSource | None = None  # resolves /follow links; None: new channels wait for an admin
    rules_changed: Callable[[], Awaitable[object]] | None = None  # reload the running matcher
    bot_username: str | None = None  # commands addressed to another bot (/help@other_bot) are ignored
    monotonic: Callable[[], float] = time.monotonic
    limiter: RateLimiter = field(init=False)
    pending: PendingInputs = field(init=False)
    searches: OpenSearches = field(init=False)  # each chat's search, to page it

    def __post_init__(self) -> None:
        bot = self.settings.bot
        self.limiter = RateLimiter(bot.commands_per_minute, bot.command_burst, clock=self.monotonic)
        self.pending = PendingInputs(clock=self.monotonic)
        from bot.commands.search import OpenSearches  # it imports this module

        self.searches = OpenSearches(clock=self.monotonic)

    async def notify_rules_changed(self) -> None:
        if self.rules_changed is not None:
            await self.rules_changed()


@dataclass(frozen=True, slots=True)
class Request:
    """One command call: who, the text after the command name (or the button's arguments), the language,
    and the chat's subscriber row when the chat is registered (a detached snapshot)."""

    caller: Caller
    args: str
    lang: str
    subscriber: Subscriber | None
    pending: str = ""  # what the button that asked for this plain message named (a rule id, ...)
