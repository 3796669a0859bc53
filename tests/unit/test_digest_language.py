"""Digests and instant alerts in the subscriber's language: Russian titles, headings and plurals,
English unchanged, unknown languages in English, hostile text still escaped."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from telethon.extensions import html as tl_html
from telethon.tl.types import MessageEntityTextUrl

from bot.digest.builder import build_digest, build_items, digest_title
from bot.digest.chart import MAX_RULES, OTHER, daily_counts
from bot.i18n import plural, plural_form
from bot.i18n.catalogs import entries, plural_keys
from bot.i18n.dates import chart_day, day_span, moment_span
from tests.unit.test_digest_build import HOSTILE, row

UNTIL = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)  # 09:00 in Moscow


def _plain(chunks: list[str]) -> str:
    return "".join(tl_html.parse(c)[0] for c in chunks)


def _rows(n: int) -> list:
    return [row(i, f"обстрел номер {i}", minutes=i) for i in range(1, n + 1)]


@pytest.mark.parametrize(("count", "form"), [
    (0, 2), (1, 0), (2, 1), (3, 1), (4, 1), (5, 2), (10, 2), (11, 2), (12, 2), (13, 2), (14, 2), (15, 2),
    (20, 2), (21, 0), (22, 1), (24, 1), (25, 2), (100, 2), (101, 0), (111, 2), (112, 2), (122, 1), (1001, 0),
])
def test_russian_plural_forms(count: int, form: int) -> None:
    assert plural_form("ru", count) == form


def test_english_plural_forms_and_unknown_languages_count_in_english() -> None:
    assert [plural_form("en", n) for n in (0, 1, 2, 21)] == [1, 0, 1, 1]
    assert plural("de", "digest_items_n", 21) == "21 items" == plural("en", "digest_items_n", 21)
    assert plural("ru", "digest_items_n", 21) == "21 публикация"


def test_every_plural_key_has_two_english_and_three_russian_forms() -> None:
    keys = plural_keys("en")
    assert keys and all(k.endswith("_n") for k in keys)
    for key in keys:
        assert len(entries("en")[key]) == 2, key
        assert len(entries("ru")[key]) == 3, key


@pytest.mark.parametrize(("count", "heading"), [
    (1, "1 публикация"), (2, "2 публикации"), (5, "5 публикаций"), (11, "11 публикаций"), (21, "21 публикация"),
])
def test_russian_digest_heading_counts_items_with_the_right_plural(count: int, heading: str) -> None:
    title = digest_title("daily", None, UNTIL, "Europe/Moscow", "ru")
    built = build_digest(_rows(count), tz="Europe/Moscow", title=title, lang="ru")
    first_line = _plain(built.chunks).splitlines()[0]
    assert first_line == f"Ежедневный дайджест, 24 ноября 2026: {heading}"


@pytest.mark.parametrize(("count", "heading"), [(1, "1 item"), (2, "2 items"), (5, "5 items"), (21, "21 items")])
def test_english_digest_heading_is_unchanged(count: int, heading: str) -> None:
    title = digest_title("daily", None, UNTIL, "Europe/Moscow", "en")
    built = build_digest(_rows(count), tz="Europe/Moscow", title=title, lang="en")
    assert built.chunks[0].startswith(f"<b>Daily digest, 24.11.2026: {heading}</b>\n")


def test_titles_of_every_kind_in_russian_and_english() -> None:
    week_ago = UNTIL - timedelta(days=7)
    month_ago = datetime(2026, 10, 28, 6, 0, tzinfo=UTC)
    tz = "Europe/Moscow"
    assert digest_title("weekly", week_ago, UNTIL, tz, "ru") == "Еженедельный дайджест, 17–24 ноября 2026"
    assert digest_title("week", month_ago, UNTIL, tz, "ru") == "Еженедельный дайджест, 28 октября – 24 ноября 2026"
    assert digest_title("weekly", None, UNTIL, tz, "ru") == "Еженедельный дайджест, до 24 ноября 2026"
    assert digest_title("instant", week_ago, UNTIL, tz, "ru") == "Новые совпадения"
    assert digest_title("preview", week_ago, UNTIL, tz, "ru") == "Дайджест 17 ноября 09:00 – 24 ноября 2026 09:00"
    assert digest_title("preview", None, UNTIL, tz, "ru") == "Дайджест до 24 ноября 2026 09:00"
    # /digest on demand: its real span, not "daily" (it covers whatever time passed since the last one)
    assert digest_title("manual", week_ago, UNTIL, tz, "ru") == "Дайджест 17 ноября 09:00 – 24 ноября 2026 09:00"
    # English exactly as it always was; a language we do not have is English too
    assert digest_title("weekly", week_ago, UNTIL, tz, "en") == "Weekly digest, 17.11–24.11.2026"
    assert digest_title("weekly", None, UNTIL, tz) == "Weekly digest, until 24.11.2026"
    assert digest_title("instant", None, UNTIL, tz, "en") == "New matches"
    assert digest_title("preview", week_ago, UNTIL, tz, "en") == "Digest 17.11 09:00–24.11.2026 09:00"
    assert digest_title("preview", None, UNTIL, tz, "en") == "Digest until 24.11.2026 09:00"
    assert digest_title("daily", None, UNTIL, tz, "fr") == "Daily digest, 24.11.2026"


def test_russian_month_names_are_genitive_across_months_and_years() -> None:
    months = [day_span("ru", date(2026, m, 1), date(2026, m, 2)).split()[1] for m in range(1, 13)]
    assert months == ["января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа", "сентября",
                      "октября", "ноября", "декабря"]
    assert day_span("ru", date(2025, 12, 29), date(2026, 1, 4)) == "29 декабря 2025 – 4 января 2026"
    assert moment_span("ru", datetime(2025, 12, 31, 23, 0), datetime(2026, 1, 1, 1, 30)) == \
        "31 декабря 2025 23:00 – 1 января 2026 01:30"
    assert chart_day("ru", date(2026, 11, 23)) == "Пн 23.11" and chart_day("en", date(2026, 11, 23)) == "Mon 23.11"


def test_russian_notes_and_the_rest_count() -> None:
    rows = [row(1, "Обстрел Белгорода утром, без пострадавших", channel=1, title="Гладков"),
            row(1, "Обстрел Белгорода утром, без пострадавших", rule=2, rule_name="Белгород", word="Белгорода",
                channel=1, title="Гладков"),
            row(2, "Обстрел Белгорода утром, без пострадавших", channel=2, title="Новости", minutes=5,
                forward=(1001, 1)),
            *[row(i, f"обстрел номер {i}", minutes=i) for i in range(3, 8)]]
    built = build_digest(rows, tz="UTC", title="Дайджест", size=2, lang="ru")
    plain = _plain(built.chunks)
    assert built.total == 6 and built.more == 4
    assert plain.splitlines()[0] == "Дайджест: 6 публикаций"
    assert "также в: Новости" in plain and "также по правилам: Белгород" in plain
    assert plain.rstrip().endswith("… и ещё 4 публикации: /more")
    words = plain.replace("/more", "")  # a command is a command in any language
    assert "also" not in words and "more" not in words and "item" not in words
    one_more = build_digest(rows, tz="UTC", title="Д", size=5, lang="ru")
    assert _plain(one_more.chunks).rstrip().endswith("… и ещё 1 публикация: /more")
    english = build_digest(rows, tz="UTC", title="Digest", size=2, lang="en")
    plain_en = _plain(english.chunks)
    assert "also in: Новости" in plain_en and "also matches: Белгород" in plain_en
    assert plain_en.rstrip().endswith("… and 4 more: /more") and plain_en.startswith("Digest: 6 items")


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_hostile_titles_rule_names_and_reposts_stay_escaped(lang: str) -> None:
    rows = [row(i, f"{text} обстрел", word="обстрел", title=HOSTILE[i - 1], rule_name=HOSTILE[-i], minutes=i)
            for i, text in enumerate(HOSTILE, 1)]
    rows.append(row(9, f"{HOSTILE[0]} обстрел", word="обстрел", channel=5, title=HOSTILE[3], minutes=30,
                    forward=(1001, 1)))
    rows.append(row(1, f"{HOSTILE[0]} обстрел", word="обстрел", rule=2, rule_name=HOSTILE[2], title=HOSTILE[0]))
    built = build_digest(rows, tz="UTC", title="Digest <b>&", lang=lang)
    plain = _plain(built.chunks)
    assert plain.startswith("Digest <b>&: ")
    also_in, also_matches = ("также в: ", "также по правилам: ") if lang == "ru" else ("also in: ", "also matches: ")
    assert f"{also_in}{HOSTILE[3]}" in plain and f"{also_matches}{HOSTILE[2]}" in plain
    for text in HOSTILE:
        assert plain.count(text) >= 3
    urls = [e.url for c in built.chunks for e in tl_html.parse(c)[1] if isinstance(e, MessageEntityTextUrl)]
    assert sorted(urls) == [f"https://t.me/chan/{i}" for i in range(1, 5)]  # our links only, none hidden


def test_the_charts_rest_series_cannot_be_taken_for_a_rule_named_other() -> None:
    rows = [row(i, f"обстрел {i}", rule=i, rule_name="other" if i == 1 else f"правило {i}") for i in range(1, 11)]
    rows.append(row(11, "обстрел 11", rule=1, rule_name="other"))
    _, series = daily_counts(build_items(rows)[0], UNTIL - timedelta(days=7), UNTIL, "UTC")
    assert "other" in series and OTHER in series and sum(series[OTHER]) == 10 - MAX_RULES
    assert sum(map(sum, series.values())) == 11  # the bars add up to the digest's items


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_the_chart_is_drawn_for_a_phone_only_when_items_fall_on_two_days(lang: str) -> None:
    from io import BytesIO

    from PIL import Image

    from bot.digest.chart import weekly_chart_png

    one_day = [row(i, f"обстрел {i}", minutes=i) for i in range(1, 6)]
    assert weekly_chart_png(build_items(one_day)[0], UNTIL - timedelta(days=7), UNTIL, "UTC", lang) is None
    two_days = [*one_day, row(9, "обстрел девять", minutes=-2000)]
    png = weekly_chart_png(build_items(two_days)[0], UNTIL - timedelta(days=7), UNTIL, "UTC", lang)
    assert png is not None
    assert Image.open(BytesIO(png)).size == (1080, 810)  # three times the ~360 px a phone shows it at
