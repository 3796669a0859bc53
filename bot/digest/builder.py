"""Build a digest from match rows: one item per post, reposts collapsed, ranked, rendered, split.

A digest leads with one summary line (posts per rule, the busiest channel), shows the best-ranked
items up to the subscriber's digest size and ends with how many more there are (`/more` sends the
next page: `page`).

Pure: no I/O. The scheduler, `/digest`, the preview command and the demo all call `build_digest`,
so what the preview prints is what the bot sends.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.digest.collapse import collapse
from bot.digest.render import DigestItem, render_items_html, split_chunks
from bot.i18n import DEFAULT_LANGUAGE, dates, label, plural
from bot.storage.digests import MatchRow


@dataclass(slots=True)
class _Post:
    row: MatchRow  # the row of its first (lowest id) rule
    rules: dict[int, str] = field(default_factory=dict)


SUMMARY_RULES = 5  # rules named in the summary line; the rest are summed


@dataclass(frozen=True, slots=True)
class BuiltDigest:
    items: list[DigestItem]  # shown, in rendering order
    total: int  # items before the size limit (after collapsing)
    chunks: list[str]  # the HTML messages, each <= 4096 UTF-16 units
    matches: int  # match rows that went in
    ranked: list[DigestItem] = field(default_factory=list)  # every item, best first (the chart counts these)
    first: int = 0  # how many better-ranked items earlier pages showed

    @property
    def more(self) -> int:
        return self.total - self.first - len(self.items)


def digest_title(kind: str, since: datetime | None, until: datetime, tz: str, lang: str = DEFAULT_LANGUAGE) -> str:
    """The digest's title in the subscriber's language (plain text: the renderer escapes it)."""
    zone = ZoneInfo(tz)
    end = until.astimezone(zone)
    start = since.astimezone(zone) if since else None
    if kind == "weekly" or kind == "week":
        if start is None:
            return label(lang, "digest_weekly_until_txt", date=dates.day(lang, end))
        return label(lang, "digest_weekly_txt", span=dates.day_span(lang, start, end))
    if kind == "instant":
        return label(lang, "digest_instant_txt")
    if kind in ("preview", "manual"):  # on demand: titled by its real span, not "Daily digest"
        if start is None:
            return label(lang, "digest_preview_until_txt", date=dates.moment(lang, end))
        return label(lang, "digest_preview_txt", span=dates.moment_span(lang, start, end))
    return label(lang, "digest_daily_txt", date=dates.day(lang, end))


def collapse_posts(posts: Sequence[_Post]) -> list[list[int]]:
    keys = [(p.row.channel_telegram_id or -p.row.channel_id, p.row.message_id) for p in posts]
    forwards = [
        (p.row.forward_channel_id, p.row.forward_message_id)
        if p.row.forward_channel_id is not None and p.row.forward_message_id is not None
        else None
        for p in posts
    ]
    return collapse(keys, forwards, [p.row.text for p in posts])


def _score(cluster: Sequence[_Post]) -> tuple[int, int, float]:
    rules = {rid for p in cluster for rid in p.rules}
    views = sum(p.row.views or 0 for p in cluster)
    return (len(rules), len(cluster), math.log1p(views))


def build_items(rows: Sequence[MatchRow]) -> tuple[list[DigestItem], int]:
    """Items for the rows (each post once, reposts collapsed), best-ranked first, and their number."""
    posts: dict[int, _Post] = {}
    for row in sorted(rows, key=lambda r: (r.post_id, r.rule_id)):
        post = posts.get(row.post_id)
        if post is None:
            post = posts[row.post_id] = _Post(row)
        post.rules.setdefault(row.rule_id, row.rule_name)
    ordered = sorted(posts.values(), key=lambda p: (p.row.date, p.row.post_id))  # oldest first: the original
    clusters = [[ordered[i] for i in group] for group in collapse_posts(ordered)]
    # the item shown is the forward origin if we have it, else the earliest post of the cluster
    for cluster in clusters:
        if len(cluster) == 1:
            continue
        keys = {(p.row.channel_telegram_id, p.row.message_id) for p in cluster}
        forwarded = {(p.row.forward_channel_id, p.row.forward_message_id) for p in cluster}
        origin = next(
            (p for p in cluster if (p.row.forward_channel_id, p.row.forward_message_id) not in keys
             and (p.row.channel_telegram_id, p.row.message_id) in forwarded),
            None,
        )
        if origin is not None:
            cluster.remove(origin)
            cluster.insert(0, origin)
    # best first: more of the subscriber's rules, more reposts, more views; newest first among equals
    clusters.sort(key=lambda c: max(p.row.date for p in c), reverse=True)
    clusters.sort(key=_score, reverse=True)
    items = []
    for cluster in clusters:
        head = cluster[0]
        rules = {rid: name for p in cluster for rid, name in p.rules.items()}
        first_rule = min(rules)
        also = tuple(dict.fromkeys(p.row.channel_title for p in cluster[1:] if p.row.channel_id != head.row.channel_id))
        r = head.row
        highlights = r.highlights
        if first_rule not in head.rules:  # only a repost matched this rule: borrow its spans if the text is the same
            source = next(p.row for p in cluster if first_rule in p.rules)
            highlights = source.highlights if source.text == r.text else ()
        items.append(
            DigestItem(
                rule=rules[first_rule],
                channel_title=r.channel_title,
                channel_username=r.channel_username,
                channel_telegram_id=r.channel_telegram_id,
                message_id=r.message_id,
                date=r.date,
                text=r.text,
                highlights=highlights,
                also_in=also,
                other_rules=tuple(name for rid, name in sorted(rules.items()) if rid != first_rule),
                views=sum(p.row.views or 0 for p in cluster) or None,
                post_id=r.post_id,
            )
        )
    return items, len(items)


def summary_line(items: Sequence[DigestItem], lang: str) -> str:
    """"обстрел 7, Белгород 3. Most from Гладков (9)": posts per rule and the busiest channel (plain text)."""
    per_rule = Counter(item.rule for item in items).most_common()
    named = [f"{rule} {n}" for rule, n in per_rule[:SUMMARY_RULES]]
    if len(per_rule) > SUMMARY_RULES:
        named.append(label(lang, "digest_summary_rest_txt", count=sum(n for _, n in per_rule[SUMMARY_RULES:])))
    channels = Counter(item.channel_title or item.channel_username or "?" for item in items).most_common()
    if len(channels) == 1:
        return label(lang, "digest_summary_one_txt", rules=", ".join(named), channel=channels[0][0])
    return label(lang, "digest_summary_txt", rules=", ".join(named), channel=channels[0][0], count=channels[0][1])


def _page(ranked: Sequence[DigestItem], size: int, page: int) -> tuple[list[DigestItem], int]:
    """The items of page `page` (0: the digest itself), grouped by rule in the summary's order, each
    rule's items best first. Returns them and how many items came before the page."""
    first = page * size if size else 0
    shown = list(ranked[first : first + size]) if size else list(ranked)
    order = {rule: n for n, (rule, _) in enumerate(Counter(i.rule for i in ranked).most_common())}
    return sorted(shown, key=lambda i: order[i.rule]), first


