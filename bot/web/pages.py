"""A subscriber's pages: timeline, search, a post, the chart, rules, settings, sessions, feeds."""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta
from typing import Any

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response

from bot.commands import access, rules, settings_menu
from bot.commands.context import Request as CommandRequest
from bot.commands.errors import rule_error_text
from bot.commands.render import as_int
from bot.commands.types import Caller, ChatKind
from bot.commands.types import Reply as CommandReply
from bot.digest.builder import build_items
from bot.digest.chart import daily_counts
from bot.i18n import N_
from bot.matching import RuleError
from bot.storage.digests import TimelineFilter, matches_page, matches_posted_between
from bot.storage.posts import seen_by
from bot.storage.rules import own_channels, rules_of, search_scope_of
from bot.web.context import Viewer, not_found, page, render, see_other, state

PERIODS = {"day": 1, "week": 7, "month": 30, "quarter": 91, "year": 365}
PERIOD_KEYS = (N_("web_last_day"), N_("web_last_week"), N_("web_last_month"), N_("web_last_quarter"),
               N_("web_last_year"))  # the templates' tr('web_last_' ~ period)
CHART_DAYS = (7, 30, 91)


def _int(value: str | None) -> int | None:
    return as_int(value) if value else None


def _choice(value: str | None, default: str) -> str:
    return value if value is not None and value in PERIODS else default


def _cursor(value: str | None) -> tuple[datetime, int] | None:
    """The next page's key from the URL: "<unix seconds>_<post id>"."""
    if not value or not re.fullmatch(r"\d{1,12}(\.\d{1,6})?_\d{1,18}", value):
        return None
    stamp, _, post_id = value.partition("_")
    from datetime import UTC

    return datetime.fromtimestamp(float(stamp), UTC), int(post_id)


def _cursor_text(key: tuple[datetime, int]) -> str:
    return f"{key[0].timestamp():.6f}_{key[1]}"


_MARK = re.compile(r"^[\u2600-\u27bf\U0001f300-\U0001faff]\ufe0f?\s*", re.MULTILINE)


def _plain(reply: CommandReply) -> str:
    """A bot reply as plain text (the page escapes it): our tags dropped, entities undone, and the
    chat's emoji marks at the start of a line (✅, ⚠️) left out: the page says the same in its style."""
    return _MARK.sub("", html.unescape(re.sub(r"<[^>]+>", "", reply.text or reply.toast or "")))


def _command_request(viewer: Viewer, args: str) -> CommandRequest:
    caller = Caller(chat_id=viewer.user_id, user_id=viewer.user_id, kind=ChatKind.PRIVATE)
    return CommandRequest(caller=caller, args=args, lang=viewer.lang, subscriber=viewer.subscriber)


@page()
async def timeline(request: Request, viewer: Viewer) -> Response:
    web = state(request)
    assert viewer.subscriber is not None
    sub_id = viewer.subscriber.id
    q = request.query_params
    period = _choice(q.get("period"), "week")
    rule_id, channel_id = _int(q.get("rule")), _int(q.get("channel"))
    now = web.now()
    async with web.db.uow(read_only=True) as session:
        own_rules = await rules_of(session, sub_id)
        channels = await own_channels(session, sub_id)
        if rule_id is not None and rule_id not in {r.id for r in own_rules}:
            return not_found(request, viewer, N_("web_err_no_rule"))
        if channel_id is not None and channel_id not in {c.id for c in channels}:
            return not_found(request, viewer, N_("web_err_no_channel"))
        f = TimelineFilter(sub_id, rule_id, channel_id, since=now - timedelta(days=PERIODS[period]))
        rows, following = await matches_page(session, f, before=_cursor(q.get("before")), limit=web.settings.web.page_size,
                                             rule_ids=[r.id for r in own_rules])
    deleted = {r.post_id for r in rows if r.deleted}
    items, _ = build_items(rows)
    items.sort(key=lambda item: (item.date, item.post_id), reverse=True)
    params = {"period": period, "rule": rule_id or "", "channel": channel_id or ""}
    more = None
    if following is not None:
        more = "?" + "&".join(f"{k}={v}" for k, v in params.items() if v) + f"&before={_cursor_text(following)}"
    return render(request, "timeline.html", viewer=viewer, items=items, deleted=deleted, rules=own_rules,
                  channels=channels, params=params, periods=list(PERIODS), more=more, matched=len(rows))


