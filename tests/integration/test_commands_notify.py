"""/notify through the real command handlers on a real database (SQLite and PostgreSQL): add, list,
test, remove; an instant alert routed only to a webhook through the scheduler, the outbox and the
worker; the URL never in a reply or the log, sealed at rest when a key is set."""

from __future__ import annotations

import io
import logging
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from bot.config import AppSettings, NotifySettings, Settings
from bot.delivery.clock import ManualClock
from bot.delivery.limiter import RateLimiter
from bot.delivery.worker import deliver_due
from bot.digest.scheduler import DigestScheduler
from bot.logging_setup import setup_logging
from bot.notify.sender import AppriseNotifier
from bot.storage import models as m
from bot.storage.database import Database
from tests.digest_support import FakeSender
from tests.integration.test_commands_kit import ALICE, BORIS, ingest, make_kit, visible
from tests.notify_support import HttpCatcher

pytestmark = pytest.mark.dates  # /watch dry-runs the last days of the real clock

TOKEN = "s3cretT0ken-of-the-hook"


@pytest.fixture
def written_log():
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream = io.StringIO()
    setup_logging(Settings(app=AppSettings(log_level="DEBUG")), stream=stream)
    yield stream
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    for handler in saved[0]:
        root.addHandler(handler)
    root.setLevel(saved[1])


async def _stored(db: Database) -> list[m.NotifyTarget]:
    async with db.uow(read_only=True) as session:
        return list(await session.scalars(select(m.NotifyTarget).order_by(m.NotifyTarget.id)))


async def test_add_list_test_remove_with_the_url_shown_masked_only(db: Database, written_log) -> None:
    kit = make_kit(db)
    await kit.say(ALICE, "/watch обстрел*")
    assert "Nothing goes to other services yet" in visible(await kit.say(ALICE, "/notify"))
    with HttpCatcher() as hook:
        url = hook.url(f"hook/{TOKEN}")
        added = visible(await kit.say(ALICE, f"/notify add {url} 1 only"))
        assert "Added as 1" in added and "json://127.0.0.1: rule «обстрел*», only there" in added
        listing = visible(await kit.say(ALICE, "/notify"))
        assert "1. json://127.0.0.1: rule «обстрел*», only there" in listing
        assert "already on the list" in visible(await kit.say(ALICE, f"/notify add {url} 1"))
        assert "Test message 1 sent" in visible(await kit.say(ALICE, "/notify test 1"))
        (hit,) = hook.hits
        assert hit.body["title"] == "tgmon" and "alerts and digests of this chat" in hit.body["message"]
        assert "no such number" in visible(await kit.say(ALICE, "/notify test 7"))
        removed = visible(await kit.say(ALICE, "/notify remove 1"))
        assert "Removed: json://127.0.0.1" in removed
    assert await _stored(db) == []
    for text in (added, listing, removed, written_log.getvalue()):
        assert TOKEN not in text


async def test_bad_input_gets_one_clear_reply_in_the_users_language(db: Database) -> None:
    kit = make_kit(db)
    await kit.say(BORIS, "/watch обстрел*")
    assert "Не могу использовать этот адрес" in visible(await kit.say(BORIS, "/notify add https://example.com/x"))
    assert "Такого правила нет" in visible(await kit.say(BORIS, "/notify add ntfy://my-topic 5"))
    assert "В списке нет такого номера" in visible(await kit.say(BORIS, "/notify remove 3"))
    assert "Уведомления в другие сервисы" in visible(await kit.say(BORIS, "/notify frobnicate"))
    assert await _stored(db) == []
    ok = visible(await kit.say(BORIS, "/notify add ntfy://my-topic all also"))
    assert "ntfy://my…: все правила, и сюда тоже" in ok  # a topic is a secret too: two characters of it


