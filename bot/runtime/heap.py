"""The start-up heap, kept out of the garbage collector's way while the service runs.

A long-running tgmon process holds a large heap that lives as long as the process: Telethon's
thousands of TL classes, SQLAlchemy's metadata, the morphology analysers, the compiled rules.
CPython's full collections walk every tracked object each time; on this heap that is a pause of
some 65 ms in the middle of ingestion (benchmarks/ingestion.py saw one in most runs). Once
start-up is done, `freeze()` moves everything alive into the permanent generation, so later
collections walk only what was made after it. Garbage made later is collected as before.
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)


def freeze() -> int:
    """Collect what start-up left behind, then freeze the rest. Returns the objects frozen."""
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.debug("start-up heap frozen: %d objects", frozen)
    return frozen


def thaw() -> None:
    """Undo `freeze` (when the service stops inside a longer-lived process, such as the tests)."""
    gc.unfreeze()
