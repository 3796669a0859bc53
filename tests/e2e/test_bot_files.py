"""Files through the real handlers: `/export rules` sends a JSON document; that document sent back
(a real `MessageMediaDocument` update, downloaded through Telethon's `Message.download_media`) is
imported, in another chat; a non-JSON file and a too big one are refused without a download."""

from __future__ import annotations

import asyncio
import io
import itertools
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from telethon.tl import types

from bot.app import App
from bot.config import BotSettings, Settings
from bot.ingest.pipeline import Pipeline
from bot.matching import compile_rules
from bot.storage.database import Database
from bot.telegram.bot_runner import BotService
from tests.e2e.test_bot_conversation import ALICE, MALLORY, FakeBotClient, Shown

pytestmark = pytest.mark.dates


class FileBotClient(FakeBotClient):
    """The fake client, plus what Telegram does with documents: a user sends one, the bot downloads it."""

    def __init__(self) -> None:
        super().__init__()
        self.files: dict[int, bytes] = {}
        self.downloads = 0
        self._doc_ids = itertools.count(500)

    async def download_media(self, message: Any, *args: Any, file: Any = None, **kwargs: Any) -> bytes:
        """TelegramClient.download_media(message, file=bytes): what Message.download_media calls."""
        assert file is bytes
        self.downloads += 1
        return self.files[message.media.document.id]

    async def user_sends_file(self, user: types.User, name: str, data: bytes, caption: str = "",
                              size: int | None = None) -> list[Shown]:
        doc_id = next(self._doc_ids)
        self.files[doc_id] = data
        document = types.Document(
            id=doc_id, access_hash=1, file_reference=b"", date=datetime.now(UTC), mime_type="application/json",
            size=len(data) if size is None else size, dc_id=2, attributes=[types.DocumentAttributeFilename(name)],
        )
        before = len(self.log)
        message = types.Message(
            id=next(self._updates), peer_id=types.PeerUser(user.id), date=datetime.now(UTC), message=caption,
            from_id=types.PeerUser(user.id), media=types.MessageMediaDocument(document=document),
        )
        await self._dispatch(types.UpdateNewMessage(message, pts=1, pts_count=1), {user.id: user})
        return [shown for _, shown in self.log[before:]]


async def test_export_rules_and_import_the_document_in_another_chat(db: Database) -> None:
    settings = Settings(bot=BotSettings(commands_per_minute=600, command_burst=100))
    app = App(settings=settings, db=db, pipeline=Pipeline(db, compile_rules))
    client = FileBotClient()
    stop = asyncio.Event()
    service = asyncio.create_task(BotService(app, client).run(stop))
    await asyncio.wait_for(client.registered.wait(), 5)

    await client.user_says(ALICE, "/watch обстрел*")
    await client.user_says(ALICE, "/watch погода")
    await client.user_says(ALICE, "/delivery 1 сразу")
    await client.user_says(ALICE, "/name 1 Обстрелы")
    [exported] = await client.user_says(ALICE, "/export rules")
    name, data = exported.file
    assert name.endswith(".json") and "Пришлите этот файл мне документом" in exported.text
    assert json.loads(data)["rules"][0] == {"rule": "обстрел*", "name": "Обстрелы", "delivery": "instant"}

    [imported] = await client.user_sends_file(MALLORY, name, data)
    assert "Imported 2 rules" in imported.text and client.downloads == 1
    [listing] = await client.user_says(MALLORY, "/rules")
    assert "1. Обстрелы · обстрел* · ⚡ instant" in listing.text and "2. погода" in listing.text

    # a photo sent as a file, or a huge one: refused by name and size, never downloaded
    [other] = await client.user_sends_file(MALLORY, "holiday.jpg", b"\xff\xd8")
    assert "not holiday.jpg" in other.text
    [huge] = await client.user_sends_file(MALLORY, "rules.json", b"{}", size=50 * 1024 * 1024)
    assert "too big" in huge.text and client.downloads == 1
    [broken] = await client.user_sends_file(MALLORY, "rules.json", io.BytesIO(b'{"tgmon": "rules", "version": 1, '
                                                                                b'"rules": ["(a OR"]}').getvalue())
    assert "Nothing was imported" in broken.text and "Rule #1" in broken.text

    stop.set()
    await service
