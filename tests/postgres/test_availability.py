"""Nothing an input can do crashes or freezes warden-postgres: every attack at once, against the real process.

`python -m warden_postgres` runs over stdio with default settings. Each statement below once crashed it, froze
it for minutes, or brought hundreds of megabytes into it; they are sent together, with quick queries between
them. Every request must be answered (and audited) within the deadline plus slack, the quick ones with their
rows, and the process's resident memory must stay within a generous bound, sampled throughout.
"""

from __future__ import annotations

import json
import threading
import time

import psutil

from tests.postgres.layers import report
from tests.postgres.shop import Shop
from tests.support.stdio import StdioProcess, request

MiB = 1024 * 1024
DEADLINE = 20.0  # the default BACKEND_TIMEOUT
SLACK = 10.0

ATTACKS = {
    "segfaulted the parser": "SELECT " + "+".join(["1"] * 25_000),
    "a 16 MB error message": "SELECT repeat('x', 16000000)::int",
    # Each value under the default value cap (32 KiB), so only the row's size can stop it.
    "one row of 1,600 x 30 KB": "SELECT " + ", ".join(f"repeat('x', 30000) AS c{i}" for i in range(1600)),
}
EXPLAIN = {"sql": "SELECT repeat('x', 100000000) AS big", "verbose": True}  # a 100 MB plan


class PeakRss:
    """Samples a process's resident memory in the background."""

    def __init__(self, pid: int) -> None:
        self._process = psutil.Process(pid)
        self.baseline = self._process.memory_info().rss
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            try:
                self.peak = max(self.peak, self._process.memory_info().rss)
            except psutil.Error:
                return

    def stop(self) -> float:
        """Growth over the baseline, in MiB."""
        self._stop.set()
        self._thread.join()
        return (self.peak - self.baseline) / MiB


def call(id: int, tool: str, arguments: dict[str, object]) -> dict[str, object]:
    return request(id, "tools/call", {"name": tool, "arguments": arguments})


def test_every_attack_at_once_is_answered_in_time_within_bounded_memory(shop: Shop) -> None:
    server = StdioProcess(["-m", "warden_postgres"], env={"WARDEN_POSTGRES_DSN": shop.readonly})
    try:
        server.send(call(1, "pg_query", {"sql": "SELECT 1"}))  # warm: imports, pool, role check
        assert "result" in server.answers({1}, timeout=60)[1]
        rss = PeakRss(server.proc.pid)
        sent: dict[int, tuple[str, float]] = {}
        next_id = 2
        for name, sql in [*ATTACKS.items(), ("a 100 MB plan", "")]:
            arguments = EXPLAIN if not sql else {"sql": sql}
            server.send(call(next_id, "pg_explain" if not sql else "pg_query", arguments))
            sent[next_id] = (name, time.perf_counter())
            server.send(call(next_id + 1, "pg_query", {"sql": f"SELECT {next_id + 1} AS quick"}))
            sent[next_id + 1] = ("quick", time.perf_counter())
            next_id += 2
        answers = {}
        while len(answers) < len(sent):
            message = server.receive(timeout=DEADLINE + SLACK)
            if message.get("id") in sent:
                answers[message["id"]] = (message, time.perf_counter() - sent[message["id"]][1])
        growth = rss.stop()
        assert server.proc.poll() is None, "the server died"
    finally:
        server.close_stdin()
        server.wait(30)
        server.kill()

    report(f"stdio server under every attack at once: RSS growth {growth:.0f} MiB (peak sampled every 20 ms)")
    for id, (message, seconds) in sorted(answers.items()):
        name = sent[id][0]
        result = message["result"]
        text = result["content"][0]["text"]
        report(f"  {name}: answered in {seconds:.2f} s: {text[:110]}")
        assert seconds < DEADLINE + SLACK, name
        if name == "quick":
            assert result["structuredContent"]["rows"] == [[id]]
    by_name = {sent[id][0]: message["result"] for id, (message, _) in answers.items()}
    assert "nested too deeply" in by_name["segfaulted the parser"]["content"][0]["text"]
    assert by_name["a 16 MB error message"]["content"][0]["text"].endswith("… [SQLSTATE 22P02]")
    assert "a row too large to read" in by_name["one row of 1,600 x 30 KB"]["structuredContent"]["truncation"]
    assert by_name["a 100 MB plan"]["structuredContent"]["truncation"].startswith("the plan is 100,0")
    assert growth < 150  # each of these brought 380-673 MB into the process before

    audited = [json.loads(line) for line in server.stderr.decode().splitlines() if line.startswith('{"request_id"')]
    assert {event["request_id"] for event in audited} >= {str(id) for id in sent}
