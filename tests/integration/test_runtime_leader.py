"""Scheduler leadership on the real PostgreSQL: one leader, a standby that takes over."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from bot import metrics
from bot.runtime.leader import AlwaysLeader, PgAdvisoryLock, asyncpg_dsn, lead
from bot.storage.database import Database

pytestmark = pytest.mark.postgres
KEY = 0x1234_5678  # not the production key: parallel test runs of the real app never meet this one


@pytest.fixture
async def pg_url(pg_database: str) -> str:
    url = pg_database.replace("postgresql://", "postgresql+asyncpg://")
    db = Database.from_url(url)  # the schema a leader writes its term into (leader_terms)
    try:
        await db.upgrade()
    finally:
        await db.dispose()
    return url


async def test_one_holder_and_takeover_when_its_session_dies(pg_url: str) -> None:
    a, b = PgAdvisoryLock(pg_url, key=KEY), PgAdvisoryLock(pg_url, key=KEY)
    try:
        assert await a.try_acquire()
        assert not await b.try_acquire()
        assert await a.still_held()
        # the leader's session is killed (a crash, a network cut, a server restart)
        admin = await asyncpg.connect(asyncpg_dsn(pg_url))
        try:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'tgmon-scheduler-lock' AND datname = current_database()"
            )
        finally:
            await admin.close()
        assert not await a.still_held()
        assert await b.try_acquire()
        assert await b.still_held()
    finally:
        await a.release()
        await b.release()


async def test_lead_runs_work_on_one_process_and_hands_over(pg_url: str) -> None:
    running: list[str] = []

    def worker(name: str):
        async def work(stop: asyncio.Event) -> None:
            running.append(name)
            await stop.wait()
            running.remove(name)

        return work

    stop_a, stop_b = asyncio.Event(), asyncio.Event()
    task_a = asyncio.create_task(lead(PgAdvisoryLock(pg_url, key=KEY), worker("a"), stop_a, retry_seconds=0.1))
    await asyncio.sleep(0.5)
    task_b = asyncio.create_task(lead(PgAdvisoryLock(pg_url, key=KEY), worker("b"), stop_b, retry_seconds=0.1))
    await asyncio.sleep(0.5)
    assert running == ["a"]
    assert metrics.value("tgmon_scheduler_leader") == 1
    stop_a.set()  # the leader stops: its session ends, the standby takes over
    await asyncio.wait_for(task_a, 5)
    for _ in range(50):
        if running == ["b"]:
            break
        await asyncio.sleep(0.1)
    assert running == ["b"]
    stop_b.set()
    await asyncio.wait_for(task_b, 5)
    assert running == [] and metrics.value("tgmon_scheduler_leader") == 0


async def test_leader_steps_down_when_its_connection_is_lost(pg_url: str) -> None:
    lock = PgAdvisoryLock(pg_url, key=KEY)
    stopped = asyncio.Event()

    async def work(stop: asyncio.Event) -> None:
        await stop.wait()
        stopped.set()

    stop = asyncio.Event()
    task = asyncio.create_task(lead(lock, work, stop, retry_seconds=0.1))
    await asyncio.sleep(0.4)
    admin = await asyncpg.connect(asyncpg_dsn(pg_url))
    try:
        await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE application_name = 'tgmon-scheduler-lock' AND datname = current_database()")
    finally:
        await admin.close()
    await asyncio.wait_for(stopped.wait(), 5)  # the work was told to stop: no split brain
    stop.set()
    await asyncio.wait_for(task, 5)


async def test_always_leader_on_sqlite() -> None:
    ran = asyncio.Event()

    async def work(stop: asyncio.Event) -> None:
        ran.set()
        await stop.wait()

    stop = asyncio.Event()
    task = asyncio.create_task(lead(AlwaysLeader(), work, stop, retry_seconds=0.1))
    await asyncio.wait_for(ran.wait(), 2)
    stop.set()
    await asyncio.wait_for(task, 2)


async def test_a_postgresql_without_idle_session_timeout_still_elects(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before PostgreSQL 14 the lease setting is unknown: the lock is taken without it (and a warning)."""
    real_connect = asyncpg.connect

    async def old_server(*args, server_settings=None, **kwargs):  # type: ignore[no-untyped-def]
        if server_settings and "idle_session_timeout" in server_settings:
            raise asyncpg.UndefinedObjectError('unrecognized configuration parameter "idle_session_timeout"')
        return await real_connect(*args, server_settings=server_settings, **kwargs)

    monkeypatch.setattr(asyncpg, "connect", old_server)
    lock = PgAdvisoryLock(pg_url, key=KEY)
    try:
        assert await lock.try_acquire()
        assert await lock.still_held() and lock.generation is not None
    finally:
        await lock.release()
