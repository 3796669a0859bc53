"""User-facing strings, one module per language, keyed: the bot's replies and the digests.

Templates are HTML written by us. `t()` escapes every value put into them unless it is wrapped in
`Html` (markup we built ourselves from escaped parts). Plain-text keys are filled by `label()`
without escaping: `*_btn` (button labels, which Telegram shows as is), `*_txt` (text whose user
escapes it, such as a digest title) and `*_n` (plain text in plural forms separated by `|`:
one|other in English, one|few|many in Russian, picked by `plural()`).
"""

from __future__ import annotations

import html

from bot.i18n.en import STRINGS as EN
from bot.i18n.ru import STRINGS as RU

STRINGS: dict[str, dict[str, str]] = {"en": EN, "ru": RU}
LANGUAGES = tuple(STRINGS)
DEFAULT_LANGUAGE = "en"
_RUSSIAN_READERS = {"ru", "uk", "be"}


class Html(str):
    """Markup that is already safe: built by us with every user fragment escaped."""

    __slots__ = ()


def language_for(code: str | None) -> str:
    """ru for Russian, Ukrainian and Belarusian clients, en for everyone else."""
    base = (code or "").lower().replace("_", "-").split("-", 1)[0]
    return "ru" if base in _RUSSIAN_READERS else "en"


def known_language(lang: str | None) -> str:
    """`lang` if we have it, else the default (English): a stored language we do not know."""
    return lang if lang in STRINGS else DEFAULT_LANGUAGE


def _template(lang: str, key: str) -> str:
    table = STRINGS.get(lang, EN)
    return table.get(key) or EN[key]


def t(lang: str, key: str, **values: object) -> str:
    safe = {k: v if isinstance(v, Html) else html.escape(str(v), quote=False) for k, v in values.items()}
    return _template(lang, key).format(**safe)


def label(lang: str, key: str, **values: object) -> str:
    return _template(lang, key).format(**values)


def plural_form(lang: str, count: int) -> int:
    """Which plural form a number takes: English 0 (one) or 1 (other); Russian 0 (1, 21, 101: one),
    1 (2-4, 22-24: few) or 2 (0, 5-20, 25-30, 11-14, 111: many)."""
    n = abs(count)
    if known_language(lang) == "ru":
        if n % 10 == 1 and n % 100 != 11:
            return 0
        if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
            return 1
        return 2
    return 0 if n == 1 else 1


def plural(lang: str, key: str, count: int, **values: object) -> str:
    """The `*_n` template's form for `count`, filled (plain text, like `label()`); {count} is the number."""
    lang = known_language(lang)
    forms = _template(lang, key).split("|")
    return forms[min(plural_form(lang, count), len(forms) - 1)].format(count=count, **values)


__all__ = [
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "STRINGS",
    "Html",
    "known_language",
    "label",
    "language_for",
    "plural",
    "plural_form",
    "t",
]
