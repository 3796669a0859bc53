"""Template filters: dates in the viewer's zone, post text with its matched words marked."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape

from bot.digest.render import excerpt


def marked(text: str, spans: Sequence[Sequence[int]]) -> Markup:
    """The text escaped, each matched span in <mark>; spans that overlap or fall outside are skipped."""
    out, pos = [], 0
    for a, b in sorted((int(s[0]), int(s[1])) for s in spans):
        if a < pos or b <= a or b > len(text):
            continue
        out.append(escape(text[pos:a]))
        out.append(Markup("<mark>%s</mark>") % text[a:b])
        pos = b
    out.append(escape(text[pos:]))
    return Markup("").join(out)


def short(text: str, spans: Sequence[Sequence[int]], width: int = 400) -> Markup:
    """The digest's excerpt around the first match, marked, "…" on the sides that were cut."""
    cut, shifted, cut_start, cut_end = excerpt(text or "", [(int(a), int(b)) for a, b in spans], width)
    body = marked(cut, shifted)
    return Markup("").join([Markup("… ") if cut_start else Markup(""), body, Markup(" …") if cut_end else Markup("")])


def when(value: datetime | None, zone: ZoneInfo | str = "UTC") -> str:
    if value is None:
        return "never"
    tz = ZoneInfo(zone) if isinstance(zone, str) else zone
    return value.astimezone(tz).strftime("%d.%m.%Y %H:%M")


def ago(value: datetime | None, now: datetime) -> str:
    """"3 min ago", "5 h ago", "2 d ago"; "never" for None."""
    if value is None:
        return "never"
    delta = now - value
    if delta < timedelta(minutes=1):
        return "just now"
    if delta < timedelta(hours=1):
        return f"{int(delta.total_seconds() // 60)} min ago"
    if delta < timedelta(days=2):
        return f"{int(delta.total_seconds() // 3600)} h ago"
    return f"{delta.days} d ago"


def iso(value: datetime) -> str:
    return value.isoformat(timespec="seconds").replace("+00:00", "Z")


ALL: dict[str, Any] = {"marked": marked, "short": short, "when": when, "ago": ago, "iso": iso}
