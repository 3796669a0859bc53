"""One conversation through the real handlers: Telethon builds the events from real update objects,
a fake bot client stands in for the network and records what the bot sends, edits and answers,
and the database is real (SQLite and PostgreSQL).

/start, /watch батальон, /rules, delete by button, /settings to 07:30 Europe/Moscow, /digest
(delivered by the real delivery worker), /stop; plus a forged button and a group."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from telethon import TelegramClient
from telethon._updates import EntityCache
from telethon.extensions import html as tl_html
from telethon.tl import functions, types

from bot import domain
from bot.app import App
from bot.config import BotSettings, DigestSettings, Settings
from bot.delivery.clock import ManualClock
from bot.delivery.limiter import RateLimiter
from bot.delivery.worker import deliver_due
from bot.ingest.pipeline import Pipeline
from bot.matching import compile_rules
from bot.storage import models as m
from bot.storage.database import Database
from bot.telegram.bot_runner import BotService
from tests.digest_support import FakeSender

pytestmark = pytest.mark.dates  # the bot on the real clock: posts dated now, /digest up to now

BOT_ID = 777000111
ALICE = types.User(id=1001, access_hash=11, first_name="Алиса", lang_code="ru")
MALLORY = types.User(id=6666, access_hash=66, first_name="Mallory", lang_code="en")
GROUP = types.Channel(
    id=1555000111,
    access_hash=55,
    title="Ops <room>",
    photo=types.ChatPhotoEmpty(),
    date=datetime.now(UTC),
    megagroup=True,
)
GROUP_CHAT_ID = -1001555000111


@dataclass
class Shown:
    """A message as the user would see it: the text after Telethon's HTML parse, and its buttons."""

    chat_id: int
    message_id: int
    text: str
    buttons: dict[str, bytes] = field(default_factory=dict)
    file: Any = None


