"""Hostile exports through the reader: refused early with one clear line, or made storable and counted."""

from __future__ import annotations

import json
import resource
import time
from pathlib import Path

import pytest

from bot.ingest.export import MAX_DEPTH, ExportError, ExportStats, read_export
from bot.ingest.sanitize import FORWARD_NAME, MAX_TEXT, MEDIA_TYPE, TITLE, clean_text, sanitize_post


def _write(tmp_path: Path, messages: list[object], **header: object) -> Path:
    data = {"name": "Ch", "type": "public_channel", "id": 42, **header, "messages": messages}
    path = tmp_path / "result.json"
    path.write_text(json.dumps(data, ensure_ascii=True), "utf-8")
    return path


def _msg(i: int, **extra: object) -> dict[str, object]:
    return {"id": i, "type": "message", "date_unixtime": str(1793520000 + i), "text": f"post {i}", **extra}


def test_nul_surrogates_and_long_names_are_made_storable(tmp_path: Path) -> None:
    path = _write(tmp_path, [
        _msg(1, text="a\u0000b"),
        _msg(2, forwarded_from="F" * 1000, media_type="m" * 100, file="x"),
        _msg(3, text="half \ud800 pair", forwarded_from="x\u0000y"),
        _msg(4, reply_to_message_id=1e30),
    ], name="T\u0000" + "t" * 1000)
    stats = ExportStats()
    posts = list(read_export(path, stats=stats))
    assert [p.text for p in posts[:2]] == ["ab", "post 2"]
    assert posts[2].text in ("half ? pair", "half \ufffd pair")  # yajl itself replaces a lone surrogate
    assert posts[1].forward is not None and posts[1].forward.name == "F" * FORWARD_NAME
    assert posts[1].media_type == "m" * MEDIA_TYPE
    assert posts[2].forward is not None and posts[2].forward.name == "xy"
    assert posts[3].reply_to is None
    assert posts[0].channel.title == ("T" + "t" * 1000)[:TITLE]
    assert stats.cleaned >= 2 and stats.truncated == 0
    for post in posts:  # what every database takes: valid UTF-8, no NUL
        post.text.encode("utf-8")
        assert "\x00" not in post.text


def test_long_text_is_cut_and_counted(tmp_path: Path) -> None:
    path = _write(tmp_path, [_msg(1, text="слово " * 40_000), _msg(2)])
    stats = ExportStats()
    posts = list(read_export(path, stats=stats))
    assert len(posts[0].text) == MAX_TEXT and posts[1].text == "post 2"
    assert stats.truncated == 1
    assert any(f"{MAX_TEXT:,} characters" in note for note in stats.notes())


def test_non_objects_and_repeated_ids_are_skipped_and_counted(tmp_path: Path) -> None:
    path = _write(tmp_path, [_msg(1), "stray", 5, None, [1, [2]], _msg(2), _msg(1, text="second text"), _msg(2**40, date_unixtime="1793520000"),
                             _msg(2**40, date_unixtime="1793520000", text="again")])
    stats = ExportStats()
    posts = list(read_export(path, stats=stats))
    assert [(p.message_id, p.text) for p in posts] == [(1, "post 1"), (2, "post 2"), (2**40, f"post {2**40}")]
    assert stats.skipped_items == 4 and stats.duplicate_ids == 2
    notes = " ".join(stats.notes())
    assert '4 items of "messages"' in notes and "2 repeated message ids" in notes and "first text" in notes


@pytest.mark.parametrize(
    ("message", "header", "expected"),
    [
        (_msg(1, date_unixtime=-1e18), {}, '"date_unixtime" is not a date'),
        (_msg(1, date_unixtime=1e300), {}, '"date_unixtime" is not a date'),
        (_msg(1, date_unixtime="9" * 5000), {}, '"date_unixtime" is not a date'),
        (_msg(1, edited_unixtime=-1e18), {}, '"edited_unixtime" is not a date'),
        ({"id": 1, "type": "message", "date": "0001-01-01T00:00:00+05:00"}, {}, '"date" is not a date'),
        (_msg(1), {"id": 1.5e300}, 'chat "id" is not a Telegram id'),
        (_msg(1), {"id": 1.5}, 'chat "id" is not a Telegram id'),
        (_msg(1), {"id": "abc"}, 'chat "id" is not a Telegram id'),
        (_msg(2**64), {}, "integer overflow"),  # the parser itself refuses what no int64 holds
        (_msg(-5), {}, "not a Telegram message id"),
    ],
)
def test_impossible_numbers_are_refused_in_one_line(
    tmp_path: Path, message: dict[str, object], header: dict[str, object], expected: str
) -> None:
    path = _write(tmp_path, [message], **header)
    with pytest.raises(ExportError, match=expected) as err:
        list(read_export(path))
    assert "\n" not in str(err.value) and len(str(err.value)) < 300


