"""Alerts to other services: digests routed to a json:// webhook and to e-mail, through real outbox
rows and the real delivery worker (deliver_due), sent by apprise to catchers on 127.0.0.1."""

from __future__ import annotations

import io
import logging
from datetime import timedelta

import pytest
from sqlalchemy import delete, select

from bot import metrics
from bot.config import AppSettings, DigestSettings, Settings
from bot.delivery.clock import ManualClock
from bot.delivery.errors import DestinationGone
from bot.delivery.limiter import RateLimiter
from bot.delivery.worker import deliver_due
from bot.digest.service import queue_digest
from bot.instrument import CountingNotifier
from bot.logging_setup import setup_logging
from bot.notify import targets
from bot.notify.sender import AppriseNotifier
from bot.storage import models as m
from tests.digest_support import (
    T0,
    FakeSender,
    add_channel,
    add_post_match,
    add_rule,
    add_subscriber,
    digests,
    outbox_rows,
)
from tests.notify_support import HttpCatcher, SmtpCatcher, html_part

SETTINGS = Settings()
CHAT = 1001
WORDS = ("дома", "машины", "школа", "газопровод", "линия", "подстанция", "крыша", "окна", "забор", "гараж", "склад",
         "магазин", "трасса", "мост", "поле", "лес", "ферма", "больница", "котельная", "вокзал", "рынок", "парк")


@pytest.fixture
def written_log():
    """What the process writes to its log, set up as `tgmon run` does, at DEBUG."""
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


async def _seed(db):
    sub = await add_subscriber(db, chat_id=CHAT)
    shelling = await add_rule(db, sub, "обстрел", name="Обстрелы")
    weather = await add_rule(db, sub, "погода", name="Погода")
    channel = await add_channel(db, username="belgorod_news", title="Белгород <новости>")
    await add_post_match(db, channel, shelling, "Обстрел Шебекино: повреждены дома & машины", date=T0)
    await add_post_match(db, channel, weather, "погода: ливень в Белгороде", date=T0 - timedelta(minutes=5))
    return sub, shelling, weather


async def _daily(db, sub_id: int, now) -> None:
    async with db.uow() as session:
        sub = await session.scalar(select(m.Subscriber).where(m.Subscriber.id == sub_id))
        await queue_digest(session, SETTINGS, sub, kind="daily", period_key="daily:2026-11-20",
                           since=T0 - timedelta(days=1), until=now, now=now)


async def _deliver(db, clock, sender) -> int:
    return await deliver_due(db, sender, RateLimiter(SETTINGS.delivery, clock), clock,
                             notifier=CountingNotifier(AppriseNotifier(db, SETTINGS)))


async def test_a_daily_digest_reaches_telegram_a_webhook_and_a_mailbox_once_each(db, written_log) -> None:
    clock = ManualClock(T0 + timedelta(hours=1))
    sub, _, _ = await _seed(db)
    with HttpCatcher() as hook, SmtpCatcher() as smtp:
        added = await targets.add_target(db, SETTINGS, sub, hook.url(), now=clock.now())
        mail = await targets.add_target(db, SETTINGS, sub, smtp.url(), now=clock.now())
        assert (added.number, added.masked, added.body_format, added.keyed) == (1, "json://127.0.0.1", "text", True)
        assert (mail.masked, mail.body_format) == ("mailto://127.0.0.1", "html")
        await _daily(db, sub, clock.now())
        sender = FakeSender(clock)
        assert await _deliver(db, clock, sender) == 3
        assert await _deliver(db, clock, sender) == 0  # nothing twice

        rows = sorted(await outbox_rows(db), key=lambda r: r.target_id or 0)
        assert [(r.target_id, r.state) for r in rows] == [(None, "sent"), (added.id, "sent"), (mail.id, "sent")]
        (telegram,) = sender.sent
        assert "Шебекино" in telegram.html and "ливень" in telegram.html

        (hit,) = hook.hits
        assert hit.key == f"tgmon-{rows[1].random_id}"  # the row's idempotency key, stable across attempts
        message = hit.body["message"]
        assert "Шебекино" in message and "<b>" not in message and "&amp;" not in message  # plain text
        assert "https://t.me/belgorod_news/" in message  # a plain-text reader gets the link written out

        (letter,) = smtp.messages
        assert letter["X-Tgmon-Key"] == f"tgmon-{rows[2].random_id}"
        assert letter["To"] == "alice@example.com"
        body = html_part(letter)
        assert "<br>" in body and 'href="https://t.me/belgorod_news/' in body
        assert "Белгород &lt;новости&gt;" in body  # escaped once, as in Telegram's HTML
    (digest,) = await digests(db)
    assert digest.state == "sent"
    text = written_log.getvalue()
    assert "DEBUG" in text  # the log was written, at its most talkative
    assert "s3cretT0ken" not in text