def build_digest(
    rows: Sequence[MatchRow],
    *,
    tz: str,
    title: str,
    size: int = 0,
    excerpt_chars: int = 280,
    lang: str = DEFAULT_LANGUAGE,
    limit: int | None = None,
    page: int = 0,
    alert: bool = False,
) -> BuiltDigest:
    """The digest in the subscriber's language `lang` (ru or en; anything else: English): page
    `page` of `size` items (0: all of them), in chunks of at most `limit` UTF-16 units (Telegram's
    message size by default; a notification service's). An instant alert (`alert`) is two lines an
    item and has a title only when it carries several."""
    ranked, total = build_items(rows)
    items, first = _page(ranked, size, page)
    if not items:
        return BuiltDigest([], total, [], len(rows), ranked, first)
    if page:
        heading = label(lang, "digest_page_txt", title=title, first=first + 1, last=first + len(items),
                        total=plural(lang, "digest_items_n", total))
        summary = ""
    elif alert:
        heading = label(lang, "digest_heading_txt", title=title, items=plural(lang, "digest_items_n", total)) \
            if total > 1 else ""
        summary = ""
    else:
        heading = label(lang, "digest_heading_txt", title=title, items=plural(lang, "digest_items_n", total))
        summary = summary_line(ranked, lang)
    blocks = render_items_html(items, tz, heading, excerpt_chars, more=total - first - len(items), lang=lang,
                               summary=summary, alert=alert, rule_totals=Counter(i.rule for i in ranked))
    chunks = split_chunks(blocks) if limit is None else split_chunks(blocks, limit)
    return BuiltDigest(items, total, chunks, len(rows), ranked, first)
