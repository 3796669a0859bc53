"""The catalogs as data, for checks and tools: each language's keys and their texts (a plural key's
forms in CLDR order), read from the `.po` files with Babel."""

from __future__ import annotations

from functools import cache

from babel.messages.catalog import Catalog
from babel.messages.plurals import get_plural
from babel.messages.pofile import read_po

from bot.i18n import LANGUAGES, catalog_path


@cache
def load(lang: str) -> Catalog:
    with catalog_path(lang).open("rb") as f:
        return read_po(f, locale=lang)


def entries(lang: str) -> dict[str, tuple[str, ...]]:
    """key -> its text (one item) or its plural forms (as many as the language has)."""
    found: dict[str, tuple[str, ...]] = {}
    for message in load(lang):
        if not message.id:
            continue
        if message.pluralizable:
            found[message.id[0]] = tuple(message.string or ())
        else:
            found[str(message.id)] = (str(message.string),)
    return found


def plural_keys(lang: str) -> set[str]:
    return {m.id[0] for m in load(lang) if m.id and m.pluralizable}


def cldr_plural_count(lang: str) -> int:
    """How many plural forms CLDR gives the language (what a catalog's `nplurals` must be)."""
    return get_plural(lang).num_plurals


__all__ = ["LANGUAGES", "cldr_plural_count", "entries", "load", "plural_keys"]
