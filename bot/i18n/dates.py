"""Dates in the subscriber's language: numeric in English (24.11.2026, as before), Russian with the
month's name in the genitive (24 ноября 2026)."""

from __future__ import annotations

from datetime import date, datetime

from bot.i18n import known_language
from bot.i18n.en import WEEKDAYS_SHORT as EN_WEEKDAYS
from bot.i18n.ru import MONTHS_GENITIVE
from bot.i18n.ru import WEEKDAYS_SHORT as RU_WEEKDAYS


def _ru_day(d: date, *, year: bool) -> str:
    text = f"{d.day} {MONTHS_GENITIVE[d.month - 1]}"
    return f"{text} {d.year}" if year else text


def day(lang: str, d: date) -> str:
    """24.11.2026 / 24 ноября 2026."""
    if known_language(lang) == "ru":
        return _ru_day(d, year=True)
    return f"{d:%d.%m.%Y}"


def moment(lang: str, when: datetime) -> str:
    """24.11.2026 18:30 / 24 ноября 2026 18:30."""
    return f"{day(lang, when)} {when:%H:%M}"


def day_span(lang: str, start: date, end: date) -> str:
    """18.11–24.11.2026 / 18–24 ноября 2026, 28 октября – 3 ноября 2026, 29 декабря 2025 – 4 января 2026."""
    if known_language(lang) != "ru":
        return f"{start:%d.%m}–{end:%d.%m.%Y}"
    if (start.year, start.month) == (end.year, end.month):
        return f"{start.day}–{_ru_day(end, year=True)}"
    return f"{_ru_day(start, year=start.year != end.year)} – {_ru_day(end, year=True)}"


def moment_span(lang: str, start: datetime, end: datetime) -> str:
    """18.11 00:00–20.11.2026 23:59 / 18 ноября 00:00 – 20 ноября 2026 23:59."""
    if known_language(lang) != "ru":
        return f"{start:%d.%m %H:%M}–{end:%d.%m.%Y %H:%M}"
    return f"{_ru_day(start, year=start.year != end.year)} {start:%H:%M} – {moment(lang, end)}"


def chart_day(lang: str, d: date) -> str:
    """Mon 24.11 / Пн 24.11: a day on the weekly chart's axis."""
    names = RU_WEEKDAYS if known_language(lang) == "ru" else EN_WEEKDAYS
    return f"{names[d.weekday()]} {d:%d.%m}"
