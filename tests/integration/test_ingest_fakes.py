"""The narrow Telegram edge the ingest tests fake, and builders of REAL Telethon objects.

`FakeTelegram` answers only the client calls `TelethonSource` makes: `get_entity`,
`get_input_entity`, raw `GetHistoryRequest` / `JoinChannelRequest` / `CheckChatInviteRequest` /
`ImportChatInviteRequest`, `add_event_handler`, `connect`, `is_user_authorized`, `disconnect`,
`disconnected`. It pages history with Telegram's own offset rules and raises real Telethon errors.
Everything it hands out is a real `telethon.tl.types` object.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from telethon import errors
from telethon.tl import functions, types

from bot import domain
from bot.config import Settings
from bot.ingest.pipeline import Pipeline
from bot.matching import compile_rules
from bot.storage import models as m
from bot.storage.database import Database

T0 = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)  # for code on an injected clock (FakeClock starts at T0 + 12 h)
GLADKOV_ID = 1302282372


def days_ago(days: float = 2) -> datetime:
    """A whole minute `days` before now: the base date of posts that code on the real clock reads (the CLI, a
    runtime role). A backfill's "last 7 days" holds them on any date, and none of them is "today"."""
    return (datetime.now(UTC) - timedelta(days=days)).replace(second=0, microsecond=0)


def channel_entity(cid: int = GLADKOV_ID, username: str | None = "vvgladkov", title: str = "Вячеслав Гладков",
                   **flags: Any) -> types.Channel:
    return types.Channel(id=cid, title=title, photo=types.ChatPhotoEmpty(), date=T0, broadcast=True,
                         access_hash=cid * 7, username=username, **flags)


def message(mid: int, text: str = "", *, cid: int = GLADKOV_ID, date: datetime | None = None, base: datetime = T0,
            **fields: Any) -> types.Message:
    """Message `mid`, dated `date` or `mid` minutes after `base`."""
    return types.Message(id=mid, peer_id=types.PeerChannel(cid), date=date or base + timedelta(minutes=mid),
                         message=text, post=True, **fields)


def photo() -> types.MessageMediaPhoto:
    return types.MessageMediaPhoto(photo=types.PhotoEmpty(id=1))


def album(first_id: int, texts: list[str], grouped_id: int = 777, *, cid: int = GLADKOV_ID) -> list[types.Message]:
    return [message(first_id + i, t, cid=cid, grouped_id=grouped_id, media=photo(), date=T0 + timedelta(minutes=first_id))
            for i, t in enumerate(texts)]


