"""Dates in the subscriber's language, from CLDR through Babel: numeric in English (24.11.2026),
the month's name in the genitive in Russian and Ukrainian (24 ноября 2026, 24 листопада 2026)."""

from __future__ import annotations

from datetime import date, datetime

from babel.dates import format_date

from bot.i18n import DEFAULT_LANGUAGE, known_language


def _named(lang: str) -> bool:
    """Languages whose dates name the month; English keeps the numeric form it always had."""
    return known_language(lang) != DEFAULT_LANGUAGE


def _day_month(lang: str, d: date, *, year: bool) -> str:
    return format_date(d, "d MMMM y" if year else "d MMMM", locale=known_language(lang))


def day(lang: str, d: date) -> str:
    """24.11.2026 / 24 ноября 2026."""
    return _day_month(lang, d, year=True) if _named(lang) else f"{d:%d.%m.%Y}"


def moment(lang: str, when: datetime) -> str:
    """24.11.2026 18:30 / 24 ноября 2026 18:30."""
    return f"{day(lang, when)} {when:%H:%M}"


def day_span(lang: str, start: date, end: date) -> str:
    """18.11–24.11.2026 / 18–24 ноября 2026, 28 октября – 3 ноября 2026, 29 декабря 2025 – 4 января 2026."""
    if not _named(lang):
        return f"{start:%d.%m}–{end:%d.%m.%Y}"
    if (start.year, start.month) == (end.year, end.month):
        return f"{start.day}–{day(lang, end)}"
    return f"{_day_month(lang, start, year=start.year != end.year)} – {day(lang, end)}"


def moment_span(lang: str, start: datetime, end: datetime) -> str:
    """18.11 00:00–20.11.2026 23:59 / 18 ноября 00:00 – 20 ноября 2026 23:59."""
    if not _named(lang):
        return f"{start:%d.%m %H:%M}–{end:%d.%m.%Y %H:%M}"
    return f"{_day_month(lang, start, year=start.year != end.year)} {start:%H:%M} – {moment(lang, end)}"


def chart_day(lang: str, d: date) -> str:
    """Mon 24.11 / Пн 24.11: a day on the weekly chart's axis (CLDR's abbreviated weekday)."""
    weekday = format_date(d, "EEE", locale=known_language(lang)).rstrip(".")
    return f"{weekday[:1].upper()}{weekday[1:]} {d:%d.%m}"
