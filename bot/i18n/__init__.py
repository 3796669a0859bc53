"""User-facing strings in gettext catalogs (Babel): the bot's replies and the digests, per language.

The catalogs are `locales/<lang>/LC_MESSAGES/messages.po`; a message id is a key (`rule_added`), its
text the template. A translator adds a language by adding a catalog (docs/bot.md), no code. Plural
forms follow CLDR's rules as Babel writes them into each catalog's `Plural-Forms` (`ngettext`).

Templates are HTML written by us. `t()` escapes every value put into them unless it is wrapped in
`Html` (markup we built ourselves from escaped parts). Plain-text keys are filled by `label()`
without escaping: `*_btn` (button labels, which Telegram shows as is), `*_txt` (text whose user
escapes it, such as a digest title) and `*_n` (plain text in plural forms, picked by `plural()`).

A key built at run time (`f"day_{n}_btn"`) is marked where it is written with `N_("day_0_btn")`, so
`pybabel extract` (make i18n-extract) finds every key the code uses; tests/unit/test_i18n_catalogs.py
checks that each one is in every catalog with the same placeholders and CLDR's number of plural forms.
"""

from __future__ import annotations

import html
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # Babel is imported where a catalog is read: `tgmon --help` needs none of it
    from babel.support import Translations

LOCALES_DIR = Path(__file__).with_name("locales")
DOMAIN = "messages"
DEFAULT_LANGUAGE = "en"
# A client language with no catalog of its own, read in a close one (Belarusian readers get Russian).
CLOSE_LANGUAGES = {"be": "ru", "uk": "ru"}


def _discover() -> tuple[str, ...]:
    found = sorted(p.parent.parent.name for p in LOCALES_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))
    # English first (the source language and the fallback), then the others alphabetically
    return (DEFAULT_LANGUAGE, *[code for code in found if code != DEFAULT_LANGUAGE])


LANGUAGES: tuple[str, ...] = _discover()


class Html(str):
    """Markup that is already safe: built by us with every user fragment escaped."""

    __slots__ = ()


def N_(key: str) -> str:
    """Mark a key the code names before it asks for its text (pybabel extract finds it)."""
    return key


def language_for(code: str | None) -> str:
    """The catalog for a Telegram client language: a language we have -> itself (uk -> uk), one we
    do not -> a close one we have (be -> ru), anything else -> English."""
    base = (code or "").lower().replace("_", "-").split("-", 1)[0]
    if base in LANGUAGES:
        return base
    close = CLOSE_LANGUAGES.get(base, DEFAULT_LANGUAGE)
    return close if close in LANGUAGES else DEFAULT_LANGUAGE


def known_language(lang: str | None) -> str:
    """`lang` if we have it, else the default (English): a stored language we do not know."""
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


def catalog_path(lang: str, suffix: str = ".po") -> Path:
    return LOCALES_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}{suffix}"


@cache
def _own(lang: str) -> Translations:
    """One language's compiled catalog: the shipped `.mo` when it is at least as new as the `.po`
    (make i18n-compile, the Docker image), else the `.po` compiled in memory (a fresh clone)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po
    from babel.support import Translations

    po, mo = catalog_path(lang), catalog_path(lang, ".mo")
    if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
        with mo.open("rb") as f:
            return Translations(f, DOMAIN)
    with po.open("rb") as f:
        catalog = read_po(f, locale=lang, domain=DOMAIN)
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer, DOMAIN)


def translations(lang: str) -> Translations:
    """The catalog of `lang` (a language we do not have: English), English behind it for a key it lacks."""
    return _chained(known_language(lang))  # cached per language we have, not per string asked for


@cache
def _chained(lang: str) -> Translations:
    own = _own(lang)
    if lang != DEFAULT_LANGUAGE:
        own.add_fallback(_own(DEFAULT_LANGUAGE))  # once: this function is cached
    return own


def _has(key: str | tuple[str, int]) -> bool:
    return key in _own(DEFAULT_LANGUAGE)._catalog  # type: ignore[attr-defined]


def _template(lang: str, key: str) -> str:
    text = translations(lang).gettext(key)
    if text == key and not _has(key):
        raise KeyError(key)
    return text


def t(lang: str, key: str, **values: object) -> str:
    safe = {k: v if isinstance(v, Html) else html.escape(str(v), quote=False) for k, v in values.items()}
    return _template(lang, key).format(**safe)


def label(lang: str, key: str, **values: object) -> str:
    return _template(lang, key).format(**values)


def plural_form(lang: str, count: int) -> int:
    """Which plural form a number takes in `lang` (the catalog's CLDR rule): English 0 (one) or 1
    (other); Russian and Ukrainian 0 (1, 21, 101: one), 1 (2-4, 22-24: few) or 2 (0, 5-20, 11-14: many)."""
    return int(translations(lang).plural(abs(count)))


def plural(lang: str, key: str, count: int, **values: object) -> str:
    """The `*_n` key's form for `count`, filled (plain text, like `label()`); {count} is the number."""
    text = translations(lang).ngettext(key, key, abs(count))
    if text == key and not _has((key, 0)):
        raise KeyError(key)
    return text.format(count=count, **values)


__all__ = [
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "N_",
    "Html",
    "known_language",
    "label",
    "language_for",
    "plural",
    "plural_form",
    "t",
    "translations",
]
