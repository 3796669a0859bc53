"""The gettext catalogs are complete and consistent: every key the code uses (found as
`make i18n-extract` finds it) is in every language, none is left over, placeholders agree between
languages, each plural key has CLDR's number of forms, and the runtime picks forms by CLDR's rules."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest
from babel import Locale
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_keywords, parse_mapping_cfg

from bot.i18n import LANGUAGES, language_for, plural, plural_form, t
from bot.i18n.catalogs import cldr_plural_count, entries, load, plural_keys

ROOT = Path(__file__).resolve().parents[2]


def _makefile_keywords() -> dict[str, object]:
    """The -k options of `make i18n-extract`, so this test extracts exactly as the Makefile does."""
    makefile = (ROOT / "Makefile").read_text()
    found = re.findall(r"-k (\S+)", makefile)
    assert found, "make i18n-extract names its keywords"
    return parse_keywords(found)


def _code_keys() -> tuple[set[str], set[str]]:
    """(every key the code and the web view's templates name, the keys they ask a plural of), read
    with babel.cfg's methods (Python, Jinja2)."""
    keys: set[str] = set()
    plurals: set[str] = set()
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    assert ("web/templates/**.html", "jinja2") in method_map, "babel.cfg extracts the web templates"
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT / "bot"), method_map=method_map, options_map=options_map, keywords=_makefile_keywords()
    ):
        if isinstance(message, tuple):
            keys.add(message[0])
            plurals.add(message[0])
        else:
            keys.add(message)
    return keys, plurals


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_the_languages_are_english_russian_and_ukrainian_at_least() -> None:
    assert LANGUAGES[0] == "en" and {"en", "ru", "uk"} <= set(LANGUAGES)


def test_every_key_the_code_uses_is_in_every_catalog_and_none_is_left_over() -> None:
    keys, plurals = _code_keys()
    assert len(keys) > 100
    for lang in LANGUAGES:
        have = entries(lang)
        assert sorted(keys - set(have)) == [], f"{lang}: keys the code uses, missing in the catalog"
        assert sorted(set(have) - keys) == [], f"{lang}: keys no code uses (run make i18n-update)"
        assert plural_keys(lang) == plurals, f"{lang}: plural keys differ from the plural() calls"
        empty = sorted(k for k, forms in have.items() if not all(f.strip() for f in forms))
        assert empty == [], f"{lang}: untranslated keys"
        assert not load(lang).fuzzy, f"{lang}: the catalog's header is marked fuzzy (pybabel compile skips it)"
        fuzzy = sorted(m.id if isinstance(m.id, str) else m.id[0] for m in load(lang) if m.id and m.fuzzy)
        assert fuzzy == [], f"{lang}: fuzzy entries are not used by the bot"


@pytest.mark.parametrize("lang", [code for code in LANGUAGES if code != "en"])
def test_placeholders_are_the_same_as_in_english(lang: str) -> None:
    english, other = entries("en"), entries(lang)
    for key, forms in english.items():
        expected = set().union(*(_fields(f) for f in forms))
        for form in other[key]:
            assert _fields(form) == expected, (lang, key, form)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_plural_keys_have_as_many_forms_as_cldr_gives_the_language(lang: str) -> None:
    catalog = load(lang)
    assert catalog.num_plurals == cldr_plural_count(lang), f"{lang}: the catalog's Plural-Forms header"
    for key in plural_keys(lang):
        assert len(entries(lang)[key]) == cldr_plural_count(lang), (lang, key)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_plural_form_picked_at_run_time_is_cldrs(lang: str) -> None:
    """gettext's Plural-Forms index against CLDR's category for the same number (Babel's Locale)."""
    rule = Locale.parse(lang).plural_form
    order = {2: ("one", "other"), 3: ("one", "few", "many")}[cldr_plural_count(lang)]
    for n in [*range(0, 130), 1001, 1011, 1021, 1_000_000]:
        category = rule(n)
        assert order[plural_form(lang, n)] == category, (lang, n, category)


@pytest.mark.parametrize(
    ("lang", "count", "text"),
    [
        ("en", 1, "1 stored post"), ("en", 0, "0 stored posts"), ("en", 21, "21 stored posts"),
        ("ru", 1, "1 сохранённый пост"), ("ru", 3, "3 сохранённых поста"), ("ru", 5, "5 сохранённых постов"),
        ("ru", 11, "11 сохранённых постов"), ("ru", 21, "21 сохранённый пост"), ("ru", 22, "22 сохранённых поста"),
        ("ru", 112, "112 сохранённых постов"),
        ("uk", 1, "1 збережений пост"), ("uk", 3, "3 збережені пости"), ("uk", 5, "5 збережених постів"),
        ("uk", 11, "11 збережених постів"), ("uk", 21, "21 збережений пост"), ("uk", 24, "24 збережені пости"),
    ],
)
def test_counted_phrases_agree_with_the_number(lang: str, count: int, text: str) -> None:
    assert plural(lang, "stored_posts_n", count) == text


