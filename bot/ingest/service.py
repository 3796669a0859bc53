"""The ingest service: backfill, live updates, gap fill, joining, reconnecting. Telethon-free.

Everything arrives through one pipeline (`app.pipeline.ingest`), one batch at a time under a lock,
so a post seen by a live update, a backfill and a gap fill is one row.

Gap fill reads each channel's history from `history_id`, the id up to which the history was read
page by page. Live posts do not move it: a post that a live update skipped is found by the next
gap fill (at start, after every reconnect, and every `ingest.gap_fill_minutes`), even when a later
post arrived live. Telethon's own catch-up is not used (it drops channel gaps after long downtime).

A service runs one monitoring account (`main` by default). It watches only the channels assigned
to that account (`channels.account`, balanced between the live accounts by `bot/ingest/accounts.py`
at start and on every gap-fill pass): it joins, gap-fills and takes live updates of those alone, and
ignores live updates of any other channel its account happens to be in.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import tomllib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from bot import domain
from bot.config import MAIN_ACCOUNT
from bot.ingest.accounts import Assignment, balance, heartbeat, stale_after, unreachable
from bot.ingest.channels import ChannelError, add_channel, find_channel, parse_channel_link
from bot.ingest.failures import NOT_THE_CHANNELS, ChannelFailures, shown
from bot.ingest.history import HistoryPage
from bot.storage import channels as stored_channels
from bot.storage import models as m
from bot.storage import posts as stored_posts
from bot.storage.database import DuplicateRow
from bot.storage.peers import load_peers, save_peer

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

Progress = Callable[[int, int | None], None]  # posts handled so far, and of how many (when known)


class LiveSource(domain.ChannelSource, Protocol):
    on_flood_wait: Any
    on_peer: Any
    peers: dict[int, int]  # telegram id -> access hash the account addresses it by
    newest_seen: dict[int, int]  # telegram id -> the newest message id a history page showed

    def history(self, channel: domain.ChannelRef, *, min_id: int = 0, limit: int | None = None,
                since: datetime | None = None) -> AsyncIterator[domain.Post]: ...

    def pages_back(self, channel: domain.ChannelRef, *, below: int = 0, limit: int | None = None,
                   since: datetime | None = None) -> AsyncIterator[HistoryPage]: ...

    async def join(self, channel: domain.ChannelRef) -> bool: ...

    def subscribe(self, on_posts: Any, on_deleted: Any) -> None: ...

    async def connect(self) -> None: ...

    async def disconnect(self) -> None: ...

    def disconnected(self) -> Awaitable[Any]: ...


def default_channels(path: Any) -> list[str]:
    """Links listed in config/channels.toml (`channels = ["vvgladkov", ...]`); none when the file is absent."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        return []
    except tomllib.TOMLDecodeError as exc:
        log.error("%s is not valid TOML (%s); no default channels added", path, exc)
        return []
    links = data.get("channels", [])
    return [str(link) for link in links] if isinstance(links, list) else []


