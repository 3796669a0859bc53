"""`tgmon run --role web` in-process: uvicorn serves the pages until SIGTERM; without a base URL the
role says what it needs."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from pathlib import Path

import httpx
import pytest

from bot.config import load_settings
from bot.runtime import missing_credentials, run_roles

NO_ENV = Path("/nonexistent/.env")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_web_role_serves_until_sigterm(tmp_path: Path) -> None:
    port = _free_port()
    settings = load_settings(environ={"TGMON_DATABASE_URL": f"sqlite:///{tmp_path / 't.db'}",
                                      "TGMON_WEB_BASE_URL": f"http://127.0.0.1:{port}",
                                      "TGMON_WEB_PORT": str(port)}, env_file=NO_ENV)
    task = asyncio.create_task(run_roles(settings, ["web"]))
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        for _ in range(200):
            try:
                page = await client.get("/")
                break
            except httpx.ConnectError:
                await asyncio.sleep(0.05)
        assert page.status_code == 200 and "send <code>/web</code>" in page.text
        assert "server" not in page.headers
        css = await client.get("/static/style.css")
        assert css.status_code == 200 and "text/css" in css.headers["content-type"]
        assert (await client.get("/nowhere")).status_code == 404
    os.kill(os.getpid(), signal.SIGTERM)
    assert await asyncio.wait_for(task, 15) == 0


def test_web_role_needs_its_base_url() -> None:
    settings = load_settings(environ={}, env_file=NO_ENV)
    assert "TGMON_WEB_BASE_URL" in (missing_credentials(settings, "web") or "")
    with pytest.raises(Exception, match="TGMON_WEB_BASE_URL"):
        load_settings(environ={"TGMON_WEB_BASE_URL": "tgmon.example.org"}, env_file=NO_ENV)


def test_compose_and_dockerfile_serve_the_web_role() -> None:
    from tests.unit.test_runtime_deploy import ROOT, _parses, compose

    services = compose()["services"]
    web = services["web"]
    _parses(web["command"])
    assert web["command"] == ["run", "--role", "web"]
    for name in ("web", "tgmon"):
        env = services[name]["environment"]
        assert env["TGMON_WEB_HOST"] == "0.0.0.0" and env["TGMON_WEB_PORT"] == "8080"
        assert any(str(p).endswith(":8080") for p in services[name]["ports"])
    settings = load_settings(environ={k: str(v) for k, v in web["environment"].items()
                                      if k.startswith("TGMON_WEB")} | {"TGMON_WEB_BASE_URL": "https://t.example"},
                             env_file=NO_ENV)
    assert (settings.web.host, settings.web.port, settings.web.secure) == ("0.0.0.0", 8080, True)
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "EXPOSE 9108 8080" in dockerfile and "TGMON_WEB_HOST=0.0.0.0" in dockerfile
