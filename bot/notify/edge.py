"""The one place a notification goes out: an apprise plugin built from the URL, one request (or one
SMTP transaction) per call, in a thread (apprise is synchronous).

Nothing here logs a URL. apprise's own log records never reach the process's log stream (they can
hold a webhook path or a user name): a send collects the warnings of its own thread and returns
them, masked, as the reason for a failure. urllib3's request lines (DEBUG, with the path and query
of the URL) are silenced too.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, unquote, urlsplit

from bot.notify.render import apprise_format

if TYPE_CHECKING:  # apprise (and its plugins) load when a URL is parsed or a message sent, not before
    from apprise import NotifyFormat

WEBHOOKS = frozenset({"json", "jsons", "form", "forms", "xml", "xmls"})
MAIL = frozenset({"mailto", "mailtos"})
KEY_HEADER = "Idempotency-Key"  # a webhook's idempotency key (IETF draft "The Idempotency-Key HTTP Header Field")
MAIL_KEY_HEADER = "X-Tgmon-Key"  # the same key on an e-mail (apprise writes a fresh Message-ID per send)

_URL = re.compile(r"\b([a-z][a-z0-9+.-]{1,20})://[^\s'\"<>]+", re.I)
_local = threading.local()


class _ThreadCapture(logging.Handler):
    """Keeps apprise's warnings of the thread that is sending, to give them back as the reason."""

    def emit(self, record: logging.LogRecord) -> None:
        found = getattr(_local, "records", None)
        if found is not None and record.levelno >= logging.WARNING:
            with contextlib.suppress(Exception):  # a broken format string in a library record: nothing to keep
                found.append(record.getMessage())


def _contain_library_logs() -> None:
    quiet = logging.getLogger("apprise")
    if not any(isinstance(h, _ThreadCapture) for h in quiet.handlers):
        quiet.addHandler(_ThreadCapture())
        quiet.propagate = False  # apprise's records stop here: never in the process's log stream
    logging.getLogger("urllib3.connectionpool").setLevel(logging.INFO)  # its DEBUG lines carry the path


_contain_library_logs()


@dataclass(frozen=True, slots=True)
class Parsed:
    """What tgmon keeps about a URL apprise understands (never the URL's secret parts)."""

    scheme: str
    masked: str
    body_format: str  # html | markdown | text
    body_limit: int
    keyed: bool


def _formats(plugin: object) -> tuple[NotifyFormat, ...]:
    from apprise import NotifyFormat

    declared = getattr(plugin, "notify_format", NotifyFormat.TEXT)
    return tuple(declared) if isinstance(declared, tuple | list) else (declared,)


def mask(url: str) -> str:
    """scheme://host and nothing else; a "host" that is really a token (Discord's webhook id, Slack's
    first token, an ntfy topic) shows only its first two characters."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        scheme = parts.scheme.lower() or "?"
    except ValueError:
        return "?"
    looks_like_host = "." in host or host == "localhost" or ":" in host
    if host and not looks_like_host:
        host = host[:2] + "…"
    return f"{scheme}://{host}" if host else f"{scheme}://…"


def secret_parts(url: str) -> list[str]:
    """Every piece of the URL that may be secret (user, password, path segments, query values, the
    whole URL), longest first: what a failure reason must never show."""
    pieces = {url.strip()}
    try:
        parts = urlsplit(url.strip())
        pieces.update(p for p in (parts.username, parts.password, parts.netloc) if p)
        pieces.update(unquote(s) for s in parts.path.split("/") if s)
        pieces.update(s for s in parts.path.split("/") if s)
        pieces.update(v for _, v in parse_qsl(parts.query) if v)
    except ValueError:
        pass
    return sorted((p for p in pieces if len(p) >= 4), key=len, reverse=True)


def redact(text: str, url: str) -> str:
    text = _URL.sub(lambda m: mask(m.group(0)), text)
    for piece in secret_parts(url):
        text = text.replace(piece, "***")
    return text


def parse(url: str) -> Parsed | None:
    """What apprise makes of `url`, or None when it cannot use it (an unknown scheme, a missing part)."""
    import apprise
    from apprise import NotifyFormat

    url = url.strip()
    plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True) if url else None
    if plugin is None:
        return None
    scheme = urlsplit(url).scheme.lower()
    formats = _formats(plugin)
    if scheme in MAIL and NotifyFormat.HTML in formats:
        fmt = "html"
    elif scheme in WEBHOOKS or formats == (NotifyFormat.TEXT,):
        fmt = "text"
    elif NotifyFormat.MARKDOWN in formats:
        fmt = "markdown"
    elif NotifyFormat.HTML in formats:
        fmt = "html"
    else:
        fmt = "text"
    limit = int(getattr(plugin, "body_maxlen", 0) or 0) or 32768
    json_cap = int(getattr(plugin, "ntfy_json_upstream_size_limit", 0) or 0)
    if json_cap:  # ntfy: a JSON body over this many bytes goes as a file; \uXXXX makes a letter 6 bytes
        limit = min(limit, json_cap // 6)
    return Parsed(scheme, mask(url), fmt, max(200, limit), scheme in WEBHOOKS or scheme in MAIL)


class DeliveryRefused(Exception):
    """apprise reported a failure; the message is masked."""


def deliver(url: str, *, title: str, body: str, body_format: str, key: str | None, timeout: float) -> None:
    """Send one message now (blocking: call it in a thread). Raises DeliveryRefused with a masked reason."""
    import apprise
    from apprise import OverflowMode

    plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    if plugin is None:
        raise DeliveryRefused("apprise cannot use this URL any more")
    scheme = urlsplit(url).scheme.lower()
    headers = getattr(plugin, "headers", None)
    if key is not None and isinstance(headers, dict):
        headers[MAIL_KEY_HEADER if scheme in MAIL else KEY_HEADER] = key
    plugin.overflow_mode = OverflowMode.TRUNCATE  # one request per outbox row: never split by apprise
    for name in ("socket_connect_timeout", "socket_read_timeout"):
        if hasattr(plugin, name):
            setattr(plugin, name, timeout)
    _local.records = []
    try:
        ok = plugin.notify(body=body, title=title, body_format=apprise_format(body_format))
        reasons = list(_local.records)
    except Exception as exc:  # a plugin bug: its text may hold the URL
        raise DeliveryRefused(redact(f"{type(exc).__name__}: {exc}", url)) from None
    finally:
        _local.records = None
    if not ok:
        reason = "; ".join(dict.fromkeys(reasons)) or "the service did not accept the message"
        raise DeliveryRefused(redact(reason, url)[:300])
