"""The web role: uvicorn serving the web view until `stop` is set."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


async def serve(app: Any, host: str, port: int, stop: asyncio.Event,
                beat: Callable[[], None] = lambda: None, beat_seconds: float = 30) -> None:
    """Serve until `stop`; `beat` is called while the server is up (the health check's progress)."""
    import uvicorn

    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False, lifespan="off",
                            server_header=False, proxy_headers=True)
    class Server(uvicorn.Server):
        def capture_signals(self) -> Any:  # the supervisor owns SIGTERM/SIGINT, and sets `stop`
            return contextlib.nullcontext()

    server = Server(config)
    task = asyncio.create_task(server.serve())
    log.info("web view listening on http://%s:%s", host, port)
    waiting = asyncio.create_task(stop.wait())
    try:
        while True:
            done, _ = await asyncio.wait({task, waiting}, timeout=beat_seconds, return_when=asyncio.FIRST_COMPLETED)
            if task in done:
                task.result()  # a bind failure and the like: the supervisor restarts the role with backoff
                raise RuntimeError(f"the web server on {host}:{port} stopped (is the port in use? TGMON_WEB_PORT)")
            if waiting in done:
                return
            if server.started:
                beat()
    finally:
        server.should_exit = True
        waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(task, 5)
