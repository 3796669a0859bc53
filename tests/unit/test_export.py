from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.ingest.export import ExportError, read_export


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "result.json"
    path.write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    return path


def _export(*messages: dict[str, object], kind: str = "public_channel") -> dict[str, object]:
    return {"name": "Гладков", "type": kind, "id": 1302282372, "messages": list(messages)}


def _msg(i: int, **extra: object) -> dict[str, object]:
    base: dict[str, object] = {"id": i, "type": "message", "date": "2026-11-01T08:00:00",
                               "date_unixtime": "1793520000", "text": f"post {i}"}
    base.update(extra)
    return base


def test_every_real_export_shape(tmp_path: Path) -> None:
    path = _write(tmp_path, _export(
        _msg(1, text=["Формируем ", {"type": "bold", "text": "батальоны"}, " ", {"type": "hashtag", "text": "#Белгород"}]),
        _msg(2, text="ignored", text_entities=[{"type": "plain", "text": "from "}, {"type": "link", "text": "entities"}]),
        {"id": 3, "type": "service", "date": "2026-11-01T08:00:00", "action": "pin_message", "text": ""},
        _msg(4, edited="2026-11-01T09:00:00", edited_unixtime="1793523600"),
        _msg(5, forwarded_from="РИА Новости", reply_to_message_id=1),
        _msg(6, text="", photo="photos/photo_1.jpg"),
        _msg(7, text="caption", file="video_files/v.mp4", media_type="video_file"),
        {"id": 8, "type": "message", "date": "2026-11-02T10:30:00", "text": "no unixtime"},
    ))
    posts = list(read_export(path, username="@VVGladkov"))
    assert [p.message_id for p in posts] == [1, 2, 4, 5, 6, 7, 8]
    assert posts[0].text == "Формируем батальоны #Белгород"
    assert posts[1].text == "from entities"
    assert posts[2].edit_date is not None and posts[2].edit_date.hour == 9
    assert posts[3].forward is not None and posts[3].forward.name == "РИА Новости" and posts[3].reply_to == 1
    assert posts[4].media_type == "photo" and posts[4].text == ""
    assert posts[5].media_type == "video_file"
    assert posts[6].date.isoformat() == "2026-11-02T10:30:00+00:00"
    assert posts[0].channel.username == "vvgladkov" and posts[0].channel.telegram_id == 1302282372


def test_chat_exports_are_read_too(tmp_path: Path) -> None:
    path = _write(tmp_path, _export(_msg(1), kind="private_group"))
    assert len(list(read_export(path))) == 1


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"name": "x", "type": "public_channel", "id": 1, "messages": [{"id": 1, "type": "message", '
         '"date": "2026-11-01T08:00:00", "text": "a"}, {"id": 2, "ty', "near byte"),
        ('{"name": "x", "type": "public_channel", "id": 1, "messages": [{"id": 7, "type": "message", '
         '"text": "a"}]}', "message 7: missing \"date\""),
        ('{"name": "x", "type": "public_channel", "id": 1, "messages": [{"id": 7, "type": "message", '
         '"date": "yesterday", "text": "a"}]}', "message 7: \"date\" is not a date"),
        ('{"name": "x", "type": "public_channel", "id": 1, "messages": [{"id": 7, "type": "message", '
         '"date": "2026-11-01T08:00:00", "text": 5}]}', "message 7: \"text\" must be"),
        ('{"name": "x", "type": "public_channel", "id": 1, "messages": [{"type": "message"}]}', 'no numeric "id"'),
        ('{"name": "x", "type": "weird", "id": 1, "messages": []}', "unknown export type"),
        ('{"chats": []}', 'no "messages" list'),
    ],
)
def test_malformed_exports_say_where_and_what(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "result.json"
    path.write_text(content, "utf-8")
    with pytest.raises(ExportError, match=expected):
        list(read_export(path))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="no such file"):
        list(read_export(tmp_path / "nope.json"))