class FakeBotClient:
    """The narrow seam: the methods the handlers call on a Telethon client. Markup goes through
    Telethon's own HTML parser and button builder, as it would on the wire."""

    def __init__(self) -> None:
        self._self_id = BOT_ID
        self._mb_entity_cache = EntityCache()
        self.handlers: list[tuple[Any, Any]] = []
        self.registered = asyncio.Event()
        self.messages: dict[int, Shown] = {}
        self.log: list[tuple[str, Shown]] = []
        self.answers: list[functions.messages.SetBotCallbackAnswerRequest] = []
        self.menus: list[functions.bots.SetBotCommandsRequest] = []
        self.admins: dict[int, set[int]] = {}
        self.permission_checks = 0
        self._ids = itertools.count(1)
        self._updates = itertools.count(1)

    # --- what the handlers use ---------------------------------------------------------------
    def add_event_handler(self, callback: Any, builder: Any) -> None:
        self.handlers.append((callback, builder))
        if len(self.handlers) == 2:  # messages and buttons
            self.registered.set()

    def remove_event_handler(self, callback: Any, builder: Any) -> None:
        self.handlers.remove((callback, builder))

    async def get_me(self) -> types.User:
        return types.User(id=BOT_ID, bot=True, username="tgmon_bot", first_name="tgmon")

    def _shown(self, chat_id: int, message_id: int, text: str, buttons: Any, file: Any = None) -> Shown:
        plain, _entities = tl_html.parse(text)
        markup = TelegramClient.build_reply_markup(buttons)
        found: dict[str, bytes] = {}
        if markup is not None:
            for row in markup.rows:
                for button in row.buttons:
                    found[button.text] = button.type.data  # InlineButtonTypeCallback
        return Shown(chat_id, message_id, plain, found, file)

    async def send_message(
        self, entity: int, message: str, *, parse_mode: str, buttons: Any = None, link_preview: bool = True
    ) -> types.Message:
        assert parse_mode == "html"
        shown = self._shown(entity, next(self._ids), message, buttons)
        self.messages[shown.message_id] = shown
        self.log.append(("send", shown))
        return types.Message(
            id=shown.message_id,
            peer_id=types.PeerUser(entity),
            date=datetime.now(UTC),
            message=shown.text,
            out=True,
        )

    async def send_file(
        self,
        entity: int,
        file: Any,
        *,
        caption: str,
        parse_mode: str,
        force_document: bool,
        buttons: Any = None,
    ) -> types.Message:
        shown = self._shown(entity, next(self._ids), caption, buttons, file=(file.name, file.getvalue()))
        self.messages[shown.message_id] = shown
        self.log.append(("file", shown))
        return types.Message(
            id=shown.message_id,
            peer_id=types.PeerUser(entity),
            date=datetime.now(UTC),
            message=shown.text,
            out=True,
        )

    async def edit_message(
        self,
        entity: int,
        message: int,
        text: str,
        *,
        parse_mode: str,
        buttons: Any = None,
        link_preview: bool = True,
    ) -> None:
        shown = self._shown(entity, message, text, buttons)
        self.messages[message] = shown
        self.log.append(("edit", shown))

    async def get_entity(self, target: Any) -> Any:
        """contacts.resolveUsername, as Telegram answers a bot: public channels only."""
        if target == "newchan":
            return types.Channel(
                id=1444000111,
                access_hash=9,
                title="New & Chan",
                photo=types.ChatPhotoEmpty(),
                date=datetime.now(UTC),
                username="NewChan",
                broadcast=True,
            )
        raise ValueError(f'No user has "{target}" as username')

    async def get_input_entity(self, peer: int) -> Any:
        """From the entity cache, as Telethon answers for a chat it has seen: no request."""
        return types.InputPeerUser(peer, 0) if peer > 0 else types.InputPeerChannel(-peer, 0)

    async def get_permissions(self, chat: int, user: int) -> Any:
        self.permission_checks += 1
        admin = user in self.admins.get(chat, set())

        class Permissions:
            is_admin = admin
            is_creator = False

        return Permissions()

    async def __call__(self, request: Any) -> Any:
        bytes(request)  # serialises as it would on the wire (a wrong field type fails here)
        if isinstance(request, functions.bots.SetBotCommandsRequest):
            self.menus.append(request)
            return True
        assert isinstance(request, functions.messages.SetBotCallbackAnswerRequest)
        self.answers.append(request)
        return True

    # --- what Telegram would do -----------------------------------------------------------------
    async def _dispatch(self, update: Any, entities: dict[int, Any]) -> None:
        """What TelegramClient._dispatch_update does with an update, for each registered builder."""
        update._entities = entities
        for callback, builder in list(self.handlers):
            if not builder.resolved:
                await builder.resolve(self)
            event = builder.build(update, None, self._self_id)
            if not event:
                continue
            event.original_update = update
            event._entities = update._entities
            event._set_client(self)
            if builder.filter(event):
                await callback(event)

    async def user_says(
        self, user: types.User, text: str, *, group: types.Channel | None = None
    ) -> list[Shown]:
        before = len(self.log)
        peer: Any = types.PeerChannel(group.id) if group else types.PeerUser(user.id)
        message = types.Message(
            id=next(self._updates),
            peer_id=peer,
            date=datetime.now(UTC),
            message=text,
            from_id=types.PeerUser(user.id),
        )
        entities: dict[int, Any] = {user.id: user}
        if group is not None:
            entities[GROUP_CHAT_ID] = group
        update = (
            types.UpdateNewChannelMessage(message, pts=1, pts_count=1)
            if group
            else types.UpdateNewMessage(message, pts=1, pts_count=1)
        )
        await self._dispatch(update, entities)
        return [shown for _, shown in self.log[before:]]

    async def user_adds(self, user: types.User, added: int, group: types.Channel) -> list[Shown]:
        """`user` adds the user `added` (the bot, or someone else) to `group`: a service message."""
        before = len(self.log)
        message = types.MessageService(
            id=next(self._updates),
            peer_id=types.PeerChannel(group.id),
            date=datetime.now(UTC),
            action=types.MessageActionChatAddUser(users=[added]),
            from_id=types.PeerUser(user.id),
        )
        update = types.UpdateNewChannelMessage(message, pts=1, pts_count=1)
        await self._dispatch(update, {user.id: user, GROUP_CHAT_ID: group})
        return [shown for _, shown in self.log[before:]]

    async def user_presses(
        self, user: types.User, shown: Shown, label: str, *, data: bytes | None = None
    ) -> functions.messages.SetBotCallbackAnswerRequest:
        answered = len(self.answers)
        update = types.UpdateBotCallbackQuery(
            query_id=next(self._updates),
            user_id=user.id,
            peer=types.PeerUser(user.id),
            msg_id=shown.message_id,
            chat_instance=42,
            data=data if data is not None else shown.buttons[label],
        )
        await self._dispatch(update, {user.id: user})
        assert len(self.answers) == answered + 1, "every button press must be answered"
        return self.answers[-1]


