"""Test-only startup hook: a child Python process keeps the clock of the test session that started it.

tests/conftest.py puts this directory on PYTHONPATH, and sets TGMON_TEST_TRAVEL_SHIFT (the seconds
between the travelled clock and the real one), only when the session runs with TGMON_TEST_TRAVEL.
Python imports ``sitecustomize`` at startup, so a `python -m bot ...` child moves its clock before any
of its own code runs: the child's "now" is the parent's (real time + the same shift, ticking on).
Nothing here is installed with tgmon or read by it.
"""

from __future__ import annotations

import os

_shift = os.environ.get("TGMON_TEST_TRAVEL_SHIFT")
if _shift:
    import time

    import time_machine

    time_machine.travel(time.time() + float(_shift), tick=True).start()
    time.time()  # the travelled clock ticks from its first reading: at once, as in the test session
