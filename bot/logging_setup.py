"""Logging: one line a record (JSON when configured) and a filter that redacts every secret.

The redaction filter sits on the handler, so it sees every record that is written, whichever
logger made it (ours, Telethon's, SQLAlchemy's, asyncpg's). It rewrites the formatted message, the
exception text and the stack text; a secret never reaches the stream.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import IO, Any

from bot.config import Settings

REDACTED = "[redacted]"
MIN_SECRET_LENGTH = 6  # shorter values would redact ordinary words; no real secret is this short

# Attributes every LogRecord has; anything else was passed with `extra=` and goes into the JSON.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


def secret_variants(secrets: Iterable[str]) -> list[str]:
    """The values to hide, longest first. A bot token `123:AAH...` also hides its secret half alone."""
    found: set[str] = set()
    for secret in secrets:
        secret = secret.strip()
        if len(secret) >= MIN_SECRET_LENGTH:
            found.add(secret)
        _, sep, tail = secret.partition(":")
        if sep and len(tail) >= 20:
            found.add(tail)
    return sorted(found, key=len, reverse=True)


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = secret_variants(secrets)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep what we can, redacted
            message = f"{record.msg!s} {record.args!r}"
        record.msg, record.args = self.redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        record.exc_info = None  # the redacted exc_text is what gets written
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, self.redact(value))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ts, level, logger, msg, process, then `exc` and any `extra=` fields."""

    def __init__(self, static: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.static = static or {}

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "pid": record.process,
            **self.static,
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in entry:
                entry[key] = value if isinstance(value, str | int | float | bool | None) else repr(value)
        return json.dumps(entry, ensure_ascii=False)


class LineFormatter(logging.Formatter):
    """Plain text, still one line a record: a traceback's newlines become ` | `."""

    def __init__(self, prefix: str = "") -> None:
        super().__init__(f"%(asctime)s %(levelname)s {prefix}%(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).replace("\n", " | ")


def setup_logging(settings: Settings, *, stream: IO[str] | None = None, role: str | None = None) -> logging.Handler:
    """Replace the root logger's handlers with one redacting handler. Safe to call more than once."""
    handler = logging.StreamHandler(stream or sys.stderr)
    static = {"role": role} if role else {}
    handler.setFormatter(JsonFormatter(static) if settings.app.log_json else LineFormatter(f"[{role}] " if role else ""))
    handler.addFilter(RedactSecrets(settings.secrets()))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.app.log_level)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # aiosqlite's DEBUG lines repeat every statement with its parameters (stored notification URLs
    # among them); SQLAlchemy's own echo says what a statement was when one is wanted
    logging.getLogger("aiosqlite").setLevel(logging.INFO)
    # Telethon is chatty at INFO (every reconnect); its warnings still come through
    if settings.app.log_level != "DEBUG":
        logging.getLogger("telethon").setLevel(logging.WARNING)
    logging.captureWarnings(True)
    return handler