async def test_a_rule_routed_only_to_a_webhook_leaves_the_telegram_digest(db) -> None:
    clock = ManualClock(T0 + timedelta(hours=1))
    sub, shelling, _ = await _seed(db)
    with HttpCatcher() as hook:
        await targets.add_target(db, SETTINGS, sub, hook.url(), rule_id=shelling, mode="only", now=clock.now())
        await _daily(db, sub, clock.now())
        sender = FakeSender(clock)
        assert await _deliver(db, clock, sender) == 2
    (telegram,) = sender.sent
    assert "ливень" in telegram.html and "Шебекино" not in telegram.html
    (hit,) = hook.hits
    assert "Шебекино" in hit.body["message"] and "ливень" not in hit.body["message"]


async def test_a_refused_webhook_is_retried_with_the_same_key_and_never_logs_its_url(db, written_log) -> None:
    clock = ManualClock(T0 + timedelta(hours=1))
    sub, _, _ = await _seed(db)
    with HttpCatcher(refuse=1) as hook:
        url = hook.url("hook/s3cretT0ken-of-the-hook?+X-Api-Key=an0therSecretValue")
        await targets.add_target(db, SETTINGS, sub, url, mode="only", now=clock.now())
        await _daily(db, sub, clock.now())
        sender = FakeSender(clock)
        counted = {o: metrics.value("tgmon_notifications_total", outcome=o) for o in ("sent", "failed")}
        delivered = 0
        for _ in range(3):  # the 500 puts the row back to pending, due a few seconds later
            delivered += await _deliver(db, clock, sender)
            clock.advance(10)
        assert delivered == 1
    assert metrics.value("tgmon_notifications_total", outcome="sent") == counted["sent"] + 1
    assert metrics.value("tgmon_notifications_total", outcome="failed") == counted["failed"] + 1
    assert sender.sent == []  # routed only to the webhook
    (row,) = await outbox_rows(db)
    assert [h.key for h in hook.refused] == [h.key for h in hook.hits] == [f"tgmon-{row.random_id}"]
    assert row.state == "sent" and row.attempts == 2
    for secret in ("s3cretT0ken", "an0therSecretValue"):
        assert secret not in written_log.getvalue()
        assert secret not in (row.last_error or "")


async def test_a_removed_target_takes_its_queued_rows_with_it(db) -> None:
    clock = ManualClock(T0 + timedelta(hours=1))
    sub, _, _ = await _seed(db)
    with HttpCatcher() as hook:
        await targets.add_target(db, SETTINGS, sub, hook.url(), mode="only", now=clock.now())
        await _daily(db, sub, clock.now())
        removed = await targets.remove_target(db, sub, 1, now=clock.now())
        assert removed is not None and removed.masked == "json://127.0.0.1"
        assert await _deliver(db, clock, FakeSender(clock)) == 0
        assert hook.hits == []
    assert await outbox_rows(db) == []
    (digest,) = await digests(db)
    assert digest.state == "sent"
    assert await targets.list_targets(db, sub) == []


@pytest.mark.parametrize("url", ["", "not a url", "https://example.com/x", "nosuchservice://a/b"])
async def test_a_url_apprise_cannot_use_is_refused_and_nothing_stored(db, url) -> None:
    sub = await add_subscriber(db, chat_id=CHAT)
    with pytest.raises(targets.NotifyError) as err:
        await targets.add_target(db, SETTINGS, sub, url, now=T0)
    assert err.value.code == "bad_url"
    assert await targets.list_targets(db, sub) == []


async def test_notify_test_reports_a_refusal_masked_and_then_a_success(db, written_log) -> None:
    sub = await add_subscriber(db, chat_id=CHAT)
    with HttpCatcher(refuse=1) as hook:
        url = hook.url("hook/s3cretT0ken-of-the-hook?+X-Api-Key=an0therSecretValue")
        await targets.add_target(db, SETTINGS, sub, url, now=T0)
        reason = await targets.test_target(db, SETTINGS, sub, 1, "<b>tgmon</b>\ntest")
        assert reason is not None and reason.startswith("json://127.0.0.1: ")
        assert await targets.test_target(db, SETTINGS, sub, 1, "<b>tgmon</b>\ntest") is None
        with pytest.raises(targets.NotifyError):
            await targets.test_target(db, SETTINGS, sub, 2, "x")
    (hit,) = hook.hits
    assert hit.body["title"] == "tgmon" and hit.body["message"] == "tgmon\ntest"
    for secret in ("s3cretT0ken", "an0therSecretValue"):
        assert secret not in reason
        assert secret not in written_log.getvalue()


