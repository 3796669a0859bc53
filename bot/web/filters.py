"""Template filters: dates in the viewer's zone and language (CLDR through Babel, as the bot writes
them), post text with its matched words marked."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup, escape

from bot.digest.render import excerpt
from bot.i18n import dates, plural, t


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


def _lang(ctx: Context) -> str:
    return str(ctx.get("lang") or "en")


@pass_context
def when(ctx: Context, value: datetime | None, zone: ZoneInfo | str = "UTC") -> str:
    """24.11.2026 18:30 / 24 ноября 2026 18:30, in the viewer's zone."""
    if value is None:
        return t(_lang(ctx), "web_never")
    tz = ZoneInfo(zone) if isinstance(zone, str) else zone
    return dates.moment(_lang(ctx), value.astimezone(tz))


@pass_context
def ago(ctx: Context, value: datetime | None, now: datetime) -> str:
    """"3 min ago", "5 h ago", "2 d ago" (their plural forms in Russian and Ukrainian); "never"."""
    lang = _lang(ctx)
    if value is None:
        return t(lang, "web_never")
    delta = now - value
    if delta < timedelta(minutes=1):
        return t(lang, "web_just_now")
    if delta < timedelta(hours=1):
        return plural(lang, "web_minutes_ago_n", int(delta.total_seconds() // 60))
    if delta < timedelta(days=2):
        return plural(lang, "web_hours_ago_n", int(delta.total_seconds() // 3600))
    return plural(lang, "web_days_ago_n", delta.days)


def iso(value: datetime) -> str:
    return value.isoformat(timespec="seconds").replace("+00:00", "Z")


ALL: dict[str, Any] = {"marked": marked, "short": short, "when": when, "ago": ago, "iso": iso}
