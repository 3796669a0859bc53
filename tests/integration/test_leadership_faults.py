"""Scheduler leadership under the three faults that used to leave two leaders, or none, for long.

Real `tgmon run --role scheduler` processes on the real PostgreSQL: the leader's database session cut
(pg_terminate_backend), the leader frozen (SIGSTOP), the leader's host dropping off the network (its
connections go through a proxy that silently stops forwarding). A 3 s lease here (15 s by default).
"""

from __future__ import annotations

import asyncio
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from bot.domain import StaleLeader
from bot.runtime.leader import PgAdvisoryLock, asyncpg_dsn, fence
from bot.storage.database import Database
from tests.integration.test_faults import (  # noqa: F401
    Proc,
    _reset_schema,
    fault_env,
    procs,
    query,
    upgrade,
    wait_until,
)

pytestmark = pytest.mark.postgres
LEASE = 3.0
LEADS = "scheduler: this process is the leader"


def _env(url: str, workdir: Path) -> dict[str, str]:
    return fault_env(url, workdir, TGMON_RUNTIME__LEADER_LEASE_SECONDS=str(LEASE),
                     TGMON_RUNTIME__LEADER_RETRY_SECONDS="0.5")


def _generation(url: str) -> int:
    rows = query(url, "SELECT generation FROM leader_terms WHERE name = 'scheduler'")
    return int(rows[0][0]) if rows else 0  # type: ignore[call-overload]


def _start_two(url: str, workdir: Path, start: Callable[..., Proc], first_url: str | None = None
               ) -> tuple[Proc, Proc]:
    first = start(["run", "--role", "scheduler"], _env(first_url or url, workdir), workdir, "scheduler-1")
    wait_until(lambda: LEADS in first.output(), 60, "the first scheduler to lead")
    second = start(["run", "--role", "scheduler"], _env(url, workdir), workdir, "scheduler-2")
    wait_until(lambda: "standby" in second.output(), 60, "the second to wait as a standby")
    return first, second


@pytest.fixture
def pg(pg_database: str, tmp_path: Path) -> str:
    asyncio.run(_reset_schema(pg_database))
    upgrade(pg_database, tmp_path)
    return pg_database


def test_a_cut_connection_hands_over_and_the_old_leader_steps_down(
    pg: str, tmp_path: Path, procs: Callable[..., Proc]  # noqa: F811
) -> None:
    old, _ = _start_two(pg, tmp_path, procs)
    assert _generation(pg) == 1
    query(pg, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = "
              "'tgmon-scheduler-lock' AND datname = current_database()")
    cut = time.monotonic()
    wait_until(lambda: _generation(pg) >= 2, 30, "a new term to begin")  # either process may win it
    took = time.monotonic() - cut
    wait_until(lambda: "stepping down" in old.output() or "is over" in old.output(), 30, "the old leader to step down")
    print(f"\nconnection cut: a new term began {took:.1f} s later")


def test_a_frozen_leader_loses_its_lease_and_writes_nothing_after(
    pg: str, tmp_path: Path, procs: Callable[..., Proc]  # noqa: F811
) -> None:
    old, new = _start_two(pg, tmp_path, procs)
    old.signal(signal.SIGSTOP)
    frozen = time.monotonic()
    try:
        wait_until(lambda: LEADS in new.output(), 30, "the standby to lead while the leader is frozen")
        took = time.monotonic() - frozen
    finally:
        old.signal(signal.SIGCONT)
    assert took < 30
    wait_until(lambda: "stepping down" in old.output() or "is over" in old.output(), 30, "the old leader to step down")
    assert old.p.poll() is None and new.p.poll() is None
    assert _generation(pg) >= 2
    print(f"\nleader frozen (SIGSTOP): the standby led {took:.1f} s later; the old one stepped down on waking")


class Blackhole:
    """A TCP proxy to PostgreSQL that can stop forwarding without closing anything: to both ends it
    looks like the leader's host dropped off the network."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.cut = threading.Event()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                if not self.cut.is_set():
                    dst.sendall(data)
        except OSError:
            pass

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def blackhole(pg_database: str) -> Iterator[Blackhole]:
    proxy = Blackhole(make_url(pg_database).port or 5432)
    yield proxy
    proxy.close()


def test_a_leader_cut_off_the_network_is_replaced_within_the_lease(
    pg: str, tmp_path: Path, procs: Callable[..., Proc], blackhole: Blackhole  # noqa: F811
) -> None:
    through_proxy = make_url(pg).set(port=blackhole.port).render_as_string(hide_password=False)
    old, new = _start_two(pg, tmp_path, procs, first_url=through_proxy)
    blackhole.cut.set()
    cut = time.monotonic()
    wait_until(lambda: LEADS in new.output(), 30, "the standby to lead while the leader is unreachable")
    took = time.monotonic() - cut
    wait_until(lambda: "stepping down" in old.output() or "is over" in old.output(), 30, "the old leader to step down")
    assert _generation(pg) >= 2
    print(f"\nleader cut off the network: the standby led {took:.1f} s later")


async def test_a_stale_leader_writes_nothing(pg_database: str) -> None:
    """The fence itself: after a successor's term began, the old term's write transaction fails whole."""
    url = pg_database.replace("postgresql://", "postgresql+asyncpg://")
    await _reset_schema(pg_database)
    db = Database.from_url(url)
    await db.upgrade()
    old, new = PgAdvisoryLock(url, key=0x5151), PgAdvisoryLock(url, key=0x5151)
    try:
        assert await old.try_acquire()
        stale = fence("scheduler", old.generation)
        admin = await asyncpg.connect(asyncpg_dsn(url))
        try:
            await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                "WHERE application_name = 'tgmon-scheduler-lock' AND datname = current_database()")
        finally:
            await admin.close()
        assert await new.try_acquire() and new.generation == (old.generation or 0) + 1
        with pytest.raises(StaleLeader):
            async with db.uow() as session:
                await stale(session)
                from bot.storage import models as m

                session.add(m.Meta(key="written-by-the-stale-leader", value="x"))
        async with db.uow(read_only=True) as session:
            from sqlalchemy import text

            assert await session.scalar(text("SELECT count(*) FROM meta WHERE key = 'written-by-the-stale-leader'")) == 0
            await fence("scheduler", new.generation)(session)  # the current term passes
    finally:
        await old.release()
        await new.release()
        await db.dispose()
