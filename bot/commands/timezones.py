"""Timezone from what a subscriber types: an IANA name, a city (in any of the bot's languages: our
table, then CLDR's city of every zone through Babel), or a UTC offset; and a zone shown as its city
in the subscriber's language."""

from __future__ import annotations

import re
from functools import cache, lru_cache
from zoneinfo import ZoneInfo, available_timezones

from babel.dates import get_timezone_location

from bot.i18n import DEFAULT_LANGUAGE, LANGUAGES, known_language

# Cities people in this audience type, mapped to their zone (zone names carry only one city each).
_CITIES = {
    "москва": "Europe/Moscow",
    "moscow": "Europe/Moscow",
    "мск": "Europe/Moscow",
    "белгород": "Europe/Moscow",
    "курск": "Europe/Moscow",
    "брянск": "Europe/Moscow",
    "воронеж": "Europe/Moscow",
    "ростов": "Europe/Moscow",
    "ростов-на-дону": "Europe/Moscow",
    "санкт-петербург": "Europe/Moscow",
    "петербург": "Europe/Moscow",
    "спб": "Europe/Moscow",
    "saint petersburg": "Europe/Moscow",
    "st petersburg": "Europe/Moscow",
    "краснодар": "Europe/Moscow",
    "симферополь": "Europe/Simferopol",
    "севастополь": "Europe/Simferopol",
    "калининград": "Europe/Kaliningrad",
    "самара": "Europe/Samara",
    "саратов": "Europe/Saratov",
    "волгоград": "Europe/Volgograd",
    "ульяновск": "Europe/Ulyanovsk",
    "астрахань": "Europe/Astrakhan",
    "екатеринбург": "Asia/Yekaterinburg",
    "челябинск": "Asia/Yekaterinburg",
    "пермь": "Asia/Yekaterinburg",
    "уфа": "Asia/Yekaterinburg",
    "тюмень": "Asia/Yekaterinburg",
    "омск": "Asia/Omsk",
    "новосибирск": "Asia/Novosibirsk",
    "томск": "Asia/Tomsk",
    "барнаул": "Asia/Barnaul",
    "красноярск": "Asia/Krasnoyarsk",
    "иркутск": "Asia/Irkutsk",
    "чита": "Asia/Chita",
    "якутск": "Asia/Yakutsk",
    "хабаровск": "Asia/Vladivostok",
    "владивосток": "Asia/Vladivostok",
    "магадан": "Asia/Magadan",
    "сахалин": "Asia/Sakhalin",
    "петропавловск-камчатский": "Asia/Kamchatka",
    "камчатка": "Asia/Kamchatka",
    "киев": "Europe/Kyiv",
    "київ": "Europe/Kyiv",
    "kiev": "Europe/Kyiv",
    "kyiv": "Europe/Kyiv",
    "харьков": "Europe/Kyiv",
    "харків": "Europe/Kyiv",
    "kharkiv": "Europe/Kyiv",
    "одесса": "Europe/Kyiv",
    "одеса": "Europe/Kyiv",
    "odesa": "Europe/Kyiv",
    "odessa": "Europe/Kyiv",
    "львов": "Europe/Kyiv",
    "львів": "Europe/Kyiv",
    "lviv": "Europe/Kyiv",
    "днепр": "Europe/Kyiv",
    "дніпро": "Europe/Kyiv",
    "dnipro": "Europe/Kyiv",
    "запорожье": "Europe/Kyiv",
    "запоріжжя": "Europe/Kyiv",
    "суми": "Europe/Kyiv",
    "сумы": "Europe/Kyiv",
    "чернігів": "Europe/Kyiv",
    "чернигов": "Europe/Kyiv",
    "полтава": "Europe/Kyiv",
    "миколаїв": "Europe/Kyiv",
    "николаев": "Europe/Kyiv",
    "херсон": "Europe/Kyiv",
    "вінниця": "Europe/Kyiv",
    "житомир": "Europe/Kyiv",
    "краматорськ": "Europe/Kyiv",
    "івано-франківськ": "Europe/Kyiv",
    "ужгород": "Europe/Kyiv",
    "бєлгород": "Europe/Moscow",
    "минск": "Europe/Minsk",
    "мінск": "Europe/Minsk",
    "менск": "Europe/Minsk",
    "алматы": "Asia/Almaty",
    "астана": "Asia/Almaty",
    "ташкент": "Asia/Tashkent",
    "тбилиси": "Asia/Tbilisi",
    "ереван": "Asia/Yerevan",
    "баку": "Asia/Baku",
    "кишинев": "Europe/Chisinau",
    "рига": "Europe/Riga",
    "вильнюс": "Europe/Vilnius",
    "таллин": "Europe/Tallinn",
    "варшава": "Europe/Warsaw",
    "берлин": "Europe/Berlin",
    "лондон": "Europe/London",
    "париж": "Europe/Paris",
    "нью-йорк": "America/New_York",
    "new york": "America/New_York",
    "стамбул": "Europe/Istanbul",
    "дубай": "Asia/Dubai",
    "washington": "America/New_York",
    "san francisco": "America/Los_Angeles",
}
# Offsets that are not whole hours have no Etc/ zone: a representative place for each.
_PARTIAL = {
    (3, 30): "Asia/Tehran",
    (4, 30): "Asia/Kabul",
    (5, 30): "Asia/Kolkata",
    (5, 45): "Asia/Kathmandu",
    (6, 30): "Asia/Yangon",
    (9, 30): "Australia/Darwin",
    (10, 30): "Australia/Lord_Howe",
    (12, 45): "Pacific/Chatham",
    (-3, 30): "America/St_Johns",
    (-9, 30): "Pacific/Marquesas",
    (8, 45): "Australia/Eucla",
}
_OFFSET = re.compile(r"^(?:utc|gmt)?\s*([+\-−])\s*(\d{1,2})(?:[:.]?(\d{2}))?$", re.IGNORECASE)


