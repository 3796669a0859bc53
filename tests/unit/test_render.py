from __future__ import annotations

from datetime import UTC, datetime, timedelta

from telethon.extensions import html as tl_html
from telethon.helpers import add_surrogate, del_surrogate
from telethon.tl.types import MessageEntityTextUrl

from bot.digest.render import DigestItem, render_items_html, split_chunks, utf16_len

HOSTILE = ["x<y more", "AT&T", "<b>unclosed", '<a href="https://evil.example">click</a>']


def _item(i: int, text: str, spans: tuple[tuple[int, int], ...] = ()) -> DigestItem:
    return DigestItem("обстрел <rule>", "Канал & Co", "vvgladkov", 1, i,
                      datetime(2026, 11, 20, tzinfo=UTC) + timedelta(minutes=i), text, spans)


def test_hostile_text_is_shown_literally_by_telethons_parser() -> None:
    items = [_item(i, t) for i, t in enumerate(HOSTILE, 1)]
    (chunk,) = split_chunks(render_items_html(items, "Europe/Moscow", "Digest"))
    plain, entities = tl_html.parse(chunk)
    for text in HOSTILE:
        assert text in plain
    assert "обстрел <rule>" in plain and "Канал & Co" in plain
    assert not any(getattr(e, "url", "").startswith("https://evil") for e in entities)


def test_highlights_are_bold() -> None:
    text = "Утром обстреляли Шебекино"
    (chunk,) = split_chunks(render_items_html([_item(1, text, ((6, 16),))], "UTC", "D"))
    plain, entities = tl_html.parse(chunk)
    wide = add_surrogate(plain)  # entity offsets count UTF-16 units
    bold = [del_surrogate(wide[e.offset : e.offset + e.length]) for e in entities
            if type(e).__name__ == "MessageEntityBold"]
    assert "обстреляли" in bold


def test_long_digest_splits_on_item_boundaries_within_4096_utf16() -> None:
    text = "Обстрел 🚀 района, 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 и кириллица. " * 8
    items = [_item(i, text, ((0, 7),)) for i in range(60)]
    chunks = split_chunks(render_items_html(items, "Europe/Moscow", "Digest"))
    assert len(chunks) > 3
    for n, chunk in enumerate(chunks, 1):
        assert utf16_len(chunk) <= 4096
        assert chunk.startswith(f"({n}/{len(chunks)})")
    links = [e.url for c in chunks for e in tl_html.parse(c)[1] if isinstance(e, MessageEntityTextUrl)]
    assert links == [f"https://t.me/vvgladkov/{i}" for i in range(59, -1, -1)] or \
        sorted(links) == sorted(f"https://t.me/vvgladkov/{i}" for i in range(60))  # each item's time links its post


def test_single_oversized_item_is_cut_and_keeps_its_link() -> None:
    blocks = ["<b>T</b>", '• <a href="https://t.me/c/1/2">20.11 09:00</a> ' + "я&" * 5000]
    chunks = split_chunks(blocks)
    assert all(utf16_len(c) <= 4096 for c in chunks)
    plain, entities = tl_html.parse(chunks[-1])
    assert [e.url for e in entities if isinstance(e, MessageEntityTextUrl)] == ["https://t.me/c/1/2"]
    assert plain.endswith("я…") and "20.11 09:00 я&" in plain


def test_a_post_that_fits_is_shown_whole_and_a_long_one_marks_exactly_the_cut_sides() -> None:
    from bot.digest.render import excerpt

    short = ("Утром ВСУ обстреляли Репяховка. Ранен 2 мирный житель, его доставили в городскую больницу. "
             "Оперативные службы работают на месте. В результате обстрела Репяховки погиб мужчина. Выражаю "
             "глубокие соболезнования родным и близким. Ещё 3 человека ранены.")
    at = short.index("обстрела")
    text, spans, cut_start, cut_end = excerpt(short, [(at, at + 8)], 280)
    assert (text, cut_start, cut_end) == (short, False, False)  # the what and where stay
    assert text[spans[0][0]:spans[0][1]] == "обстрела"

    filler = "Информацию уточняем, подробности позже сообщим всем жителям области. " * 8
    long_post = filler + "Обстрел Шебекино продолжается, прошу всех спуститься в укрытия. " + filler
    at = long_post.index("Обстрел")
    text, spans, cut_start, cut_end = excerpt(long_post, [(at, at + 7)], 280)
    assert cut_start and cut_end and len(text) <= 280
    assert text.startswith("Информацию") or text.startswith("Обстрел")  # a sentence, not a word's tail
    assert text.endswith(".")  # and ends with one
    assert text[spans[0][0]:spans[0][1]] == "Обстрел"

    head = "Обстрел Шебекино продолжается, прошу всех спуститься в укрытия. " + filler
    text, spans, cut_start, cut_end = excerpt(head, [(0, 7)], 280)
    assert not cut_start and cut_end and spans == [(0, 7)]


def test_an_on_demand_digest_is_titled_by_its_real_period() -> None:
    from datetime import UTC, datetime, timedelta

    from bot.digest.builder import digest_title

    until = datetime.now(UTC)  # any moment: the title names the span, whatever it is
    for lang in ("en", "ru"):
        title = digest_title("manual", until - timedelta(days=3), until, "Europe/Moscow", lang)
        daily = digest_title("daily", until - timedelta(days=3), until, "Europe/Moscow", lang)
        assert title != daily and "Daily" not in title and "Ежедневн" not in title, title
