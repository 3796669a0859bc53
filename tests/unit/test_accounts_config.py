"""Named monitoring accounts in the settings: names, session strings, sessions files, redaction."""

from __future__ import annotations

import io
import logging
import stat
from pathlib import Path

import pytest
from telethon.crypto import AuthKey
from telethon.sessions import SQLiteSession, StringSession

from bot.config import ConfigError, load_settings
from bot.logging_setup import REDACTED, setup_logging
from bot.telegram.clients import make_user_client, session_path

NO_ENV = Path("/nonexistent/.env")
CREDS = {"TELEGRAM_API_ID": "12345", "TELEGRAM_API_HASH": "0123456789abcdef0123456789abcdef",
         "TGMON_CONFIG": "/nonexistent/settings.toml"}


def _session_string(dc: int) -> str:
    made = StringSession()
    made.set_dc(dc, "149.154.167.51", 443)
    made.auth_key = AuthKey(bytes((dc + i) % 256 for i in range(256)))
    return str(made.save())


def _load(**env: str) -> object:
    return load_settings(environ={**CREDS, **env}, env_file=NO_ENV)


def test_accounts_are_names_and_main_is_always_one() -> None:
    settings = load_settings(environ={**CREDS, "TELEGRAM_ACCOUNTS": "second, third_3", "TELEGRAM_ACCOUNT_CAP": "200"},
                             env_file=NO_ENV)
    assert settings.telegram.account_names == ["main", "second", "third_3"]
    assert settings.telegram.channel_cap == 200
    assert load_settings(environ=CREDS, env_file=NO_ENV).telegram.account_names == ["main"]
    assert load_settings(environ=CREDS, env_file=NO_ENV).telegram.channel_cap == 1000
    listed = load_settings(environ={**CREDS, "TELEGRAM_ACCOUNTS": "main,second"}, env_file=NO_ENV)
    assert listed.telegram.account_names == ["main", "second"]


@pytest.mark.parametrize(("env", "expected"), [
    ({"TELEGRAM_ACCOUNTS": "main,Second"}, "TELEGRAM_ACCOUNTS (telegram.accounts): 'Second' is not an account name"),
    ({"TELEGRAM_ACCOUNTS": "main,sec-ond"}, "'sec-ond' is not an account name; use 1-32 of a-z, 0-9 and _"),
    ({"TELEGRAM_ACCOUNTS": "second,second"}, "'second' listed more than once"),
    ({"TELEGRAM_ACCOUNTS": "file"}, "TELEGRAM_SESSION_FILE is the session file setting"),
    ({"TELEGRAM_SESSION_THIRD": "abcdefgh"}, "TELEGRAM_SESSION_THIRD is set, but 'third' is not in TELEGRAM_ACCOUNTS"),
    ({"TELEGRAM_SESSION_MAIN": "abcdefgh"}, "the main account's session string is TELEGRAM_SESSION"),
    ({"TELEGRAM_ACCOUNT_CAP": "0"}, "TELEGRAM_ACCOUNT_CAP (telegram.channel_cap)"),
])
def test_bad_account_settings_say_what_and_where(env: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        _load(**env)
    assert expected in str(err.value)
    assert "abcdefgh" not in str(err.value)


def test_a_session_string_put_in_the_account_list_is_refused_and_not_echoed() -> None:
    secret = _session_string(2)
    with pytest.raises(ConfigError) as err:
        _load(TELEGRAM_ACCOUNTS=f"main,{secret}")
    assert "longer than 32 characters" in str(err.value) and "TELEGRAM_SESSION_<NAME>" in str(err.value)
    assert secret not in str(err.value) and secret[:20] not in str(err.value)


def test_each_account_has_its_own_session(tmp_path: Path) -> None:
    second, main = _session_string(2), _session_string(4)
    settings = load_settings(environ={
        **CREDS, "TELEGRAM_ACCOUNTS": "main,second,third", "TELEGRAM_SESSION": main, "TELEGRAM_SESSION_SECOND": second,
        "TELEGRAM_SESSION_FILE": str(tmp_path / "data" / "tgmon-user.session")}, env_file=NO_ENV)
    clients = {name: make_user_client(settings, name) for name in ("main", "second", "third")}
    assert isinstance(clients["main"].session, StringSession) and clients["main"].session.dc_id == 4
    assert isinstance(clients["second"].session, StringSession) and clients["second"].session.dc_id == 2
    third = clients["third"].session  # no string: its own file next to the main one, mode 600
    assert isinstance(third, SQLiteSession)
    path = tmp_path / "data" / "tgmon-user-third.session"
    assert session_path(settings.telegram, account="third") == path
    assert path.exists() and stat.S_IMODE(path.stat().st_mode) == 0o600
    third.close()
    assert settings.telegram.account_session("third") is None
    assert {main, second} <= set(settings.secrets())


def test_unknown_account_and_mangled_session_are_explained(tmp_path: Path) -> None:
    settings = load_settings(environ={**CREDS, "TELEGRAM_ACCOUNTS": "second", "TELEGRAM_SESSION_SECOND": "1not-a-session",
                                      "TELEGRAM_SESSION_FILE": str(tmp_path / "u.session")}, env_file=NO_ENV)
    with pytest.raises(ConfigError, match=r"no monitoring account named 'nobody'; configured: main, second") as err:
        make_user_client(settings, "nobody")
    assert "TELEGRAM_ACCOUNTS=main,second,NAME" in str(err.value)
    with pytest.raises(ConfigError, match=r"TELEGRAM_SESSION_SECOND is not a valid Telethon session string; run "
                                          r"`tgmon login --account second --string`") as err:
        make_user_client(settings, "second")
    assert "1not-a-session" not in str(err.value)


@pytest.mark.parametrize("json_logs", ["true", "false"])
def test_session_strings_of_extra_accounts_are_redacted(json_logs: str, restore_root: None) -> None:
    second, third = _session_string(2), _session_string(3)
    settings = load_settings(environ={**CREDS, "TELEGRAM_ACCOUNTS": "second,third", "TELEGRAM_SESSION_SECOND": second,
                                      "TELEGRAM_SESSION_THIRD": third, "TGMON_LOG_JSON": json_logs,
                                      "TGMON_LOG_LEVEL": "DEBUG"}, env_file=NO_ENV)
    stream = io.StringIO()
    setup_logging(settings, stream=stream)
    log = logging.getLogger("bot.ingest.accounts")
    log.debug("second uses %s", second)
    log.info("extra", extra={"session": third})
    try:
        raise RuntimeError(f"bad session {third}")
    except RuntimeError:
        log.exception("failed")
    assert repr(settings.telegram).count("**********") >= 3  # api hash and both sessions hidden in repr
    written = stream.getvalue()
    assert second not in written and third not in written
    assert written.count(REDACTED) == (3 if json_logs == "true" else 2)  # plain lines do not show extra fields
