"""Telethon messages -> the project's own `domain.Post`. Pure functions over the raw TL fields: no I/O.

Works on raw `types.Message` (history pages) and on the custom Message of events alike, because it
reads only the TL fields both carry. Service messages (joins, pins, title changes) are not posts.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from telethon.tl import types

from bot import domain
from bot.ingest.sanitize import sanitize_post

_DOCUMENT_KINDS: tuple[tuple[type[Any], str], ...] = (
    (types.DocumentAttributeSticker, "sticker"),
    (types.DocumentAttributeAnimated, "gif"),
)
_MEDIA_NAMES: dict[type[Any], str] = {
    types.MessageMediaPhoto: "photo",
    types.MessageMediaPoll: "poll",
    types.MessageMediaGeo: "location",
    types.MessageMediaGeoLive: "location",
    types.MessageMediaVenue: "venue",
    types.MessageMediaContact: "contact",
    types.MessageMediaGame: "game",
    types.MessageMediaInvoice: "invoice",
    types.MessageMediaDice: "dice",
    types.MessageMediaStory: "story",
    types.MessageMediaGiveaway: "giveaway",
    types.MessageMediaPaidMedia: "paid_media",
}


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def media_type(media: Any) -> str | None:
    """A short name for a message's media; None for none, or for a link preview (a text post)."""
    if media is None or isinstance(media, types.MessageMediaEmpty | types.MessageMediaWebPage):
        return None
    if isinstance(media, types.MessageMediaDocument):
        document = media.document
        attributes = getattr(document, "attributes", None) or []
        for attribute_type, name in _DOCUMENT_KINDS:
            if any(isinstance(a, attribute_type) for a in attributes):
                return name
        for attribute in attributes:
            if isinstance(attribute, types.DocumentAttributeVideo):
                return "video_note" if attribute.round_message else "video"
            if isinstance(attribute, types.DocumentAttributeAudio):
                return "voice" if attribute.voice else "audio"
        return "document"
    known = _MEDIA_NAMES.get(type(media))
    if known is not None:
        return known
    return type(media).__name__.removeprefix("MessageMedia").lower() or "media"


def _forward(header: types.MessageFwdHeader | None) -> domain.ForwardOrigin | None:
    if header is None:
        return None
    channel_id = header.from_id.channel_id if isinstance(header.from_id, types.PeerChannel) else None
    if channel_id is None and isinstance(header.saved_from_peer, types.PeerChannel):
        channel_id = header.saved_from_peer.channel_id
    return domain.ForwardOrigin(
        channel_id=channel_id,
        message_id=header.channel_post or header.saved_from_msg_id,
        name=header.from_name or header.post_author,
    )


def is_post(message: Any) -> bool:
    """A real post: not a service message (join, pin, title change) nor an empty placeholder."""
    return isinstance(message, types.Message)


def channel_id_of(message: Any) -> int | None:
    peer = getattr(message, "peer_id", None)
    return peer.channel_id if isinstance(peer, types.PeerChannel) else None


def to_post(message: types.Message, channel: domain.ChannelRef) -> domain.Post:
    """One Telethon message as a Post of `channel` (album items are merged by `merge_album`), made
    storable on every database (bot/ingest/sanitize.py: no NUL, text within MAX_TEXT, names within
    their columns)."""
    reply = message.reply_to
    date = _utc(message.date) or datetime.now(UTC)
    return sanitize_post(domain.Post(
        channel=channel,
        message_id=message.id,
        date=date,
        text=message.message or "",
        edit_date=None if message.edit_hide else _utc(message.edit_date),
        views=message.views,
        forward=_forward(message.fwd_from),
        grouped_id=message.grouped_id,
        media_type=media_type(message.media),
        reply_to=reply.reply_to_msg_id if isinstance(reply, types.MessageReplyHeader) else None,
    )).post


def merge_album(posts: Sequence[domain.Post]) -> domain.Post:
    """Several items sharing one grouped_id as one logical post: the lowest id, the caption(s), "album".

    Any item may carry the caption (not only the first); when several do, their texts are joined.
    """
    ordered = sorted(posts, key=lambda p: p.message_id)
    first = ordered[0]
    captions = [p.text for p in ordered if p.text.strip()]
    edits = [p.edit_date for p in ordered if p.edit_date is not None]
    views = [p.views for p in ordered if p.views is not None]
    forward = next((p.forward for p in ordered if p.forward is not None), None)
    return sanitize_post(domain.Post(
        channel=first.channel,
        message_id=first.message_id,
        date=min(p.date for p in ordered),
        text="\n\n".join(captions),  # captions within MAX_TEXT each may join beyond it
        edit_date=max(edits) if edits else None,
        views=max(views) if views else None,
        forward=forward,
        grouped_id=first.grouped_id,
        media_type="album" if len(ordered) > 1 else first.media_type,
        reply_to=first.reply_to,
    )).post


def to_posts(messages: Iterable[Any], channel: domain.ChannelRef) -> Iterator[domain.Post]:
    """Messages in ascending id order -> posts, albums merged, service messages skipped.

    An album split across the end of `messages` is flushed as it stands: callers that page through
    history use `AlbumBuffer` instead, which holds the open album until the next page.
    """
    buffer = AlbumBuffer()
    for message in messages:
        if is_post(message):
            yield from buffer.push(to_post(message, channel))
    yield from buffer.flush()


class AlbumBuffer:
    """Holds consecutive items of one album (ascending ids) until an item of another group arrives."""

    def __init__(self) -> None:
        self._items: list[domain.Post] = []

    def push(self, post: domain.Post) -> list[domain.Post]:
        out: list[domain.Post] = []
        if self._items and (post.grouped_id is None or post.grouped_id != self._items[0].grouped_id):
            out = self.flush()
        if post.grouped_id is None:
            out.append(post)
        else:
            self._items.append(post)
        return out

    def flush(self) -> list[domain.Post]:
        if not self._items:
            return []
        merged = merge_album(self._items)
        self._items = []
        return [merged]
