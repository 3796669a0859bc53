"""Posts from Telegram get the same sanitising as imports: no NUL, text within MAX_TEXT, names within
their columns (bot/ingest/sanitize.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from telethon.tl import types

from bot import domain
from bot.ingest.sanitize import FORWARD_NAME, MAX_TEXT
from bot.telegram.convert import to_post, to_posts

REF = domain.ChannelRef(1302282372, "vvgladkov", "Гладков")
T0 = datetime(2026, 11, 24, 6, tzinfo=UTC)


def _msg(mid: int, text: str = "", **fields: object) -> types.Message:
    return types.Message(id=mid, peer_id=types.PeerChannel(REF.telegram_id), date=T0, message=text, **fields)


def test_nul_surrogates_and_long_names_from_telegram() -> None:
    forward = types.MessageFwdHeader(date=T0, from_name="N\x00" + "n" * 400)
    post = to_post(_msg(1, "a\x00b \ud800", fwd_from=forward), REF)
    assert post.text == "ab \ufffd"
    assert post.forward is not None and post.forward.name == ("N" + "n" * 400)[:FORWARD_NAME]


def test_long_texts_and_albums_are_cut() -> None:
    assert len(to_post(_msg(1, "я" * (MAX_TEXT + 5)), REF).text) == MAX_TEXT
    album = [_msg(i, "слово " * 10_000, grouped_id=7) for i in (1, 2, 3)]  # captions joined past the bound
    (merged,) = list(to_posts(album, REF))
    assert merged.media_type == "album" and len(merged.text) == MAX_TEXT
