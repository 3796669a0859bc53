"""Reader for Telegram Desktop's "Export chat history" JSON (result.json), as a stream.

The file is parsed event by event (ijson), so a 1 GB export never sits in memory whole.
Service messages are skipped; photos, files and captions, edits, forwards and replies are kept.

Hostile or damaged files are refused early with the place and the problem (nesting deeper than an
export has, an id or a date no database can hold), and every post is made storable on both
databases (bot/ingest/sanitize.py): what was changed or skipped is counted in `ExportStats`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import ijson

from bot.domain import ChannelRef, ForwardOrigin, Post
from bot.ingest.sanitize import BIGINT_MAX, MAX_TEXT, TITLE, fit, sanitize_post

CHANNEL_TYPES = {"public_channel", "private_channel", "public_supergroup", "private_supergroup"}
CHAT_TYPES = CHANNEL_TYPES | {"personal_chat", "private_group", "bot_chat", "saved_messages"}
_MEDIA_KEYS = (("photo", "photo"), ("sticker_emoji", "sticker"), ("poll", "poll"), ("location_information", "location"))
# the deepest a real export nests: {"messages": [{"text": [{...}]}]}, polls and inline buttons one or
# two levels more. Beyond this the file is not an export (and ijson's prefixes grow with the depth)
MAX_DEPTH = 12
_SMALL_IDS = 1 << 28  # ids below this are remembered in a bitmap (32 MB at most), others in a set
# the parser (yajl) re-reads a string that spans its buffers from the start at every buffer: large
# buffers keep a 50 MB string at ~2 s instead of minutes; a run of more than _MAX_RUN bytes without
# a quote (a string that long) is refused, as no export holds one
_BUFFER = 4 << 20
_MAX_RUN = 64 << 20


class ExportError(Exception):
    """The export is malformed. The message says where (message id or byte offset) and what."""


@dataclass(frozen=True, slots=True)
class ExportHeader:
    name: str
    type: str
    id: int | None


@dataclass(slots=True)
class ExportStats:
    """What the reader changed or left out, for the import summary."""

    skipped_items: int = 0  # items of "messages" that are not objects (a string, a number, a list)
    duplicate_ids: int = 0  # later occurrences of a message id already read: skipped, the first is kept
    truncated: int = 0  # texts longer than MAX_TEXT characters, cut to it
    cleaned: int = 0  # posts whose text or names held NUL characters (removed) or lone surrogates

    def notes(self) -> list[str]:
        """One short phrase per thing worth telling (empty: nothing was changed or left out)."""
        out = []
        if self.skipped_items:
            out.append(f'{_n(self.skipped_items, "item", "items")} of "messages" that are not messages skipped')
        if self.duplicate_ids:
            out.append(f'{_n(self.duplicate_ids, "repeated message id", "repeated message ids")} skipped '
                       "(the first text of each id kept)")
        if self.truncated:
            out.append(f'{_n(self.truncated, "text", "texts")} longer than {MAX_TEXT:,} characters cut to that length')
        if self.cleaned:
            out.append(f'{_n(self.cleaned, "post", "posts")} with NUL or invalid characters, removed')
        return out


def _n(count: int, one: str, many: str) -> str:
    return f"{count:,} {one if count == 1 else many}"


def read_export(
    path: Path,
    *,
    username: str | None = None,
    on_progress: Callable[[int], None] | None = None,
    stats: ExportStats | None = None,
) -> Iterator[Post]:
    """Yield the posts of an export in file order. Raises ExportError on the first problem.
    ``stats``, when given, counts what was skipped or changed."""
    if not path.exists():
        raise ExportError("no such file; give the path of result.json from Telegram Desktop's export")
    if path.is_dir():
        path = path / "result.json"
        if not path.exists():
            raise ExportError("the folder holds no result.json; export the chat history as JSON")
    with path.open("rb") as fh:
        yield from _read(fh, username, on_progress, stats if stats is not None else ExportStats())


def _bounded(events: Iterable[tuple[str, Any]], fh: IO[bytes], last: list[int | None]) -> Iterator[tuple[str, Any]]:
    """The parser's events, refusing nesting deeper than any export has, before it costs memory
    (the events carry no prefix: ijson's prefixes grow with the depth, so 20,000 nested arrays would
    cost a gigabyte of prefix strings before the first one could be looked at)."""
    depth = 0
    for event, value in events:
        if event in ("start_map", "start_array"):
            depth += 1
            if depth > MAX_DEPTH:
                where = f"after message {last[0]}" if last[0] is not None else "before the first message"
                raise ExportError(
                    f"arrays or objects nested more than {MAX_DEPTH} deep near byte {fh.tell()} ({where}); "
                    "a Telegram Desktop export nests only a few levels, so this is not one"
                )
        elif event in ("end_map", "end_array"):
            depth -= 1
        yield event, value


class _Runs:
    """``fh`` for the parser, refusing a run of more than _MAX_RUN bytes without a quote (a string
    that long would take the parser minutes; two C-level searches per read)."""

    def __init__(self, fh: IO[bytes]) -> None:
        self.fh = fh
        self.run = 0  # bytes since the last quote

    def read(self, size: int = -1) -> bytes:
        chunk = self.fh.read(size)
        first = chunk.find(b'"')
        if first < 0:
            self.run += len(chunk)
        else:
            self.run += first
            if self.run <= _MAX_RUN:
                self.run = len(chunk) - 1 - chunk.rfind(b'"')
        if self.run > _MAX_RUN:
            raise ExportError(f"a value of more than {_MAX_RUN >> 20} MB near byte {self.fh.tell()}: no Telegram "
                              "export holds one (a message's text is at most a few thousand characters)")
        return chunk


class _Seen:
    """Message ids read so far: a bitmap for the usual small ids, a set for the rest."""

    def __init__(self) -> None:
        self.bits = bytearray()
        self.other: set[int] = set()

    def add(self, msg_id: int) -> bool:
        """Remember ``msg_id``; False when it was already there."""
        if 0 <= msg_id < _SMALL_IDS:
            byte, bit = divmod(msg_id, 8)
            if byte >= len(self.bits):
                self.bits.extend(bytes(max(byte + 1 - len(self.bits), len(self.bits))))
            if self.bits[byte] >> bit & 1:
                return False
            self.bits[byte] |= 1 << bit
            return True
        if msg_id in self.other:
            return False
        self.other.add(msg_id)
        return True


def _read(
    fh: IO[bytes], username: str | None, on_progress: Callable[[int], None] | None, stats: ExportStats
) -> Iterator[Post]:
    header: dict[str, Any] = {}
    channel: ChannelRef | None = None
    last: list[int | None] = [None]  # the last message id read, for error messages
    events = _bounded(ijson.basic_parse(_Runs(fh), buf_size=_BUFFER, use_float=True), fh, last)
    seen_messages = in_messages = False
    seen = _Seen()
    depth = 0  # 1: inside the top-level object; 2: inside its "messages" list (or another value)
    key: str | None = None  # the top-level key whose value is being read
    try:
        for event, value in events:
            if event == "map_key" and depth == 1:
                key = value
                continue
            if depth == 1 and key in ("name", "type", "id") and event in ("string", "number", "null"):
                header[key] = value
            elif depth == 1 and key == "messages" and event == "start_array":
                seen_messages = in_messages = True
                channel = _channel(header, username)
            elif in_messages and channel is not None and event != "end_array":
                if event != "start_map":  # a string, a number, null or a list where a message should be
                    stats.skipped_items += 1
                    if event == "start_array":
                        _skip(events)
                    continue
                raw = _object(events, event, value)
                post = _post(raw, channel, last[0])
                if isinstance(raw.get("id"), int):
                    last[0] = raw["id"]
                if on_progress is not None:
                    on_progress(fh.tell())
                if post is None:
                    continue
                if not seen.add(post.message_id):
                    stats.duplicate_ids += 1
                    continue
                clean = sanitize_post(post)
                stats.truncated += clean.truncated
                stats.cleaned += clean.cleaned
                yield clean.post
                continue
            if event in ("start_map", "start_array"):
                depth += 1
            elif event in ("end_map", "end_array"):
                depth -= 1
                in_messages = False  # only the "messages" list ends at depth 2 while it is open
    except ijson.JSONError as exc:
        where = f"after message {last[0]}" if last[0] is not None else "before the first message"
        raise ExportError(f"not valid JSON near byte {fh.tell()} ({where}): {_short(exc)}") from None
    except UnicodeDecodeError:  # invalid UTF-8, or a lone surrogate escaped in a key (\udcff)
        where = f"after message {last[0]}" if last[0] is not None else "before the first message"
        raise ExportError(f"not valid UTF-8 text near byte {fh.tell()} ({where}); "
                          "export the chat again from Telegram Desktop") from None
    if not seen_messages:
        raise ExportError('no "messages" list: this is not a Telegram Desktop JSON export (result.json)')


def _object(events: Iterator[tuple[str, Any]], event: str, value: Any) -> dict[str, Any]:
    """The object whose start_map was just read, built from the events up to its end."""
    builder = ijson.ObjectBuilder()
    builder.event(event, value)
    depth = 1
    for ev, val in events:
        builder.event(ev, val)
        if ev in ("start_map", "start_array"):
            depth += 1
        elif ev in ("end_map", "end_array"):
            depth -= 1
            if depth == 0:
                break
    raw: dict[str, Any] = builder.value
    return raw


def _skip(events: Iterator[tuple[str, Any]]) -> None:
    """Read past the container whose start was just read."""
    depth = 1
    for ev, _ in events:
        if ev in ("start_map", "start_array"):
            depth += 1
        elif ev in ("end_map", "end_array"):
            depth -= 1
            if depth == 0:
                return


def _short(exc: Exception) -> str:
    """The parser's complaint on one line, without the file's contents it may quote at length."""
    text = " ".join(str(exc).split())
    return text if len(text) <= 200 else text[:199] + "…"


def _channel(header: dict[str, Any], username: str | None) -> ChannelRef:
    kind = header.get("type")
    if kind is not None and kind not in CHAT_TYPES:
        raise ExportError(f'unknown export type {_show(kind)}; expected one of {", ".join(sorted(CHAT_TYPES))}')
    raw_id = header.get("id")
    telegram_id: int | None = None
    if raw_id is not None:
        telegram_id = _int_id(raw_id)
        if telegram_id is None:
            raise ExportError(f'the export\'s chat "id" is not a Telegram id: {_show(raw_id)} '
                              "(expected a whole number such as 1302282372)")
    if telegram_id is None and not username:
        raise ExportError('the export has no chat "id"; name the channel with --channel USERNAME')
    title = fit(str(header.get("name") or ""), TITLE) or ""
    return ChannelRef(telegram_id, username.lstrip("@").lower() if username else None, title)


def _int_id(value: object) -> int | None:
    """A whole number that fits a BIGINT column (1.0 counts; 1.5, 1e300, true and "1" do not)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        if not value.is_integer() or abs(value) > BIGINT_MAX:
            return None
        value = int(value)
    if isinstance(value, int) and -BIGINT_MAX - 1 <= value <= BIGINT_MAX:
        return value
    return None


