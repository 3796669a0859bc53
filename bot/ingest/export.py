"""Reader for Telegram Desktop's "Export chat history" JSON (result.json), as a stream.

The file is parsed event by event (ijson), so a 1 GB export never sits in memory whole.
Service messages are skipped; photos, files and captions, edits, forwards and replies are kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import ijson

from bot.domain import ChannelRef, ForwardOrigin, Post

CHANNEL_TYPES = {"public_channel", "private_channel", "public_supergroup", "private_supergroup"}
CHAT_TYPES = CHANNEL_TYPES | {"personal_chat", "private_group", "bot_chat", "saved_messages"}
_MEDIA_KEYS = (("photo", "photo"), ("sticker_emoji", "sticker"), ("poll", "poll"), ("location_information", "location"))


class ExportError(Exception):
    """The export is malformed. The message says where (message id or byte offset) and what."""


@dataclass(frozen=True, slots=True)
class ExportHeader:
    name: str
    type: str
    id: int | None


def read_export(
    path: Path,
    *,
    username: str | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> Iterator[Post]:
    """Yield the posts of an export in file order. Raises ExportError on the first problem."""
    if not path.exists():
        raise ExportError("no such file; give the path of result.json from Telegram Desktop's export")
    if path.is_dir():
        path = path / "result.json"
        if not path.exists():
            raise ExportError("the folder holds no result.json; export the chat history as JSON")
    with path.open("rb") as fh:
        yield from _read(fh, username, on_progress)


def _read(fh: IO[bytes], username: str | None, on_progress: Callable[[int], None] | None) -> Iterator[Post]:
    header: dict[str, Any] = {}
    channel: ChannelRef | None = None
    parser = ijson.parse(fh, use_float=True)
    seen_messages = False
    last_id: int | None = None
    try:
        for prefix, event, value in parser:
            if prefix in ("name", "type", "id") and event in ("string", "number", "null"):
                header[prefix] = value
            elif prefix == "messages" and event == "start_array":
                seen_messages = True
                channel = _channel(header, username)
            elif prefix == "messages.item" and event == "start_map":
                builder = ijson.ObjectBuilder()
                builder.event(event, value)
                depth = 1
                for _prefix, ev, val in parser:
                    builder.event(ev, val)
                    if ev in ("start_map", "start_array"):
                        depth += 1
                    elif ev in ("end_map", "end_array"):
                        depth -= 1
                        if depth == 0:
                            break
                raw = builder.value
                assert channel is not None
                post = _post(raw, channel, last_id)
                if isinstance(raw, dict) and isinstance(raw.get("id"), int):
                    last_id = raw["id"]
                if on_progress is not None:
                    on_progress(fh.tell())
                if post is not None:
                    yield post
    except ijson.JSONError as exc:
        where = f"after message {last_id}" if last_id is not None else "before the first message"
        raise ExportError(f"not valid JSON near byte {fh.tell()} ({where}): {exc}") from None
    if not seen_messages:
        raise ExportError('no "messages" list: this is not a Telegram Desktop JSON export (result.json)')


def _channel(header: dict[str, Any], username: str | None) -> ChannelRef:
    kind = header.get("type")
    if kind is not None and kind not in CHAT_TYPES:
        raise ExportError(f'unknown export type {kind!r}; expected one of {", ".join(sorted(CHAT_TYPES))}')
    raw_id = header.get("id")
    telegram_id = int(raw_id) if isinstance(raw_id, (int, float)) else None
    if telegram_id is None and not username:
        raise ExportError('the export has no chat "id"; name the channel with --channel USERNAME')
    return ChannelRef(telegram_id, username.lstrip("@").lower() if username else None, str(header.get("name") or ""))


def _post(raw: Any, channel: ChannelRef, previous: int | None) -> Post | None:
    where = f"the message after id {previous}" if previous is not None else "the first message"
    if not isinstance(raw, dict):
        raise ExportError(f"{where} is not an object")
    msg_id = raw.get("id")
    if not isinstance(msg_id, int) or isinstance(msg_id, bool):
        raise ExportError(f'{where} has no numeric "id"')
    where = f"message {msg_id}"
    if raw.get("type", "message") != "message":
        return None  # service messages: pins, joins, title changes
    date = _date(raw, "date", where)
    if date is None:
        raise ExportError(f'{where}: missing "date"')
    edited = _date(raw, "edited", where)
    forward = None
    if raw.get("forwarded_from") is not None:
        forward = ForwardOrigin(name=str(raw["forwarded_from"]))
    reply_to = raw.get("reply_to_message_id")
    return Post(
        channel=channel,
        message_id=msg_id,
        date=date,
        text=_text(raw, where),
        edit_date=edited,
        forward=forward,
        media_type=_media(raw),
        reply_to=reply_to if isinstance(reply_to, int) else None,
    )


def _text(raw: dict[str, Any], where: str) -> str:
    entities = raw.get("text_entities")
    if isinstance(entities, list) and entities:
        return "".join(_piece(e, where) for e in entities)
    text = raw.get("text", "")
    if isinstance(text, str):
        return text
    if isinstance(text, list):
        return "".join(_piece(e, where) for e in text)
    raise ExportError(f'{where}: "text" must be a string or a list, not {type(text).__name__}')


def _piece(entity: Any, where: str) -> str:
    if isinstance(entity, str):
        return entity
    if isinstance(entity, dict) and isinstance(entity.get("text", ""), str):
        return str(entity.get("text", ""))
    raise ExportError(f"{where}: a text part is neither a string nor an entity with a text")


def _date(raw: dict[str, Any], key: str, where: str) -> datetime | None:
    unix = raw.get(f"{key}_unixtime")
    if unix is not None:
        try:
            return datetime.fromtimestamp(int(unix), UTC)
        except (TypeError, ValueError, OverflowError):
            raise ExportError(f'{where}: "{key}_unixtime" is not a number: {unix!r}') from None
    value = raw.get(key)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        raise ExportError(f'{where}: "{key}" is not a date: {value!r} (expected 2026-11-01T08:15:00)') from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _media(raw: dict[str, Any]) -> str | None:
    for key, name in _MEDIA_KEYS:
        if raw.get(key):
            return name
    if raw.get("file") or raw.get("media_type"):
        return str(raw.get("media_type") or "document")
    return None
