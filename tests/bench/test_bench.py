"""`make bench` keeps working: one quick pass of the harness against a real PostgreSQL.

Speed is not asserted here (figures belong to `make bench`); the harness must run every section,
measure real calls, and write a complete, self-describing result.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_bench_writes_every_figure(pg_admin_dsn: str, tmp_path: Path) -> None:
    output = tmp_path / "result.json"
    run = subprocess.run(
        [sys.executable, "bench/run.py", "--quick", "--dsn", pg_admin_dsn, "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(output.read_text())

    assert result["machine"]["cores"] >= 1
    cold = result["cold_start"]
    assert set(cold) == {"floor", "postgres", "github", "kubernetes", "slack", "aws"}
    assert all(figure["seconds"] > 0 and figure["idle_rss_mib"] > 10 for figure in cold.values())

    per_call = result["per_call"]
    assert set(per_call) == {
        "raw asyncpg",
        "bare MCPServer stdio",
        "bare MCPServer HTTP",
        "warden-postgres stdio",
        "warden-postgres HTTP",
        "warden-postgres, tracing on stdio",
        "warden-postgres, tracing on HTTP",
    }
    assert all(0 < figure["p50_ms"] <= figure["p99_ms"] for figure in per_call.values())

    loads = result["throughput"]
    assert set(loads) == {
        "bare MCPServer echo",
        "warden echo echo",
        "bare MCPServer pg_query",
        "warden-postgres pg_query",
    }
    assert all(rate > 0 for levels in loads.values() for rate in levels.values())

    memory = result["memory"]
    assert 0 < memory["rows_returned"] <= 1000  # the row cap or the output cap, whichever comes first, of 10^8
    assert memory["peak_over_idle_mib"] >= 0

    assert {target["target"] for target in result["targets"]} == {
        "cold start",
        "per-call overhead",
        "own cost per call",
        "throughput echo",
        "throughput pg_query",
        "peak RSS",
        "egress throughput",
        "egress per answer",
        "egress adversarial",
    }
    egress = result["egress"]
    assert egress["throughput_mb_s"] > 0 and egress["per_1kib_answer_us"] >= 0
    assert set(egress["false_positives"]) >= {"repository outside tests/", "demo database rows", "github fake"}
    assert "| target | verdict | measured |" in run.stdout