async def _count(db: Database, model: type[m.Base], *where: Any) -> int:
    async with db.uow(read_only=True) as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def test_a_whole_conversation_through_the_real_handlers(db: Database) -> None:
    # a test types faster than a person: the rate limit has its own tests
    quick = BotSettings(commands_per_minute=600, command_burst=100)
    settings = Settings(digest=DigestSettings(default_timezone="UTC", default_hour=9), bot=quick)
    app = App(settings=settings, db=db, pipeline=Pipeline(db, compile_rules))
    client = FakeBotClient()
    stop = asyncio.Event()
    service = asyncio.create_task(BotService(app, client).run(stop))
    await asyncio.wait_for(client.registered.wait(), 5)

    # /start: registered, in Russian (the user's Telegram language), with the tour's buttons
    [hello] = await client.user_says(ALICE, "/start")
    assert "Здравствуйте" in hello.text and "➕ Добавить правило" in hello.buttons
    assert (
        await _count(db, m.Subscriber, m.Subscriber.chat_id == ALICE.id, m.Subscriber.language == "ru") == 1
    )

    # /lang uk: the replies and this chat's own command menu switch to Ukrainian; and back
    [switched] = await client.user_says(ALICE, "/lang uk")
    assert "Мова: українська" in switched.text
    chat_menu = client.menus[-1]
    assert isinstance(chat_menu.scope, types.BotCommandScopePeer) and chat_menu.scope.peer.user_id == ALICE.id
    assert chat_menu.commands[0].description == "Підписатися й подивитися, як усе влаштовано"
    await client.user_says(ALICE, "/lang ru")
    assert client.menus[-1].commands[0].description.startswith("Подписаться")

    # a post already stored, for the dry run
    await app.pipeline.ingest([_post(1, "Батальон «Белгород» провёл учения", hours=30)])

    # /watch батальон: added, with the dry run; the running matcher reloaded
    [added] = await client.user_says(ALICE, "/watch батальон")
    assert "Правило 1 добавлено: батальон" in added.text
    assert "находит 1 сохранённый пост" in added.text and "https://t.me/vvgladkov/1" in added.text
    assert len((await app.pipeline.matcher()).rule_ids()) == 1
    await client.user_says(ALICE, "/watch обстрел")

    # /rules, and delete the second rule by its button: the message is edited in place
    [listing] = await client.user_says(ALICE, "/rules")
    assert "1. батальон" in listing.text and "2. обстрел" in listing.text
    answer = await client.user_presses(ALICE, listing, "🗑 2")
    assert answer.message == "Удалено: обстрел" and not answer.alert
    kind, edited = client.log[-1]
    assert kind == "edit" and edited.message_id == listing.message_id
    assert "обстрел" not in edited.text and "1. батальон" in edited.text
    assert await _count(db, m.Rule) == 1

    # Mallory forges Alice's remaining delete button: refused, the rule stays
    await client.user_says(MALLORY, "/start")
    forged = await client.user_presses(MALLORY, edited, "🗑 1")
    assert forged.alert and "does not exist" in forged.message
    assert await _count(db, m.Rule) == 1

    # /settings: 07:30, Europe/Moscow, all by buttons
    [screen] = await client.user_says(ALICE, "/settings")
    assert "Время доставки: 09:00 (UTC)" in screen.text
    await client.user_presses(ALICE, screen, "🕘 Время")
    await client.user_presses(ALICE, client.messages[screen.message_id], "07")
    saved = await client.user_presses(ALICE, client.messages[screen.message_id], "07:30")
    assert saved.message == "Сохранено"
    await client.user_presses(ALICE, client.messages[screen.message_id], "🌍 Часовой пояс")
    await client.user_presses(ALICE, client.messages[screen.message_id], "Москва")  # the city, in Russian
    assert "Время доставки: 07:30 (Москва)" in client.messages[screen.message_id].text
    async with db.uow(read_only=True) as session:
        sub = await session.scalar(select(m.Subscriber).where(m.Subscriber.chat_id == ALICE.id))
    assert sub is not None and (sub.digest_hour, sub.digest_minute, sub.timezone) == (7, 30, "Europe/Moscow")
    # a typed change, in Russian words: the new screen, and the earlier one brought up to date (its
    # keyboard is not left speaking of 07:30)
    typed, refreshed = await client.user_says(ALICE, "/settings время 08:15")
    assert "Сохранено" in typed.text and "Время доставки: 08:15 (Москва)" in typed.text
    assert refreshed.message_id == screen.message_id and client.log[-1][0] == "edit"
    assert "08:15" in client.messages[screen.message_id].text
    assert "📅 День недели" not in typed.buttons  # daily: no weekday button
    weekly, _ = await client.user_says(ALICE, "/settings частота еженедельно")
    assert "📅 День недели" in weekly.buttons and "День еженедельного дайджеста" in weekly.text
    await client.user_says(ALICE, "/settings частота ежедневно")

    # new posts arrive; /digest queues the digest and the delivery worker sends it
    await app.pipeline.ingest(
        [_post(2, "Второй батальон <прибыл> & встал", hours=1), _post(3, "Погода", hours=1)]
    )
    [queued] = await client.user_says(ALICE, "/digest")
    assert "Дайджест отправляется: 1 публикация, 1 сообщение." in queued.text  # post 1 came before the rule
    clock = ManualClock(datetime.now(UTC) + timedelta(seconds=5))
    sender = FakeSender(clock)
    assert await deliver_due(db, sender, RateLimiter(settings.delivery, clock), clock) == 1
    [digest] = sender.texts(ALICE.id)
    plain, entities = tl_html.parse(digest)
    assert "Второй батальон <прибыл> & встал" in plain
    assert [e.url for e in entities if isinstance(e, types.MessageEntityTextUrl)] == ["https://t.me/vvgladkov/2"]
    # on demand: titled by its real period (everything until now: no digest before), not "daily"
    assert plain.startswith("Дайджест до ") and plain.splitlines()[0].endswith(": 1 публикация")

    # /export sends a file
    [exported] = await client.user_says(ALICE, "/export")
    assert (
        exported.file is not None
        and exported.file[0].endswith(".csv")
        and "батальон".encode() in exported.file[1]
    )

    # /stop, confirmed with the button: everything of Alice's is gone, Mallory's row stays
    [confirm] = await client.user_says(ALICE, "/stop")
    done = await client.user_presses(ALICE, confirm, "🗑 Да, удалить всё")
    assert done.message is None
    assert "всё об этом чате удалено" in client.messages[confirm.message_id].text
    assert await _count(db, m.Subscriber, m.Subscriber.chat_id == ALICE.id) == 0
    assert (
        await _count(db, m.Rule) == 0 and await _count(db, m.Outbox) == 0 and await _count(db, m.Match) == 0
    )
    assert await _count(db, m.Subscriber) == 1
    assert len((await app.pipeline.matcher()).rule_ids()) == 0

    stop.set()
    await service
    assert client.handlers == []


