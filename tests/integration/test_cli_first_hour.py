"""The first hour of a new operator, through the real command line (issue 16): the demo says how to
explore its data, an empty database says how to fill it, every command takes --config and --database,
--version, plurals, whole values when piped, --json."""

from __future__ import annotations

import json
import shlex
import subprocess
from importlib.metadata import version
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.integration.test_cli_errors import base_env, one_line_error, tgmon, tgmon_argv

LONG_TITLE = "Канал с очень длинным названием, которое не помещается в восемьдесят колонок терминала никак"


@pytest.fixture
def tmp(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    return tmp_path


def export(tmp: Path, texts: list[str], name: str = LONG_TITLE) -> Path:
    messages = [{"id": i, "type": "message", "date_unixtime": str(1793520000 + i * 60), "date": "x", "text": text}
                for i, text in enumerate(texts, 1)]
    path = tmp / "result.json"
    path.write_text(json.dumps({"name": name, "type": "public_channel", "id": 42, "messages": messages}), "utf-8")
    return path


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    return result


def test_version_comes_from_the_package_metadata(tmp: Path) -> None:
    result = ok(tgmon(tmp, "--version"))
    assert result.stdout.strip() == f"tgmon {version('tgmon')}"


def test_the_demo_ends_with_the_command_that_explores_its_data_and_that_command_works(tmp: Path) -> None:
    out = ok(tgmon(tmp, "demo")).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("Explore the demo's data: "))
    command = line.removeprefix("Explore the demo's data: ").split(" (")[0]
    argv = shlex.split(command)
    demo_url = f"sqlite:///{tmp / 'data' / 'demo.db'}"
    assert argv[1:] == ["--database", demo_url, "search", "обстрел"], argv
    found = ok(subprocess.run([*tgmon_argv(), *argv[1:]], cwd=tmp, env=base_env(tmp), capture_output=True,
                              text=True, timeout=60, check=False))
    first = found.stdout.splitlines()[0]
    assert first.endswith("posts matched; the newest 20:") and int(first.split()[0]) > 20
    assert "tgmon's own database, sqlite:///" in out  # and it says that the other commands read another one
    # tgmon's own database is empty: a command on it says so, and where the demo's data is
    empty = ok(tgmon(tmp, "stats"))
    assert "is empty. Fill it: " in empty.stderr and "import result.json" in empty.stderr
    assert "the offline demo's data is in" in empty.stderr and "--database sqlite:///" in empty.stderr
    demo_stats = ok(tgmon(tmp, "stats", "--database", demo_url))
    assert "@vvgladkov" in demo_stats.stdout and "is empty" not in demo_stats.stderr


def test_an_empty_database_says_how_to_fill_it(tmp: Path) -> None:
    (tmp / "rules.txt").write_text("обстрел\n", "utf-8")
    for args in (["stats"], ["channels", "list"], ["search", "обстрел"], ["digest", "preview", "--rules", "rules.txt"]):
        result = ok(tgmon(tmp, *args))
        assert "is empty. Fill it: `" in result.stderr, args
        assert "channels add @name" in result.stderr and "import result.json" in result.stderr
        assert "tgmon demo" in result.stderr  # no demo run yet: it is offered
    assert "No channels are watched: the database" in tgmon(tmp, "channels", "list").stderr
    assert tgmon(tmp, "search", "обстрел").stdout.startswith("0 posts matched")


def test_every_command_takes_config(tmp: Path) -> None:
    db = tmp / "from-config.db"
    config = tmp / "mine.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{db}"\n', "utf-8")
    ok(tgmon(tmp, "import", str(export(tmp, ["обстрел"])), "--config", str(config), TGMON_DATABASE_URL=None))
    assert db.exists()
    for args in (["stats"], ["channels", "list"], ["search", "обстрел"], ["db", "upgrade"]):
        after = ok(tgmon(tmp, *args, "--config", str(config), TGMON_DATABASE_URL=None))
        assert "is empty" not in after.stderr, args
        before = ok(tgmon(tmp, "--config", str(config), *args, TGMON_DATABASE_URL=None))  # before the command
        assert before.stdout.replace(" ", "")[:40] == after.stdout.replace(" ", "")[:40]
    line = one_line_error(tgmon(tmp, "stats", "--config", str(tmp / "missing.toml")))
    assert "missing.toml does not exist" in line


def test_plurals_whole_values_when_piped_and_json(tmp: Path) -> None:
    ok(tgmon(tmp, "import", str(export(tmp, ["обстрел", "тишина"])), "--channel", "longname"))
    search = ok(tgmon(tmp, "search", "обстрел")).stdout
    assert search.startswith("1 post matched; the newest 1:"), search
    stats = ok(tgmon(tmp, "stats")).stdout
    assert "1 channel, " in stats
    listed = ok(tgmon(tmp, "channels", "list")).stdout
    assert LONG_TITLE in listed  # not cut at 80 columns when piped
    assert "…" not in listed and "1 active channel is watched" in listed

    channels = json.loads(ok(tgmon(tmp, "channels", "list", "--json")).stdout)
    assert [(c["channel"], c["title"], c["posts"]) for c in channels["channels"]] == [("@longname", LONG_TITLE, 2)]
    totals = json.loads(ok(tgmon(tmp, "stats", "--json")).stdout)
    assert totals["totals"]["channels"] == 1 and totals["channels"][0]["posts"] == 2
    assert totals["search_index_pending"] == 0
    found = json.loads(ok(tgmon(tmp, "search", "обстрел", "--json")).stdout)
    assert found["total"] == 1 and found["exact"] is True
    assert found["posts"][0]["text"] == "обстрел" and found["posts"][0]["highlights"] == [[0, 7]]
    assert found["posts"][0]["link"] == "https://t.me/longname/1"


def test_an_unexpected_error_is_one_line_with_the_way_to_the_traceback(tmp: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.cli import cli

    async def broken(*_: object, **__: object) -> None:
        raise RuntimeError("something no one foresaw")

    monkeypatch.setattr("bot.search.search_posts", broken)
    result = CliRunner().invoke(cli, ["search", "обстрел"], env=base_env(tmp), prog_name="tgmon")
    assert result.exit_code == 1
    assert result.output.strip() == (
        "Error: tgmon search failed unexpectedly (RuntimeError: something no one foresaw). Run it again with "
        "TGMON_LOG_LEVEL=DEBUG to see the traceback, and report it.")
    assert "Traceback" not in result.output


def test_a_broken_pipe_ends_quietly(tmp: Path) -> None:
    ok(tgmon(tmp, "demo"))
    proc = subprocess.Popen(f"{shlex.join(tgmon_argv())} --database sqlite:///{tmp}/data/demo.db search обстрел "
                            "--limit 200 | head -1", shell=True, cwd=tmp, env=base_env(tmp),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=60)
    assert "posts matched" in out and err == ""


@pytest.mark.postgres
def test_the_demo_on_postgresql_never_prints_the_password(tmp: Path, pg_database: str) -> None:
    import asyncio

    from tests.conftest import _pg_exec

    asyncio.run(_pg_exec("DROP SCHEMA public CASCADE; CREATE SCHEMA public", pg_database.rsplit("/", 1)[1]))
    with_password = pg_database.replace("postgresql://postgres@", "postgresql://postgres:pw-of-16-demo@")
    result = ok(tgmon(tmp, "demo", "--database", with_password))
    assert "pw-of-16-demo" not in result.stdout + result.stderr
    assert "Explore the demo's data: " in result.stdout and "postgres:***@" in result.stdout
