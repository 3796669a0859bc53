"""`ChannelSource` over the Telethon user client: resolve, history pages, join, live events.

The client calls made here are few and narrow (`get_entity`, `get_input_entity`, and the raw
requests `GetHistoryRequest`, `JoinChannelRequest`, `CheckChatInviteRequest`,
`ImportChatInviteRequest`), so tests fake exactly these. Every FloodWait is waited through the
injected clock, reported to `on_flood_wait`, and the same page is asked again: none is skipped.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from telethon import errors, events, utils
from telethon.tl import functions, types

from bot import domain
from bot.ingest.channels import ChannelError, parse_channel_link
from bot.ingest.history import HistoryPage
from bot.telegram.convert import AlbumBuffer, channel_id_of, is_post, to_post, to_posts

log = logging.getLogger(__name__)

FloodCallback = Callable[[domain.ChannelRef | None, int], Awaitable[None] | None]
PeerCallback = Callable[[int, int | None], Awaitable[None]]  # telegram id, access hash (None: forget it)
STALE_PEER_ERRORS = (errors.ChannelInvalidError, errors.PeerIdInvalidError)
PostsCallback = Callable[[int, list[domain.Post], bool], Awaitable[None]]
DeletedCallback = Callable[[int, list[int]], Awaitable[None]]

SESSION_ERRORS = (errors.AuthKeyDuplicatedError, errors.AuthKeyUnregisteredError, errors.SessionRevokedError,
                  errors.SessionExpiredError, errors.UserDeactivatedBanError, errors.UserDeactivatedError)


def session_ended(exc: BaseException) -> domain.SessionEndedError:
    if isinstance(exc, errors.AuthKeyDuplicatedError):
        why = ("Telegram saw this session used from two places at once and invalidated it "
               "(AuthKeyDuplicated). Stop every other process using it, then run `tgmon login` again.")
    elif isinstance(exc, errors.UserDeactivatedBanError | errors.UserDeactivatedError):
        why = "The monitoring account was deactivated or banned by Telegram; log in with another account."
    else:
        why = ("The Telegram session was revoked or expired (logged out from another device?). "
               "Run `tgmon login` again.")
    return domain.SessionEndedError(why)


def channel_error(exc: BaseException, shown: str) -> ChannelError | None:
    """The user-facing ChannelError for a Telethon error met while resolving or reading `shown`."""
    if isinstance(exc, errors.FloodWaitError):
        return ChannelError("flood_wait", f"Telegram asks to wait {exc.seconds} s before looking up {shown}; "
                            "try again later.", retry_after=exc.seconds)
    if isinstance(exc, errors.UsernameNotOccupiedError):
        return ChannelError("not_found", f"No channel {shown} exists on Telegram; check the spelling.")
    if isinstance(exc, errors.UsernameInvalidError):
        return ChannelError("not_found", f"{shown} is not a valid Telegram username; check the spelling.",
                            reason="bad_username", username=shown)
    if isinstance(exc, errors.ChannelPrivateError | errors.ChannelPublicGroupNaError):
        return ChannelError("private", f"{shown} is private or no longer available: only public channels "
                            "(or an invite link) can be watched.")
    if isinstance(exc, errors.ChannelBannedError | errors.UserBannedInChannelError):
        return ChannelError("banned", f"{shown} has banned the monitoring account; it cannot be watched.")
    if isinstance(exc, errors.InviteHashExpiredError):
        return ChannelError("private", f"The invite link {shown} has expired or was revoked; ask for a new one.",
                            reason="invite_expired")
    if isinstance(exc, errors.InviteHashInvalidError):
        return ChannelError("not_found", f"The invite link {shown} is not valid; check it was copied whole.",
                            reason="bad_invite")
    if isinstance(exc, errors.InviteRequestSentError):
        return ChannelError("private", f"{shown} needs an admin to approve joining; the request was sent, "
                            "try again once approved.", reason="join_requested")
    if isinstance(exc, errors.ChannelInvalidError):
        return ChannelError("not_found", f"{shown} is not a channel this account can see.")
    if isinstance(exc, errors.ChannelsTooMuchError):
        return ChannelError("banned", "The monitoring account has joined too many channels (Telegram's limit "
                            "is about 500); remove some first.", reason="too_many_channels")
    return None


def channel_ref(entity: Any, shown: str) -> domain.ChannelRef:
    """A resolved entity as a ChannelRef, or the ChannelError saying why it is not a channel."""
    if isinstance(entity, types.User):
        kind = "a bot" if entity.bot else "a user"
        raise ChannelError("is_user", f"{shown} is {kind}, not a channel; only channels can be watched.")
    if isinstance(entity, types.ChannelForbidden):
        raise ChannelError("private", f"{shown} ({entity.title}) is private or has banned the monitoring account.")
    if isinstance(entity, types.Chat | types.ChatForbidden | types.ChatEmpty):
        raise ChannelError("invalid", f"{shown} is a small group chat, not a channel.", reason="group")
    if not isinstance(entity, types.Channel):
        raise ChannelError("not_found", f"{shown} is not a channel.")
    username = entity.username
    if username is None and entity.usernames:
        username = next((u.username for u in entity.usernames if u.active), None)
    return domain.ChannelRef(entity.id, username.lower() if username else None, entity.title or "")


class TelethonSource:
    """The monitoring account seen as a `domain.ChannelSource`."""

    def __init__(self, client: Any, clock: domain.Clock, *, page_size: int = 100,
                 on_flood_wait: FloodCallback | None = None, max_flood_wait: float = 60) -> None:
        self.client = client
        self.clock = clock
        self.page_size = page_size
        self.on_flood_wait = on_flood_wait
        self.flood_waited = 0  # seconds, since this source was made
        self.max_flood_wait = max_flood_wait
        self.paused_until: dict[str, datetime] = {}  # kind of request -> when Telegram takes it again
        # per channel, the newest message id any history page showed: a read that completed has
        # handled every message up to it (or left it out on purpose: beyond the backfill bounds)
        self.newest_seen: dict[int, int] = {}
        # telegram id -> the access hash this account addresses the channel by: kept by the ingest
        # service (table channel_peers), so a restart asks Telegram nothing to find its channels again
        self.peers: dict[int, int] = {}
        self.totals: dict[int, int] = {}  # telegram id -> messages in the channel, as the last page said
        self.on_peer: PeerCallback | None = None

    # --- session -------------------------------------------------------------------------------
    async def call(self, request: Any, *, channel: domain.ChannelRef | None = None) -> Any:
        """One raw request; a dead session becomes fatal.

        Telegram counts FloodWaits per method and account, so a FloodWait pauses every request of its
        kind: a wait up to `max_flood_wait` is sat out and the same request asked again (no page is
        ever skipped); a longer one raises ChannelError("flood_wait") at once, and so does every
        request of that kind until the wait is over, without asking Telegram. Other kinds of request,
        live updates and heartbeats go on meanwhile."""
        kind = type(request).__name__
        while True:
            await self.paced(kind, channel)
            try:
                return await self.client(request)
            except errors.FloodWaitError as exc:
                await self.flood(kind, channel, exc.seconds)
                if exc.seconds <= self.max_flood_wait:  # sat out here; a longer one is refused by paced()
                    await self.clock.sleep(max(int(exc.seconds), 1))
                    self.paused_until.pop(kind, None)
            except SESSION_ERRORS as exc:
                raise session_ended(exc) from None

    async def paced(self, kind: str, channel: domain.ChannelRef | None) -> None:
        """Wait out a short pause of `kind`, or refuse at once during a long one."""
        until = self.paused_until.get(kind)
        if until is None:
            return
        remaining = (until - self.clock.now()).total_seconds()
        if remaining <= 0:
            del self.paused_until[kind]
        elif remaining <= self.max_flood_wait:
            await self.clock.sleep(remaining)
        else:
            shown = channel.key if channel else "Telegram"
            raise ChannelError("flood_wait", f"Telegram asks to wait {math.ceil(remaining)} s before more of these "
                               f"requests ({shown}); going on after that.", retry_after=math.ceil(remaining))

    async def flood(self, kind: str, channel: domain.ChannelRef | None, seconds: int) -> None:
        """Record a FloodWait on requests of `kind`: logged and reported once, each time Telegram sends one."""
        seconds = max(int(seconds), 1)
        self.paused_until[kind] = self.clock.now() + timedelta(seconds=seconds)
        name = channel.key if channel else "Telegram"
        if seconds <= self.max_flood_wait:
            log.warning("FloodWait: Telegram asks to wait %d s (%s); waiting, then going on where it stopped",
                        seconds, name)
        else:
            log.warning("FloodWait: Telegram asks to wait %d s (%s); these requests pause until then, "
                        "everything else goes on", seconds, name)
        self.flood_waited += seconds
        if self.on_flood_wait is not None:
            pending = self.on_flood_wait(channel, seconds)
            if pending is not None:
                await pending

    # --- resolve and join ------------------------------------------------------------------------
    async def resolve(self, link: str) -> domain.ChannelRef:
        parsed = parse_channel_link(link)
        shown = parsed.canonical
        try:
            if parsed.kind == "invite":
                entity = await self._resolve_invite(parsed.invite_hash or "", shown)
            else:
                target: Any = parsed.username if parsed.kind == "username" else types.PeerChannel(parsed.channel_id or 0)
                entity = await self.client.get_entity(target)
        except ChannelError:
            raise
        except SESSION_ERRORS as exc:
            raise session_ended(exc) from None
        except errors.RPCError as exc:
            mapped = channel_error(exc, shown)
            if mapped is None:
                raise ChannelError("not_found", f"Telegram refused to resolve {shown} ({exc.__class__.__name__}).") \
                    from None
            raise mapped from None
        except ValueError:  # Telethon: no such username, or an id this account has never seen
            if parsed.kind == "id":
                raise ChannelError("not_found", f"The account has never seen channel id {parsed.channel_id}; "
                                   "add it by @username or invite link instead.") from None
            raise ChannelError("not_found", f"No channel {shown} exists on Telegram; check the spelling.") from None
        ref = channel_ref(entity, shown)
        await self._keep(utils.get_input_peer(entity))  # a private channel has nothing else to be found by
        return ref

    async def _resolve_invite(self, invite_hash: str, shown: str) -> Any:
        """The channel entity an invite link leads to, joining through it when not a member yet."""
        info = await self.client(functions.messages.CheckChatInviteRequest(hash=invite_hash))
        if isinstance(info, types.ChatInviteAlready | types.ChatInvitePeek):
            return info.chat
        if isinstance(info, types.ChatInvite) and not info.channel:
            raise ChannelError("invalid", f"{shown} invites to a group chat, not a channel.", reason="group")
        try:
            updates = await self.client(functions.messages.ImportChatInviteRequest(hash=invite_hash))
        except errors.UserAlreadyParticipantError:
            info = await self.client(functions.messages.CheckChatInviteRequest(hash=invite_hash))
            return getattr(info, "chat", None)
        chats = getattr(updates, "chats", None) or []
        if not chats:
            raise ChannelError("not_found", f"Joining through {shown} returned no channel.")
        return chats[0]

    async def input_channel(self, channel: domain.ChannelRef) -> Any:
        """The input peer: from the access hash this account keeps (no request at all), else from the
        session's entity cache, else by resolving the username once; a hash found is kept."""
        cid = channel.telegram_id
        if cid is not None and cid in self.peers:
            return types.InputPeerChannel(cid, self.peers[cid])
        peer = await self._look_up(channel, cached=True)
        await self._keep(peer)
        return peer

    async def forget_peer(self, channel: domain.ChannelRef) -> bool:
        """Drop a kept access hash Telegram no longer takes (CHANNEL_INVALID): True when there was one."""
        cid = channel.telegram_id
        if cid is None or self.peers.pop(cid, None) is None:
            return False
        log.info("the stored access hash of %s is no longer valid; looking the channel up again", channel.key)
        if self.on_peer is not None:
            await self.on_peer(cid, None)
        return True

    async def _keep(self, peer: Any) -> None:
        if isinstance(peer, types.InputPeerChannel) and self.peers.get(peer.channel_id) != peer.access_hash:
            self.peers[peer.channel_id] = peer.access_hash
            if self.on_peer is not None:
                await self.on_peer(peer.channel_id, peer.access_hash)

    async def _look_up(self, channel: domain.ChannelRef, *, cached: bool) -> Any:
        """From the session's caches (`cached`), else resolved by username, asking Telegram."""
        try:
            if cached and channel.telegram_id is not None:
                return await self.client.get_input_entity(types.PeerChannel(channel.telegram_id))
        except (ValueError, TypeError):
            pass
        if not channel.username:
            raise ChannelError("not_found", f"Channel {channel.telegram_id} is unknown to this session and has no "
                               "username to look it up by.")
        await self.paced("resolve", channel)
        try:
            if not cached:  # the session's cache may hold the very hash Telegram refused
                return utils.get_input_peer(await self.client.get_entity(channel.username))
            return await self.client.get_input_entity(channel.username)
        except errors.FloodWaitError as exc:
            await self.flood("resolve", channel, exc.seconds)
            raise channel_error(exc, f"@{channel.username}") or exc from None
        except errors.RPCError as exc:
            raise channel_error(exc, f"@{channel.username}") or ChannelError(
                "not_found", f"@{channel.username} cannot be resolved ({exc.__class__.__name__})") from None
        except ValueError:
            raise ChannelError("not_found", f"No channel @{channel.username} exists any more.") from None

    async def join(self, channel: domain.ChannelRef) -> bool:
        """Join (live updates need membership). False when Telegram's own channel limit is reached.

        A FloodWait longer than a minute is not waited here (joining can wait; reading cannot): it is
        raised as ChannelError("flood_wait") so the caller polls the channel and tries again later.
        """
        peer = await self.input_channel(channel)
        try:
            await self.client(functions.channels.JoinChannelRequest(channel=peer))
        except STALE_PEER_ERRORS as exc:
            if await self.forget_peer(channel):
                await self._keep(await self._look_up(channel, cached=False))
                return await self.join(channel)
            raise channel_error(exc, channel.key) or ChannelError("not_found", f"Cannot join {channel.key}.") \
                from None
        except errors.FloodWaitError as exc:
            await self.flood("JoinChannelRequest", channel, exc.seconds)
            if exc.seconds > self.max_flood_wait:
                raise channel_error(exc, channel.key) or exc from None
            await self.clock.sleep(exc.seconds)
            return await self.join(channel)
        except SESSION_ERRORS as exc:
            raise session_ended(exc) from None
        except errors.ChannelsTooMuchError:
            return False
        except errors.UserAlreadyParticipantError:
            return True
        except errors.RPCError as exc:
            raise channel_error(exc, channel.key) or ChannelError("private", f"Cannot join {channel.key}.") \
                from None
        return True

    # --- history ---------------------------------------------------------------------------------
    async def _page(self, channel: domain.ChannelRef, *, offset_id: int, add_offset: int) -> list[Any]:
        while True:
            request = functions.messages.GetHistoryRequest(
                peer=await self.input_channel(channel), offset_id=offset_id, offset_date=None,
                add_offset=add_offset, limit=self.page_size, max_id=0, min_id=0, hash=0,
            )
            try:
                result = await self.call(request, channel=channel)
                break
            except STALE_PEER_ERRORS as exc:
                if await self.forget_peer(channel):  # a kept hash gone stale: look up once, ask again
                    await self._keep(await self._look_up(channel, cached=False))
                    continue
                raise channel_error(exc, channel.key) or ChannelError(
                    "not_found", f"Cannot read {channel.key} ({exc.__class__.__name__}).") from None
            except errors.RPCError as exc:
                raise channel_error(exc, channel.key) or ChannelError(
                    "private", f"Cannot read {channel.key} ({exc.__class__.__name__}).") from None
        messages = list(getattr(result, "messages", None) or [])
        if channel.telegram_id is not None and isinstance(getattr(result, "count", None), int):
            self.totals[channel.telegram_id] = result.count
        if messages and channel.telegram_id is not None:
            top = max(msg.id for msg in messages)
            if top > self.newest_seen.get(channel.telegram_id, 0):
                self.newest_seen[channel.telegram_id] = top
        return messages

    async def history(
        self, channel: domain.ChannelRef, *, min_id: int = 0, limit: int | None = None,
        since: datetime | None = None,
    ) -> AsyncIterator[domain.Post]:
        """Posts after `min_id`, oldest first, in pages of `page_size`.

        With min_id == 0 and a `limit` or `since` (a first backfill): the newest `limit` posts, or
        those since `since`, still yielded oldest first. Albums are merged even across pages.
        """
        await self.input_channel(channel)  # a channel that cannot be addressed fails before any page
        if min_id == 0 and (limit is not None or since is not None):
            read = [page async for page in self.pages_back(channel, limit=limit, since=since)]
            for done in reversed(read):
                for post in done.posts:
                    yield post
            return
        cursor, yielded, albums = min_id, 0, AlbumBuffer()
        while limit is None or yielded < limit:
            # add_offset = -page_size turns the page around: the page_size messages just above cursor
            page = await self._page(channel, offset_id=cursor + 1, add_offset=-self.page_size)
            fresh = sorted((m for m in page if m.id > cursor), key=lambda m: m.id)
            for message in fresh:
                if is_post(message):
                    for post in albums.push(to_post(message, channel)):
                        yielded += 1
                        yield post
            if not fresh or len(page) < self.page_size:
                break
            cursor = fresh[-1].id
        for post in albums.flush():
            yield post

    async def pages_back(self, channel: domain.ChannelRef, *, below: int = 0, limit: int | None = None,
                         since: datetime | None = None) -> AsyncIterator[HistoryPage]:
        """The history newest first, a page at a time, each page's posts oldest first: what lies below
        message id `below` (0: from the newest), down to `limit` posts or to posts older than `since`.
        Each page is handed over as soon as it arrives, so the caller can store it and resume below it."""
        offset, posts = below, 0
        while True:
            raw = await self._page(channel, offset_id=offset, add_offset=0)
            page = sorted((m for m in raw if not offset or m.id < offset), key=lambda m: -m.id)
            if not page:
                return
            kept: list[Any] = []
            ended = False
            for message in page:
                if (since is not None and message.date is not None and message.date < since) or (
                        limit is not None and posts >= limit):
                    ended = True
                    break
                kept.append(message)
                posts += is_post(message)
            yield HistoryPage(list(to_posts(reversed(kept), channel)), newest_id=page[0].id,
                              oldest_id=kept[-1].id if kept else page[0].id, total=self.totals.get(channel.telegram_id or 0))
            if ended or len(raw) < self.page_size:
                return
            offset = page[-1].id

    # --- live --------------------------------------------------------------------------------------
    def subscribe(self, on_posts: PostsCallback, on_deleted: DeletedCallback) -> None:
        """Route new, edited, deleted and album events to the callbacks (by bare channel id)."""
        self._on_posts = on_posts
        self._on_deleted = on_deleted
        self.client.add_event_handler(self.handle_new, events.NewMessage())
        self.client.add_event_handler(self.handle_edit, events.MessageEdited())
        self.client.add_event_handler(self.handle_deleted, events.MessageDeleted())
        self.client.add_event_handler(self.handle_album, events.Album())

    async def _emit(self, messages: list[Any], edited: bool) -> None:
        posts = [m for m in messages if is_post(m) and channel_id_of(m) is not None]
        if not posts:
            return
        channel_id = channel_id_of(posts[0])
        assert channel_id is not None
        ref = domain.ChannelRef(channel_id)
        await self._on_posts(channel_id, list(to_posts(sorted(posts, key=lambda m: m.id), ref)), edited)

    async def handle_new(self, event: events.NewMessage.Event) -> None:
        if event.message.grouped_id is not None:
            return  # the Album event carries it (and gap fill catches what Album splits or misses)
        await self._emit([event.message], edited=False)

    async def handle_edit(self, event: events.MessageEdited.Event) -> None:
        await self._emit([event.message], edited=True)

    async def handle_album(self, event: events.Album.Event) -> None:
        await self._emit(list(event.messages), edited=False)

    async def handle_deleted(self, event: events.MessageDeleted.Event) -> None:
        peer = getattr(event, "_chat_peer", None)
        if isinstance(peer, types.PeerChannel) and event.deleted_ids:
            await self._on_deleted(peer.channel_id, list(event.deleted_ids))

    # --- connection --------------------------------------------------------------------------------
    async def connect(self) -> None:
        try:
            await self.client.connect()
            authorized = await self.client.is_user_authorized()
        except SESSION_ERRORS as exc:
            raise session_ended(exc) from None
        if not authorized:
            raise domain.SessionEndedError(
                "The monitoring account is not logged in: run `tgmon login` (or set TELEGRAM_SESSION).")

    async def disconnect(self) -> None:
        try:
            await self.client.disconnect()
        except Exception as exc:  # closing a broken connection must not hide the real error
            log.debug("disconnect: %s", exc)

    def disconnected(self) -> Awaitable[Any]:
        """Completes when the connection drops (the service reconnects and gap-fills)."""
        return self.client.disconnected  # type: ignore[no-any-return]