async def test_a_long_digest_reaches_ntfy_in_numbered_parts_within_its_size(db) -> None:
    """ntfy takes 8,000 bytes of JSON a message (apprise sends more as a file): the digest is split for it
    (1,333 characters, a Cyrillic letter being 6 bytes escaped) when it is built, one message a part, in
    order, plain text, nothing cut."""
    clock = ManualClock(T0 + timedelta(hours=1))
    sub = await add_subscriber(db, chat_id=CHAT)
    rule = await add_rule(db, sub, "обстрел")
    channel = await add_channel(db, username="belgorod_news", title="Белгород")
    for i in range(40):
        await add_post_match(db, channel, rule, f"Обстрел района {i}: " + " ".join(WORDS[(i * 7 + k) % len(WORDS)] for k in range(30)),
                             date=T0 - timedelta(minutes=i))
    settings = Settings(digest=DigestSettings(max_items=0))
    with HttpCatcher() as catcher:
        await targets.add_target(db, settings, sub, f"ntfy://127.0.0.1:{catcher.port}/alerts", mode="only",
                                 now=clock.now())
        async with db.uow() as session:
            row = await session.scalar(select(m.Subscriber).where(m.Subscriber.id == sub))
            await queue_digest(session, settings, row, kind="daily", period_key="daily:x",
                               since=T0 - timedelta(days=1), until=clock.now(), now=clock.now())
        sent = 0
        for _ in range(40):  # a part a second to one chat: the clock moves on between passes
            sent += await _deliver(db, clock, FakeSender(clock))
            clock.advance(2)
    parts = [hit.body["message"] for hit in catcher.hits]
    assert sent == len(parts) >= 3, ([(r.state, r.last_error, r.chunk_total) for r in await outbox_rows(db)],
                                     catcher.errors)
    assert [p.split("\n", 1)[0] for p in parts] == [f"({n}/{len(parts)})" for n in range(1, len(parts) + 1)]
    assert all(len(p) <= 1333 for p in parts), [len(p) for p in parts]
    text = "\n".join(parts)
    assert "cut to fit" not in text
    assert all(f"Обстрел района {i}:" in text for i in range(40)), text[:3000]
    assert [hit.body["title"] for hit in catcher.hits][1] == f"tgmon (2/{len(parts)})"


async def test_rows_left_by_a_target_removed_with_its_rule_never_reach_the_next_one(db) -> None:
    clock = ManualClock(T0 + timedelta(hours=1))
    sub, shelling, _ = await _seed(db)
    with HttpCatcher() as old, HttpCatcher() as new:
        first = await targets.add_target(db, SETTINGS, sub, old.url("hook/old"), rule_id=shelling, now=clock.now())
        await _daily(db, sub, clock.now())
        async with db.uow() as session:  # the rule goes (/unwatch): its target with it, by the foreign key
            await session.execute(delete(m.Rule).where(m.Rule.id == shelling))
        second = await targets.add_target(db, SETTINGS, sub, new.url("hook/new"), now=clock.now())
        queued = [r for r in await outbox_rows(db) if r.target_id is not None]
        assert all(r.target_id != second.id for r in queued) or first.id != second.id
        await _deliver(db, clock, FakeSender(clock))
    assert old.hits == [] and new.hits == []


async def test_a_worker_never_sends_to_a_removed_target_whose_id_came_back(db) -> None:
    sub = await add_subscriber(db, chat_id=CHAT)
    notifier = AppriseNotifier(db, SETTINGS)  # one long-lived worker's notifier
    with HttpCatcher() as old, HttpCatcher() as new:
        first = await targets.add_target(db, SETTINGS, sub, old.url("hook/old"), now=T0)
        await notifier.notify(first.id, "<b>one</b>", key="k1")
        await targets.remove_target(db, sub, 1, now=T0)
        second = await targets.add_target(db, SETTINGS, sub, new.url("hook/new"), now=T0)
        await notifier.notify(second.id, "<b>two</b>", key="k2")
        if second.id != first.id:
            with pytest.raises(DestinationGone):
                await notifier.notify(first.id, "<b>three</b>", key="k3")
        # a row queued for one subscriber never goes to another's target, whatever its id
        other = await add_subscriber(db, chat_id=CHAT + 1)
        with pytest.raises(DestinationGone):
            await notifier.notify(second.id, "<b>four</b>", key="k4", subscriber_id=other)
        await notifier.notify(second.id, "<b>five</b>", key="k5", subscriber_id=sub)
    assert [h.body["message"] for h in old.hits] == ["one"]
    assert [h.body["message"] for h in new.hits] == ["two", "five"]
