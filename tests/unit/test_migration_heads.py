"""The migrations form one line: two revisions that follow the same one (two people adding a
migration at once) make `upgrade head` fail for everyone, so it fails here first, by name."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory

import bot.storage

MIGRATIONS = Path(bot.storage.__file__).parent / "migrations"


def test_one_head_and_every_file_named_after_its_revision() -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    script = ScriptDirectory.from_config(config)
    assert len(script.get_heads()) == 1, f"several heads: {script.get_heads()}; renumber the newer one"
    for revision in script.walk_revisions():
        assert revision.path is not None and Path(revision.path).stem.startswith(revision.revision)
