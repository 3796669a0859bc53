"""Delay from publication to storage for live posts and for posts the live updates missed.

    python -m benchmarks.live_gaps [--channels 20] [--hours 2] [--drop 0.15] [--every 10] [--runs 3]

The real `IngestService.run` loop on SQLite, against the fake Telegram edge of the tests, in virtual
time driven event by event: each channel publishes posts at random (a mean of one every `--every`
minutes); a share `--drop` of their live updates never arrives, as Telegram drops updates on busy
channels. Each post's delay is the virtual time from its publication to the moment the service
stored it (live updates, the quick reads a gap or an active channel triggers, the gap-fill pass).
Medians of the runs' p50 and p99.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from telethon import events

from bot import domain
from bot.ingest.channels import add_channel
from bot.ingest.service import IngestService
from bot.storage.database import Database
from bot.telegram.source import TelethonSource
from tests.integration.test_ingest_fakes import T0, FakeClock, FakeTelegram, channel_entity, make_app, message


class SimClock:
    """Virtual time: a sleep ends when the driver moves time past its deadline."""

    def __init__(self, start: datetime) -> None:
        self.current = start
        self.sleepers: list[tuple[datetime, asyncio.Future[None]]] = []

    def now(self) -> datetime:
        return self.current

    async def sleep(self, seconds: float) -> None:
        entry = (self.current + timedelta(seconds=seconds), asyncio.get_running_loop().create_future())
        self.sleepers.append(entry)
        try:
            await entry[1]
        finally:
            if entry in self.sleepers:
                self.sleepers.remove(entry)

    def waiting(self) -> bool:
        return any(not fut.done() for _, fut in self.sleepers)

    async def settle(self) -> None:
        """Until the service waits on the clock again (its work, database included, is done)."""
        deadline = time.monotonic() + 10
        await asyncio.sleep(0)
        while time.monotonic() < deadline:
            if self.waiting():
                await asyncio.sleep(0.002)  # one more look: a write may still be on its way
                if self.waiting():
                    return
            await asyncio.sleep(0.001)

    async def advance_to(self, when: datetime) -> None:
        while True:
            due = sorted(((d, f) for d, f in self.sleepers if d <= when and not f.done()), key=lambda e: e[0])
            if not due:
                break
            deadline, fut = due[0]
            self.current = max(self.current, deadline)
            fut.set_result(None)
            await self.settle()
        self.current = max(self.current, when)


class TimedService(IngestService):
    """Records the virtual moment each post was first stored."""

    stored_at: dict[tuple[int, int], datetime]

    async def ingest(self, posts: list[domain.Post]) -> domain.IngestResult:
        result = await super().ingest(posts)
        for post in posts:
            self.stored_at.setdefault((post.channel.telegram_id or 0, post.message_id), self.clock.now())
        return result


class GapFillOnly(TimedService):
    """The baseline, measured in the same run: live gaps and active channels ignored, so a missed post
    waits for the next gap-fill pass (tgmon before the quick reads)."""

    def _note_live(self, telegram_id: int, message_ids: list[int]) -> None:
        return None


async def _run(channels: int, hours: float, drop: float, every: float, seed: int,
               kind: type[TimedService] = TimedService) -> tuple[list[float], list[float]]:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        db = Database.from_url(f"sqlite:///{Path(tmp) / 'bench.db'}")
        await db.upgrade()
        tg = FakeTelegram()
        ids = [20_000 + i for i in range(channels)]
        for cid in ids:
            tg.add_channel(channel_entity(cid, f"live{cid}", f"Live {cid}"), [message(1, "старт", cid=cid)])
            await add_channel(db, TelethonSource(tg, FakeClock()), f"@live{cid}")
        clock = SimClock(T0 + timedelta(hours=12))
        service = kind(await make_app(db, clock), TelethonSource(tg, clock))  # type: ignore[arg-type]
        service.stored_at = {}
        stop = asyncio.Event()
        task = asyncio.create_task(service.run(stop))
        await clock.settle()

        start = clock.now()
        published: list[tuple[datetime, int, int, bool]] = []
        for cid in ids:
            at, mid = start, 1
            while True:
                at += timedelta(minutes=rng.expovariate(1 / every))
                if at > start + timedelta(hours=hours):
                    break
                mid += 1
                published.append((at, cid, mid, rng.random() < drop))
        published.sort()
        handler = tg.handler(events.NewMessage)
        for at, cid, mid, dropped in published:
            await clock.advance_to(at)
            post = message(mid, f"пост {mid}", cid=cid, date=at)
            tg.publish(post)
            if not dropped:
                await handler(events.NewMessage.Event(post))
                await clock.settle()
        await clock.advance_to(clock.now() + timedelta(minutes=2 * service.settings.ingest.gap_fill_minutes))
        stop.set()
        for _, fut in list(clock.sleepers):
            if not fut.done():
                fut.set_result(None)
        await asyncio.wait_for(task, 30)
        await db.dispose()

    live: list[float] = []
    missed: list[float] = []
    for at, cid, mid, dropped in published:
        stored = service.stored_at.get((cid, mid))
        delay = (stored - at).total_seconds() if stored is not None else float("inf")
        (missed if dropped else live).append(delay)
    return live, missed


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=20)
    parser.add_argument("--hours", type=float, default=2)
    parser.add_argument("--drop", type=float, default=0.15, help="share of live updates that never arrive")
    parser.add_argument("--every", type=float, default=10, help="minutes between a channel's posts, on average")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    results: list[dict[str, Any]] = []
    for run in range(args.runs):  # the same posts and drops (seed) for both, interleaved
        live, missed = asyncio.run(_run(args.channels, args.hours, args.drop, args.every, seed=run))
        _, baseline = asyncio.run(_run(args.channels, args.hours, args.drop, args.every, seed=run, kind=GapFillOnly))
        results.append({"live": live, "missed": missed, "baseline": baseline})

    def med(key: str, q: float) -> float:
        return statistics.median(_p(r[key], q) for r in results)

    posts = sum(len(r["live"]) + len(r["missed"]) for r in results) / len(results)
    missed_n = sum(len(r["missed"]) for r in results) / len(results)
    never = sum(1 for r in results for d in r["live"] + r["missed"] if d == float("inf"))
    print(f"{args.channels} channels, {args.hours:g} h, a post every {args.every:g} min a channel on average, "
          f"{args.drop:.0%} of live updates dropped; {posts:.0f} posts a run, {missed_n:.0f} missed by the live path; "
          f"medians of {args.runs} runs")
    print(f"  live posts:             p50 {med('live', 0.5):6.1f} s   p99 {med('live', 0.99):6.1f} s")
    print(f"  missed by live updates: p50 {med('missed', 0.5):6.1f} s   p99 {med('missed', 0.99):6.1f} s")
    print(f"  the same, gap fill only (baseline): p50 {med('baseline', 0.5):6.1f} s   p99 {med('baseline', 0.99):6.1f} s"
          f"   (p50 {med('baseline', 0.5) / max(med('missed', 0.5), 0.001):.1f}x faster now)")
    print(f"  never stored: {never}")


if __name__ == "__main__":
    main()
