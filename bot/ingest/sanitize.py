"""What every post must be before it is stored, so SQLite and PostgreSQL take the same posts the same way.

PostgreSQL refuses a NUL character in text and a string longer than its column; neither database
can store a lone UTF-16 surrogate (a JSON export may hold one: ``"\\ud800"``); BIGINT columns stop
at 2**63 - 1. SQLite takes some of these and PostgreSQL fails mid-import, after earlier batches were
committed. So posts from exports (bot/ingest/export.py) and from Telegram (bot/telegram/convert.py)
pass through `sanitize_post` first:

- NUL characters are removed and lone surrogates become U+FFFD;
- the text is cut to `MAX_TEXT` characters (stored, matched and indexed: Telegram's own limit is
  4096 characters for a message, 1024 or 4096 for a caption; a bigger text is not a real post, and
  a 50 MB one would tie up the matcher and the index);
- the forward's name, the media type and the channel's title are cut to their column lengths;
- ids that do not fit in a BIGINT are dropped (reply_to, grouped_id, views, forward ids).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from bot import domain
from bot.storage import models as m

MAX_TEXT = 100_000  # characters of a post's text that are stored, matched and indexed
BIGINT_MAX = 2**63 - 1


def _length(column: object) -> int:
    length = getattr(getattr(column, "type", None), "length", None)
    assert isinstance(length, int)
    return length


FORWARD_NAME = _length(m.Post.__table__.c.forward_name)  # type: ignore[attr-defined]
MEDIA_TYPE = _length(m.Post.__table__.c.media_type)  # type: ignore[attr-defined]
TITLE = _length(m.Channel.__table__.c.title)  # type: ignore[attr-defined]

_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """``text`` without NUL characters and with lone surrogates as U+FFFD (what every database takes)."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = _SURROGATE.sub("\ufffd", text)
    return text


def fit(text: str | None, limit: int) -> str | None:
    """A cleaned ``text`` of at most ``limit`` characters (None stays None)."""
    if text is None:
        return None
    text = clean_text(text)
    return text if len(text) <= limit else text[:limit]


def bigint(value: int | None) -> int | None:
    """``value`` when a BIGINT column can hold it, else None."""
    if value is None or isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if -BIGINT_MAX - 1 <= value <= BIGINT_MAX else None


@dataclass(frozen=True, slots=True)
class Sanitized:
    post: domain.Post
    cleaned: bool = False  # NUL characters removed or lone surrogates replaced somewhere
    truncated: bool = False  # the text was longer than MAX_TEXT and was cut


def sanitize_post(post: domain.Post) -> Sanitized:
    """The post as the database will store it (see the module docstring)."""
    text = clean_text(post.text)
    cleaned = text != post.text
    truncated = len(text) > MAX_TEXT
    if truncated:
        text = text[:MAX_TEXT]
    changes: dict[str, object] = {}
    if text != post.text:
        changes["text"] = text
    forward = post.forward
    if forward is not None:
        name = fit(forward.name, FORWARD_NAME)
        fixed = domain.ForwardOrigin(bigint(forward.channel_id), bigint(forward.message_id), name)
        if fixed != forward:
            changes["forward"] = fixed
            cleaned = cleaned or clean_text(forward.name or "") != (forward.name or "")
    media = fit(post.media_type, MEDIA_TYPE)
    if media != post.media_type:
        changes["media_type"] = media
    title = fit(post.channel.title, TITLE) or ""
    if title != post.channel.title:
        changes["channel"] = dataclasses.replace(post.channel, title=title)
    for name in ("reply_to", "grouped_id", "views"):
        value = getattr(post, name)
        if value is not None and bigint(value) != value:
            changes[name] = None
    if not changes:
        return Sanitized(post)
    return Sanitized(dataclasses.replace(post, **changes), cleaned, truncated)  # type: ignore[arg-type]
