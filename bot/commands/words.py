"""What people type for a setting and its values, in any of the bot's languages.

The words come from the catalogs (`setting_<name>_words`, `freq_<value>_words`, `off_words`,
`size_all_words`: alternatives separated by `|`, and the button labels), the weekday names from CLDR
through Babel: a translator's catalog teaches the parser its language with no code change. Every
language's words are accepted from everyone (`/settings time 08:00` works in the Russian interface).
"""

from __future__ import annotations

from functools import cache

from babel import Locale

from bot.i18n import LANGUAGES, N_, label

SETTING_WORDS = {
    "time": N_("setting_time_words"),
    "timezone": N_("setting_timezone_words"),
    "frequency": N_("setting_frequency_words"),
    "quiet": N_("setting_quiet_words"),
    "size": N_("setting_size_words"),
    "day": N_("setting_day_words"),
    "sound": N_("setting_sound_words"),
}
VALUE_WORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "frequency": {
        "instant": (N_("freq_instant_words"), N_("freq_instant_btn")),
        "daily": (N_("freq_daily_words"), N_("freq_daily_btn")),
        "weekly": (N_("freq_weekly_words"), N_("freq_weekly_btn")),
    },
    "quiet": {"off": (N_("off_words"), N_("off_btn"))},
    "size": {"all": (N_("size_all_words"), N_("size_all_btn"))},
    "sound": {
        "alerts": (N_("sound_alerts_words"), N_("sound_alerts_btn")),
        "all": (N_("sound_all_words"), N_("sound_all_btn")),
        "none": (N_("sound_none_words"), N_("sound_none_btn")),
    },
}
DAY_LABELS = (N_("day_0_btn"), N_("day_1_btn"), N_("day_2_btn"), N_("day_3_btn"), N_("day_4_btn"),
              N_("day_5_btn"), N_("day_6_btn"))


def fold(text: str) -> str:
    """Case, ё/е, a trailing dot and extra spaces do not matter."""
    return " ".join(text.casefold().replace("ё", "е").strip().rstrip(".").split())


def _words(key: str) -> list[str]:
    return [fold(word) for lang in LANGUAGES for word in label(lang, key).split("|") if fold(word)]


@cache
def _settings() -> dict[str, str]:
    return {word: name for name, key in SETTING_WORDS.items() for word in _words(key)}


@cache
def _values(group: str) -> dict[str, str]:
    return {word: value for value, keys in VALUE_WORDS[group].items() for key in keys for word in _words(key)}


def setting_named(text: str) -> str | None:
    """The setting a typed name means (`время`, `tz`, `частота`, `час`...), or None."""
    return _settings().get(fold(text))


def value_word(text: str, group: str) -> str | None:
    """The value a typed word means for a setting (`ежедневно` -> daily, `вимк` -> off), or None."""
    return _values(group).get(fold(text))


@cache
def _days() -> dict[str, int]:
    """Every name of a weekday in every language: CLDR's wide, abbreviated and short forms (format
    and stand-alone) and our button labels -> 0 (Monday) .. 6."""
    found: dict[str, int] = {}
    for lang in LANGUAGES:
        days = Locale.parse(lang).days
        for context in ("format", "stand-alone"):
            for width in ("wide", "abbreviated", "short"):
                for number, name in days[context][width].items():
                    found.setdefault(fold(name), int(number))
        for number, key in enumerate(DAY_LABELS):
            found.setdefault(fold(label(lang, key)), number)
    return found


def day_number(text: str) -> int | None:
    """0 (Monday) .. 6 for `mon`, `Monday`, `пн`, `понедельник`, `четв`, `1`-`7`; None otherwise."""
    word = fold(text)
    if word.isdigit():
        number = int(word)
        return number - 1 if 1 <= number <= 7 else None
    days = _days()
    if word in days:
        return days[word]
    if len(word) >= 3:  # the start of a name: `четв`, `wedn`, `неділ`
        starts = {number for name, number in days.items() if name.startswith(word)}
        if len(starts) == 1:
            return starts.pop()
    return None
