"""A delivery worker (`python -m bot run --role delivery`, a real process) SIGKILLed while its sends to
notification services wait for their answers; a fresh worker then finishes. At the catcher:

- json:// webhook rows (an Idempotency-Key on each): nothing lost; a request that was on the wire at
  the kill is sent again with the SAME key, so the catcher sees every key, and a key twice only for
  those; deduplicated by key, every message exactly once, chunks of a chat in order.
- ntfy rows (nothing recognises a repeat): never sent twice; the ones whose request had left at the
  kill are reported uncertain (they may or may not have arrived: at most once); the ones claimed but
  not yet sent go again; every other one arrives once.
"""

from __future__ import annotations

import asyncio
import collections
import signal
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from bot.storage import models as m
from bot.storage.database import Database
from tests.integration.test_faults import (
    Proc,
    fault_env,
    procs,
    query,
    role_command,
    upgrade,
    wait_settled,
    wait_until,
)
from tests.notify_support import HttpCatcher

__all__ = ["procs"]  # the fixture, shared with test_faults
pytestmark = [pytest.mark.slow, pytest.mark.dates]  # the worker sends what this process dated due now

HOOK_CHATS, CHUNKS, NTFY_CHATS = 12, 2, 16


def _seed(url: str, hook_url: str, ntfy_url: str) -> None:
    async def go() -> None:
        db = Database.from_url(url)
        now = datetime.now(UTC) - timedelta(seconds=1)
        try:
            async with db.uow() as session:
                chats = [(10_000 + i, "hook") for i in range(HOOK_CHATS)]
                chats += [(20_000 + i, "ntfy") for i in range(NTFY_CHATS)]
                await session.execute(insert(m.Subscriber), [
                    {"chat_id": chat, "title": kind, "created_at": now} for chat, kind in chats])
                subs = dict((await session.execute(select(m.Subscriber.chat_id, m.Subscriber.id))).all())
                for chat, kind in chats:
                    keyed = kind == "hook"
                    target = m.NotifyTarget(subscriber_id=subs[chat], mode="only", url=f"plain:{hook_url if keyed else ntfy_url}",
                                            masked=f"{'json' if keyed else 'ntfy'}://127.0.0.1", body_format="text",
                                            body_limit=7800, keyed=keyed, created_at=now)
                    session.add(target)
                    await session.flush()
                    for n in range(1, (CHUNKS if keyed else 1) + 1):
                        session.add(m.Outbox(subscriber_id=subs[chat], chat_id=chat, kind="alert", chunk_no=n,
                                             chunk_total=CHUNKS if keyed else 1, text=f"<b>alert {chat}</b>\npart {n}",
                                             random_id=chat * 100 + n, not_before=now, created_at=now,
                                             target_id=target.id))
        finally:
            await db.dispose()

    asyncio.run(go())


def test_sigkill_mid_send_to_notification_services(tmp_path: Path, procs: Callable[..., Proc]) -> None:
    url = f"sqlite:///{tmp_path / 'tgmon.db'}"
    upgrade(url, tmp_path)
    with HttpCatcher(delay=0.4) as catcher:
        _seed(url, catcher.url("hook/s3cretT0ken"), f"ntfy://127.0.0.1:{catcher.port}/alerts")
        env = fault_env(url, tmp_path, TGMON_TEST_SENDER_LOG=str(tmp_path / "telegram.log"))
        doomed = procs(role_command("delivery"), env, tmp_path, "delivery")
        wait_until(lambda: len(catcher.hits) >= 10, 60, "10 notifications at the catcher")
        doomed.signal(signal.SIGKILL)
        assert doomed.wait(10) == -signal.SIGKILL
        claimed = dict(query(url, "SELECT chat_id >= 20000, count(*) FROM outbox WHERE state = 'sending' GROUP BY 1"))
        left = int(query(url, "SELECT count(*) FROM outbox WHERE state = 'sending' AND sent_at IS NOT NULL")[0][0])  # type: ignore[call-overload]
        catcher.delay = 0.0
        again = procs(role_command("delivery"), env, tmp_path, "delivery-again")
        wait_settled(url, 90)
        again.signal(signal.SIGTERM)
        assert again.wait(20) == 0

    rows = query(url, "SELECT random_id, state, chat_id, chunk_no FROM outbox ORDER BY id")
    hook_rows = {int(r[0]): r for r in rows if int(r[2]) < 20_000}  # type: ignore[call-overload]
    ntfy_rows = {int(r[0]): r for r in rows if int(r[2]) >= 20_000}  # type: ignore[call-overload]
    hook_hits = [h for h in catcher.hits if h.key is not None]
    ntfy_hits = [h for h in catcher.hits if h.key is None]

    # webhooks: every row sent, every key at the catcher, a key twice only for a send cut by the kill
    keys = collections.Counter(h.key for h in hook_hits)
    assert {r[1] for r in hook_rows.values()} == {"sent"}
    assert set(keys) == {f"tgmon-{rid}" for rid in hook_rows}
    repeated = sum(n - 1 for n in keys.values())
    assert repeated <= HOOK_CHATS  # at most one send in flight per chat
    order: dict[int, list[int]] = collections.defaultdict(list)
    for hit in hook_hits:  # first arrival of each key, per chat: the chunks in order
        chat, part = hit.body["message"].split("\n")[0].split()[1], int(hit.body["message"].split()[-1])
        if part not in order[int(chat)]:
            order[int(chat)].append(part)
    assert all(parts == sorted(parts) for parts in order.values())

    # ntfy: nothing twice; what was on the wire at the kill is uncertain, everything else arrived once
    messages = collections.Counter(h.body["message"] for h in ntfy_hits)
    assert all(n == 1 for n in messages.values()), "an ntfy message arrived twice"
    states = collections.Counter(str(r[1]) for r in ntfy_rows.values())
    assert set(states) <= {"sent", "uncertain"}
    for rid, row in ntfy_rows.items():
        text = f"alert {row[2]}\npart 1"
        if row[1] == "sent":
            assert messages[text] == 1, f"ntfy row {rid} marked sent, not at the catcher"
    # only the rows whose request had left are in doubt (out, or answered but not yet recorded as sent);
    # the other claimed rows went again
    assert states["uncertain"] == left <= claimed.get(1, 0)
    arrived_in_doubt = len(messages) - states["sent"]
    print(f"\nSIGKILL mid-send: claimed {claimed}; webhooks: {len(hook_rows)} rows, {len(hook_hits)} requests, "
          f"{repeated} repeated with the same key; ntfy: {dict(states)} ({left} had left, {arrived_in_doubt} of "
          f"them arrived), {len(ntfy_hits)} requests")
