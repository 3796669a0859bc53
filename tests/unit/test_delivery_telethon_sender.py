"""TelethonSender at its edge: real Telethon requests and errors, a stand-in for the network call."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from telethon import errors
from telethon.tl import functions, types

from bot.delivery.errors import ChatFloodWait, ChatUnavailable, SendFailed, SendUncertain
from bot.telegram.sender import TelethonSender


class Client:
    """What TelethonSender uses of a TelegramClient; `answer` is returned or raised per request."""

    def __init__(self, answer: Any = None, connected: bool = True) -> None:
        self.answer, self.connected, self.requests, self.uploads = answer, connected, [], []

    def is_connected(self) -> bool:
        return self.connected

    async def get_input_entity(self, chat_id: int) -> Any:
        raise ValueError("Could not find the input entity")

    async def upload_file(self, data: bytes, file_name: str) -> Any:
        self.uploads.append(data)
        return types.InputFile(id=1, parts=1, name=file_name, md5_checksum="")

    async def __call__(self, request: Any) -> Any:
        self.requests.append(request)
        if isinstance(self.answer, BaseException):
            raise self.answer
        if self.answer == "hang":
            await asyncio.sleep(10)
        return types.Updates(updates=[types.UpdateMessageID(id=77, random_id=request.random_id)], users=[],
                             chats=[], date=None, seq=0)


async def test_sends_parsed_html_with_the_outbox_random_id() -> None:
    client = Client()
    result = await TelethonSender(client).send_html(42, "<b>AT&amp;T</b> x&lt;y", random_id=123)  # type: ignore[arg-type]
    (request,) = client.requests
    assert isinstance(request, functions.messages.SendMessageRequest)
    assert request.message == "AT&T x<y" and request.random_id == 123
    assert isinstance(request.entities[0], types.MessageEntityBold)
    assert request.peer == types.InputPeerUser(42, 0)
    assert result.message_id == 77


async def test_chart_goes_as_a_photo_with_the_text_as_caption_or_before_a_long_text() -> None:
    client = Client()
    await TelethonSender(client).send_html(42, "short", random_id=5, attachment=b"\x89PNG")  # type: ignore[arg-type]
    (request,) = client.requests
    assert isinstance(request, functions.messages.SendMediaRequest) and request.message == "short"
    client = Client()
    await TelethonSender(client).send_html(42, "я" * 2000, random_id=5, attachment=b"\x89PNG")  # type: ignore[arg-type]
    photo, text = client.requests
    assert isinstance(photo, functions.messages.SendMediaRequest) and photo.random_id != 5
    assert isinstance(text, functions.messages.SendMessageRequest) and text.random_id == 5


async def test_a_silent_send_is_silent_on_the_wire_and_a_loud_one_is_not() -> None:
    client = Client()
    sender = TelethonSender(client)  # type: ignore[arg-type]
    await sender.send_html(42, "digest", random_id=1, silent=True)
    await sender.send_html(42, "alert", random_id=2)
    await sender.send_html(42, "я" * 2000, random_id=3, attachment=b"\x89PNG", silent=True)
    quiet, loud, photo, text = client.requests
    assert quiet.silent is True and not loud.silent  # Telegram's flag, as TL serialises it
    assert photo.silent is True and text.silent is True  # the chart and its long text alike
    assert bytes(quiet) != bytes(functions.messages.SendMessageRequest(quiet.peer, "digest", random_id=1))


async def test_buttons_go_under_the_message_as_callback_buttons() -> None:
    client = Client()
    await TelethonSender(client).send_html(42, "digest", random_id=1, buttons=[[("Next 10 ›", "dg:more:7")]])  # type: ignore[arg-type]
    (request,) = client.requests
    [[button]] = [row.buttons for row in request.reply_markup.rows]
    assert button.text == "Next 10 ›" and button.type.data == b"dg:more:7"  # a callback button
    bytes(request)  # serialises as it would on the wire


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (errors.FloodWaitError(None, 60), ChatFloodWait),
        (errors.UserIsBlockedError(None), ChatUnavailable),
        (errors.InputUserDeactivatedError(None), ChatUnavailable),
        (errors.ChatWriteForbiddenError(None), ChatUnavailable),
        (errors.PeerIdInvalidError(None), ChatUnavailable),
        (errors.MessageTooLongError(None), SendFailed),
        (ConnectionError("reset"), SendUncertain),
    ],
)
async def test_telethon_errors_map_to_delivery_errors(error: BaseException, expected: type) -> None:
    with pytest.raises(expected) as info:
        await TelethonSender(Client(error)).send_html(42, "hi", random_id=1)  # type: ignore[arg-type]
    if expected is ChatFloodWait:
        assert info.value.seconds == 60  # type: ignore[attr-defined]


async def test_a_timeout_after_the_request_went_out_is_uncertain() -> None:
    client = Client("hang")
    with pytest.raises(SendUncertain):
        await TelethonSender(client, timeout=0.01).send_html(42, "hi", random_id=1)  # type: ignore[arg-type]
    assert len(client.requests) == 1


async def test_a_repeat_dropped_by_telegram_counts_as_delivered_and_offline_is_a_plain_failure() -> None:
    result = await TelethonSender(Client(errors.RandomIdDuplicateError(None))).send_html(1, "x", random_id=1)  # type: ignore[arg-type]
    assert result.message_id is None
    with pytest.raises(SendFailed):
        await TelethonSender(Client(connected=False)).send_html(1, "x", random_id=1)  # type: ignore[arg-type]
