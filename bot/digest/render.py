"""Digest rendering: grouped by rule, ranked items, each linked by its time; HTML-escaped; split for Telegram.

Everything that came from a channel or a user goes through `html.escape`: Telethon's HTML parser
never fails, it silently drops what it cannot parse, so unescaped text would be damaged.
"""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from bot.domain import post_link
from bot.i18n import DEFAULT_LANGUAGE, Html, label, plural, t

LIMIT = 4096  # UTF-16 code units a message, after entity parsing


@dataclass(frozen=True, slots=True)
class DigestItem:
    rule: str
    channel_title: str
    channel_username: str | None
    channel_telegram_id: int | None
    message_id: int
    date: datetime
    text: str
    highlights: tuple[tuple[int, int], ...]
    also_in: tuple[str, ...] = ()  # other channels that carried the same post (reposts)
    other_rules: tuple[str, ...] = ()  # further rules of the subscriber that matched it
    views: int | None = None
    post_id: int = 0  # the stored post shown (the web view links to its page)

    @property
    def link(self) -> str:
        return post_link(self.channel_username, self.channel_telegram_id, self.message_id)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


_SENTENCE_END = (". ", "! ", "? ", "… ", "\n")


def excerpt(text: str, highlights: Sequence[tuple[int, int]], width: int = 280
            ) -> tuple[str, list[tuple[int, int]], bool, bool]:
    """The post as a digest shows it: whole when it fits in `width` characters; else a window of about
    `width` around the first match, starting at a sentence (or else a word) and ending at a sentence
    end (or else a word) where it can. Returns the text, the spans shifted into it, and whether the
    start and the end were cut (where "…" goes)."""
    flat = text.replace("\n", " ")
    if len(text) <= width:
        return flat, [(a, b) for a, b in highlights], False, False
    first = highlights[0][0] if highlights else 0
    start = 0
    if first > width * 2 // 3:  # the match would not show from the top: begin closer to it
        earliest = first - width * 2 // 3
        starts = [text.rfind(mark, earliest, first) for mark in _SENTENCE_END]
        found = max(starts)
        if found >= 0:
            start = found + (1 if text[found] == "\n" else 2)
        else:
            space = text.rfind(" ", earliest, first)
            start = space + 1 if space >= 0 else earliest
    end = min(len(text), start + width)
    if end < len(text):
        last_match = max((b for a, b in highlights if a < end), default=start)
        stop = max(text.rfind(mark, start, end) for mark in _SENTENCE_END)
        if stop >= max(last_match, start + width // 2):
            end = stop + 1
        else:
            space = text.rfind(" ", max(start, last_match), end)
            end = space if space > start + width // 2 else end
    spans = [(max(a, start) - start, min(b, end) - start) for a, b in highlights if b > start and a < end]
    return flat[start:end].rstrip(), spans, start > 0, end < len(text)


def _marked_html(text: str, spans: Sequence[tuple[int, int]]) -> str:
    out, pos = [], 0
    for a, b in sorted(spans):
        if a < pos:
            continue
        out.append(html.escape(text[pos:a]))
        out.append(f"<b>{html.escape(text[a:b])}</b>")
        pos = b
    out.append(html.escape(text[pos:]))
    return "".join(out)


@lru_cache(maxsize=1 << 15)  # the same post shows up in many subscribers' digests of one tick
def _excerpt_html(text: str, highlights: tuple[tuple[int, int], ...], width: int) -> str:
    """The excerpt as HTML, "…" exactly on the sides that were cut."""
    cut, spans, cut_start, cut_end = excerpt(text, highlights, width)
    return ("… " if cut_start else "") + _marked_html(cut, spans) + (" …" if cut_end else "")


def _when(local: datetime, with_day: bool) -> str:
    clock = f"{local.hour:02d}:{local.minute:02d}"
    return f"{local.day:02d}.{local.month:02d} {clock}" if with_day else clock


def _notes(item: DigestItem, lang: str) -> str:
    notes = ""
    if item.also_in:
        notes += "\n" + t(lang, "digest_also_in", channels=Html(html.escape(", ".join(item.also_in))))
    if item.other_rules:
        notes += "\n" + t(lang, "digest_also_matches", rules=Html(html.escape(", ".join(item.other_rules))))
    return notes


def _a(link: str, text: str) -> str:
    return f'<a href="{html.escape(link, quote=True)}">{html.escape(text)}</a>'


def _channel(item: DigestItem) -> str:
    return item.channel_title or item.channel_username or "?"


def render_items_html(
    items: Sequence[DigestItem], tz: str, title: str, excerpt_chars: int = 280, more: int = 0,
    lang: str = DEFAULT_LANGUAGE, *, summary: str = "", alert: bool = False,
    rule_totals: Mapping[str, int] | None = None,
) -> list[str]:
    """The digest as HTML blocks: the title (and the `summary` line under it), then per rule a header
    and its items, in the order given (the builder ranks them); `more` items left out by the digest
    size are counted in a last block with the command that shows them (a rule header says "3 of 5"
    when `rule_totals` counts more items of it than this page shows). Each item links its time to
    the post; the channel is named on each item unless the summary names the only one. An instant
    alert (`alert`) is two lines an item: the rule and the linked channel and time, then the text.
    The fixed words are in `lang`; `title` and `summary` are plain text."""
    zone = ZoneInfo(tz)
    local = {id(item): item.date.astimezone(zone) for item in items}
    with_day = len({d.date() for d in local.values()}) > 1
    blocks = [f"<b>{html.escape(title)}</b>" + (f"\n{html.escape(summary)}" if summary else "")] if title else []
    if alert:
        for item in items:
            when = f"{_channel(item)}, {_when(local[id(item)], with_day)}"
            excerpt_html = _excerpt_html(item.text, item.highlights, excerpt_chars)
            blocks.append(f"🔔 <b>{html.escape(item.rule)}</b> · {_a(item.link, when)}\n"
                          f"{excerpt_html}{_notes(item, lang)}")
    else:
        # one channel is named once, by the summary line ("All from ..."), not on every item
        name_channels = len({_channel(item) for item in items}) > 1 or not summary
        groups: dict[str, list[DigestItem]] = defaultdict(list)
        for item in items:
            groups[item.rule].append(item)
        for rule, entries in groups.items():
            total = (rule_totals or {}).get(rule, len(entries))
            count = label(lang, "digest_rule_part_txt", shown=len(entries), total=total) \
                if total > len(entries) else str(len(entries))
            blocks.append(f"\n🔎 <b>{html.escape(rule)}</b> ({html.escape(count)})")
            for item in entries:
                channel = f" <i>{html.escape(_channel(item))}</i>:" if name_channels else ""
                excerpt_html = _excerpt_html(item.text, item.highlights, excerpt_chars)
                blocks.append(f"• {_a(item.link, _when(local[id(item)], with_day))}{channel} "
                              f"{excerpt_html}{_notes(item, lang)}")
    if more:
        blocks.append("\n" + html.escape(plural(lang, "digest_more_n", more), quote=False))
    return blocks


def split_chunks(blocks: Sequence[str], limit: int = LIMIT) -> list[str]:
    """Join blocks into messages of at most `limit` UTF-16 units, never splitting a block,
    and number them "(1/3)" when there are several."""
    reserve = 12  # room for the "(n/m)\n" prefix
    chunks: list[list[str]] = [[]]
    size = 0
    for block in blocks:
        cost = utf16_len(block) + 1
        if cost + reserve > limit:
            block = _cut(block, limit - reserve - 1)
            cost = utf16_len(block) + 1
        if chunks[-1] and size + cost + reserve > limit:
            chunks.append([])
            size = 0
        chunks[-1].append(block)
        size += cost
    texts = ["\n".join(c) for c in chunks if c]
    if len(texts) > 1:
        texts = [f"({i}/{len(texts)})\n{t}" for i, t in enumerate(texts, 1)]
    return texts


def _cut(block: str, limit: int) -> str:
    """An item too long for one message on its own: keep its head up to its link, cut its text."""
    link_end = block.find("</a>")
    head, rest = (block[: link_end + 4], block[link_end + 4 :]) if link_end >= 0 else ("", block)
    room = limit - utf16_len(head) - 3
    plain = html.escape(html.unescape(_strip_tags(rest)))
    while utf16_len(plain) > room:
        plain = plain[: max(0, len(plain) - (utf16_len(plain) - room) - 8)]
        plain = plain[: plain.rfind("&")] if plain.rfind("&") > plain.rfind(";") else plain
    return f"{head}{plain}…"


def _strip_tags(text: str) -> str:
    out, inside = [], False
    for ch in text:
        if ch == "<":
            inside = True
        elif ch == ">" and inside:
            inside = False
        elif not inside:
            out.append(ch)
    return "".join(out)