def _show(value: object) -> str:
    """A value from the file for an error message: its repr, shortened."""
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


def _post(raw: Any, channel: ChannelRef, previous: int | None) -> Post | None:
    where = f"the message after id {previous}" if previous is not None else "the first message"
    if not isinstance(raw, dict):
        raise ExportError(f"{where} is not an object")
    msg_id = raw.get("id")
    if not isinstance(msg_id, int) or isinstance(msg_id, bool):
        raise ExportError(f'{where} has no numeric "id"')
    if not 0 <= msg_id <= BIGINT_MAX:
        raise ExportError(f'{where} has the "id" {_show(msg_id)}, which is not a Telegram message id '
                          "(a whole number from 0 to 2**63 - 1)")
    where = f"message {msg_id}"
    if raw.get("type", "message") != "message":
        return None  # service messages: pins, joins, title changes
    date = _date(raw, "date", where)
    if date is None:
        raise ExportError(f'{where}: missing "date"')
    edited = _date(raw, "edited", where)
    forward = None
    if raw.get("forwarded_from") is not None:
        forward = ForwardOrigin(name=_string(raw["forwarded_from"]))
    reply_to = raw.get("reply_to_message_id")
    return Post(
        channel=channel,
        message_id=msg_id,
        date=date,
        text=_text(raw, where),
        edit_date=edited,
        forward=forward,
        media_type=_media(raw),
        reply_to=reply_to if isinstance(reply_to, int) and not isinstance(reply_to, bool) else None,
    )


def _string(value: object) -> str:
    """A name from the file as text; a name that is an object or a list is not spelled out whole."""
    return value if isinstance(value, str) else str(value)[:256]


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
        except (TypeError, ValueError, OverflowError, OSError):
            raise ExportError(f'{where}: "{key}_unixtime" is not a date: {_show(unix)} '
                              "(expected seconds since 1970 such as 1793520000)") from None
    value = raw.get(key)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise ExportError(f'{where}: "{key}" is not a date: {_show(value)} (expected 2026-11-01T08:15:00)') from None


def _media(raw: dict[str, Any]) -> str | None:
    for key, name in _MEDIA_KEYS:
        if raw.get(key):
            return name
    if raw.get("file") or raw.get("media_type"):
        kind = raw.get("media_type")
        return _string(kind) if kind else "document"
    return None
