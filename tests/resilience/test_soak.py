"""Soak, short form (R-43): mixed calls at the rate limit; RSS and open files stay flat (within 10 %).

The long form is `make soak` (bench/soak.py), minutes instead of seconds, with the same engine.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import soak


@pytest.mark.slow
def test_short_soak_keeps_memory_and_file_descriptors_flat(tmp_path: Path) -> None:
    report = soak.run(tmp_path, seconds=20, warmup=5, per_tool_per_minute=600, sample_every=0.5)

    assert not report.unexpected, report.unexpected
    for server in ("postgres", "github"):
        assert report.calls[f"{server} ok"] > 0 and report.calls[f"{server} refused"] > 0, report.calls
        figures = report.figures(server)
        print(f"\n{server}: {figures}")  # noqa: T201  (the figures the report quotes)
        assert report.flat(server, 0.10), figures