@page()
async def search(request: Request, viewer: Viewer) -> Response:
    from bot.search import search_posts

    web = state(request)
    assert viewer.subscriber is not None
    text = " ".join((request.query_params.get("q") or "").split())[:web.settings.matching.max_rule_length]
    period = _choice(request.query_params.get("period"), "year")
    before = _cursor(request.query_params.get("before"))
    size = web.settings.web.page_size
    result: Any = None
    error = None
    more = None
    posts: list[Any] = []
    if text:
        async with web.db.uow(read_only=True) as session:
            scope = await search_scope_of(session, viewer.subscriber.id)
        since = web.now() - timedelta(days=PERIODS[period])
        try:  # keyset pages on (date, id): the next one starts after the last post shown
            result = await search_posts(web.db, text, since=since, before=before, limit=size + 1, channels=scope,
                                        count=before is None,  # the page shows the total on the first page only
                                        settings=web.settings.matching)
        except RuleError as err:
            error = Markup(rule_error_text(viewer.lang, err))  # the bot's words, in the viewer's language
        if result is not None:
            posts = list(result.posts)
            if len(posts) > size:
                posts = posts[:size]
                more = f"?q={_quote(text)}&period={period}&before={_cursor_text((posts[-1].date, posts[-1].post_id))}"
    return render(request, "search.html", viewer=viewer, q=text, result=result, posts=posts, error=error,
                  more=more, period=period, periods=list(PERIODS), first=before is None)


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


@page()
async def post(request: Request, viewer: Viewer) -> Response:
    web = state(request)
    assert viewer.subscriber is not None
    post_id = _int(request.path_params.get("post_id"))
    if post_id is None:
        return not_found(request, viewer)
    async with web.db.uow(read_only=True) as session:
        view = await seen_by(session, viewer.subscriber.id, post_id)
    if view is None:
        return not_found(request, viewer, N_("web_err_no_post"))
    return render(request, "post.html", viewer=viewer, view=view)


@page()
async def chart(request: Request, viewer: Viewer) -> Response:
    web = state(request)
    assert viewer.subscriber is not None
    days = _int(request.query_params.get("days")) or 30
    days = days if days in CHART_DAYS else 30
    rule_id = _int(request.query_params.get("rule"))
    now = web.now()
    since = now - timedelta(days=days)
    async with web.db.uow(read_only=True) as session:
        own_rules = await rules_of(session, viewer.subscriber.id)
        if rule_id is not None and rule_id not in {r.id for r in own_rules}:
            return not_found(request, viewer, N_("web_err_no_rule"))
        rows = await matches_posted_between(session, viewer.subscriber.id, since, now)
    charts = []
    for rule in own_rules:
        if rule_id is not None and rule.id != rule_id:
            continue
        mine = [r for r in rows if r.rule_id == rule.id]
        dates, series = daily_counts(build_items(mine)[0], since, now, viewer.subscriber.timezone)
        values = next(iter(series.values()), [0] * len(dates))
        charts.append({"rule": rule, "days": dates, "counts": values, "total": sum(values), "top": max(values, default=0)})
    return render(request, "chart.html", viewer=viewer, charts=charts, days=days, choices=CHART_DAYS,
                  rules=own_rules, rule_id=rule_id)


