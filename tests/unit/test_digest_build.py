"""Building digests: one item per post, reposts collapsed, ranking, escaping, 4096-unit chunks."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from telethon.extensions import html as tl_html
from telethon.helpers import add_surrogate, del_surrogate
from telethon.tl.types import MessageEntityBold, MessageEntityTextUrl

from bot.digest import collapse as collapse_module
from bot.digest.builder import build_digest
from bot.digest.collapse import naive_near_duplicate_groups, near_duplicate_groups
from bot.digest.render import utf16_len
from bot.storage.digests import MatchRow

T = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
HOSTILE = ["x<y more", "AT&T", "<b>unclosed", '<a href="https://evil.example">click</a>']


def row(post_id: int, text: str, *, rule: int = 1, rule_name: str = "обстрел", channel: int = 1,
        title: str = "Канал", username: str | None = "chan", minutes: int = 0, views: int | None = None,
        forward: tuple[int, int] | None = None, word: str | None = None) -> MatchRow:
    word = word if word is not None else text.split()[0]
    start = text.find(word)
    return MatchRow(rule, rule_name, post_id, channel, 1000 + channel, username, title, post_id,
                    T + timedelta(minutes=minutes), text, ((start, start + len(word)),) if start >= 0 else (),
                    views, forward[0] if forward else None, forward[1] if forward else None)


def bold_words(chunk: str) -> list[str]:
    plain, entities = tl_html.parse(chunk)
    wide = add_surrogate(plain)
    return [del_surrogate(wide[e.offset: e.offset + e.length]) for e in entities if isinstance(e, MessageEntityBold)]


def test_a_20000_character_digest_splits_into_valid_ordered_chunks() -> None:
    text = "Обстрел 🚀🇺🇦 района: повреждены дома, 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 и кириллица, ёлка {i}. " * 6
    rows = [row(i, text.format(i=i), minutes=i, views=i) for i in range(1, 121)]
    built = build_digest(rows, tz="Europe/Moscow", title="Daily digest", excerpt_chars=600)
    assert sum(len(c) for c in built.chunks) > 20_000
    assert len(built.chunks) >= 5
    links = []
    for n, chunk in enumerate(built.chunks, 1):
        assert utf16_len(chunk) <= 4096
        assert chunk.startswith(f"({n}/{len(built.chunks)})\n")
        plain, entities = tl_html.parse(chunk)
        assert len(add_surrogate(plain)) <= 4096
        mine = [e.url.rsplit("/", 1)[1] for e in entities if isinstance(e, MessageEntityTextUrl)]
        assert bold_words(chunk).count("Обстрел") == len(mine)  # every item's match is bold, no entity cut
        links += mine
    assert links == [str(i) for i in range(120, 0, -1)]  # every item once, best (most viewed) first, in order


def test_hostile_texts_titles_and_rule_names_are_shown_literally() -> None:
    rows = [row(i, f"{t} обстрел", word="обстрел", title=HOSTILE[i - 1], rule_name=HOSTILE[-i], minutes=i)
            for i, t in enumerate(HOSTILE, 1)]
    built = build_digest(rows, tz="UTC", title="Digest <b>")
    plain = "".join(tl_html.parse(c)[0] for c in built.chunks)
    for text in HOSTILE:
        assert plain.count(text) >= 3  # as text, as channel title, as rule name
    entities = [e for c in built.chunks for e in tl_html.parse(c)[1]]
    urls = [e.url for e in entities if isinstance(e, MessageEntityTextUrl)]
    assert sorted(urls) == [f"https://t.me/chan/{i}" for i in range(1, 5)]  # our links only, none hidden


def test_forwards_of_one_post_collapse_into_the_original_with_also_in() -> None:
    original = row(1, "Обстрел Белгорода утром, без пострадавших", channel=1, title="Гладков", username="vvgladkov")
    fwd1 = row(2, "Обстрел Белгорода утром, без пострадавших", channel=2, title="Новости", username="news",
               minutes=5, forward=(1001, 1))
    fwd2 = row(3, "Обстрел Белгорода", channel=3, title="Регион", username="region", minutes=9, forward=(1001, 1))
    other = row(4, "Обстрел Шебекино вечером", channel=2, title="Новости", username="news", minutes=20)
    built = build_digest([fwd2, other, original, fwd1], tz="UTC", title="D")
    assert built.total == 2
    (item,) = [i for i in built.items if i.message_id == 1]
    assert item.channel_username == "vvgladkov" and item.also_in == ("Новости", "Регион")
    assert "also in: Новости, Регион" in tl_html.parse(built.chunks[0])[0]


def test_near_identical_text_in_several_channels_is_one_item() -> None:
    base = "Сегодня силы ПВО сбили над Белгородской областью двенадцать беспилотников, пострадавших нет, " \
           "повреждены два частных дома и линия электропередачи"
    rows = [row(1, base, channel=1, title="A"), row(2, base + " 🔴 Подписаться", channel=2, title="B", minutes=3),
            row(3, "Срочно! " + base, channel=3, title="C", minutes=4),
            row(4, "Совсем другой текст про погоду в регионе на выходных и без всяких происшествий", channel=4,
                title="D", word="Совсем")]
    built = build_digest(rows, tz="UTC", title="D")
    assert built.total == 2
    (item,) = [i for i in built.items if i.message_id == 1]
    assert set(item.also_in) == {"B", "C"}


def test_top_n_ranks_by_rules_then_reposts_then_views_and_says_how_many_more() -> None:
    rows = [row(1, "обстрел один", views=10), row(2, "обстрел два", views=5000),
            row(3, "обстрел три батальон", views=1), row(3, "обстрел три батальон", rule=2, rule_name="батальон",
                                                          word="батальон"),
            row(4, "обстрел четыре", views=100), row(5, "обстрел пять")]
    built = build_digest(rows, tz="UTC", title="D", size=2)
    assert [i.message_id for i in sorted(built.items, key=lambda i: i.message_id)] == [2, 3]
    assert built.total == 5 and built.more == 3
    plain = tl_html.parse(built.chunks[-1])[0]
    assert plain.rstrip().endswith("and 3 more: /more")
    three = next(i for i in built.items if i.message_id == 3)
    assert three.rule == "обстрел" and three.other_rules == ("батальон",)


def test_private_channel_links_use_the_c_form() -> None:
    built = build_digest([row(7, "обстрел", username=None)], tz="UTC", title="D")
    urls = [e.url for e in tl_html.parse(built.chunks[0])[1] if isinstance(e, MessageEntityTextUrl)]
    assert urls == ["https://t.me/c/1001/7"]


@pytest.mark.parametrize("small", [400, 0], ids=["bottom-k", "minhash-lsh"])
def test_lsh_finds_the_same_groups_as_the_pairwise_baseline(monkeypatch: pytest.MonkeyPatch, small: int) -> None:
    monkeypatch.setattr(collapse_module, "SMALL", small)
    rnd = random.Random(7)
    vocab = [f"слово{i}" for i in range(2000)]
    texts = []
    for _ in range(150):
        words = rnd.choices(vocab, k=40)
        texts.append(" ".join(words))
        if rnd.random() < 0.4:
            texts.append(" ".join([*words, "Подписаться"]))  # a repost with a tail
    rnd.shuffle(texts)
    fast = sorted(sorted(g) for g in near_duplicate_groups(texts))
    slow = sorted(sorted(g) for g in naive_near_duplicate_groups(texts))
    assert fast == slow
    assert len(fast) < len(texts)