async def test_the_url_is_sealed_at_rest_when_a_key_is_set(db: Database) -> None:
    kit = make_kit(db)
    kit.ctx.settings = kit.ctx.settings.model_copy(
        update={"notify": NotifySettings(key=SecretStr("a passphrase of twenty chars"))})
    await kit.say(ALICE, "/start")
    await kit.say(ALICE, f"/notify add json://127.0.0.1:9/hook/{TOKEN}")
    (row,) = await _stored(db)
    assert row.url.startswith("fernet:") and TOKEN not in row.url
    kit.ctx.settings = Settings()
    await kit.say(ALICE, f"/notify add json://127.0.0.1:9/other/{TOKEN}")
    assert (await _stored(db))[1].url == f"plain:json://127.0.0.1:9/other/{TOKEN}"


async def test_an_admin_sees_counts_and_others_do_not(db: Database) -> None:
    kit = make_kit(db, admins=[ALICE.user_id])
    await kit.say(BORIS, "/start")
    await kit.say(BORIS, "/notify add ntfy://my-topic")
    stats = visible(await kit.say(ALICE, "/notify stats"))
    assert "1 адресов у 1 подписчиков" in stats or "1 targets of 1 subscribers (ntfy 1)" in stats
    assert "my-topic" not in stats
    assert "Уведомления в другие сервисы" in visible(await kit.say(BORIS, "/notify stats"))


async def test_an_admin_routes_another_chats_rule_and_a_subscriber_cannot(db: Database) -> None:
    kit = make_kit(db, admins=[ALICE.user_id])
    await kit.say(BORIS, "/watch обстрел*")
    added = visible(await kit.say(ALICE, f"/notify for {BORIS.chat_id} add ntfy://boris-topic 1 only"))
    assert "Added as 1" in added and "rule «обстрел*», only there" in added
    (row,) = await _stored(db)
    async with db.uow(read_only=True) as session:
        owner = await session.scalar(select(m.Subscriber.chat_id).where(m.Subscriber.id == row.subscriber_id))
    assert owner == BORIS.chat_id
    assert "1. ntfy://bo…" in visible(await kit.say(BORIS, "/notify"))
    assert "No chat 4242 has talked to the bot" in visible(await kit.say(ALICE, "/notify for 4242"))
    # by a rule's id, too; a subscriber may not name another's rule, nor act for another chat
    await kit.say(ALICE, "/start")
    assert "Added as 2" in visible(await kit.say(ALICE, f"/notify add ntfy://other-topic #{row.rule_id}"))
    await kit.say(BORIS, "/start")
    assert "нет правила с таким id" in visible(await kit.say(BORIS, f"/notify add ntfy://x-topic #{row.rule_id + 99}")).lower()
    assert "Уведомления в другие сервисы" in visible(await kit.say(BORIS, f"/notify for {ALICE.chat_id}"))
    assert "Removed" in visible(await kit.say(ALICE, f"/notify for {BORIS.chat_id} remove 2"))
    assert len(await _stored(db)) == 1


async def test_an_instant_rule_routed_only_to_a_webhook_arrives_there_not_in_the_chat(db: Database) -> None:
    kit = make_kit(db)
    await kit.say(ALICE, "/watch обстрел*")
    await kit.say(ALICE, "/watch погода")
    await kit.say(ALICE, "/delivery 1 instant")
    await kit.say(ALICE, "/delivery 2 instant")
    with HttpCatcher() as hook:
        await kit.say(ALICE, f"/notify add {hook.url()} 1 only")
        await ingest(db, [("Обстрелы Белгорода утром", timedelta(seconds=0)), ("Погода: дождь", timedelta(seconds=0))])
        clock = ManualClock(datetime.now(UTC) + timedelta(seconds=5))
        assert (await DigestScheduler(db, Settings(), clock).instant_tick())[0] == 1
        sender = FakeSender(clock)
        sent = await deliver_due(db, sender, RateLimiter(Settings().delivery, clock), clock,
                                 notifier=AppriseNotifier(db, Settings()))
        assert sent == 2
    (telegram,) = sender.sent
    assert "дождь" in telegram.html and "Белгорода" not in telegram.html
    (hit,) = hook.hits
    assert "Белгорода" in hit.body["message"] and "дождь" not in hit.body["message"]