def test_header_id_that_is_a_whole_float_is_taken(tmp_path: Path) -> None:
    posts = list(read_export(_write(tmp_path, [_msg(1)], id=1302282372.0)))
    assert posts[0].channel.telegram_id == 1302282372


@pytest.mark.parametrize("where", ["text", "header"])
def test_deep_nesting_is_refused_early_and_cheaply(tmp_path: Path, where: str) -> None:
    depth = 20_000
    nested = "[" * depth + "]" * depth
    if where == "text":
        content = '{"name":"x","type":"public_channel","id":1,"messages":[{"id":1,"text":' + nested + "}]}"
    else:
        content = '{"name":"x","junk":' + nested + ',"type":"public_channel","id":1,"messages":[]}'
    path = tmp_path / "result.json"
    path.write_text(content, "utf-8")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    with pytest.raises(ExportError, match=f"nested more than {MAX_DEPTH} deep"):
        list(read_export(path))
    assert time.perf_counter() - started < 2
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000  # KiB: well under 50 MB


def test_real_nesting_depth_still_reads(tmp_path: Path) -> None:
    buttons = [[{"type": "url", "text": "Open", "data": "https://t.me/x"}]]
    poll = {"question": "q", "answers": [{"text": "a", "voters": 1}]}
    path = _write(tmp_path, [_msg(1, inline_bot_buttons=buttons, poll=poll,
                                  text=["a ", {"type": "bold", "text": "b"}])])
    assert [p.text for p in read_export(path)] == ["a b"]


def test_a_top_level_key_that_looks_like_a_message_path_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    path.write_text('{"messages.item": {"id": 1}, "name": "x", "type": "public_channel", "id": 1, '
                    '"messages": [{"id": 2, "type": "message", "date_unixtime": "1793520000", "text": "t"}]}', "utf-8")
    assert [p.message_id for p in read_export(path)] == [2]


def test_sanitize_post_leaves_a_clean_post_alone() -> None:
    from datetime import UTC, datetime

    from bot.domain import ChannelRef, ForwardOrigin, Post

    post = Post(ChannelRef(1, "x", "X"), 1, datetime(2026, 1, 1, tzinfo=UTC), "текст", forward=ForwardOrigin(2, 3, "n"))
    assert sanitize_post(post).post is post
    assert clean_text("a\x00\udfffb") == "a\ufffdb"


def test_a_string_too_long_for_any_export_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.ingest import export

    monkeypatch.setattr(export, "_MAX_RUN", 1 << 20)
    monkeypatch.setattr(export, "_BUFFER", 1 << 16)
    path = _write(tmp_path, [_msg(1, text="x" * (3 << 20))])
    with pytest.raises(ExportError, match="a value of more than 1 MB"):
        list(read_export(path))
    path = _write(tmp_path, [_msg(i, text="x" * 500_000) for i in range(1, 8)])  # many long ones are fine
    assert len(list(read_export(path))) == 7


def test_a_50_mb_text_is_read_in_seconds_and_cut(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    with path.open("w", encoding="utf-8") as fh:
        fh.write('{"name":"x","type":"public_channel","id":1,"messages":[{"id":1,"type":"message",'
                 '"date_unixtime":"1793520000","text":"')
        fh.write("слово " * (50_000_000 // 12))
        fh.write('"}]}')
    started = time.perf_counter()
    stats = ExportStats()
    posts = list(read_export(path, stats=stats))
    assert time.perf_counter() - started < 20
    assert len(posts[0].text) == MAX_TEXT and stats.truncated == 1
