"""Hostile exports through `tgmon import` on SQLite and PostgreSQL: both take the same files the
same way, whole, or refuse them in one line with exit code 2 and nothing imported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.ingest.sanitize import FORWARD_NAME, MAX_TEXT
from bot.storage.database import Database
from tests.integration.test_cli import _counts, _unindexed


def _invoke(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


@pytest.fixture
def env(db_url: str, tmp_path: Path) -> dict[str, str]:
    return {"TGMON_DATABASE_URL": db_url, "TGMON_DATA_DIR": str(tmp_path / "data"),
            "TGMON_CONFIG": str(tmp_path / "none.toml"), "TGMON_ENV_FILE": str(tmp_path / "none.env")}


def _message(i: int, **extra: object) -> dict[str, object]:
    return {"id": i, "type": "message", "date_unixtime": str(1793520000 + i * 60), "text": f"обстрел {i}", **extra}


def _export(path: Path, messages: list[object], **header: object) -> Path:
    data = {"name": "Ch", "type": "public_channel", "id": 42, **header, "messages": messages}
    path.write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    return path


def test_nul_long_names_long_texts_strays_and_repeats_import_whole(
    env: dict[str, str], db_url: str, tmp_path: Path
) -> None:
    messages: list[object] = [_message(i) for i in range(1, 3001)]
    messages[1500] = _message(1501, text="a\u0000b")  # PostgreSQL refuses NUL in text
    messages[1600] = _message(1601, forwarded_from="F" * 1000)  # over forward_name's 256
    messages[1700] = _message(1701, text="слово " * 20_000)  # 120,000 characters
    messages[1800] = _message(1801, media_type="m" * 500, file="x")
    messages += ["stray", 7, [1, 2], _message(5, text="repeated id, other text")]
    path = _export(tmp_path / "result.json", messages, name="N\u0000ame " + "t" * 400)
    code, out = _invoke(["import", str(path), "--channel", "somechannel"], env)
    assert code == 0, out
    assert "3000 posts read: 3000 new" in out
    assert '3 items of "messages" that are not messages skipped' in out
    assert "1 repeated message id skipped (the first text of each id kept)" in out
    assert f"1 text longer than {MAX_TEXT:,} characters cut" in out
    assert "1 post with NUL or invalid characters, removed" in out
    assert _counts(db_url) == (3000, 1)
    assert _unindexed(db_url) == 0
    code, out = _invoke(["search", "обстрел", "--limit", "1"], env)
    assert code == 0, out
    rows = _rows(db_url)
    assert rows[1501] == ("ab", None) and rows[5][0] == "обстрел 5"
    assert rows[1601][1] == "F" * FORWARD_NAME and len(rows[1701][0]) == MAX_TEXT
    code, out = _invoke(["import", str(path), "--channel", "somechannel"], env)  # again: nothing new
    assert code == 0 and "0 new, 0 updated, 3000 already stored" in out


def _rows(url: str) -> dict[int, tuple[str, str | None]]:
    import asyncio

    import sqlalchemy as sa

    from bot.storage import models as m
    from bot.storage.database import Database

    async def go() -> dict[int, tuple[str, str | None]]:
        db = Database.from_url(url)
        try:
            async with db.uow(read_only=True) as s:
                found = await s.execute(sa.select(m.Post.message_id, m.Post.text, m.Post.forward_name))
                return {r.message_id: (r.text, r.forward_name) for r in found}
        finally:
            await db.dispose()

    return asyncio.run(go())


@pytest.mark.parametrize(
    ("change", "header", "expected"),
    [
        ({"date_unixtime": -1e18}, {}, '"date_unixtime" is not a date'),
        ({}, {"id": 1.5e300}, 'chat "id" is not a Telegram id'),
        ({"text": [[[[[[[[[[[[[[[["deep"]]]]]]]]]]]]]]]]}, {}, "nested more than"),
    ],
)
def test_impossible_values_exit_2_in_one_line_and_import_nothing(
    db: Database, env: dict[str, str], db_url: str, tmp_path: Path, change: dict[str, object], header: dict[str, object],
    expected: str,
) -> None:
    messages: list[object] = [_message(i) for i in range(1, 101)]
    messages[60] = _message(61, **change)
    path = _export(tmp_path / "result.json", messages, **header)
    code, out = _invoke(["import", str(path), "--channel", "somechannel"], env)
    assert code == 2, out
    assert expected in out and "Nothing was imported" in out and "Traceback" not in out
    assert len(out.strip().splitlines()) <= 2  # one line (a terminal may wrap the path)
    assert _counts(db_url)[0] == 0


def test_cli_match_refuses_a_lone_surrogate_in_a_rule(env: dict[str, str]) -> None:
    code, out = _invoke(["match", "--rule", "/\udcff/", "--text", "x"], env)
    assert code == 2 and "control character or an invalid one" in out and "Traceback" not in out
    code, out = _invoke(["match", "--rule", "a\x00b", "--text", "x"], env)
    assert code == 2 and "control character" in out
