"""User-facing strings, one module per language, keyed.

Templates are HTML written by us. `t()` escapes every value put into them unless it is wrapped in
`Html` (markup we built ourselves from escaped parts); keys ending in `_btn` are button labels,
plain text that Telegram shows as is, filled by `label()` without escaping.
"""

from __future__ import annotations

import html

from bot.commands.i18n.en import STRINGS as EN
from bot.commands.i18n.ru import STRINGS as RU

STRINGS: dict[str, dict[str, str]] = {"en": EN, "ru": RU}
LANGUAGES = tuple(STRINGS)
_RUSSIAN_READERS = {"ru", "uk", "be"}


class Html(str):
    """Markup that is already safe: built by us with every user fragment escaped."""

    __slots__ = ()


def language_for(code: str | None) -> str:
    """ru for Russian, Ukrainian and Belarusian clients, en for everyone else."""
    base = (code or "").lower().replace("_", "-").split("-", 1)[0]
    return "ru" if base in _RUSSIAN_READERS else "en"


def _template(lang: str, key: str) -> str:
    table = STRINGS.get(lang, EN)
    return table.get(key) or EN[key]


def t(lang: str, key: str, **values: object) -> str:
    safe = {k: v if isinstance(v, Html) else html.escape(str(v), quote=False) for k, v in values.items()}
    return _template(lang, key).format(**safe)


def label(lang: str, key: str, **values: object) -> str:
    return _template(lang, key).format(**values)


__all__ = ["LANGUAGES", "STRINGS", "Html", "label", "language_for", "t"]
