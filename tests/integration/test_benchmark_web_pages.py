"""`python -m benchmarks.web_pages` at a tiny size on SQLite, so the benchmark cannot rot: every
page answers through the signed-in app, phrases asked once included. No figure is asserted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_the_web_pages_benchmark_runs_at_a_tiny_size(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.web_pages", "--posts", "1500", "--requests", "3",
         "--sqlite", str(tmp_path / "web.db"), "--pg", "", "--only", "search"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "3 phrases asked once" in done.stderr, done.stderr
    for page in ("baseline: settings", "search, common word", "search, phrase", "search, phrase asked once"):
        assert page in done.stdout, done.stdout
