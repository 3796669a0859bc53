"""Docker does not run here: read the deployment files and check them against the real CLI."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click
import yaml

from bot.cli import cli
from bot.config import load_settings

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def compose_command(service: str) -> list[str]:
    """The exact argv after `tgmon` that a compose service runs; the fault tests run these too."""
    command: list[str] = compose()["services"][service]["command"]
    return command


def _parses(argv: list[str]) -> None:
    """Find argv's command through the click groups and parse its options, without running anything."""
    command: click.Command = cli
    rest = list(argv)
    while isinstance(command, click.Group):
        assert rest and rest[0] in command.commands, f"tgmon has no command {argv}"
        command, rest = command.commands[rest[0]], rest[1:]
    command.make_context(command.name or "", rest)  # raises on an unknown option or a bad choice


def test_every_compose_command_is_a_real_tgmon_command() -> None:
    services = compose()["services"]
    for name in ("migrate", "tgmon", "ingest", "bot", "scheduler", "delivery"):
        _parses(services[name]["command"])
    assert compose_command("migrate") == ["db", "upgrade"]
    assert compose_command("scheduler") == ["run", "--role", "scheduler"]


def test_start_order_restart_and_volumes() -> None:
    services = compose()["services"]
    pg = services["postgres"]
    assert "pg_isready" in " ".join(pg["healthcheck"]["test"]) and "pgdata:/var/lib/postgresql/data" in pg["volumes"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["migrate"]["restart"] == "no"
    for name in ("tgmon", "ingest", "bot", "scheduler", "delivery"):
        svc = services[name]
        assert svc["depends_on"] == {"postgres": {"condition": "service_healthy"},
                                     "migrate": {"condition": "service_completed_successfully"}}
        assert svc["restart"] == "on-failure" and svc["env_file"] == ".env"
        assert "tgmon-data:/app/data" in svc["volumes"]
        assert svc["environment"]["TELEGRAM_SESSION_FILE"].startswith("/app/data/")
    assert services["prometheus"]["profiles"] == ["monitoring"]
    assert services["scheduler"]["deploy"]["replicas"] == 2 and services["delivery"]["deploy"]["replicas"] == 3
    assert set(compose()["volumes"]) == {"pgdata", "tgmon-data", "prometheus-data"}


def test_compose_environment_is_valid_settings() -> None:
    env = {k: str(v) for k, v in compose()["services"]["tgmon"]["environment"].items()}
    assert env["TGMON_DATABASE_PASSWORD"] == "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD in .env}"
    env["TGMON_DATABASE_PASSWORD"] = "p@ss:w/rd#"  # passed on its own, so no character breaks the URL
    settings = load_settings(environ=env, env_file=Path("/nonexistent/.env"))
    assert settings.database.url == "postgresql+asyncpg://tgmon:p%40ss%3Aw%2Frd%23@postgres:5432/tgmon"
    assert settings.app.metrics_port == 9108 and settings.app.metrics_host == "0.0.0.0"
    prometheus = yaml.safe_load((ROOT / "deploy/prometheus.yml").read_text())
    assert prometheus["scrape_configs"][0]["static_configs"][0]["targets"] == ["tgmon:9108"]
    assert "9108/healthz" in " ".join(compose()["services"]["tgmon"]["healthcheck"]["test"])


def test_dockerfile_slim_deps_layer_non_root() -> None:
    lines = [ln.strip() for ln in (ROOT / "Dockerfile").read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    assert lines[0] == "FROM python:3.11-slim"
    deps = next(i for i, ln in enumerate(lines) if "requirements.txt" in ln and "pip install" in " ".join(lines[i:i + 3]))
    code = next(i for i, ln in enumerate(lines) if ln.startswith("COPY bot"))
    assert lines.index("COPY pyproject.toml ./") < deps < code  # deps layer survives code changes
    user = next(ln for ln in lines if ln.startswith("USER "))
    assert user != "USER root" and lines.index(user) > code
    assert 'ENTRYPOINT ["tgmon"]' in lines and 'CMD ["run"]' in lines
    ignored = (ROOT / ".dockerignore").read_text().split()
    for secret in (".env", "*.session", "data", ".git", ".venv"):
        assert secret in ignored
    assert re.search(r"tgmon = \"bot\.cli:main\"", (ROOT / "pyproject.toml").read_text())