class TimezoneError(ValueError):
    pass


@lru_cache(maxsize=1)
def _zones() -> dict[str, str]:
    """Lower-case IANA names and their last part ("moscow", "new york") -> the IANA name."""
    found: dict[str, str] = {}
    for name in sorted(available_timezones()):
        if name.startswith(("Etc/", "SystemV/", "posix/", "right/")) or "/" not in name:
            continue
        found.setdefault(name.rsplit("/", 1)[1].replace("_", " ").lower(), name)
    for name in available_timezones():
        found[name.lower()] = name
    return found


def resolve_timezone(text: str) -> str:
    """An IANA zone name for `text`, or TimezoneError."""
    value = " ".join(text.strip().split())
    if not value:
        raise TimezoneError("empty")
    low = value.lower().replace("ё", "е")
    if low in ("utc", "gmt", "z", "utc+0", "utc-0", "+0", "0"):
        return "UTC"
    match = _OFFSET.match(low)
    if match:
        sign = -1 if match.group(1) in "-−" else 1
        hours, minutes = int(match.group(2)), int(match.group(3) or 0)
        if minutes:
            zone = _PARTIAL.get((sign * hours, minutes))
            if zone is None:
                raise TimezoneError(value)
            return zone
        if not -12 <= sign * hours <= 14:
            raise TimezoneError(value)
        if hours == 0:
            return "UTC"
        # POSIX-style Etc names have the sign reversed: UTC+3 is Etc/GMT-3
        return f"Etc/GMT{'-' if sign > 0 else '+'}{hours}"
    zone = (
        _CITIES.get(low)
        or _zones().get(low)
        or _zones().get(low.replace("_", " "))
        or _exemplar_cities().get(low)
    )
    if zone is None:
        raise TimezoneError(value)
    ZoneInfo(zone)  # every mapped name exists in tzdata; fail loudly here if one does not
    return zone


@cache
def _exemplar_cities() -> dict[str, str]:
    """CLDR's city of every zone in each of the bot's languages ("екатеринбург", "єкатеринбург")."""
    found: dict[str, str] = {}
    for name in sorted(available_timezones()):
        if "/" not in name or name.startswith(("Etc/", "SystemV/", "posix/", "right/")):
            continue
        for lang in LANGUAGES:
            try:
                city = get_timezone_location(name, locale=lang, return_city=True)
            except (LookupError, ValueError):
                continue
            found.setdefault(city.lower().replace("ё", "е"), name)
    return found


def describe_timezone(zone: str, lang: str = DEFAULT_LANGUAGE) -> str:
    """A zone as people know it: its city in `lang` (CLDR through Babel: Екатеринбург, Київ,
    Yekaterinburg); "Etc/GMT-3" as UTC+3; a zone CLDR has no city for, as its IANA name."""
    if zone.startswith("Etc/GMT") and len(zone) > 7:
        sign = "+" if zone[7] == "-" else "-"
        return f"UTC{sign}{zone[8:]}"
    if zone in ("UTC", "Etc/UTC", "Etc/GMT") or "/" not in zone:
        return zone
    try:
        return str(get_timezone_location(zone, locale=known_language(lang), return_city=True))
    except (LookupError, ValueError):
        return zone


COMMON_ZONES = (
    "Europe/Moscow",
    "Europe/Kyiv",
    "Europe/Minsk",
    "Europe/Kaliningrad",
    "Europe/Samara",
    "Asia/Yekaterinburg",
    "Asia/Novosibirsk",
    "Europe/Berlin",
    "Europe/London",
    "UTC",
)