@page()
async def rules_page(request: Request, viewer: Viewer) -> Response:
    web = state(request)
    assert viewer.subscriber is not None
    notice = None
    if request.method == "POST":
        form = await request.form()
        action = str(form.get("action", ""))
        if action == "add":
            reply = await rules.watch(web.commands, _command_request(viewer, str(form.get("rule", ""))[:2000]))
        elif action == "delete" and (rule_id := _int(str(form.get("rule_id", "")))) is not None:
            reply = await rules.on_button(web.commands, _command_request(viewer, ""), ["del", str(rule_id), "0"])
        else:
            reply = CommandReply("Nothing to do.")
        notice = _plain(reply)
    async with web.db.uow(read_only=True) as session:
        own = await rules_of(session, viewer.subscriber.id)
        feeds = await access.feeds_of(session, viewer.subscriber.id)
    return render(request, "rules.html", viewer=viewer, rules=own, notice=notice,
                  feeds={f.rule_id for f in feeds}, limit=web.settings.bot.max_rules)


@page()
async def settings_page(request: Request, viewer: Viewer) -> Response:
    web = state(request)
    assert viewer.subscriber is not None
    notices: list[str] = []
    sub = viewer.subscriber
    if request.method == "POST":
        form = await request.form()
        asked = {
            "frequency": str(form.get("frequency", "")).strip(),
            "time": str(form.get("time", "")).strip(),
            "tz": str(form.get("timezone", "")).strip()[:64],
        }
        current = {"frequency": sub.frequency, "time": f"{sub.digest_hour:02d}:{sub.digest_minute:02d}", "tz": sub.timezone}
        for name, value in asked.items():
            if value and value != current[name]:
                reply = await settings_menu.settings(web.commands, _command_request(viewer, f"{name} {value}"))
                notices.append(_plain(reply).split("\n\n")[0])
        async with web.db.uow(read_only=True) as session:
            from bot.storage.rules import get_subscriber

            sub = await get_subscriber(session, viewer.user_id) or sub
    return render(request, "settings.html", viewer=viewer, sub=sub, notices=notices,
                  frequencies=settings_menu.FREQUENCIES)


@page(subscriber=False)
async def sessions_page(request: Request, viewer: Viewer) -> Response:
    web = state(request)
    now = web.now()
    if request.method == "POST":
        form = await request.form()
        target = str(form.get("session", ""))
        async with web.db.uow() as session:
            if target == "all":
                await access.revoke_sessions(session, viewer.user_id, now)
            elif (sid := _int(target)) is not None:
                await access.revoke_sessions(session, viewer.user_id, now, sid)  # scoped: this user's only
        return see_other("/sessions")
    async with web.db.uow(read_only=True) as session:
        rows = await access.sessions_of(session, viewer.user_id, now)
    return render(request, "sessions.html", viewer=viewer, sessions=rows, now=now)


@page()
async def feeds_page(request: Request, viewer: Viewer) -> Response:
    web = state(request)
    assert viewer.subscriber is not None
    sub_id = viewer.subscriber.id
    now = web.now()
    new_url = None
    async with web.db.uow() as session:
        own = await rules_of(session, sub_id)
        if request.method == "POST":
            form = await request.form()
            action = str(form.get("action", ""))
            if action == "new":
                rule_id = _int(str(form.get("rule_id", "")))
                if rule_id is not None and rule_id not in {r.id for r in own}:
                    return not_found(request, viewer, N_("web_err_no_rule"))
                token = await access.issue_feed(session, sub_id, rule_id, now)
                new_url = access.feed_url(web.settings.web.base_url or str(request.base_url).rstrip("/"), token)
            elif action == "revoke" and (feed_id := _int(str(form.get("feed_id", "")))) is not None:
                await access.revoke_feeds(session, sub_id, now, feed_id)  # scoped: this subscriber's only
        feeds = await access.feeds_of(session, sub_id)
    names = {r.id: r.source for r in own}
    return render(request, "feeds.html", viewer=viewer, feeds=feeds, rules=own, names=names, new_url=new_url)
