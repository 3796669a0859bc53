"""One line a record, JSON when configured, and no secret ever written."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest

from bot.config import Settings, load_settings
from bot.logging_setup import REDACTED, secret_variants, setup_logging

TOKEN = "123456789:AAHfake-bot-token-secret-part-0123456789"
API_HASH = "0123456789abcdef0123456789abcdef"
SESSION = "1BVtsOK4Bu" + "x" * 300
NO_ENV = Path("/nonexistent/.env")


def _settings(json_logs: bool) -> Settings:
    env = {
        "TELEGRAM_API_ID": "12345",
        "TELEGRAM_API_HASH": API_HASH,
        "TELEGRAM_SESSION": SESSION,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TGMON_LOG_JSON": "true" if json_logs else "false",
        "TGMON_LOG_LEVEL": "DEBUG",
    }
    return load_settings(environ=env, env_file=NO_ENV)


@pytest.mark.parametrize("json_logs", [True, False])
def test_secrets_never_written(json_logs: bool, restore_root: None) -> None:
    stream = io.StringIO()
    setup_logging(_settings(json_logs), stream=stream)
    log = logging.getLogger("tgmon.test")
    log.info("connecting with token %s and hash %s", TOKEN, API_HASH)
    log.warning(f"session {SESSION} loaded; secret half {TOKEN.split(':')[1]}")
    log.info("dict args %(t)s", {"t": TOKEN})
    log.info("extra field", extra={"session": SESSION})
    try:
        raise RuntimeError(f"auth failed for https://api.telegram.org/bot{TOKEN}/getMe")
    except RuntimeError:
        log.exception("request failed (%s)", API_HASH)
    logging.getLogger("telethon.network").error("telethon says %s", SESSION)

    out = stream.getvalue()
    for secret in (TOKEN, API_HASH, SESSION, TOKEN.split(":")[1]):
        assert secret not in out
    assert out.count(REDACTED) >= 7
    lines = out.strip().splitlines()
    assert len(lines) == 6, lines  # one line a record, even with a traceback
    if json_logs:
        entries = [json.loads(line) for line in lines]
        assert entries[0]["level"] == "INFO" and entries[0]["logger"] == "tgmon.test"
        assert entries[0]["msg"] == f"connecting with token {REDACTED} and hash {REDACTED}"
        assert entries[3]["session"] == REDACTED
        assert "RuntimeError" in entries[4]["exc"] and REDACTED in entries[4]["exc"]
    else:
        assert "Traceback" in lines[4] and " | " in lines[4]


def test_without_secrets_messages_pass_untouched(restore_root: None) -> None:
    stream = io.StringIO()
    settings = load_settings(environ={"TGMON_LOG_JSON": "true"}, env_file=NO_ENV)
    setup_logging(settings, stream=stream, role="scheduler")
    logging.getLogger("x").info("plain %d", 5)
    entry = json.loads(stream.getvalue())
    assert entry["msg"] == "plain 5" and entry["role"] == "scheduler"


def test_secret_variants_ignore_short_values() -> None:
    assert secret_variants(["abc", TOKEN]) == [TOKEN, TOKEN.split(":")[1]]


def test_setup_twice_keeps_one_handler(restore_root: None) -> None:
    settings = _settings(True)
    setup_logging(settings, stream=io.StringIO())
    setup_logging(settings, stream=io.StringIO())
    assert len(logging.getLogger().handlers) == 1