class IngestService:
    HEARTBEAT_SECONDS = 60  # during a long backfill the account still beats this often
    LIVE_GAP_SECONDS = 2.0  # after a live update shows a gap, wait this long for the rest of a burst
    ACTIVE_MINUTES = 15  # a channel with a live post this recent counts as active
    ACTIVE_POLL_SECONDS = 60.0  # and is read this often between full passes
    QUICK_POLL_BUDGET = 30  # channels read by one quick pass at most (so <= 30 requests a minute)

    def __init__(self, app: App, source: LiveSource, account: str = MAIN_ACCOUNT) -> None:
        self.app = app
        self.account = account
        self.db = app.db
        self.pipeline = app.pipeline
        self.settings = app.settings
        self.clock: domain.Clock = app.clock
        self.source = source
        self.source.on_flood_wait = self._record_flood_wait
        self._lock = asyncio.Lock()
        self._watched: dict[int, domain.ChannelRef] = {}  # bare telegram id -> ref, of active channels
        self._subscribed = False
        self._refreshed_at: datetime | None = None
        self._join_after: datetime | None = None
        self._beat_at: datetime | None = None
        self._over_capacity = 0
        # one channel's failure is its own: backoff per channel, reason on its row, admins told once
        self.failures = ChannelFailures(self.db, self.clock, self.settings.bot.admins)
        self._peers_loaded = False
        self._rechecked_at: datetime | None = None
        self._live_top: dict[int, int] = {}  # telegram id -> the newest id read by any path
        self._live_waiting: list[domain.Post] = []  # new live posts waiting for the lock (_ingest_live)
        self._gaps: set[int] = set()  # channels whose live updates skipped an id
        self._active_until: dict[int, datetime] = {}  # channels with a recent live post
        self._soon = asyncio.Event()  # a live gap: wake the watch loop
        self.source.on_peer = self._store_peer

    # --- channels ------------------------------------------------------------------------------
    async def refresh_channels(self) -> list[m.Channel]:
        """Heartbeat and balance this account's channels, then read them: the active channels it watches."""
        await self._balance()
        async with self.db.uow(read_only=True) as session:
            rows = await stored_channels.active_of(session, self.account)
        self._watched = stored_channels.telegram_ids(rows)
        if not self._peers_loaded:  # once a process: from then on the source keeps them itself
            async with self.db.uow(read_only=True) as session:
                self.source.peers.update(await load_peers(session, self.account))
            self._peers_loaded = True
        return rows

    async def _store_peer(self, telegram_id: int, access_hash: int | None) -> None:
        async with self.db.uow() as session:
            await save_peer(session, self.account, telegram_id, access_hash, self.clock.now())

    async def _balance(self) -> Assignment:
        tg = self.settings.telegram
        now = self.clock.now()
        done = await balance(self.db, self.account, tg.channel_cap, now, stale_after(self.settings.ingest.gap_fill_minutes))
        self._beat_at = now
        if done.claimed or done.released:
            log.info("account %s: claimed %d channels, released %d; watching %d of %d active (live accounts: %s)",
                     self.account, done.claimed, done.released, done.owned, done.active, ", ".join(done.live))
        if done.over_capacity and done.over_capacity != self._over_capacity:
            log.warning(
                "%d active channels are watched by no monitoring account: the live accounts (%s) are all at their "
                "cap (TELEGRAM_ACCOUNT_CAP, %d for %s). Add an account (TELEGRAM_ACCOUNTS, then `tgmon run --role "
                "ingest --account NAME`) or raise the cap; `tgmon channels list` shows which ones.",
                done.over_capacity, ", ".join(done.live), tg.channel_cap, self.account)
        elif self._over_capacity and not done.over_capacity:
            log.info("every active channel has a monitoring account again")
        self._over_capacity = done.over_capacity
        for row_id, ref in await unreachable(self.db, done.live):
            await self.failures.failed(row_id, shown(ref), ChannelError(
                "unreachable", "no live monitoring account can read it: it has no username, and the accounts "
                "that joined it are not running. Start one of them, or add it again with its invite link."))
        return done

    async def _beat(self) -> None:
        """Keep the account alive during long reads, at most once a HEARTBEAT_SECONDS."""
        now = self.clock.now()
        if self._beat_at is not None and (now - self._beat_at).total_seconds() < self.HEARTBEAT_SECONDS:
            return
        await heartbeat(self.db, self.account, self.settings.telegram.channel_cap, now)
        self._beat_at = now

    async def add_default_channels(self) -> None:
        """Watch the channels of config/channels.toml that are not stored yet (a removed one stays removed)."""
        for link in default_channels(self.settings.ingest.default_channels_file):
            try:
                parsed = parse_channel_link(link)
                async with self.db.uow(read_only=True) as session:
                    if await find_channel(session, parsed) is not None:
                        continue
                ref = await add_channel(self.db, self.source, link)
                log.info("watching %s (%s) from the default channel list", ref.key, ref.title)
            except ChannelError as exc:
                log.warning("default channel %s not added: %s", link, exc.message)
            except DuplicateRow:
                log.info("default channel %s was added by another ingest process meanwhile", link)

    async def join_up_to_cap(self) -> int:
        """Join channels in the order they were added until `telegram.join_cap` are joined."""
        rows = await self.refresh_channels()
        joined = sum(1 for r in rows if r.joined)
        cap = self.settings.telegram.join_cap
        if self._join_after is not None and self.clock.now() < self._join_after:
            return joined  # Telegram asked to wait before joining more
        for row in rows:
            if joined >= cap:
                break
            if row.joined or row.telegram_id is None or not self.failures.due(row.id):
                continue
            ref = self._watched[row.telegram_id]
            try:
                ok = await self.source.join(ref)
            except ChannelError as exc:
                if exc.code == "flood_wait":
                    self._join_after = self.clock.now() + timedelta(seconds=exc.retry_after or 60)
                    log.warning("joining paused for %s s (FloodWait); the rest are polled meanwhile",
                                exc.retry_after)
                    break
                log.warning("cannot join %s: %s (it is polled instead)", ref.key, exc.message)
                continue
            except NOT_THE_CHANNELS:
                raise
            except Exception as exc:  # that channel's problem: set aside with backoff, the rest go on
                await self.failures.failed(row.id, shown(ref), exc)
                continue
            if not ok:
                log.warning("Telegram's channel limit reached at %d joined; the rest are polled", joined)
                break
            joined += 1
            async with self.db.uow() as session:
                await stored_channels.mark_joined(session, row.id, self.account)
        return joined

    # --- history ---------------------------------------------------------------------------------
    async def backfill(self, ref: domain.ChannelRef, progress: Progress | None = None) -> domain.IngestResult:
        """Read one channel from where its history was last read; a new channel gets the last
        `ingest.backfill_days` days or `ingest.backfill_posts` posts, whichever is fewer."""
        async with self.db.uow(read_only=True) as session:
            row = await stored_channels.by_telegram_id(session, ref.telegram_id)
        if row is None:
            raise ChannelError("not_found", f"{ref.key} is not a stored channel; add it first.")
        ref = domain.ChannelRef(row.telegram_id, row.username, row.title)
        if row.history_id == 0 or row.backfill_below is not None:
            return await self._first_backfill(row, ref, progress)
        ingest = self.settings.ingest
        total = domain.IngestResult()
        handled = 0
        batch: list[domain.Post] = []
        async for post in self.source.history(ref, min_id=row.history_id):
            batch.append(post)
            if len(batch) >= ingest.batch_size:
                total += await self._ingest_history(row.id, batch)
                handled += len(batch)
                batch = []
                if progress:
                    progress(handled, None)
        if batch:
            total += await self._ingest_history(row.id, batch)
            handled += len(batch)
        if progress:
            progress(handled, None)
        seen = self.source.newest_seen.get(ref.telegram_id or 0, 0)
        self._read_up_to(ref.telegram_id, seen)
        if seen > row.history_id:  # the read completed: nothing up to the newest id seen is left behind
            async with self.db.uow() as session:
                await stored_channels.advance_history(session, row.id, seen)
        if row.joined and total.stored:
            async with self.db.uow() as session:
                await stored_channels.add_recovered(session, row.id, total.stored)
            log.info("gap fill recovered %d posts of %s", total.stored, ref.key)
        return total

    async def _first_backfill(self, row: m.Channel, ref: domain.ChannelRef,
                              progress: Progress | None) -> domain.IngestResult:
        """Newest first, each page stored as it arrives (one transaction a page) and the mark moved
        below it, so a run cut short goes on where it stopped. Newer posts are the gap fill's: the
        first page sets `history_id` to the newest id, and gap fill reads on from there."""
        ingest = self.settings.ingest
        since = self.clock.now() - timedelta(days=ingest.backfill_days)
        limit = ingest.backfill_posts
        if row.backfill_below is not None:  # resumed: what the cut-short run stored counts too
            async with self.db.uow(read_only=True) as session:
                limit -= await stored_channels.posts_from(session, row.id, row.backfill_below)
            log.info("the first backfill of %s goes on below message %d", ref.key, row.backfill_below)
        total = domain.IngestResult()
        handled = 0
        if limit > 0:
            async for page in self.source.pages_back(ref, below=row.backfill_below or 0, limit=limit, since=since):
                if self._beat_at is not None:  # a running service (not a one-off backfill of `channels add`)
                    await self._beat()
                if page.posts:
                    total += await self.ingest(page.posts)
                async with self.db.uow() as session:
                    await stored_channels.backfill_page_stored(session, row.id, page.oldest_id, page.newest_id)
                handled += len(page.posts)
                self._read_up_to(row.telegram_id, page.newest_id)
                if progress:
                    expected = min(page.total, limit) if page.total is not None else limit
                    progress(handled, max(expected, handled))
        async with self.db.uow() as session:
            await stored_channels.backfill_done(session, row.id)
        return total

    async def _ingest_history(self, channel_row_id: int, batch: list[domain.Post]) -> domain.IngestResult:
        if self._beat_at is not None:  # a running service (not a one-off backfill of `channels add`)
            await self._beat()
        result = await self.ingest(batch)
        newest = max(p.message_id for p in batch)
        async with self.db.uow() as session:
            await stored_channels.advance_history(session, channel_row_id, newest)
        return result

    async def gap_fill_all(self) -> domain.IngestResult:
        """Read every channel of this account from its history mark. A channel that fails is set aside
        with backoff (bot/ingest/failures.py) and the pass goes on with the others."""
        total = domain.IngestResult()
        for row in await self.refresh_channels():
            if row.telegram_id is None or not self.failures.due(row.id):
                continue
            await self._beat()  # a pass over many channels takes a while
            ref = self._watched[row.telegram_id]
            result = await self.failures.attempt(row.id, shown(ref), functools.partial(self.backfill, ref))
            if result is not None:
                total += result
        return total

    # --- edits and deletions made while nobody listened ------------------------------------------------
    async def recheck_all(self) -> domain.IngestResult:
        """Read the newest page of every channel again (posts of the last `ingest.recheck_hours`): edits
        are applied (new text, `post_versions`, the matches an edit creates) and posts gone from
        Telegram are marked deleted. Live updates miss both while tgmon is down, on channels that
        are polled rather than joined, and when Telethon drops a gap; gap fill reads only new ids."""
        total = domain.IngestResult()
        if self.settings.ingest.recheck_hours <= 0:
            return total
        for row in await self.refresh_channels():
            if row.telegram_id is None or row.history_id == 0 or row.backfill_below is not None:
                continue  # not read yet, or its first backfill is still under way
            if not self.failures.due(row.id):
                continue
            await self._beat()
            ref = self._watched[row.telegram_id]
            result = await self.failures.attempt(row.id, shown(ref), functools.partial(self._recheck, row.id, ref))
            if result is not None:
                total += result
        self._rechecked_at = self.clock.now()
        return total

    async def _recheck(self, channel_row_id: int, ref: domain.ChannelRef) -> domain.IngestResult:
        """One page, the newest posts: the ones edited and deleted in practice."""
        since = self.clock.now() - timedelta(hours=self.settings.ingest.recheck_hours)
        result = domain.IngestResult()
        async for page in self.source.pages_back(ref, limit=self.settings.ingest.page_size, since=since):
            if not page.posts:
                break
            result += await self.ingest(page.posts)
            seen = [p.message_id for p in page.posts]
            async with self._lock, self.db.uow() as session:  # what the page should hold and does not: deleted
                gone = await stored_posts.mark_missing_deleted(session, channel_row_id, page.oldest_id,
                                                        page.newest_id, seen)
            if gone:
                log.info("%d posts of %s were deleted on Telegram meanwhile", gone, ref.key)
                result.updated += gone
            break
        return result

    def _recheck_due(self) -> bool:
        every = timedelta(minutes=self.settings.ingest.recheck_minutes)
        return self._rechecked_at is None or self.clock.now() - self._rechecked_at >= every

    # --- the one way in ------------------------------------------------------------------------------
    async def ingest(self, posts: list[domain.Post]) -> domain.IngestResult:
        """Store and match posts; album parts are folded into the row their album already has."""
        async with self._lock:
            posts = await self._fold_albums(posts)
            return await self.pipeline.ingest(posts)

    async def _fold_albums(self, posts: list[domain.Post]) -> list[domain.Post]:
        groups = {(p.channel.telegram_id, p.grouped_id) for p in posts if p.grouped_id is not None}
        if not groups:
            return posts
        async with self.db.uow(read_only=True) as session:
            keys = await stored_posts.album_heads(session, groups)
        folded: list[domain.Post] = []
        for post in posts:
            if post.grouped_id is None:
                folded.append(post)
                continue
            key = (post.channel.telegram_id, post.grouped_id)
            if key not in keys:
                keys[key] = (post.message_id, post.text)
                folded.append(post)
                continue
            message_id, text = keys[key]
            if message_id != post.message_id or not post.text:
                post = replace(post, message_id=message_id, text=post.text or text, media_type="album")
            keys[key] = (message_id, post.text)
            folded.append(post)
        return folded

    # --- live --------------------------------------------------------------------------------------
    async def on_posts(self, channel_id: int, posts: list[domain.Post], edited: bool) -> None:
        ref = self._watched.get(channel_id)
        if ref is None and self._may_refresh():
            await self.refresh_channels()  # added a moment ago (by the bot, or `tgmon channels add`)?
            ref = self._watched.get(channel_id)
        if ref is None:
            return  # a chat the account is in but nobody watches
        posts = [replace(p, channel=ref) for p in posts]
        if edited:
            await self.ingest(posts)
            return
        self._note_live(channel_id, [p.message_id for p in posts])
        await self._ingest_live(posts)

    async def _ingest_live(self, posts: list[domain.Post]) -> None:
        """New live posts that arrive while a batch is being stored wait, then go together in the next
        batch (one transaction): a burst of posts on many channels, each its own update, is a few
        transactions instead of one per post, which queued behind each other under the lock (200
        posts in 2 s on PostgreSQL were stored up to 6.4 s after they arrived: docs/benchmarks.md,
        "Instant alerts from the live update"). Whoever takes the lock stores what is waiting; the
        later callers find their posts stored. A failed batch is found again by the gap fill (live
        posts do not move `history_id`)."""
        self._live_waiting.extend(posts)
        async with self._lock:
            batch, self._live_waiting = self._live_waiting, []
            if batch:
                await self.pipeline.ingest(await self._fold_albums(batch))

    def _may_refresh(self) -> bool:
        """At most one re-read of the channel list a minute for posts of unknown channels."""
        now = self.clock.now()
        if self._refreshed_at is not None and (now - self._refreshed_at).total_seconds() < 60:
            return False
        self._refreshed_at = now
        return True

    async def on_deleted(self, channel_id: int, message_ids: list[int]) -> None:
        if channel_id not in self._watched:
            return
        async with self._lock, self.db.uow() as session:
            await stored_posts.mark_deleted(session, channel_id, message_ids)

    async def _record_flood_wait(self, channel: domain.ChannelRef | None, seconds: int) -> None:
        if channel is None or channel.telegram_id is None:
            return
        async with self.db.uow() as session:
            await stored_channels.add_flood_wait(session, channel.telegram_id, seconds)

    # --- the loop -----------------------------------------------------------------------------------
    async def start_pass(self) -> None:
        """After every (re)connect: default channels, joins up to the cap, then a gap fill of all."""
        if not self._subscribed:
            self.source.subscribe(self.on_posts, self.on_deleted)
            self._subscribed = True
        await self.add_default_channels()
        await self.join_up_to_cap()
        await self.gap_fill_all()
        await self.recheck_all()  # what was edited or deleted while this account was not listening

    async def run(self, stop: asyncio.Event) -> None:
        """Live updates plus the gap fill timer until `stop` is set. Reconnects with backoff forever;
        a dead session raises `domain.SessionEndedError` (no restart helps)."""
        backoff = 1.0
        while not stop.is_set():
            try:
                await self.source.connect()
                backoff = 1.0
                await self.start_pass()
                await self._watch(stop)
            except (TimeoutError, OSError, ConnectionError) as exc:
                log.warning("Telegram connection lost (%s); reconnecting in %.0f s", exc, backoff)
                await self._pause(stop, backoff)
                backoff = min(backoff * 2, 300.0)
            finally:
                await self.source.disconnect()

    async def _watch(self, stop: asyncio.Event) -> None:
        """Between full passes (every `ingest.gap_fill_minutes`), quick ones: a channel whose live updates
        skipped an id is read within seconds (LIVE_GAP_SECONDS after the update that showed it), and
        channels with a live post in the last ACTIVE_MINUTES are polled every ACTIVE_POLL_SECONDS, at
        most QUICK_POLL_BUDGET channels a quick pass (Telegram drops live updates on busy channels)."""
        period = timedelta(minutes=self.settings.ingest.gap_fill_minutes)
        dropped = asyncio.ensure_future(self.source.disconnected())
        next_full = self.clock.now() + period
        try:
            while not stop.is_set():
                until_full = max((next_full - self.clock.now()).total_seconds(), 0.0)
                quick = bool(self._active()) and until_full > self.ACTIVE_POLL_SECONDS
                woke = await self._wait(stop, self.ACTIVE_POLL_SECONDS if quick else until_full, dropped)
                if woke == "stop":
                    return
                if woke == "dropped":
                    raise ConnectionError("disconnected from Telegram")
                # a live update showed a gap: let the rest of a burst land first
                if woke == "soon" and await self._pause(stop, self.LIVE_GAP_SECONDS):
                    return
                if woke == "timer" and not quick:
                    await self.full_pass()
                    next_full = self.clock.now() + period
                else:
                    await self.quick_pass()
        finally:
            if not dropped.done():
                dropped.cancel()

    async def full_pass(self) -> None:
        """Every `ingest.gap_fill_minutes`: joins, a gap fill of every channel, the hourly re-read."""
        await self.join_up_to_cap()  # channels added meanwhile, or joins paused by a FloodWait
        await self.gap_fill_all()
        if self._recheck_due():
            await self.recheck_all()

    async def _wait(self, stop: asyncio.Event, seconds: float, dropped: asyncio.Future[Any]) -> str:
        """Until `seconds` pass on the clock ("timer"), `stop`, the connection drops, or a live gap ("soon")."""
        waiters: dict[asyncio.Future[Any], str] = {
            asyncio.ensure_future(stop.wait()): "stop", asyncio.ensure_future(self.clock.sleep(seconds)): "timer",
            asyncio.ensure_future(self._soon.wait()): "soon"}
        try:
            done, _ = await asyncio.wait([*waiters, dropped], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waiters:
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        for what in ("stop", "dropped", "soon", "timer"):
            if what == "dropped" and dropped in done:
                return what
            if any(waiters.get(task) == what for task in done):
                if what == "soon":
                    self._soon.clear()
                return what
        return "timer"

    # --- live gaps and active channels ------------------------------------------------------------------
    def _note_live(self, telegram_id: int, message_ids: list[int]) -> None:
        """Track the newest id the live path has shown; an id beyond the next one means updates were
        skipped (or a service message used the id): that channel is read within seconds."""
        now = self.clock.now()
        self._active_until[telegram_id] = now + timedelta(minutes=self.ACTIVE_MINUTES)
        top = self._live_top.get(telegram_id)
        for message_id in sorted(message_ids):
            if top is not None and message_id > top + 1:
                self._gaps.add(telegram_id)
                self._soon.set()
            top = message_id if top is None else max(top, message_id)
        if top is not None:
            self._live_top[telegram_id] = top

    def _read_up_to(self, telegram_id: int | None, message_id: int) -> None:
        if telegram_id is not None and message_id > self._live_top.get(telegram_id, 0):
            self._live_top[telegram_id] = message_id

    def _active(self) -> list[int]:
        now = self.clock.now()
        return [tid for tid, until in self._active_until.items() if until > now and tid in self._watched]

    async def quick_pass(self) -> domain.IngestResult:
        """Read the channels a live gap pointed at first, then the active ones, within the budget."""
        total = domain.IngestResult()
        wanted = list(dict.fromkeys([*sorted(self._gaps), *self._active()]))[: self.QUICK_POLL_BUDGET]
        self._gaps.difference_update(wanted)
        async with self.db.uow(read_only=True) as session:
            rows = await stored_channels.row_ids_of(session, self.account, wanted)
        for telegram_id in wanted:
            ref = self._watched.get(telegram_id)
            row_id = rows.get(telegram_id)
            if ref is None or row_id is None or not self.failures.due(row_id):
                continue
            result = await self.failures.attempt(row_id, shown(ref), functools.partial(self.backfill, ref))
            if result is not None:
                total += result
                if result.stored:
                    log.info("%d posts of %s the live updates skipped were read", result.stored, ref.key)
        return total

    async def _pause(self, stop: asyncio.Event, seconds: float, also: asyncio.Future[Any] | None = None) -> bool:
        """Sleep on the clock until `seconds` pass, `stop` is set or `also` completes. True when stopped."""
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self.clock.sleep(seconds))]
        try:
            await asyncio.wait([*waiters, *([also] if also else [])], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waiters:
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        return stop.is_set()
