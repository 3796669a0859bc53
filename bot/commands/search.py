"""/search RULE: the stored posts that match, newest first, 5 at a time; "More ›" (or /search more)
shows the next 5.

Pages are keyset pages on (post date, post id), the order the search returns: the next page starts
strictly below the last post shown, so no post is shown twice and none is skipped, whatever is
stored meanwhile (newer posts are for a new search). A chat's open search is kept in memory for
`SEARCH_TTL` seconds (the bot is one process); its button carries a serial so an old button cannot
page a newer search.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from bot.commands.context import CommandContext, Request
from bot.commands.render import as_int, clip, esc
from bot.commands.rules import _checked, _rule_error, post_line
from bot.commands.types import Button, Reply
from bot.i18n import Html, label, plural, t
from bot.matching import RuleError
from bot.storage.rules import followed_keys

PAGE = 5
SEARCH_TTL = 3600.0
MORE_WORDS = {"more", "next", "ещё", "еще", "дальше", "далі", "ще", "більше"}
_serials = itertools.count(1)


@dataclass(frozen=True, slots=True)
class OpenSearch:
    serial: int
    source: str
    scope: tuple[str, ...]
    tz: str
    total: str  # as shown: "12" or "at least 1000"
    shown: int  # posts shown so far
    after: tuple[datetime, int]  # (date, id) of the last post shown
    expires: float


class OpenSearches:
    """Each chat's last search, to page it."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._items: dict[int, OpenSearch] = {}

    def keep(self, chat_id: int, search: OpenSearch) -> None:
        if len(self._items) > 10_000:
            now = self._clock()
            self._items = {k: v for k, v in self._items.items() if v.expires > now}
        self._items[chat_id] = search

    def get(self, chat_id: int) -> OpenSearch | None:
        found = self._items.get(chat_id)
        return found if found is not None and found.expires > self._clock() else None

    def drop(self, chat_id: int) -> None:
        self._items.pop(chat_id, None)

    def deadline(self) -> float:
        return self._clock() + SEARCH_TTL


async def search(ctx: CommandContext, req: Request) -> Reply:
    source = " ".join(req.args.split())
    if not source:
        return Reply(t(req.lang, "search_usage"))
    if source.casefold() in MORE_WORDS:
        return await _more(ctx, req, None)
    try:
        _checked(source, ctx)
    except RuleError as err:
        return Reply(_rule_error(req.lang, err))
    try:
        from bot.search import search_posts
    except ImportError:
        return Reply(t(req.lang, "search_unavailable"))
    scope, tz = await _followed_scope(ctx, req)
    try:
        found = await search_posts(ctx.db, source, limit=PAGE + 1, channels=scope)
    except RuleError as err:
        return Reply(_rule_error(req.lang, err))
    partial = _partial(req.lang, found.searched_since, tz)
    if found.total == 0 or not found.posts:
        ctx.searches.drop(req.caller.chat_id)
        return Reply("\n\n".join([t(req.lang, "search_none", rule=clip(source, 200)), *partial]))
    total = str(found.total) if found.exact else t(req.lang, "at_least", count=found.total)
    page = found.posts[:PAGE]
    if found.exact:
        counted = plural(req.lang, "posts_n", found.total)
    else:  # counting every match would have taken longer than the page
        counted = plural(req.lang, "posts_at_least_n", found.total)
    header = "\n".join([t(req.lang, "search_header", rule=Html(esc(clip(source, 200))), count=counted,
                          shown=len(page)), *partial])
    opened = OpenSearch(next(_serials), source, tuple(scope), tz, total, len(page), (page[-1].date, page[-1].post_id),
                        ctx.searches.deadline())
    return _page(ctx, req, opened, header, page, more=len(found.posts) > PAGE)


def _page(ctx: CommandContext, req: Request, opened: OpenSearch, header: str, page: list, more: bool) -> Reply:  # type: ignore[type-arg]
    lines = [header, *(post_line(post, opened.tz) for post in page)]
    if not more:
        ctx.searches.drop(req.caller.chat_id)
        if opened.shown > PAGE:
            lines.append(t(req.lang, "search_end", count=plural(req.lang, "posts_n", opened.shown)))
        return Reply("\n\n".join(lines), edit=False)
    ctx.searches.keep(req.caller.chat_id, opened)
    lines.append(t(req.lang, "search_more_hint"))
    return Reply("\n\n".join(lines), ((Button(label(req.lang, "search_more_btn"), f"q:more:{opened.serial}"),),),
                 edit=False)


async def _more(ctx: CommandContext, req: Request, serial: int | None) -> Reply:
    opened = ctx.searches.get(req.caller.chat_id)
    if opened is None or (serial is not None and opened.serial != serial):
        return Reply(t(req.lang, "search_more_none"), edit=False)
    from bot.search import search_posts

    try:
        found = await search_posts(ctx.db, opened.source, limit=PAGE + 1, channels=opened.scope, before=opened.after)
    except RuleError as err:
        return Reply(_rule_error(req.lang, err))
    page = found.posts[:PAGE]
    if not page:
        ctx.searches.drop(req.caller.chat_id)
        return Reply(t(req.lang, "search_end", count=plural(req.lang, "posts_n", opened.shown)), edit=False)
    first = opened.shown + 1
    opened = replace(opened, shown=opened.shown + len(page), after=(page[-1].date, page[-1].post_id),
                     expires=ctx.searches.deadline())
    header = t(req.lang, "search_page_header", rule=Html(esc(clip(opened.source, 200))), first=first,
               last=opened.shown, count=opened.total)
    return _page(ctx, req, opened, header, page, more=len(found.posts) > PAGE)


def _partial(lang: str, since: datetime | None, tz: str) -> list[str]:
    """A search that stopped reading before the end (a rule of /patterns/ alone) says how far back."""
    if since is None:
        return []
    from zoneinfo import ZoneInfo

    return [t(lang, "search_partial", date=since.astimezone(ZoneInfo(tz)).strftime("%d.%m.%Y %H:%M"))]


async def on_button(ctx: CommandContext, req: Request, parts: list[str]) -> Reply:
    """q:more:<serial>"""
    if len(parts) == 2 and parts[0] == "more" and (serial := as_int(parts[1])) is not None:
        return await _more(ctx, req, serial)
    return Reply("", toast=t(req.lang, "button_stale"))


async def _followed_scope(ctx: CommandContext, req: Request) -> tuple[list[str], str]:
    """The channels to search: all of them (an empty list) unless this chat unfollowed some."""
    if req.subscriber is None:
        return [], ctx.settings.digest.default_timezone
    async with ctx.db.uow(read_only=True) as session:
        keys = await followed_keys(session, req.subscriber.id)
    if keys is None:
        return [], req.subscriber.timezone
    return keys or ["-"], req.subscriber.timezone
