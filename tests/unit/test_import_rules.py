"""Which part of tgmon may import which (docs/architecture.md, "Parts and imports").

The contracts live in pyproject.toml ([tool.importlinter]); this runs them, checks that the Telethon
contract names every part of `bot` but `bot.telegram` (a new part is checked from its first day),
and checks what import-linter cannot see: Alembic's migration scripts are files, not a package."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = ROOT / "pyproject.toml"
MIGRATIONS = ROOT / "bot" / "storage" / "migrations"
# what the migration environment may import: the models and the engine it migrates, the settings,
# and the live lemma normaliser it hands to the two migrations that fill posts.lemma_text
ENV_MAY_IMPORT = ("bot.config", "bot.storage.", "bot.matching.index")


def _contracts() -> dict[str, dict]:
    config = tomllib.loads(PYPROJECT.read_text("utf-8"))["tool"]["importlinter"]
    return {c["name"]: c for c in config["contracts"]}


def _bot_imports(path: Path) -> list[str]:
    """Every bot.* module a file imports, at any depth (function-level imports included)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == "bot"]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "bot":
            found.append(str(node.module))
    return found


def test_import_contracts_are_kept() -> None:
    # in a child process: import-linter silences logging in the process that runs it
    run = (
        "import sys; from importlinter.cli import lint_imports; "
        f"sys.exit(lint_imports(config_filename={str(PYPROJECT)!r}, no_cache=True, no_logo=True))"
    )
    done = subprocess.run([sys.executable, "-c", run], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_telethon_contract_names_every_part_but_telegram() -> None:
    parts = {
        f"bot.{p.stem if p.is_file() else p.name}"
        for p in (ROOT / "bot").iterdir()
        if (p.is_file() and p.suffix == ".py" and p.stem != "__init__")
        or (p.is_dir() and p.name != "__pycache__" and any(p.glob("*.py")))
    }
    contract = _contracts()["only bot.telegram imports Telethon"]
    assert set(contract["source_modules"]) == parts - {"bot.telegram"}
    assert contract["forbidden_modules"] == ["telethon"]


def test_matching_and_domain_contract_forbids_storage_search_and_telethon() -> None:
    contract = _contracts()["matching and domain are pure: no database, no Telegram, no archive search"]
    assert set(contract["source_modules"]) == {"bot.matching", "bot.domain"}
    assert set(contract["forbidden_modules"]) == {"bot.storage", "bot.search", "telethon"}
    assert not contract.get("allow_indirect_imports", False)


def test_the_sql_contract_names_the_services_the_web_and_the_pure_parts() -> None:
    """SQL and dialect branches live in bot.storage (and the archive search's index in bot.search):
    the contract must keep naming every part that calls them instead."""
    contract = _contracts()[
        "only storage and search hold SQL: the services, the web view and the pure parts call bot.storage's repositories"]
    assert set(contract["source_modules"]) >= {
        "bot.web", "bot.ingest", "bot.commands", "bot.digest", "bot.delivery", "bot.notify", "bot.demo",
        "bot.matching", "bot.domain", "bot.i18n", "bot.app"}
    assert contract["forbidden_modules"] == ["sqlalchemy"]


@pytest.mark.parametrize("script", sorted((MIGRATIONS / "versions").glob("*.py")), ids=lambda p: p.stem)
def test_a_migration_imports_no_live_code(script: Path) -> None:
    """A migration does what it did the day it was written: it carries its own SQL and never
    imports bot.* (what changes with the code, lemma_text's normaliser, env.py hands in)."""
    assert _bot_imports(script) == []


def test_the_migration_environment_imports_only_storage_config_and_the_normaliser() -> None:
    imported = _bot_imports(MIGRATIONS / "env.py")
    assert "bot.matching.index" in imported  # the live normaliser for the lemma_text fills
    assert [m for m in imported if not (m in ENV_MAY_IMPORT or m.startswith(ENV_MAY_IMPORT))] == []
