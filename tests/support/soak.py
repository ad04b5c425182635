"""Soak: mixed calls at the rate limit against real server processes, watching RSS and open files.

Used by `bench/soak.py` (`make soak`, minutes) and by a short test in tests/resilience (seconds).
Two servers run as real processes over HTTP: warden-postgres on a private PostgreSQL cluster and
warden-github on the fake GitHub API. Each tool stream is driven at the server's rate limit (per
principal, per tool), mixing successful reads with calls the server refuses (a write the validator
rejects, a repository outside the allowlist). Samples of each process's RSS and file descriptors
are taken throughout; "flat" compares the first samples after warm-up with the last ones.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from tests.resilience.mcp_http import call
from tests.support.processes import HttpProcess, http_process

WINDOW = 0.2  # the share of the run, at each end, whose samples are compared
POOL_FDS = 10  # warden-github's pooled connections to its backend (urllib3 pool_size)


QUERY = (
    "SELECT c.full_name, c.country, count(o.id) AS orders FROM customers c "
    "LEFT JOIN orders o ON o.customer_id = c.id GROUP BY c.full_name, c.country ORDER BY 3 DESC"
)
WORKERS_PER_SERVER = 8  # each keeps one keep-alive connection busy, so the server's open files are steady


@dataclass(frozen=True)
class Stream:
    server: str
    tool: str
    arguments: dict[str, Any]
    refused: bool = False  # the server is expected to refuse this call (a tool error)


STREAMS = (
    Stream("postgres", "pg_query", {"sql": QUERY}),
    Stream("postgres", "pg_list_tables", {"schema": "public"}),
    Stream("postgres", "pg_describe_table", {"schema": "public", "table": "orders"}),
    Stream("postgres", "pg_explain", {"sql": "DELETE FROM customers"}, refused=True),
    Stream("github", "gh_get_file", {"repo": "acme/api", "path": "README.md"}),
    Stream("github", "gh_list_issues", {"repo": "acme/api"}),
    Stream("github", "gh_get_issue", {"repo": "acme/api", "number": 1}),
    Stream("github", "gh_get_file", {"repo": "evil/exfil", "path": "README.md"}, refused=True),
)


@dataclass
class Sample:
    at: float
    rss: int
    fds: int


@dataclass
class Report:
    seconds: float
    per_tool_per_minute: int
    calls: Counter[str] = field(default_factory=Counter)  # "<server> ok|refused|rate_limited|unexpected"
    unexpected: list[str] = field(default_factory=list)
    samples: dict[str, list[Sample]] = field(default_factory=dict)

    def window(self, server: str, end: bool) -> list[Sample]:
        samples = self.samples[server]
        count = max(1, int(len(samples) * WINDOW))
        return samples[-count:] if end else samples[:count]

    def figures(self, server: str) -> dict[str, float]:
        start, end = self.window(server, end=False), self.window(server, end=True)
        rss0, rss1 = statistics.median(s.rss for s in start), statistics.median(s.rss for s in end)
        fds0, fds1 = statistics.median(s.fds for s in start), statistics.median(s.fds for s in end)
        return {
            "rss_start_mib": rss0 / 2**20,
            "rss_end_mib": rss1 / 2**20,
            "rss_growth": rss1 / rss0 - 1,
            "fds_start": fds0,
            "fds_end": fds1,
            "fds_growth": fds1 / fds0 - 1,
        }

    def flat(self, server: str, tolerance: float = 0.10) -> bool:
        """RSS within `tolerance`; open files within `tolerance` beyond what the backend pool may still open.

        Backend pools open connections lazily, as concurrency peaks (warden-github keeps up to
        `POOL_FDS` pooled connections), so a few descriptors more at the end is a pool filling up,
        not a leak; a leak grows with every call and passes any fixed allowance within seconds.
        """
        figures = self.figures(server)
        fds_allowed = figures["fds_start"] * (1 + tolerance) + POOL_FDS
        return figures["rss_growth"] <= tolerance and figures["fds_end"] <= fds_allowed


@contextmanager
def servers(tmp: Path, per_tool_per_minute: int) -> Iterator[dict[str, HttpProcess]]:
    """Both servers running against their backends (a private PostgreSQL cluster and the fake GitHub)."""
    from tests.github.fake_github import start_fake_github
    from tests.postgres.shop import shop_database
    from tests.support.pgcluster import private_cluster

    common = {
        "RATE_LIMIT": f"{per_tool_per_minute}/minute",
        "AUDIT_SINK": str(tmp / "audit.jsonl"),  # a growing file: the sink must not grow the process
        "LOG_LEVEL": "WARNING",
        "MAX_INFLIGHT_PER_PRINCIPAL": "64",
    }
    with ExitStack() as stack:
        cluster = stack.enter_context(private_cluster())
        shop = stack.enter_context(shop_database(cluster.dsn))
        github = stack.enter_context(start_fake_github())
        postgres_env = {**common, "DSN": shop.readonly, "POOL_SIZE": "4"}
        github_env = {**common, "TOKEN": github.token, "API_URL": github.url, "REPOS": "acme/api"}
        running = {
            "postgres": stack.enter_context(
                http_process(["-m", "warden_postgres"], _prefixed("postgres", postgres_env), tmp)
            ),
            "github": stack.enter_context(http_process(["-m", "warden_github"], _prefixed("github", github_env), tmp)),
        }
        yield running


def _prefixed(name: str, values: dict[str, str]) -> dict[str, str]:
    return {f"WARDEN_{name.upper()}_{key}": value for key, value in values.items()}


def run(
    tmp: Path,
    *,
    seconds: float,
    per_tool_per_minute: int = 600,
    warmup: float = 5.0,
    sample_every: float = 1.0,
    progress: Any = None,
) -> Report:
    """Soak for `seconds` after `warmup`; each stream is called at the rate limit."""
    report = Report(seconds=seconds, per_tool_per_minute=per_tool_per_minute)
    with servers(tmp, per_tool_per_minute) as running:
        processes = {name: psutil.Process(server.proc.pid) for name, server in running.items()}
        report.samples = {name: [] for name in running}
        local = threading.local()
        lock = threading.Lock()

        def one(stream: Stream, number: int) -> None:
            client = getattr(local, "client", None)
            if client is None:
                client = local.client = httpx.Client()  # keep-alive, like a real client
            answer = call(running[stream.server].base, stream.tool, stream.arguments, id=number, client=client)
            if answer.ok and not stream.refused:
                kind = "ok"
            elif "rate limit" in answer.text:
                kind = "rate_limited"
            elif stream.refused and answer.status == 200 and answer.is_error:
                kind = "refused"
            else:
                kind = "unexpected"
            with lock:
                report.calls[f"{stream.server} {kind}"] += 1
                if kind == "unexpected" and len(report.unexpected) < 20:
                    report.unexpected.append(f"{stream.tool}: {answer.status} {answer.text[:200]}")

        def sample() -> None:
            now = time.monotonic()
            for name, process in processes.items():
                report.samples[name].append(Sample(now, process.memory_info().rss, process.num_fds()))

        interval = 60.0 / per_tool_per_minute  # per stream: exactly at the limit
        pools = {name: ThreadPoolExecutor(WORKERS_PER_SERVER, thread_name_prefix=f"soak-{name}") for name in running}
        started = time.monotonic()
        measuring_from = started + warmup
        until = measuring_from + seconds
        next_sample = measuring_from
        due = [started + interval * index / len(STREAMS) for index in range(len(STREAMS))]
        number = 0
        try:
            while True:
                now = time.monotonic()
                if now >= until:
                    break
                if now >= next_sample:
                    sample()
                    next_sample += sample_every
                    if progress is not None:
                        progress(now - started, report)
                index = min(range(len(due)), key=due.__getitem__)
                if due[index] <= now:
                    number += 1
                    pools[STREAMS[index].server].submit(one, STREAMS[index], number)
                    due[index] += interval
                    continue
                time.sleep(max(0.0, min(due[index], next_sample) - now))
        finally:
            for pool in pools.values():
                pool.shutdown(wait=True)
    return report
