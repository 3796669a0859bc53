"""`python -m benchmarks.ingest_latency` at a tiny size, so the benchmark cannot rot: live posts on 50
channels through a real ingest process, the scheduler and a delivery worker (in the same process on
SQLite, two more processes on PostgreSQL) to the fake edge. The benchmark checks itself (every
matching post alerted exactly once, nothing else sent) and exits non-zero otherwise. No figure is
asserted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# not `dates`: the processes run on the real clock (the subscribers' daily hour is set from it)
pytestmark = [pytest.mark.slow]


def _run(*args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([sys.executable, "-m", "benchmarks.ingest_latency", "--quick", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_the_ingest_latency_benchmark_runs_on_sqlite() -> None:
    out = _run("--db", "sqlite", "--pg", "")
    assert "SQLite: one tgmon run process" in out, out
    assert "matching posts alerted exactly once" in out and "send at the edge" in out, out


@pytest.mark.postgres
def test_the_ingest_latency_benchmark_runs_on_postgresql(pg_database: str) -> None:
    server = pg_database.rsplit("/", 1)[0] + "/postgres"
    env = dict(os.environ, TGMON_BENCH_DB=f"{pg_database.rsplit('/', 1)[1]}_ingest")
    out = _run("--db", "pg", "--pg", server, env=env)
    assert "PostgreSQL: ingest | tgmon run --role scheduler | tgmon run --role delivery" in out, out
    assert "send at the edge" in out, out
