"""A fake Telegram edge for fault tests with real processes: it records every send, duplicates too.

Selected by the environment variable TGMON_TEST_SENDER_LOG=<file> (never by a settings file, so a
production config cannot turn it on by mistake). Each send appends one line
`chat_id random_id pid` with a single O_APPEND write: the line is in the file the moment the
"request reaches Telegram", even when the process is SIGKILLed right after. TGMON_TEST_SENDER_DELAY
(seconds) makes each send take that long, so a test can kill a worker mid-run.
"""

from __future__ import annotations

import asyncio
import os

from bot.domain import SendResult

ENV_LOG = "TGMON_TEST_SENDER_LOG"
ENV_DELAY = "TGMON_TEST_SENDER_DELAY"


class RecordingSender:
    def __init__(self, path: str, delay: float = 0.0) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.delay = delay
        self.sent = 0

    @classmethod
    def from_env(cls) -> RecordingSender | None:
        path = os.environ.get(ENV_LOG)
        return cls(path, float(os.environ.get(ENV_DELAY, "0") or 0)) if path else None

    async def send_html(
        self, chat_id: int, html: str, *, random_id: int, attachment: bytes | None = None
    ) -> SendResult:
        if self.delay:
            await asyncio.sleep(self.delay)
        os.write(self.fd, f"{chat_id} {random_id} {os.getpid()}\n".encode())
        self.sent += 1
        return SendResult(message_id=self.sent)