async def test_added_to_a_group_it_says_what_it_does_in_the_adders_language(db: Database) -> None:
    app = App(settings=Settings(), db=db, pipeline=Pipeline(db, compile_rules))
    client = FakeBotClient()
    stop = asyncio.Event()
    service = asyncio.create_task(BotService(app, client).run(stop))
    await asyncio.wait_for(client.registered.wait(), 5)

    # at start the bot registered its command menu: English by default, one per language code
    assert [r.lang_code for r in client.menus] == ["", "ru", "uk", "be"]
    assert client.menus[1].commands[0].command == "start" and "Подписаться" in client.menus[1].commands[0].description
    [welcome] = await client.user_adds(ALICE, BOT_ID, GROUP)
    assert welcome.chat_id == GROUP_CHAT_ID
    assert "Спасибо, что добавили меня" in welcome.text and "/start" in welcome.text
    # nobody is subscribed by being greeted: an admin does that with /start
    assert await _count(db, m.Subscriber) == 0
    # someone else joining is not for the bot
    assert await client.user_adds(ALICE, MALLORY.id, GROUP) == []
    [english] = await client.user_adds(MALLORY, BOT_ID, GROUP)
    assert "Thanks for adding me" in english.text
    stop.set()
    await asyncio.wait_for(service, 5)


