"""`python -m benchmarks.outbox_claim` at a tiny size, so the benchmark cannot rot: both forms of
the claim run on an outbox analysed empty and return as many rows. No figure is asserted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def test_the_outbox_claim_benchmark_runs_at_a_tiny_size(pg_database: str) -> None:
    server = pg_database.rsplit("/", 1)[0] + "/postgres"
    env = dict(os.environ, TGMON_BENCH_DB=f"{pg_database.rsplit('/', 1)[1]}_claim")
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.outbox_claim", "--rows", "300", "--chats", "60", "--limit", "20",
         "--repeat", "1", "--pg", server], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "300 pending digest rows for 60 chats" in done.stdout
    assert "now    others:" in done.stdout and "; 20 rows;" in done.stdout, done.stdout


def test_the_outbox_claim_benchmark_refuses_a_size_below_one() -> None:
    done = subprocess.run([sys.executable, "-m", "benchmarks.outbox_claim", "--rows", "0"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "at least 1" in done.stderr, done.stderr
