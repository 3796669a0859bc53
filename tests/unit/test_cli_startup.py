"""`tgmon --help` and every command's `--help` load no heavy library: each command imports what it
needs when it runs (bot/cli/base.py). Checked in a fresh interpreter by the modules it loaded, not by
timing (the start-up figures are in docs/benchmarks.md, from benchmarks/memory.py)."""

from __future__ import annotations

import json
import subprocess
import sys

# What a --help must not load: the database layer, the settings models, Telegram, the matcher and
# its dictionaries, the optional extras, the renderers.
HEAVY = ("sqlalchemy", "alembic", "pydantic", "telethon", "pymorphy3", "re2", "numpy", "matplotlib", "jinja2",
         "apprise", "rich", "babel", "asyncio", "bot.config", "bot.app", "bot.storage", "bot.matching", "bot.search",
         "bot.ingest", "bot.runtime", "bot.telegram")

PROBE = r"""
import json, sys
import click
from bot.cli import cli

def paths(group, path):
    for name in group.list_commands(click.Context(group)):
        cmd = group.get_command(click.Context(group), name)
        yield [*path, name]
        if isinstance(cmd, click.Group):
            yield from paths(cmd, [*path, name])

out = {}
for path in [[]] + list(paths(cli, [])):
    try:
        cli([*path, "--help"], prog_name="tgmon", standalone_mode=False)
    except SystemExit:
        pass
    out[" ".join(path)] = None
print("\x00" + json.dumps({"helped": list(out), "modules": sorted(sys.modules)}))
"""


def _probe() -> dict[str, list[str]]:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True)
    return json.loads(done.stdout.rsplit("\x00", 1)[1])  # type: ignore[no-any-return]


def test_help_of_every_command_loads_no_heavy_module() -> None:
    found = _probe()
    assert {"", "run", "import", "match", "search", "channels", "channels add", "digest preview",
            "db upgrade"} <= set(found["helped"])
    loaded = [name for name in found["modules"] if name.split(".")[0] in HEAVY or name.startswith(HEAVY)]
    assert loaded == [], f"--help imported {loaded[:20]}: import them inside the command that needs them"


def test_the_probe_sees_a_heavy_import() -> None:
    """The check above can fail: a command that has run (not just shown its help) loaded these."""
    probe = PROBE.replace('[*path, "--help"]', '["match", "--rule", "обстрел", "--text", "обстрелы"]')
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    modules = json.loads(done.stdout.rsplit("\x00", 1)[1])["modules"]
    assert "bot.matching" in modules and "pymorphy3" in modules and "bot.config" in modules
