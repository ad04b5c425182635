"""make bench: what users feel, measured against the floor the SDK sets.

    python bench/run.py [--runs 5] [--quick] [--dsn postgresql://...] [--only cold,call,load,memory,egress]

1. Cold start: spawn to the first `tools/list` answer over stdio, per server, beside a bare
   `MCPServer` with one echo tool (bench/bare.py). The idle RSS of each process is read then too.
2. Per-call overhead: warden-postgres `pg_query` of `SELECT 1` over stdio and over HTTP, p50 and p99,
   beside the raw asyncpg call through a pool and beside the bare server's own query tool; and once
   more with tracing on (OTEL_* set, spans exported over OTLP/HTTP to a sink on loopback).
3. HTTP throughput: calls per second at 1, 8 and 32 concurrent clients, for `pg_query` and for a
   cheap tool (bench/echo.py: an echo behind the whole core), auth and audit on, beside the bare server.
4. Memory: peak RSS of warden-postgres while it answers a query that would return 10^8 rows.
5. Egress: the secret filter's MB/s on typical mixed text, its cost per 1 KiB answer, its slowest
   1 MB crafted string, and how many values it masks in data that holds no secret (bench/egress.py).

Every figure is the median of `--runs` runs. Tables go to stdout (Markdown), progress to stderr,
and everything to bench/results/<time>.json with the machine's description. Needs only PostgreSQL:
`--dsn`, else WARDEN_BENCH_POSTGRES_DSN, else the local server at 127.0.0.1:5432, database test.
With --strict, the exit status is 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

import asyncpg
import psutil
from clients import Command, Connection, StdioServer, http_server, load

# bench/ is the script's own folder, so its modules import by name.
import egress
from warden_core.auth import hash_api_key

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"
API_KEY = "bench-key-0123456789abcdef"
SELECT_ONE = {"sql": "SELECT 1"}
HUGE_QUERY = "SELECT g, md5(g::text) AS digest FROM generate_series(1, 100000000) AS g"
MIB = 2**20

# The targets on a 2-core machine (issue: make bench).
COLD_START_RATIO = 1.15
CALL_OVERHEAD_MS = 1.0  # warden-postgres over the raw asyncpg call
OWN_COST_MS = 0.3  # warden-postgres over the bare MCPServer doing the same query, same transport
THROUGHPUT_SHARE = 0.80
PEAK_RSS_MIB = 50.0
EGRESS_MB_S = 50.0
EGRESS_PER_1KIB_MS = 0.1
EGRESS_ADVERSARIAL_MS = 100.0


@dataclass(frozen=True)
class Plan:
    runs: int
    calls: int  # timed calls per run, per-call overhead
    seconds: float  # measured seconds per run and level, throughput
    levels: tuple[int, ...]


FULL = Plan(runs=5, calls=2000, seconds=5.0, levels=(1, 8, 32))
QUICK = Plan(runs=1, calls=100, seconds=1.0, levels=(1, 8))


def progress(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


# --- The servers under test. ------------------------------------------------------------------------
def warden_env(prefix: str, **values: str) -> dict[str, str]:
    """Production settings, with limits high enough that the load itself is never refused."""
    common = {
        "API_KEYS": f"bench:{hash_api_key(API_KEY)}",
        "RATE_LIMIT": "100000000/minute",
        "MAX_INFLIGHT_PER_PRINCIPAL": "256",
    }
    return {f"WARDEN_{prefix}_{key}": value for key, value in (common | values).items()}


def commands(dsn: str, otlp: str) -> dict[str, Command]:
    traced = {"OTEL_EXPORTER_OTLP_ENDPOINT": otlp, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}
    found = {
        "floor": Command("bare MCPServer", ("bench/bare.py",), {}),  # one echo tool: the cold-start floor
        "bare": Command("bare MCPServer", ("bench/bare.py",), {"BENCH_POSTGRES_DSN": dsn}),
        "echo": Command("warden echo", ("bench/echo.py",), warden_env("ECHO")),
        # The bench connects as whatever --dsn names, usually the local superuser: it measures overhead, and
        # warden-postgres refuses a superuser unless told otherwise.
        "postgres": Command(
            "warden-postgres",
            ("-m", "warden_postgres"),
            warden_env("POSTGRES", DSN=dsn, UNSAFE_ALLOW_SUPERUSER="true"),
        ),
        "traced": Command(
            "warden-postgres, tracing on",
            ("-m", "warden_postgres"),
            warden_env("POSTGRES", DSN=dsn, UNSAFE_ALLOW_SUPERUSER="true") | traced,
        ),
    }
    for name in ("github", "kubernetes", "slack", "aws"):
        found[name] = Command(f"warden-{name}", ("-m", f"warden_{name}"), warden_env(name.upper()))
    return found


COLD_START = ("floor", "postgres", "github", "kubernetes", "slack", "aws")


@contextmanager
def span_sink() -> Iterator[str]:
    """An OTLP/HTTP endpoint on loopback that takes every export and answers 200, as a collector would."""

    class Sink(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# --- 1. Cold start and idle memory. --------------------------------------------------------------------
def cold_start(cmds: dict[str, Command], plan: Plan, log: IO[bytes]) -> dict[str, Any]:
    runs = max(plan.runs * 4, 3)  # spawns are cheap and noisy: four times the runs
    seconds: dict[str, list[float]] = {name: [] for name in COLD_START}
    rss: dict[str, list[float]] = {name: [] for name in COLD_START}
    for run in range(runs):
        progress(f"cold start: round {run + 1} of {runs}")
        for name in COLD_START:  # interleaved, so a noisy moment touches every server alike
            server = StdioServer(cmds[name], log)
            answer = server.request("tools/list")
            seconds[name].append(time.perf_counter() - server.started)
            if "result" not in answer:
                raise RuntimeError(f"{name}: tools/list failed: {answer}")
            time.sleep(0.2)  # settled: what the process holds while it waits for calls
            rss[name].append(psutil.Process(server.pid).memory_info().rss / MIB)
            server.close()
    floor = statistics.median(seconds["floor"])
    return {
        name: {
            "seconds": statistics.median(seconds[name]),
            "ratio": statistics.median(seconds[name]) / floor,
            "idle_rss_mib": statistics.median(rss[name]),
            "samples": seconds[name],
        }
        for name in COLD_START
    }


# --- 2. Per-call overhead. -----------------------------------------------------------------------------
def timings(one_call: Callable[[], object], calls: int) -> tuple[float, float]:
    """p50 and p99 (ms) of `calls` sequential calls."""
    taken = []
    for _ in range(calls):
        started = time.perf_counter()
        one_call()
        taken.append((time.perf_counter() - started) * 1000)
    return percentile(taken, 0.50), percentile(taken, 0.99)


def per_call(cmds: dict[str, Command], dsn: str, plan: Plan, log: IO[bytes]) -> dict[str, Any]:
    """Every path is set up first, then the runs take turns, so a noisy moment touches all of them alike."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)  # asyncpg's pool asks for the current loop
    with ExitStack() as stack:
        stack.callback(loop.close)
        pool = loop.run_until_complete(asyncpg.create_pool(dsn, min_size=1, max_size=4))
        stack.callback(lambda: loop.run_until_complete(pool.close()))
        paths: dict[str, Callable[[], object]] = {
            "raw asyncpg": lambda: loop.run_until_complete(pool.fetch("SELECT 1"))
        }
        ids = itertools.count(1)
        for name in ("bare", "postgres", "traced"):
            label = cmds[name].label
            stdio = StdioServer(cmds[name], log)
            stack.callback(stdio.close)
            paths[f"{label} stdio"] = lambda s=stdio: s.call("pg_query", SELECT_ONE)
            http = stack.enter_context(http_server(cmds[name], log, API_KEY))
            connection = loop.run_until_complete(Connection.open(http))
            stack.callback(lambda c=connection: loop.run_until_complete(c.close()))
            paths[f"{label} HTTP"] = lambda c=connection: loop.run_until_complete(
                c.call(next(ids), "pg_query", SELECT_ONE)
            )
        for one_call in paths.values():
            for _ in range(max(50, plan.calls // 10)):
                one_call()  # warm: pools open, caches filled
        runs: dict[str, list[tuple[float, float]]] = {label: [] for label in paths}
        for run in range(plan.runs):
            progress(f"per call: run {run + 1} of {plan.runs}")
            for label, one_call in paths.items():
                runs[label].append(timings(one_call, plan.calls))
    figures: dict[str, Any] = {
        label: {
            "p50_ms": statistics.median(p50 for p50, _ in found),
            "p99_ms": statistics.median(p99 for _, p99 in found),
        }
        for label, found in runs.items()
    }
    raw = figures["raw asyncpg"]
    for figure in figures.values():
        figure["over_raw_p50_ms"] = figure["p50_ms"] - raw["p50_ms"]
        figure["over_raw_p99_ms"] = figure["p99_ms"] - raw["p99_ms"]
    return figures


# --- 3. HTTP throughput. ----------------------------------------------------------------------------
LOADS = (
    ("echo", "bare", "echo", {"text": "hello"}),
    ("echo", "echo", "echo", {"text": "hello"}),
    ("pg_query", "bare", "pg_query", {"sql": "SELECT 1"}),
    ("pg_query", "postgres", "pg_query", {"sql": "SELECT 1"}),
)


def throughput(cmds: dict[str, Command], plan: Plan, log: IO[bytes]) -> dict[str, Any]:
    """All servers listen at once (idle while not loaded); each run loads them in turn."""
    rates: dict[str, dict[int, list[float]]] = {}
    with ExitStack() as stack:
        servers = {
            name: stack.enter_context(http_server(cmds[name], log, API_KEY)) for name in ("bare", "echo", "postgres")
        }
        for run in range(plan.runs):
            for clients in plan.levels:
                progress(f"throughput: run {run + 1} of {plan.runs}, {clients} clients")
                for workload, name, tool, arguments in LOADS:
                    rate = asyncio.run(load(servers[name], tool, arguments, clients, plan.seconds))
                    rates.setdefault(f"{cmds[name].label} {workload}", {}).setdefault(clients, []).append(rate)
    return {label: {str(c): statistics.median(found) for c, found in levels.items()} for label, levels in rates.items()}


# --- 4. Memory under a huge result. ------------------------------------------------------------------
@contextmanager
def peak_rss(pid: int) -> Iterator[list[float]]:
    """Sample a process's RSS every millisecond; the list holds the peak (MiB) once the block ends."""
    process, peak, done = psutil.Process(pid), [0.0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], process.memory_info().rss / MIB)
            time.sleep(0.001)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield peak
    finally:
        done.set()
        sampler.join()


def memory(cmds: dict[str, Command], plan: Plan, log: IO[bytes]) -> dict[str, Any]:
    growth, seconds, rows = [], [], []
    for run in range(max(plan.runs, 3)):
        progress(f"memory: a 10^8-row query, run {run + 1}")
        server = StdioServer(cmds["postgres"], log)
        try:
            for _ in range(20):
                server.call("pg_query", {"sql": "SELECT 1"})  # warm: the pool is open, as when idle in use
            time.sleep(0.2)
            idle = psutil.Process(server.pid).memory_info().rss / MIB
            started = time.perf_counter()
            with peak_rss(server.pid) as peak:
                result = server.call("pg_query", {"sql": HUGE_QUERY})
            seconds.append(time.perf_counter() - started)
            structured = result["structuredContent"]
            if not structured.get("truncated"):
                raise RuntimeError("the 10^8-row query was not truncated")
            rows.append(len(structured["rows"]))
            growth.append(max(peak[0], idle) - idle)
        finally:
            server.close()
    return {
        "query": HUGE_QUERY,
        "peak_over_idle_mib": statistics.median(growth),
        "seconds": statistics.median(seconds),
        "rows_returned": statistics.median(rows),
    }


# --- Report. -----------------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT, check=False
    )
    return {
        "cores": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "commit": commit.stdout.strip() or None,
    }


