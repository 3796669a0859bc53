"""Requests to Telegram that ingestion makes, and what a restart costs: `python -m benchmarks.telegram_requests`.

Runs the real IngestService and TelethonSource on SQLite against the counting fake edge of the
tests (every request a real Telethon TL object). For 10, 500 and 1,000 channels on one account:

- first start: resolves (contacts.resolveUsername), joins, history pages;
- a restart with a session that knows no channel (a TELEGRAM_SESSION string): resolves (the goal
  is 0) and the wall time until every channel has been read again, against the first start;
- an hour at the defaults (a gap-fill pass every `ingest.gap_fill_minutes`): requests per channel
  by kind, on virtual time.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from telethon import events
from telethon.tl import functions, types

from bot.ingest.channels import add_channel
from bot.ingest.service import IngestService
from bot.storage.database import Database
from bot.telegram.source import TelethonSource
from tests.integration.test_ingest_fakes import FakeClock, FakeTelegram, channel_entity, make_app, message


class CountingClient(FakeTelegram):
    """A fresh process's client over a shared world: knows no channel by id until it resolves it."""

    def __init__(self, world: FakeTelegram) -> None:
        super().__init__()
        self.entities, self.by_id, self.history = world.entities, world.by_id, world.history
        self.cached: set[int] = set()
        self.kinds: Counter[str] = Counter()

    async def get_entity(self, target: Any) -> Any:
        if isinstance(target, types.PeerChannel) and target.channel_id not in self.cached:
            raise ValueError("not in this session's cache")
        if not isinstance(target, types.PeerChannel):
            self.kinds["contacts.resolveUsername"] += 1
        entity = await super().get_entity(target)
        self.cached.add(entity.id)
        return entity

    async def __call__(self, request: Any) -> Any:
        name = {functions.messages.GetHistoryRequest: "messages.getHistory",
                functions.channels.JoinChannelRequest: "channels.joinChannel"}.get(type(request), type(request).__name__)
        self.kinds[name] += 1
        return await super().__call__(request)


def _world(channels: int) -> FakeTelegram:
    world = FakeTelegram()
    for i in range(channels):
        cid = 10_000 + i
        world.add_channel(channel_entity(cid, f"chan{i:05d}", f"Channel {i}"),
                          [message(n, f"post {n} of {i}", cid=cid) for n in range(1, 4)])
    return world


async def _run(channels: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database.from_url(f"sqlite:///{Path(tmp) / 'bench.db'}")
        await db.upgrade()
        world = _world(channels)
        adder = TelethonSource(CountingClient(world), FakeClock())
        for i in range(channels):
            await add_channel(db, adder, f"@chan{i:05d}")

        async def process() -> tuple[CountingClient, IngestService, FakeClock]:
            client, clock = CountingClient(world), FakeClock()
            return client, IngestService(await make_app(db, clock), TelethonSource(client, clock)), clock

        first, service, _ = await process()
        started = time.perf_counter()
        await service.start_pass()
        first_seconds = time.perf_counter() - started

        for i in range(channels):
            world.publish(message(4, "after the restart", cid=10_000 + i))
        again, service, clock = await process()
        started = time.perf_counter()
        await service.start_pass()
        restart_seconds = time.perf_counter() - started

        restart = Counter(again.kinds)
        again.kinds.clear()
        passes = round(60 / service.settings.ingest.gap_fill_minutes)
        for _ in range(passes):
            clock.current += timedelta(minutes=service.settings.ingest.gap_fill_minutes)
            await service.full_pass()
        hour = Counter(again.kinds)

        # live posts: from the update reaching the service to the post stored and matched
        handler = next(cb for cb, ev in again.handlers if isinstance(ev, events.NewMessage))
        live: list[float] = []
        for n in range(200):
            cid = 10_000 + n % channels
            update = events.NewMessage.Event(message(100 + n, f"обстрел, живой пост {n}", cid=cid))
            began = time.perf_counter()
            await handler(update)
            live.append(time.perf_counter() - began)
        await db.dispose()
    return {"first": first.kinds, "first_s": first_seconds, "restart": restart,
            "hour": hour, "passes": passes, "restart_s": restart_seconds, "live": live}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, nargs="+", default=[10, 500, 1000])
    parser.add_argument("--runs", type=int, default=3, help="runs per size; medians are printed")
    args = parser.parse_args(argv)
    print("channels | first start: resolves, joins, pages, s | restart: resolves, pages, s, x first | "
          "an hour at the defaults, per channel: getHistory, resolve, join | live post stored: p50, p99 ms")
    for channels in args.channels:
        runs = [asyncio.run(_run(channels)) for _ in range(args.runs)]
        last = runs[-1]
        first_s = statistics.median(r["first_s"] for r in runs)
        restart_s = statistics.median(r["restart_s"] for r in runs)
        hour = last["hour"]
        live = sorted(x for r in runs for x in r["live"])
        print(f"{channels:>8} | {last['first']['contacts.resolveUsername']}, {last['first']['channels.joinChannel']}, "
              f"{last['first']['messages.getHistory']}, {first_s:.2f} s | "
              f"{last['restart']['contacts.resolveUsername']}, {last['restart']['messages.getHistory']}, "
              f"{restart_s:.2f} s, {restart_s / first_s:.2f} | "
              f"{hour['messages.getHistory'] / channels:.1f}, {hour['contacts.resolveUsername'] / channels:.1f}, "
              f"{hour['channels.joinChannel'] / channels:.1f} | "
              f"{statistics.median(live) * 1000:.1f}, {live[int(len(live) * 0.99)] * 1000:.1f}")


if __name__ == "__main__":
    main()
