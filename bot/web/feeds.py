"""Atom feeds at unguessable URLs: a subscriber's matches, or one rule's, over the last days.

The entries are what the digest holds for the same window (`matches_posted_between`, then
`build_items`: one entry per post, reposts collapsed into "also in"). Conditional GET: the ETag is a
hash of what the feed lists, Last-Modified the newest entry's date; a reader that has them gets 304.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from email.utils import format_datetime, parsedate_to_datetime

from starlette.requests import Request
from starlette.responses import Response

from bot.commands import access
from bot.commands.render import esc, marked
from bot.digest.builder import build_items
from bot.digest.render import DigestItem
from bot.i18n import known_language, label, t
from bot.storage.digests import matches_posted_between
from bot.storage.rules import rule_by_id, subscriber_by_id
from bot.web.context import state

FEED_DAYS = 7
MAX_ENTRIES = 200


async def atom(request: Request) -> Response:
    web = state(request)
    token = str(request.path_params.get("token", ""))
    now = web.now()
    async with web.db.uow(read_only=True) as session:
        feed = await access.feed_by_token(session, token)
        if feed is None:
            return Response("No such feed (the URL is wrong or was revoked).\n", status_code=404, media_type="text/plain")
        sub = await subscriber_by_id(session, feed.subscriber_id)
        rule = await rule_by_id(session, feed.rule_id) if feed.rule_id is not None else None
        rows = await matches_posted_between(session, feed.subscriber_id, now - timedelta(days=FEED_DAYS), now)
    if sub is None or (feed.rule_id is not None and rule is None):
        return Response("No such feed.\n", status_code=404, media_type="text/plain")
    if rule is not None:
        rows = [r for r in rows if r.rule_id == rule.id]
    items, _ = build_items(rows)
    items.sort(key=lambda item: (item.date, item.post_id), reverse=True)
    items = items[:MAX_ENTRIES]
    updated = max((i.date for i in items), default=feed.created_at)
    tag = hashlib.sha256(repr([(i.post_id, i.date.timestamp(), i.text, i.highlights, i.also_in, i.other_rules)
                               for i in items]).encode()).hexdigest()[:32]
    etag = f'"{tag}"'
    headers = {"ETag": etag, "Last-Modified": format_datetime(updated, usegmt=True), "Cache-Control": "private, max-age=60"}
    if _fresh(request, etag, updated):
        return Response(status_code=304, headers=headers)
    base = web.settings.web.base_url or str(request.base_url).rstrip("/")
    lang = known_language(sub.language)  # the subscriber's language, as in their digest
    title = (label(lang, "web_feed_title_rule_txt", rule=rule.source) if rule is not None
             else label(lang, "web_feed_title_all_txt"))
    body = web.templates.get_template("feed.xml").render(
        title=title, items=items, updated=updated, self_url=str(request.url), base=base, feed_id=f"{base}/feeds/{feed.id}",
        item_html=lambda item: entry_html(item, lang))
    return Response(body, media_type="application/atom+xml; charset=utf-8", headers=headers)


def _fresh(request: Request, etag: str, updated: object) -> bool:
    match = request.headers.get("if-none-match")
    if match is not None:
        return etag in [part.strip() for part in match.split(",")] or match.strip() == "*"
    since = request.headers.get("if-modified-since")
    if since:
        try:
            return parsedate_to_datetime(since) >= updated.replace(microsecond=0)  # type: ignore[attr-defined, no-any-return]
        except (TypeError, ValueError):
            return False
    return False


def entry_html(item: DigestItem, lang: str = "en") -> str:
    """An entry's content: the post with the matched words in bold, "also in", the link, in `lang`.
    Plain HTML as a string: the template escapes it once more into the Atom `content type="html"`."""
    text = marked(item.text, item.highlights).replace("\n", "<br>")
    also_in = t(lang, "web_also_in", channels=", ".join(item.also_in))
    also = f"<p><i>{also_in}</i></p>" if item.also_in else ""
    matched = t(lang, "web_feed_matched", rules=", ".join([item.rule, *item.other_rules]))
    return (f"<p>{text}</p>{also}<p>{matched}</p>"
            f'<p><a href="{esc(item.link)}">{esc(item.channel_title)}</a></p>')