def verdicts(results: dict[str, Any]) -> list[tuple[str, bool, str]]:
    found: list[tuple[str, bool, str]] = []
    if "cold_start" in results:
        cold = results["cold_start"]
        worst = max((name for name in cold if name != "floor"), key=lambda name: cold[name]["ratio"])
        ratio = cold[worst]["ratio"]
        found.append(("cold start", ratio <= COLD_START_RATIO, f"slowest {worst}: {ratio:.2f}x bare (<= 1.15x)"))
    if "per_call" in results:
        calls = results["per_call"]
        over = calls["warden-postgres stdio"]["over_raw_p50_ms"]
        found.append(
            ("per-call overhead", over <= CALL_OVERHEAD_MS, f"stdio p50 +{over:.3f} ms over raw asyncpg (<= 1 ms)")
        )
        own = calls["warden-postgres stdio"]["p50_ms"] - calls["bare MCPServer stdio"]["p50_ms"]
        found.append(
            ("own cost per call", own <= OWN_COST_MS, f"stdio p50 {own:+.3f} ms over the bare MCPServer (<= 0.3 ms)")
        )
    if "throughput" in results:
        load_figures, top = results["throughput"], str(max(int(c) for c in next(iter(results["throughput"].values()))))
        for workload, warden in (("echo", "warden echo echo"), ("pg_query", "warden-postgres pg_query")):
            share = load_figures[warden][top] / load_figures[f"bare MCPServer {workload}"][top]
            found.append(
                (f"throughput {workload}", share >= THROUGHPUT_SHARE, f"{share:.0%} of bare at {top} clients (>= 80%)")
            )
    if "memory" in results:
        growth = results["memory"]["peak_over_idle_mib"]
        found.append(("peak RSS", growth <= PEAK_RSS_MIB, f"+{growth:.1f} MiB over idle (<= 50 MiB)"))
    if "egress" in results:
        e = results["egress"]
        rate, cost = e["throughput_mb_s"], e["per_1kib_answer_us"] / 1000
        worst = max(e["adversarial_ms"], key=e["adversarial_ms"].get)
        slowest = e["adversarial_ms"][worst]
        found.append(("egress throughput", rate >= EGRESS_MB_S, f"{rate:.0f} MB/s on typical mixed text (>= 50)"))
        found.append(("egress per answer", cost < EGRESS_PER_1KIB_MS, f"{cost:.3f} ms per 1 KiB answer (< 0.1 ms)"))
        found.append(
            ("egress adversarial", slowest < EGRESS_ADVERSARIAL_MS, f"slowest 1 MB: {worst}, {slowest:.0f} ms (< 100)")
        )
    return found


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if i else "---" for i in range(len(header))) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def report(results: dict[str, Any]) -> str:
    parts = []
    info = results["machine"]
    parts.append(
        f"{info['cores']} cores, {info['memory_gib']} GiB, Python {info['python']}; "
        f"medians of {results['plan']['runs']} runs"
    )
    if "cold_start" in results:
        rows = [
            [results["labels"][name], f"{f['seconds'] * 1000:.0f} ms", f"{f['ratio']:.2f}x", f"{f['idle_rss_mib']:.1f}"]
            for name, f in results["cold_start"].items()
        ]
        header = ["server", "time", "vs bare", "idle RSS (MiB)"]
        parts.append("Cold start (spawn to first tools/list, stdio)\n\n" + table(header, rows))
    if "per_call" in results:
        rows = [
            [
                label,
                f"{f['p50_ms']:.3f}",
                f"{f['p99_ms']:.3f}",
                "" if label == "raw asyncpg" else f"+{f['over_raw_p50_ms']:.3f}",
            ]
            for label, f in results["per_call"].items()
        ]
        parts.append("Per call: pg_query of SELECT 1 (ms)\n\n" + table(["path", "p50", "p99", "p50 over raw"], rows))
    if "throughput" in results:
        levels = list(next(iter(results["throughput"].values())))
        rows = [[label] + [f"{rates[c]:.0f}" for c in levels] for label, rates in results["throughput"].items()]
        parts.append(
            "HTTP throughput (calls/s; Warden with API-key auth and audit on)\n\n"
            + table(["server, tool"] + [f"{c} clients" for c in levels], rows)
        )
    if "memory" in results:
        m = results["memory"]
        parts.append(
            f"Memory: a query that would return 10^8 rows answered {m['rows_returned']:.0f} rows, truncated, "
            f"in {m['seconds']:.2f} s; peak RSS {m['peak_over_idle_mib']:+.1f} MiB over idle"
        )
    if "egress" in results:
        e = results["egress"]
        rows = [
            [name, f"{f['mb']:.2f}", str(f["values_masked"]), f"{f['lines_changed']} of {f['lines']}"]
            for name, f in e["false_positives"].items()
        ]
        slow = ", ".join(f"{name} {ms:.0f}" for name, ms in e["adversarial_ms"].items())
        parts.append(
            f"Egress filter: {e['throughput_mb_s']:.0f} MB/s on {e['mixed_corpus_mb']:.1f} MB of mixed text; "
            f"{e['per_1kib_answer_us']:.0f} us per 1 KiB answer; 1 MB crafted strings (ms): {slow}\n\n"
            "Values masked in data without secrets\n\n" + table(["data", "MB", "masked", "lines changed"], rows)
        )
    met = [[name, "met" if ok else "MISSED", text] for name, ok, text in verdicts(results)]
    parts.append(table(["target", "verdict", "measured"], met))
    return "\n\n".join(parts)


