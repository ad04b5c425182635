"""`make demo` (scripts/demo.py) runs end to end against a real PostgreSQL and tells the story it promises."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

DEMO = Path(__file__).resolve().parents[2] / "scripts" / "demo.py"


def test_the_demo_runs(pg_admin_dsn: str) -> None:
    env = {**os.environ, "WARDEN_DEMO_POSTGRES_DSN": pg_admin_dsn}
    command = [sys.executable, str(DEMO)]
    done = subprocess.run(command, check=False, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    transcript = done.stdout
    for expected in (
        "1. Discover the tools",
        "pg_query",
        "primary key: ['id']",
        "Alan Turing",
        "1000 rows, truncated=True",
        "refused: send exactly one SQL statement (found 2)",
        "refused: data-modifying statements (DELETE) are not allowed",
        "customers still has 12 rows.",
        "IGNORE ALL PREVIOUS INSTRUCTIONS",
        "Demo finished",
    ):
        assert expected in transcript, expected
