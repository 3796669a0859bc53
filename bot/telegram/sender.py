"""The Sender over the Telethon bot client: one rendered HTML message (and a PNG) per call.

Requests are built by hand (messages.sendMessage / messages.sendMedia) so the outbox's stable
`random_id` goes with them: if a chunk is ever sent twice, Telegram drops the repeat. Telethon's
errors are mapped to `bot.delivery.errors` here, so nothing past this module sees a Telethon type.
"""

from __future__ import annotations

import asyncio
from typing import Any

from telethon import Button, TelegramClient, errors
from telethon.extensions import html as telethon_html
from telethon.helpers import add_surrogate, del_surrogate
from telethon.tl import functions, types

from bot.delivery.errors import ChatFloodWait, ChatUnavailable, SendFailed, SendUncertain
from bot.domain import InlineButtons, SendResult

CAPTION_LIMIT = 1024  # UTF-16 units of a media caption
_GONE = (
    errors.UserIsBlockedError,
    errors.InputUserDeactivatedError,
    errors.UserDeactivatedError,
    errors.UserDeactivatedBanError,
    errors.ChatWriteForbiddenError,
    errors.PeerIdInvalidError,
    errors.ChatIdInvalidError,
    errors.ChannelPrivateError,
    errors.ChatAdminRequiredError,
    errors.UserBannedInChannelError,
)


def plain_text(html: str, *, links: bool = False) -> str:
    """The text a message sent as ``html`` shows, without its formatting (`tgmon digest preview`);
    with `links`, each link's address follows its text in parentheses (a terminal shows no link)."""
    text, entities = telethon_html.parse(html)
    if not links:
        return str(text)
    wide = add_surrogate(text)  # entity offsets count UTF-16 units
    for entity in sorted((e for e in entities if isinstance(e, types.MessageEntityTextUrl)),
                         key=lambda e: e.offset, reverse=True):
        end = entity.offset + entity.length
        wide = f"{wide[:end]} ({entity.url}){wide[end:]}"
    return str(del_surrogate(wide))


def as_shown(html: str) -> str:
    """What a chat shows of a message sent as ``html``: Telethon's parse into text and entities, written
    back as HTML (<strong>, <em>, <a href>): the screenshots in docs/img are drawn from this."""
    text, entities = telethon_html.parse(html)
    return str(telethon_html.unparse(text, entities))


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _photo_random_id(random_id: int) -> int:
    """The chart goes out as its own request when the text is too long for a caption: a second
    stable id, derived from the chunk's."""
    return (random_id ^ 0x5DEECE66D) & 0x7FFFFFFFFFFFFFFF or 1


def _message_id(result: Any, random_id: int) -> int | None:
    if isinstance(result, types.UpdateShortSentMessage):
        return int(result.id)
    for update in getattr(result, "updates", None) or ():
        if isinstance(update, types.UpdateMessageID) and update.random_id == random_id:
            return int(update.id)
    return None


class TelethonSender:
    def __init__(self, client: TelegramClient, *, timeout: float = 30.0) -> None:
        self.client = client
        self.timeout = timeout

    async def _peer(self, chat_id: int) -> Any:
        try:
            return await self.client.get_input_entity(chat_id)
        except (ValueError, TypeError):
            # not in the session cache (a new session): bots may address a user by id alone
            if chat_id > 0:
                return types.InputPeerUser(chat_id, 0)
            return types.InputPeerChat(-chat_id)

    async def _call(self, request: Any) -> Any:
        if not self.client.is_connected():
            raise SendFailed("the bot client is not connected")
        try:
            return await asyncio.wait_for(self.client(request), self.timeout)
        except (TimeoutError, ConnectionError) as exc:
            # the request may have reached Telegram: the outbox must not blindly send it again
            raise SendUncertain(f"no answer from Telegram ({type(exc).__name__})") from None

    async def send_html(
        self, chat_id: int, html: str, *, random_id: int, attachment: bytes | None = None, silent: bool = False,
        buttons: InlineButtons = (),
    ) -> SendResult:
        """`silent`: Telegram delivers it without a sound (the subscriber's /settings sound); `buttons`:
        callback buttons under the text (a digest's "More")."""
        text, entities = telethon_html.parse(html)
        markup = TelegramClient.build_reply_markup(
            [[Button.inline(label, data.encode()) for label, data in row] for row in buttons]) if buttons else None
        try:
            peer = await self._peer(chat_id)
            if attachment is not None:
                uploaded = await self.client.upload_file(attachment, file_name="chart.png")
                media = types.InputMediaUploadedPhoto(file=uploaded)
                if _utf16_len(text) <= CAPTION_LIMIT:
                    result = await self._call(functions.messages.SendMediaRequest(
                        peer, media, message=text, entities=entities or None, random_id=random_id, silent=silent,
                        reply_markup=markup))
                    return SendResult(_message_id(result, random_id))
                await self._call(functions.messages.SendMediaRequest(
                    peer, media, message="", random_id=_photo_random_id(random_id), silent=silent))
            result = await self._call(functions.messages.SendMessageRequest(
                peer, text, no_webpage=True, entities=entities or None, random_id=random_id, silent=silent,
                reply_markup=markup))
            return SendResult(_message_id(result, random_id))
        except errors.FloodWaitError as exc:
            raise ChatFloodWait(exc.seconds) from None
        except errors.RandomIdDuplicateError:
            return SendResult(None)  # this very chunk was delivered before: Telegram dropped the repeat
        except _GONE as exc:
            raise ChatUnavailable(type(exc).__name__) from None
        except errors.RPCError as exc:
            raise SendFailed(f"Telegram refused the message: {type(exc).__name__}") from None
