"""The commands a user types, end to end on a real SQLite database (and PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, func, select

from bot.cli import cli
from bot.storage import models as m


def _invoke(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    result = CliRunner().invoke(cli, args, env=env, catch_exceptions=False)
    return result.exit_code, result.output


def _counts(url: str) -> tuple[int, int]:
    if url.startswith("postgresql"):
        import asyncio

        from bot.storage.database import Database

        async def go() -> tuple[int, int]:
            db = Database.from_url(url)
            async with db.uow(read_only=True) as s:
                posts = await s.scalar(select(func.count()).select_from(m.Post))
                chans = await s.scalar(select(func.count()).select_from(m.Channel))
            await db.dispose()
            return int(posts or 0), int(chans or 0)

        return asyncio.run(go())
    engine = create_engine(url)
    with engine.connect() as conn:
        posts = conn.scalar(select(func.count()).select_from(m.Post))
        chans = conn.scalar(select(func.count()).select_from(m.Channel))
    engine.dispose()
    return int(posts or 0), int(chans or 0)


def _unindexed(url: str) -> int:
    import asyncio

    from bot.search import pending_count
    from bot.storage.database import Database

    async def go() -> int:
        db = Database.from_url(url)
        try:
            return await pending_count(db)
        finally:
            await db.dispose()

    return asyncio.run(go())


@pytest.fixture
def env(db_url: str, tmp_path: Path) -> dict[str, str]:
    return {"TGMON_DATABASE_URL": db_url, "TGMON_DATA_DIR": str(tmp_path / "data"),
            "TGMON_CONFIG": str(tmp_path / "none.toml"), "TGMON_ENV_FILE": str(tmp_path / "none.env")}


def test_import_is_idempotent_and_malformed_imports_nothing(env: dict[str, str], db_url: str, tmp_path: Path) -> None:
    good = tmp_path / "result.json"
    messages = [{"id": i, "type": "message", "date_unixtime": str(1793520000 + i * 60), "date": "x",
                 "text": f"обстрел {i}"} for i in range(1, 251)]
    good.write_text(json.dumps({"name": "Ch", "type": "public_channel", "id": 42, "messages": messages}), "utf-8")
    code, out = _invoke(["import", str(good), "--channel", "somechannel"], env)
    assert code == 0, out
    assert "250 posts read: 250 new" in out
    assert _unindexed(db_url) == 0  # the import wrote its posts into the search index before it ended
    code, out = _invoke(["import", str(good), "--channel", "somechannel"], env)
    assert "0 new, 0 updated, 250 already stored" in out
    assert _counts(db_url) == (250, 1)

    bad = tmp_path / "bad.json"
    broken = [*messages, {"id": 999, "type": "message", "text": "no date"}]
    bad.write_text(json.dumps({"name": "Other", "type": "public_channel", "id": 43, "messages": broken}), "utf-8")
    code, out = _invoke(["import", str(bad)], env)
    assert code == 2
    assert "message 999" in out and "Nothing was imported" in out and "Traceback" not in out
    assert _counts(db_url) == (250, 1)

    code, out = _invoke(["import", str(good), "--channel", "bad name!"], env)
    assert code == 2 and "not a Telegram username" in out


def test_bad_setting_names_the_setting(env: dict[str, str]) -> None:
    code, out = _invoke(["db", "upgrade"], {**env, "TGMON_DATABASE_URL": "mysql://x/y"})
    assert code == 2 and "TGMON_DATABASE_URL" in out and "unsupported database" in out


def test_demo_twice_same_digest_no_duplicates(env: dict[str, str], db_url: str, tmp_path: Path) -> None:
    out_file = tmp_path / "digest.html"
    code, first = _invoke(["demo", "--database", db_url, "--out", str(out_file)], env)
    assert code == 0, first
    assert "new posts" in first and "Daily digest" in first and "https://t.me/vvgladkov/" in first
    html_first = out_file.read_text("utf-8")
    posts, channels = _counts(db_url)
    assert posts >= 300 and channels == 1
    code, second = _invoke(["demo", "--database", db_url, "--out", str(out_file)], env)
    assert code == 0 and "0 new posts" in second and "0 new matches" in second
    assert out_file.read_text("utf-8") == html_first
    assert _counts(db_url) == (posts, channels)


def test_run_without_credentials_runs_the_demo(env: dict[str, str], tmp_path: Path) -> None:
    code, out = _invoke(["run"], {**env, "TGMON_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"})
    assert code == 0, out
    assert "offline demo" in out and "TELEGRAM_API_ID" in out
