"""A fake Telegram edge for fault tests with real processes: it records every message delivered.

Selected by the environment variable TGMON_TEST_SENDER_LOG=<file> (never by a settings file, so a
production config cannot turn it on by mistake). Each send appends one line
`chat_id random_id pid unix_time` with a single O_APPEND write: the line is in the file the moment the
"request reaches Telegram", even when the process is SIGKILLed right after. Like Telegram, it drops
a repeat of a random_id it has delivered (a line `<file>.repeats` counts those) and answers it as
delivered. TGMON_TEST_SENDER_DELAY (seconds) makes each send take that long, so a test can kill a
worker mid-run. `violations` counts the sends that broke Telegram's limits, as Telegram would.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import time
from collections import deque

from bot.domain import InlineButtons, SendResult

ENV_LOG = "TGMON_TEST_SENDER_LOG"
ENV_DELAY = "TGMON_TEST_SENDER_DELAY"


class RecordingSender:
    def __init__(self, path: str, delay: float = 0.0) -> None:
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        self.delay = delay
        self.sent = 0

    @classmethod
    def from_env(cls) -> RecordingSender | None:
        path = os.environ.get(ENV_LOG)
        return cls(path, float(os.environ.get(ENV_DELAY, "0") or 0)) if path else None

    async def send_html(
        self, chat_id: int, html: str, *, random_id: int, attachment: bytes | None = None, silent: bool = False,
        buttons: InlineButtons = (),
    ) -> SendResult:
        if self.delay:
            await asyncio.sleep(self.delay)
        if not self._deliver(chat_id, random_id):  # Telegram's RANDOM_ID_DUPLICATE: the sender says delivered
            return SendResult(message_id=None)
        self.sent += 1
        return SendResult(message_id=self.sent)

    def _deliver(self, chat_id: int, random_id: int) -> bool:
        """Append the message unless its random_id was delivered before (then note the repeat): False."""
        fcntl.flock(self.fd, fcntl.LOCK_EX)  # check and append as one step, across worker processes
        try:
            with open(self.path, encoding="utf-8") as seen:
                repeat = any(line.split()[1:2] == [str(random_id)] for line in seen)
            if not repeat:
                os.write(self.fd, f"{chat_id} {random_id} {os.getpid()} {time.time():.6f}\n".encode())
        finally:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        if repeat:
            with open(self.path + ".repeats", "a", encoding="utf-8") as repeats:
                repeats.write(f"{chat_id} {random_id} {os.getpid()}\n")
        return not repeat


def violations(path: str, *, per_second: int = 30, chat_per_second: int = 1, group_per_minute: int = 20) -> list[str]:
    """The sends in the log at `path` that broke one of Telegram's limits for a bot (about 30 messages
    a second in all, 1 a second to one chat, 20 a minute to one group: groups have negative ids), each
    said in a line. Every window ending at a send is checked."""
    bad: list[str] = []
    window: deque[float] = deque()
    per_chat: dict[int, deque[float]] = {}
    with open(path, encoding="utf-8") as log:
        sends = sorted((float(f[3]), int(f[0])) for f in (line.split() for line in log) if len(f) > 3)
    for at, chat in sends:
        window.append(at)
        while window[0] <= at - 1.0:
            window.popleft()
        if len(window) > per_second:
            bad.append(f"{len(window)} messages in the second before {at:.6f}")
        span, cap = (60.0, group_per_minute) if chat < 0 else (1.0, chat_per_second)
        recent = per_chat.setdefault(chat, deque())
        recent.append(at)
        while recent[0] <= at - span:
            recent.popleft()
        if len(recent) > cap:
            bad.append(f"chat {chat}: {len(recent)} messages within {span:g} s before {at:.6f}")
    return bad