SECTIONS = ("cold", "call", "load", "memory", "egress")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, help=f"runs per figure (default {FULL.runs}; four times as many spawns)")
    parser.add_argument("--quick", action="store_true", help="one short run of each (checks the harness, not speed)")
    parser.add_argument("--dsn", default=os.environ.get("WARDEN_BENCH_POSTGRES_DSN", DEFAULT_DSN))
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections of {SECTIONS}")
    parser.add_argument("--output", type=Path, help="where to write the JSON (default bench/results/<time>.json)")
    parser.add_argument("--strict", action="store_true", help="exit with status 1 when a target is missed")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    if args.runs:
        plan = Plan(args.runs, plan.calls, plan.seconds, plan.levels)
    sections = set(args.only.split(","))
    if unknown := sections - set(SECTIONS):
        parser.error(f"unknown sections {sorted(unknown)}; choose from {SECTIONS}")

    try:
        asyncio.run(_check_database(args.dsn))
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"bench: cannot reach PostgreSQL at --dsn ({type(exc).__name__}: {exc})", file=sys.stderr)
        return 2

    # Installed servers start from bytecode (pip and the images compile it). The workspace's own
    # sources are compiled here too: with PYTHONDONTWRITEBYTECODE set, every start would recompile them.
    for source in [ROOT / "shared" / "src", *sorted((ROOT / "servers").glob("*/src"))]:
        compileall.compile_dir(source, quiet=1)
    # The servers' stderr (logs and audit events) goes to a scratch file; traced servers export to the sink.
    with span_sink() as otlp, tempfile.TemporaryFile(prefix="warden-bench-") as log:
        cmds = commands(args.dsn, otlp)
        results: dict[str, Any] = {
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine(),
            "plan": plan.__dict__ | {"levels": list(plan.levels)},
            "labels": {name: command.label for name, command in cmds.items()},
        }
        if "cold" in sections:
            results["cold_start"] = cold_start(cmds, plan, log)
        if "call" in sections:
            results["per_call"] = per_call(cmds, args.dsn, plan, log)
        if "load" in sections:
            results["throughput"] = throughput(cmds, plan, log)
        if "memory" in sections:
            results["memory"] = memory(cmds, plan, log)
        if "egress" in sections:
            progress("egress filter")
            results["egress"] = egress.measure(args.dsn, plan.runs)
    results["targets"] = [{"target": n, "met": ok, "measured": text} for n, ok, text in verdicts(results)]

    output = args.output or RESULTS / f"{results['time'].replace(':', '')}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n")
    print(report(results))
    print(f"\nwritten to {output.relative_to(ROOT) if output.is_relative_to(ROOT) else output}")
    missed = not all(target["met"] for target in results["targets"])
    return 1 if missed and args.strict else 0


async def _check_database(dsn: str) -> None:
    connection = await asyncpg.connect(dsn, timeout=5)
    await connection.close()


if __name__ == "__main__":
    sys.exit(main())
