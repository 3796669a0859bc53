"""`tgmon channels add|list|remove`, `tgmon stats`, `tgmon login` as a user types them.

`channels add` talks to the FakeTelegram edge (only the client is replaced); list, remove and stats
read the database alone and work without any Telegram setting.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from bot.cli import cli
from tests.integration.test_ingest_fakes import T0, FakeClock, FakeTelegram, channel_entity, days_ago, message

CREDS = {"TELEGRAM_API_ID": "12345", "TELEGRAM_API_HASH": "0123456789abcdef0123456789abcdef"}


def _invoke(args: list[str], env: dict[str, str], stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, args, env=env, input=stdin, catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture
def env(db_url: str, tmp_path: Path) -> dict[str, str]:
    return {"TGMON_DATABASE_URL": db_url, "TGMON_DATA_DIR": str(tmp_path / "data"),
            "TGMON_CONFIG": str(tmp_path / "none.toml"), "TGMON_ENV_FILE": str(tmp_path / "none.env"),
            "TELEGRAM_API_ID": "", "TELEGRAM_API_HASH": "", "TELEGRAM_SESSION": "",
            "TELEGRAM_SESSION_FILE": str(tmp_path / "data" / "user.session"), "COLUMNS": "200"}


@pytest.fixture
def telegram(monkeypatch: pytest.MonkeyPatch) -> FakeTelegram:
    tg = FakeTelegram()
    base = days_ago(2)  # `channels add` backfills the last 7 days of the real clock
    tg.add_channel(channel_entity(), [message(i, f"Обстрел, сводка {i}", base=base) for i in range(1, 31)])
    monkeypatch.setattr("bot.telegram.clients.make_user_client", lambda settings, **_: tg)
    monkeypatch.setattr("bot.telegram.clients.missing_session", lambda *_, **__: None)  # the fake is signed in
    return tg


def test_without_credentials_add_and_login_say_which_settings(env: dict[str, str]) -> None:
    code, out = _invoke(["channels", "add", "@vvgladkov"], env)
    assert code == 2
    assert "set TELEGRAM_API_ID and TELEGRAM_API_HASH" in out
    code, out = _invoke(["login"], env)
    assert code == 2
    assert "TELEGRAM_API_ID and TELEGRAM_API_HASH" in out
    code, out = _invoke(["channels", "list"], env)  # the database alone
    assert code == 0
    assert "No channels are watched" in out


def test_login_without_a_terminal_says_what_to_do(env: dict[str, str]) -> None:
    code, out = _invoke(["login"], {**env, **CREDS})
    assert code == 2
    assert "needs a terminal" in out
    assert "TELEGRAM_SESSION" in out


@pytest.mark.dates  # `channels add` backfills the last days of the real clock; list and stats count "today"
def test_add_backfills_then_list_stats_and_remove(env: dict[str, str], telegram: FakeTelegram) -> None:
    code, out = _invoke(["channels", "add", "https://t.me/vvgladkov/5", "@nosuchchannel", "t.me/addstickers/x"],
                        {**env, **CREDS})
    assert code == 2, out
    assert "Watching Вячеслав Гладков (@vvgladkov)" in out
    assert "backfilled vvgladkov: 30 new posts" in out
    assert "No channel @nosuchchannel exists on Telegram" in out
    assert "sticker set" in out
    assert "2 of 3 links were not added" in out

    code, out = _invoke(["channels", "add", "vvgladkov"], {**env, **CREDS})
    assert code == 2
    assert "already watched" in out

    code, out = _invoke(["channels", "list"], env)  # no credentials needed
    assert code == 0
    assert "@vvgladkov" in out and "30" in out

    code, out = _invoke(["stats"], env)
    assert code == 0
    assert "@vvgladkov" in out
    assert "1 channel," in out
    assert "Search index: up to date." in out  # `channels add` indexed its backfill before it ended

    code, out = _invoke(["channels", "remove", "@vvgladkov"], env)
    assert code == 0
    assert "its posts are kept" in out
    code, out = _invoke(["channels", "list", "--all"], env)
    assert "removed" in out
    code, out = _invoke(["channels", "remove", "@vvgladkov", "--purge"], env)
    assert code == 0
    assert "30 posts deleted" in out
    code, out = _invoke(["channels", "remove", "@vvgladkov"], env)
    assert code == 2
    assert "is not watched" in out


@pytest.mark.dates  # `channels add` backfills the last days of the real clock
def test_a_flood_wait_during_add_is_shown(env: dict[str, str], telegram: FakeTelegram,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from telethon import errors

    waited: list[float] = []

    async def no_sleep(self: Any, seconds: float) -> None:
        waited.append(seconds)

    monkeypatch.setattr("bot.delivery.clock.SystemClock.sleep", no_sleep)
    telegram.history_errors = [errors.FloodWaitError(request=None, capture=12)]
    code, out = _invoke(["channels", "add", "vvgladkov"], {**env, **CREDS})
    assert code == 0, out
    assert "FloodWait: Telegram asks to wait 12 s" in out
    assert "30 new posts" in out
    assert waited == [12]


@pytest.mark.dates  # the proof that these commands ask the app's clock, whatever the real date
def test_now_and_today_come_from_the_apps_clock(env: dict[str, str], telegram: FakeTelegram,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The commands' app on a FakeClock at T0 + 12 h (2026-11-24 18:00 UTC), whatever the real date: the
    backfill window, the FloodWait's "waiting until", "today" and `as_of` all read that clock."""
    from telethon import errors

    from bot.app import build_app

    clock = FakeClock()

    async def app_on_clock(*args: Any, **kwargs: Any) -> Any:
        return dataclasses.replace(await build_app(*args, **kwargs), clock=clock)

    monkeypatch.setattr("bot.app.build_app", app_on_clock)  # the commands import it when they run
    telegram.history[channel_entity().id] = [message(i, f"сводка {i}") for i in range(1, 31)]  # T0 + i minutes
    telegram.history_errors = [errors.FloodWaitError(request=None, capture=12)]
    code, out = _invoke(["channels", "add", "vvgladkov"], {**env, **CREDS})
    assert code == 0, out
    assert "waiting until 18:00:12 UTC" in out and "30 new posts" in out
    assert clock.sleeps == [12]
    code, out = _invoke(["stats", "--json"], env)
    assert code == 0, out
    stats = json.loads(out)
    assert stats["as_of"] == (T0 + timedelta(hours=12, seconds=12)).isoformat()
    assert stats["totals"]["posts_today"] == 30
