"""A scheduler process for the SQLite scale-out test (`tgmon run` allows one process per SQLite file,
so the test starts these instead): it builds the due scheduled digests in a loop until SIGTERM,
printing how many each pass built.

    python tests/integration/scheduler_child.py sqlite:///path/tgmon.db [batch]
"""

from __future__ import annotations

import asyncio
import signal
import sys


async def main(url: str, batch: int) -> None:
    from bot.config import Settings
    from bot.delivery.clock import SystemClock
    from bot.digest.scheduler import DigestScheduler
    from bot.storage.database import Database

    db = Database.from_url(url)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    clock = SystemClock()
    scheduler = DigestScheduler(db, Settings(), clock, batch=batch, housekeeping=False)
    print("ready", flush=True)
    try:
        while not stop.is_set():
            built = await scheduler.build_scheduled(clock.now())
            if built:
                print(f"built {built}", flush=True)
            await asyncio.sleep(0.05)
    finally:
        await db.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 50))