async def test_group_admin_status_comes_from_the_client(db: Database) -> None:
    app = App(settings=Settings(), db=db, pipeline=Pipeline(db, compile_rules))
    client = FakeBotClient()
    client.admins[GROUP_CHAT_ID] = {ALICE.id}
    stop = asyncio.Event()
    service = asyncio.create_task(BotService(app, client).run(stop))
    await asyncio.wait_for(client.registered.wait(), 5)

    assert (
        await client.user_says(MALLORY, "good morning", group=GROUP) == []
    )  # chatter: no reply, no API call
    assert client.permission_checks == 0
    [refused] = await client.user_says(MALLORY, "/watch батальон", group=GROUP)
    assert refused.chat_id == GROUP_CHAT_ID and "Only this group's admins" in refused.text
    [started] = await client.user_says(ALICE, "/start@tgmon_bot", group=GROUP)
    assert "группа" in started.text
    [added] = await client.user_says(ALICE, "/watch батальон", group=GROUP)
    assert "Правило 1 добавлено" in added.text
    assert await client.user_says(ALICE, "/help@another_bot", group=GROUP) == []
    async with db.uow(read_only=True) as session:
        group = await session.scalar(select(m.Subscriber).where(m.Subscriber.chat_id == GROUP_CHAT_ID))
    assert group is not None and group.kind == "group" and group.title == "Ops <room>"
    assert client.permission_checks == 2  # cached per (chat, user)

    # /follow in private: looked up through the bot client, stored with its id for the ingest service
    [followed] = await client.user_says(ALICE, "/follow https://t.me/newchan")
    assert "Теперь слежу за New & Chan" in followed.text
    [missing] = await client.user_says(ALICE, "/follow @nochan")
    assert "канала @nochan в Telegram нет" in missing.text
    async with db.uow(read_only=True) as session:
        row = await session.scalar(select(m.Channel).where(m.Channel.username == "newchan"))
    assert row is not None and (row.telegram_id, row.status, row.added_by) == (1444000111, "active", ALICE.id)
    stop.set()
    await service


def _post(message_id: int, text: str, *, hours: float) -> domain.Post:
    channel = domain.ChannelRef(1302282372, "vvgladkov", "Гладков")
    return domain.Post(
        channel=channel, message_id=message_id, date=datetime.now(UTC) - timedelta(hours=hours), text=text
    )
