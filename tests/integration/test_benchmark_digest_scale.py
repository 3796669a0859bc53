"""`python -m benchmarks.digest_scale` at a tiny size, so the benchmark cannot rot: every part runs
(build with 2 processes, instant alerts during a tick, delivery through the fake edge) and
checks itself (each digest built once, every message delivered). No figure is asserted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# not `dates`: the benchmark seeds with the PostgreSQL server's now(), which a moved test clock
# cannot move; the scheduler and delivery tests marked `dates` cover the moved clock
pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def test_the_digest_scale_benchmark_runs_at_a_tiny_size(pg_database: str) -> None:
    server = pg_database.rsplit("/", 1)[0] + "/postgres"
    env = dict(os.environ, TGMON_BENCH_DB=f"{pg_database.rsplit('/', 1)[1]}_bench")
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.digest_scale", "--quick", "--sizes", "60", "--procs", "2",
         "--alerts", "2", "--messages", "12", "--workers", "2", "--pg", server],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for part in ("2 process(es)", "alerts:", "during the daily tick", "delivery: 12 messages, 2 worker(s)"):
        assert part in done.stdout, done.stdout
