"""TGMON_DATABASE_PASSWORD: the PostgreSQL password kept out of the URL, so any character works.

docker-compose.yml passes POSTGRES_PASSWORD this way; pasted into the URL, a password with @, /, : or #
would break it.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from bot.config import ConfigError, Settings, load_settings
from bot.logging_setup import setup_logging
from bot.runtime.leader import asyncpg_dsn

NO_ENV = Path("/nonexistent/.env")
URL = "postgresql://tgmon@postgres:5432/tgmon"
PASSWORDS = ["p@ss/w:rd#1", "a:b@c/d#e?f%20g h+i", "плохой@пароль", "ends-with-@"]


def _settings(**env: str) -> Settings:
    return load_settings(environ=env, env_file=NO_ENV)


@pytest.mark.parametrize("password", PASSWORDS)
def test_password_round_trips(password: str) -> None:
    settings = _settings(TGMON_DATABASE_URL=URL, TGMON_DATABASE_PASSWORD=password)
    url = make_url(settings.database.url)
    assert url.password == password
    assert (url.drivername, url.username, url.host, url.port, url.database) == (
        "postgresql+asyncpg", "tgmon", "postgres", 5432, "tgmon")


@pytest.mark.parametrize("password", PASSWORDS)
def test_password_reaches_asyncpg_unchanged(password: str) -> None:
    """The scheduler's lock connection parses the DSN with asyncpg's own parser."""
    from asyncpg.connect_utils import _parse_connect_dsn_and_args

    dsn = asyncpg_dsn(_settings(TGMON_DATABASE_URL=URL, TGMON_DATABASE_PASSWORD=password).database.url)
    params = _parse_connect_dsn_and_args(
        dsn=dsn, host=None, port=None, user=None, password=None, passfile=None, database=None, ssl=None,
        service=None, servicefile=None, direct_tls=None, server_settings=None, target_session_attrs=None,
        krbsrvname=None, gsslib=None)[1]
    assert (params.user, params.password, params.database) == ("tgmon", password, "tgmon")


def test_separate_password_replaces_the_urls() -> None:
    settings = _settings(TGMON_DATABASE_URL="postgresql://tgmon:old@db:5432/tgmon", TGMON_DATABASE_PASSWORD="n@w")
    assert make_url(settings.database.url).password == "n@w"


def test_empty_password_means_unset() -> None:
    settings = _settings(TGMON_DATABASE_URL="postgresql://tgmon:inurl@db/tgmon", TGMON_DATABASE_PASSWORD="")
    assert make_url(settings.database.url).password == "inurl"


def test_password_as_a_section_variable() -> None:
    settings = _settings(TGMON_DATABASE_URL=URL, TGMON_DATABASE__PASSWORD="x@y:z")
    assert make_url(settings.database.url).password == "x@y:z"


def test_password_with_sqlite_is_refused() -> None:
    with pytest.raises(ConfigError) as exc:
        _settings(TGMON_DATABASE_PASSWORD="s3cret@pw")
    assert "TGMON_DATABASE_PASSWORD" in str(exc.value) and "not PostgreSQL" in str(exc.value)
    assert "s3cret" not in str(exc.value)


def test_password_never_in_repr() -> None:
    password = "hunter2@db:5432/#"
    settings = _settings(TGMON_DATABASE_URL=URL, TGMON_DATABASE_PASSWORD=password)
    escaped = settings.database.url.split("tgmon:", 1)[1].split("@postgres", 1)[0]
    for text in (repr(settings), str(settings), repr(settings.database), str(settings.database)):
        assert "hunter2" not in text and escaped not in text
        assert "postgres:5432/tgmon" in text  # the rest of the URL is still shown


def test_password_in_the_url_never_in_repr() -> None:
    settings = _settings(TGMON_DATABASE_URL="postgresql://tgmon:hunter2pw@db:5432/tgmon")
    assert "hunter2pw" not in repr(settings) and "***" in repr(settings.database)


@pytest.mark.parametrize("json_logs", ["true", "false"])
def test_password_never_logged(json_logs: str, restore_root: None) -> None:
    password = "hunter2@db:5432/#"
    settings = _settings(TGMON_DATABASE_URL=URL, TGMON_DATABASE_PASSWORD=password, TGMON_LOG_JSON=json_logs)
    stream = io.StringIO()
    setup_logging(settings, stream=stream)
    log = logging.getLogger("tgmon.test")
    log.warning("connecting to %s with %s", settings.database.url, password)
    log.error("settings: %r", settings)
    try:
        raise ConnectionError(f"password authentication failed: {password}")
    except ConnectionError:
        log.exception("database unreachable")
    out = stream.getvalue()
    escaped = settings.database.url.split("tgmon:", 1)[1].split("@postgres", 1)[0]
    assert "hunter2" not in out and escaped not in out
    assert "[redacted]" in out and "database unreachable" in out
