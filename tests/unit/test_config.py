from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, async_database_url, load_settings

SECRET = "0123456789abcdef0123456789abcdef"


def _load(tmp_path: Path, env: dict[str, str], toml: str | None = None, dotenv: str | None = None):  # type: ignore[no-untyped-def]
    config = tmp_path / "settings.toml"
    if toml is not None:
        config.write_text(toml, "utf-8")
    env_file = tmp_path / ".env"
    if dotenv is not None:
        env_file.write_text(dotenv, "utf-8")
    return load_settings(config_file=config if toml is not None else None, env_file=env_file,
                         environ={"TGMON_CONFIG": str(tmp_path / "absent.toml"), **env})


def test_precedence_toml_then_dotenv_then_environment(tmp_path: Path) -> None:
    s = _load(tmp_path, {"TGMON_DIGEST__DEFAULT_HOUR": "7"},
              toml="[digest]\ndefault_hour = 5\ndefault_timezone = 'UTC'\n",
              dotenv="TGMON_DIGEST__DEFAULT_HOUR=6\nTELEGRAM_API_ID=12345\n")
    assert s.digest.default_hour == 7
    assert s.digest.default_timezone == "UTC"
    assert s.telegram.api_id == 12345


def test_secrets_are_hidden(tmp_path: Path) -> None:
    s = _load(tmp_path, {"TELEGRAM_API_HASH": SECRET, "TELEGRAM_BOT_TOKEN": "123:" + SECRET})
    assert SECRET not in repr(s) and SECRET not in str(s.model_dump())
    assert s.telegram.api_hash is not None and s.telegram.api_hash.get_secret_value() == SECRET
    assert SECRET in s.secrets()[0]


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"TGMON_DATABASE_URL": "mysql://u@h/db"}, ["TGMON_DATABASE_URL", "unsupported database"]),
        ({"TGMON_DATABASE_URL": "not a url"}, ["TGMON_DATABASE_URL", "not a database URL"]),
        ({"TGMON_DIGEST__DEFAULT_TIMEZONE": "Mars/Olympus"}, ["TGMON_DIGEST__DEFAULT_TIMEZONE", "unknown timezone"]),
        ({"TGMON_DIGEST__DEFAULT_HOUR": "-1"}, ["TGMON_DIGEST__DEFAULT_HOUR", "greater than or equal to 0"]),
        ({"TELEGRAM_API_ID": "abc"}, ["TELEGRAM_API_ID", "integer"]),
        ({"TELEGRAM_SERVER": "nohost"}, ["TELEGRAM_SERVER", "host:port"]),
        ({"TGMON_LOG_LEVEL": "loud"}, ["TGMON_LOG_LEVEL", "DEBUG"]),
        ({"TGMON_DIGEST__NOPE": "1"}, ["TGMON_DIGEST__NOPE", "unknown setting"]),
    ],
)
def test_bad_values_name_the_setting(tmp_path: Path, env: dict[str, str], names: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, {**env, "TELEGRAM_API_HASH": SECRET})
    for name in names:
        assert name in str(info.value)
    assert SECRET not in str(info.value)


def test_secret_never_echoed_in_its_own_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, {}, toml=f"[telegram]\napi_hash = 5\nbot_token = ['{SECRET}']\n")
    assert SECRET not in str(info.value)


def test_bad_toml_is_explained(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        _load(tmp_path, {}, toml="[digest\n")


@pytest.mark.parametrize(
    ("plain", "expected"),
    [
        ("sqlite:///data/x.db", "sqlite+aiosqlite:///data/x.db"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("postgresql://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgres://u:p@h:5432/db", "postgresql+asyncpg://u:p@h:5432/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
    ],
)
def test_plain_urls_get_the_async_driver(plain: str, expected: str) -> None:
    assert async_database_url(plain) == expected
