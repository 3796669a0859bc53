"""Local catchers for the notification tests: an HTTP server for json:// webhooks and an SMTP server
(aiosmtpd) for mailto://, both on 127.0.0.1, each recording what reached it."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class Hit:
    path: str
    key: str | None
    body: dict[str, Any]


@dataclass
class HttpCatcher:
    """json:// webhooks (and ntfy's JSON posts) land here. `refuse` answers that many next requests
    with 500 (recorded too); `delay` holds each answer that long, the request already recorded (it
    reached the service), so a sender can be killed while it waits for the answer."""

    hits: list[Hit] = field(default_factory=list)
    refused: list[Hit] = field(default_factory=list)
    refuse: int = 0
    delay: float = 0.0
    errors: list[str] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    def __enter__(self) -> HttpCatcher:
        catcher = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                try:
                    self._post()
                except Exception as exc:  # seen by the test, not lost in a server thread
                    catcher.errors.append(repr(exc))
                    raise

            def _post(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                if len(raw) < length:  # the sender died mid-request: a service never sees half a message
                    return
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:  # not JSON (a file apprise uploads instead of a message)
                    body = {"raw": raw.decode("utf-8", "replace")}
                hit = Hit(self.path, self.headers.get("Idempotency-Key"), body)
                if catcher.refuse > 0:
                    catcher.refuse -= 1
                    catcher.refused.append(hit)
                    self.send_response(500)
                else:
                    catcher.hits.append(hit)
                    if catcher.delay:
                        time.sleep(catcher.delay)
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.server_address[1])

    def url(self, path: str = "hook/s3cretT0ken-of-the-hook") -> str:
        return f"json://127.0.0.1:{self.port}/{path}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(parsed)  # type: ignore[arg-type]
        return "250 OK"


class SmtpCatcher:
    def __init__(self) -> None:
        self.port = free_port()
        self.box = _Mailbox()
        self.controller = Controller(self.box, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SmtpCatcher:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()

    @property
    def messages(self) -> list[EmailMessage]:
        return self.box.messages

    def url(self) -> str:
        return f"mailto://127.0.0.1:{self.port}?from=tgmon@example.com&to=alice@example.com&mode=insecure"


def html_part(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())