class FakeTelegram:
    """Channels, their messages (by bare channel id) and scripted errors, behind the client calls."""

    def __init__(self) -> None:
        self.entities: dict[str, Any] = {}  # username (lower) -> entity or an exception to raise
        self.by_id: dict[int, Any] = {}
        self.history: dict[int, list[types.Message | types.MessageService]] = {}
        self.history_errors: list[BaseException | None] = []  # consumed by successive history requests
        self.join_errors: dict[int, BaseException] = {}
        self.invites: dict[str, Any] = {}  # hash -> ChatInvite* or an exception
        self.requests: list[Any] = []
        self.handlers: list[tuple[Any, Any]] = []
        self.joined: list[int] = []
        self.authorized = True
        self.connect_error: BaseException | None = None
        self._dropped: asyncio.Future[None] | None = None

    def add_channel(self, entity: types.Channel, posts: list[Any] | None = None) -> None:
        if entity.username:
            self.entities[entity.username.lower()] = entity
        self.by_id[entity.id] = entity
        self.history.setdefault(entity.id, []).extend(posts or [])

    def publish(self, *posts: Any) -> None:
        for post in posts:
            self.history.setdefault(post.peer_id.channel_id, []).append(post)

    # --- the client calls --------------------------------------------------------------------------
    async def get_entity(self, target: Any) -> Any:
        if isinstance(target, types.PeerChannel):
            if target.channel_id not in self.by_id:
                raise ValueError(f"Could not find the input entity for {target!r}")
            return self.by_id[target.channel_id]
        found = self.entities.get(str(target).lower())
        if isinstance(found, BaseException):
            raise found
        if found is None:
            raise errors.UsernameNotOccupiedError(request=None)
        return found

    async def get_input_entity(self, target: Any) -> types.InputPeerChannel:
        entity = await self.get_entity(target)
        return types.InputPeerChannel(entity.id, entity.access_hash)

    async def __call__(self, request: Any) -> Any:
        self.requests.append(request)
        if isinstance(request, functions.messages.GetHistoryRequest):
            if self.history_errors:
                error = self.history_errors.pop(0)
                if error is not None:
                    raise error
            return self._page(request)
        if isinstance(request, functions.channels.JoinChannelRequest):
            cid = request.channel.channel_id
            if cid in self.join_errors:
                raise self.join_errors[cid]
            self.joined.append(cid)
            return types.Updates(updates=[], users=[], chats=[self.by_id[cid]], date=T0, seq=0)
        if isinstance(request, functions.messages.CheckChatInviteRequest | functions.messages.ImportChatInviteRequest):
            found = self.invites.get(request.hash)
            if isinstance(found, BaseException):
                raise found
            if found is None:
                raise errors.InviteHashInvalidError(request=None)
            if isinstance(request, functions.messages.ImportChatInviteRequest):
                return types.Updates(updates=[], users=[], chats=[found.chat], date=T0, seq=0)
            return found
        raise AssertionError(f"the source made an unexpected request: {type(request).__name__}")

    def _page(self, request: functions.messages.GetHistoryRequest) -> types.messages.ChannelMessages:
        """Telegram's paging: messages below offset_id (or all), newest first, shifted by add_offset."""
        cid = request.peer.channel_id
        newest_first = sorted(self.history.get(cid, []), key=lambda msg: -msg.id)
        if request.offset_id:
            start = next((i for i, msg in enumerate(newest_first) if msg.id < request.offset_id), len(newest_first))
        else:
            start = 0
        start = max(start + request.add_offset, 0)
        page = newest_first[start : start + request.limit]
        return types.messages.ChannelMessages(pts=1, count=len(newest_first), messages=page, topics=[], chats=[],
                                              users=[])

    def add_event_handler(self, callback: Any, event: Any) -> None:
        self.handlers.append((callback, event))

    def handler(self, event_type: type) -> Any:
        return next(cb for cb, ev in self.handlers if isinstance(ev, event_type))

    async def connect(self) -> None:
        if self.connect_error is not None:
            raise self.connect_error
        self._dropped = asyncio.get_running_loop().create_future()

    async def is_user_authorized(self) -> bool:
        return self.authorized

    async def disconnect(self) -> None:
        if self._dropped is not None and not self._dropped.done():
            self._dropped.set_result(None)

    def drop(self) -> None:
        """The network went away."""
        if self._dropped is not None and not self._dropped.done():
            self._dropped.set_result(None)

    @property
    def disconnected(self) -> asyncio.Future[None]:
        assert self._dropped is not None
        return self._dropped

    def history_offsets(self) -> list[tuple[int, int]]:
        return [(r.offset_id, r.add_offset) for r in self.requests
                if isinstance(r, functions.messages.GetHistoryRequest)]


class FakeClock:
    """Virtual time: `sleep` records the wait and moves the clock at once."""

    def __init__(self, start: datetime = T0 + timedelta(hours=12)) -> None:
        self.current = start
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self.current

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.current += timedelta(seconds=seconds)
        await asyncio.sleep(0)


@dataclass
class TestApp:
    """What IngestService takes from the composition root."""

    __test__ = False
    settings: Settings
    db: Database
    pipeline: Pipeline
    clock: domain.Clock
    extra: dict[str, Any] = field(default_factory=dict)


async def make_app(db: Database, clock: domain.Clock, **ingest: Any) -> TestApp:
    settings = Settings.model_validate({"ingest": {"default_channels_file": "/nonexistent/channels.toml", **ingest}})
    return TestApp(settings, db, Pipeline(db, compile_rules), clock)


async def add_rule(db: Database, source: str, chat_id: int = 1) -> int:
    async with db.uow() as session:
        sub = m.Subscriber(chat_id=chat_id)
        session.add(sub)
        await session.flush()
        rule = m.Rule(subscriber_id=sub.id, source=source, channels=[])
        session.add(rule)
        await session.flush()
        return rule.id