def test_an_unknown_key_fails_loudly_and_an_unknown_language_reads_english() -> None:
    with pytest.raises(KeyError):
        t("ru", "no_such_key")
    with pytest.raises(KeyError):
        plural("ru", "no_such_key_n", 2)
    assert t("de", "settings_saved") == t("en", "settings_saved")
    assert plural("fr", "digest_items_n", 21) == "21 items"


@pytest.mark.parametrize(
    ("code", "lang"),
    [("ru", "ru"), ("ru-RU", "ru"), ("be", "ru"), ("uk", "uk"), ("UK_ua", "uk"), ("en-GB", "en"), ("de", "en"),
     (None, "en"), ("", "en")],
)
def test_the_language_comes_from_the_telegram_client(code: str | None, lang: str) -> None:
    assert language_for(code) == lang


def test_a_fresh_clone_without_mo_files_and_a_built_one_say_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without .mo files (a fresh clone, a wheel built without `make i18n-compile`) the .po files are
    compiled in memory; compiled ones are used when they are not older than their .po."""
    import os
    import shutil

    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    import bot.i18n as i18n

    copy = tmp_path / "locales"
    shutil.copytree(i18n.LOCALES_DIR, copy, ignore=shutil.ignore_patterns("*.mo", "*.pot"))
    expected = {lang: (t(lang, "rule_added", number=1, rule="x"), plural(lang, "stored_posts_n", 3))
                for lang in LANGUAGES}
    monkeypatch.setattr(i18n, "LOCALES_DIR", copy)
    for cached in (i18n._own, i18n._chained):
        cached.cache_clear()
    try:
        assert not list(copy.rglob("*.mo"))
        got = {lang: (t(lang, "rule_added", number=1, rule="x"), plural(lang, "stored_posts_n", 3))
               for lang in LANGUAGES}
        assert got == expected
        # a stale .mo (older than its .po) is not used: the .po is the truth
        with (copy / "ru" / "LC_MESSAGES" / "messages.po").open("rb") as f:
            stale = read_po(f, locale="ru")  # not the cached load(): this one is changed
        stale["rule_added"].string = "STALE {number} {rule}"
        mo = copy / "ru" / "LC_MESSAGES" / "messages.mo"
        with mo.open("wb") as f:
            write_mo(f, stale)
        po_time = (copy / "ru" / "LC_MESSAGES" / "messages.po").stat().st_mtime
        os.utime(mo, (po_time - 60, po_time - 60))
        for cached in (i18n._own, i18n._chained):
            cached.cache_clear()
        assert t("ru", "rule_added", number=1, rule="x") == expected["ru"][0]
    finally:
        for cached in (i18n._own, i18n._chained):
            cached.cache_clear()


# Latin words a Russian or Ukrainian text may hold: names of things, not English
LATIN_NAMES = {"english", "telegram", "id", "utc", "gmt", "csv", "re2", "json", "atom", "rss", "slack", "discord",
               "matrix", "ntfy", "apprise", "url", "tgmon", "kb", "utf", "web"}


@pytest.mark.parametrize("lang", [code for code in LANGUAGES if code in ("ru", "uk")])
def test_russian_and_ukrainian_texts_hold_no_english_words_outside_code_commands_and_links(lang: str) -> None:
    """Every template, not only the replies the handler tests meet: English words belong in
    <code> (commands' arguments, rule syntax, examples), links and names only."""
    found = {}
    for key, forms in entries(lang).items():
        if key.startswith("rule_example_"):
            continue  # a rule, shown inside <code>
        for text in forms:
            text = re.sub(r"<code>.*?</code>|<a [^>]*>.*?</a>|<[^>]+>|\{\w+\}", " ", text, flags=re.DOTALL)
            text = re.sub(r"\S+\.md\b|\S*://\S+|t\.me/\S+|@\w+|/\w+|[A-Z_]{4,}", " ", text)
            words = [w for w in re.findall(r"[A-Za-z][A-Za-z0-9_]+", text) if w.lower() not in LATIN_NAMES]
            if words:
                found[key] = words
    assert found == {}
