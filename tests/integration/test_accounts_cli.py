"""`tgmon login --account`, `tgmon run --role ingest --account`, and the account column of
`channels list` / `stats`, as a user types them; the ingest role of a named account, built as
`tgmon run` builds it, over a fake Telegram edge."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from telethon.sessions import StringSession

from bot.app import build_app
from bot.cli import channel_commands, cli
from bot.config import load_settings
from bot.ingest.accounts import balance, heartbeat
from bot.runtime.roles import Runtime, build_role
from bot.storage import models as m
from bot.storage.database import Database
from tests.integration.test_ingest_fakes import FakeTelegram, channel_entity, days_ago, message
from tests.unit.test_telegram_source_login import LoginClient

CREDS = {"TELEGRAM_API_ID": "12345", "TELEGRAM_API_HASH": "0123456789abcdef0123456789abcdef"}


def _invoke(args: list[str], env: dict[str, str], stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, args, env=env, input=stdin, catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"TGMON_DATABASE_URL": f"sqlite:///{tmp_path / 'tgmon.db'}", "TGMON_DATA_DIR": str(tmp_path / "data"),
            "TGMON_CONFIG": str(tmp_path / "none.toml"), "TGMON_ENV_FILE": str(tmp_path / "none.env"),
            "TELEGRAM_SESSION": "", "TELEGRAM_ACCOUNTS": "second",
            "TELEGRAM_SESSION_FILE": str(tmp_path / "data" / "tgmon-user.session"), "COLUMNS": "200", **CREDS}


def test_run_with_an_unknown_account_or_without_the_ingest_role_is_refused(env: dict[str, str]) -> None:
    code, out = _invoke(["run", "--role", "ingest", "--account", "nobody"], env)
    assert code == 2
    assert "no monitoring account named 'nobody'; configured: main, second" in out
    assert "TELEGRAM_ACCOUNTS" in out and "Traceback" not in out
    code, out = _invoke(["run", "--role", "scheduler", "--account", "second"], env)
    assert code == 2
    assert "--account second names the monitoring account of the ingest role" in out


def test_login_of_an_unknown_account_and_without_a_terminal(env: dict[str, str]) -> None:
    code, out = _invoke(["login", "--account", "nobody"], env)
    assert code == 2 and "no monitoring account named 'nobody'" in out
    code, out = _invoke(["login", "--account", "second"], env)
    assert code == 2
    assert "needs a terminal" in out
    assert "set TELEGRAM_SESSION_SECOND" in out and "`tgmon login --account second --string`" in out


class _Client(LoginClient):
    def __init__(self, session: Any) -> None:
        super().__init__(password=None)
        self.session = session

    async def disconnect(self) -> None:
        self.calls.append(("disconnect", None))


@pytest.fixture
def login_edge(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    made: list[tuple[str, Any]] = []

    def make_user_client(settings: Any, account: str = "main", *, session: Any = None) -> _Client:
        made.append((account, session))
        return _Client(session if session is not None else StringSession())

    monkeypatch.setattr("bot.telegram.clients.make_user_client", make_user_client)
    monkeypatch.setattr(channel_commands, "sys", SimpleNamespace(stdin=SimpleNamespace(isatty=lambda: True)))
    return made


def test_login_of_a_named_account_prints_its_own_session_line(env: dict[str, str],
                                                              login_edge: list[tuple[str, Any]]) -> None:
    code, out = _invoke(["login", "--account", "second", "--string"], env, stdin="+79001234567\n12345\n")
    assert code == 0, out
    assert [account for account, _ in login_edge] == ["second"]
    assert isinstance(login_edge[0][1], StringSession)  # a fresh string session, not the file
    assert "Account second logged in as @monitor_acc" in out
    line = next(ln for ln in out.splitlines() if ln.startswith("TELEGRAM_SESSION_SECOND="))
    assert line == f"TELEGRAM_SESSION_SECOND={StringSession.save(login_edge[0][1])}"

    code, out = _invoke(["login", "--account", "second"], env, stdin="+79001234567\n12345\n")
    assert code == 0, out
    assert login_edge[1] == ("second", None)  # the configured session: its file
    assert "Session saved to" in out and "tgmon-user-second.session (mode 600)" in out


async def _seed(url: str, n: int, *, cap: int) -> None:
    db = Database.from_url(url)
    await db.upgrade()
    async with db.uow() as session:
        session.add_all(m.Channel(telegram_id=7000 + i, username=f"seeded{i:02d}", title=f"Seeded {i}")
                        for i in range(1, n + 1))
    now = datetime.now(UTC)
    await heartbeat(db, "second", cap, now)
    await balance(db, "main", cap, now, timedelta(minutes=15))
    await balance(db, "second", cap, now, timedelta(minutes=15))
    await db.dispose()


@pytest.mark.dates  # heartbeats and "live" on the real clock
def test_list_and_stats_show_each_channels_account_and_warn_of_unassigned_ones(env: dict[str, str]) -> None:
    asyncio.run(_seed(env["TGMON_DATABASE_URL"], 5, cap=2))
    code, out = _invoke(["channels", "list"], env)
    assert code == 0, out
    assert "account" in out
    rows = {ln.split("│")[1].strip(): ln.split("│")[4].strip() for ln in out.splitlines()
            if ln.count("│") > 4 and "@seeded" in ln}
    assert sorted(rows.values()) == ["main", "main", "none", "second", "second"]
    assert "account main: 2 of its cap of 2 channels; live" in out
    assert "Warning: 1 active channel is watched by no live monitoring account (@seeded05)" in out
    assert "every live account is at its cap (main 2, second 2)" in out
    code, out = _invoke(["stats"], env)
    assert code == 0
    assert "none" in out and "Warning: 1 active channel is" in out


@pytest.mark.dates  # the role backfills the last days of the real clock
async def test_the_ingest_role_of_a_named_account_watches_its_channels(db_url: str, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    tg = FakeTelegram()
    for cid in (3001, 3002):
        # the role backfills the last 7 days of the real clock
        tg.add_channel(channel_entity(cid, f"role{cid}", f"Role {cid}"), [message(1, f"пост {cid}", cid=cid, base=days_ago())])
    accounts: list[str] = []

    def make_user_client(settings: Any, account: str = "main", **_: Any) -> FakeTelegram:
        accounts.append(account)
        return tg

    monkeypatch.setattr("bot.telegram.clients.make_user_client", make_user_client)
    settings = load_settings(environ={**CREDS, "TELEGRAM_ACCOUNTS": "second", "TGMON_DATABASE_URL": db_url,
                                      "TGMON_INGEST__DEFAULT_CHANNELS_FILE": str(tmp_path / "none.toml")},
                             env_file=Path("/nonexistent/.env"))
    app = await build_app(settings)
    async with app.db.uow() as session:
        session.add_all([m.Channel(telegram_id=3001, username="role3001", title="Role 3001"),
                         m.Channel(telegram_id=3002, username="role3002", title="Role 3002")])
    rt = Runtime(app, "second")
    rt.roles = ("ingest",)
    stop = asyncio.Event()
    try:
        run_ingest = await build_role(rt, "ingest")
        task = asyncio.create_task(run_ingest(stop))
        for _ in range(200):
            async with app.db.uow(read_only=True) as session:
                stored = len(list(await session.scalars(select(m.Post.id))))
            if stored == 2:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, 10)
        async with app.db.uow(read_only=True) as session:
            owners = set(await session.scalars(select(m.Channel.account)))
            beats = dict((await session.execute(select(m.IngestAccount.name, m.IngestAccount.cap))).all())
    finally:
        await rt.close()
        await app.close()
    assert accounts == ["second"]
    assert stored == 2 and owners == {"second"} and beats == {"second": 1000}
    assert sorted(tg.joined) == [3001, 3002]


@pytest.mark.dates  # `channels add` backfills the last days of the real clock
def test_channels_add_looks_up_through_the_named_account(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    tg = FakeTelegram()
    tg.add_channel(channel_entity(), [message(i, f"сводка {i}", base=days_ago()) for i in range(1, 4)])
    accounts: list[str] = []

    def make_user_client(settings: Any, account: str = "main", **_: Any) -> FakeTelegram:
        accounts.append(account)
        return tg

    monkeypatch.setattr("bot.telegram.clients.make_user_client", make_user_client)
    monkeypatch.setattr("bot.telegram.clients.missing_session", lambda *_, **__: None)  # the fake is signed in
    code, out = _invoke(["channels", "add", "@vvgladkov", "--account", "second"], env)
    assert code == 0, out
    assert accounts == ["second"] and "3 new posts" in out
    code, out = _invoke(["channels", "add", "@vvgladkov", "--account", "nobody"], env)
    assert code == 2 and "no monitoring account named 'nobody'" in out


def test_the_compose_second_account_service_runs_a_real_command() -> None:
    from tests.unit.test_runtime_deploy import _parses, compose

    service = compose()["services"]["ingest-second"]
    assert service["command"] == ["run", "--role", "ingest", "--account", "second"]
    _parses(service["command"])
    assert service["profiles"] == ["second-account"]
    assert service["depends_on"] == compose()["services"]["ingest"]["depends_on"]
    assert "tgmon-data:/app/data" in service["volumes"]  # its session file sits next to the main one
