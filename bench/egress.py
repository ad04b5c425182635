"""The egress filter's cost and precision, for `make bench` (section `egress`).

- throughput: MB/s masking typical mixed text (this repository's files, the demo database's rows,
  the test fakes' API payloads), in 64 KiB pieces as answers come;
- per answer: microseconds the gate's egress step adds to a 1 KiB tool result without secrets;
- adversarial: the slowest of several 1 MB strings crafted against the rules (linear time);
- false positives: values masked in data that holds no secret (the repository's code, docs and data
  outside tests/, the demo seed's rows, the fakes' payloads), per MB and as a share of lines touched.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg

from warden_core.detector import Detector
from warden_core.egress import Egress

ROOT = Path(__file__).resolve().parents[1]
PIECE = 65_536

ADVERSARIAL = {
    "dotted run": "a." * 500_000,
    "scheme run": "ab+c" * 250_000,
    "PEM openings": "-----BEGIN RSA PRIVATE KEY-----x" * 30_000,
    "JWT starts": "eyJabcdefg" * 100_000,
    "unclosed URL password": "postgres://user:" + "p" * 1_000_000,
    "keys without values": "password=" * 110_000,
    "unclosed quote": 'password="' + "a" * 1_000_000,
    "a pair on every line": "pwd=abcd\n" * 120_000,
    "key ids back to back": "AKIAIOSFODNN7EXAMPLE " * 50_000,
    "a long key run": "a" * 1_000_000 + "password=x1234",
}


def repository_texts(*, tests: bool) -> dict[str, str]:
    listed = subprocess.run(["git", "ls-files"], capture_output=True, text=True, cwd=ROOT, check=True).stdout.split()
    texts = {}
    for name in listed:
        if name.endswith((".lock", "package-lock.json")) or (not tests and name.startswith("tests/")):
            continue
        try:
            texts[name] = (ROOT / name).read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
    return texts


def fake_payloads() -> dict[str, str]:
    """The GitHub and Slack fakes' data, as the APIs would send it (the Kubernetes seed plants canaries on purpose)."""
    sys.path.insert(0, str(ROOT))
    from tests.github.fake_github import FakeGitHub
    from tests.slack.fake_slack import acme

    github = FakeGitHub()
    payload = {
        "issues": github.issues,
        "comments": {f"{repo}#{number}": c for (repo, number), c in github.comments.items()},
        "pulls": github.pulls,
        "files": {
            f"{repo}/{path}": (data or b"").decode(errors="replace") for (repo, path), data in github.contents.items()
        },
        "logs": {str(job): log.decode() for job, log in github.logs.items()},
    }
    slack = acme()
    return {
        "github fake": json.dumps(payload, default=str),
        "slack fake": json.dumps({"messages": slack.messages, "users": slack.users}, default=str),
    }


def demo_rows(dsn: str) -> str:
    """Every row of the demo database (servers/postgres/sql/demo_seed.sql), as JSON, from a scratch database."""

    async def load() -> str:
        admin = await asyncpg.connect(dsn)
        name = f"warden_bench_egress_{int(time.time())}"
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            conn = await asyncpg.connect(dsn, database=name)
            try:
                await conn.execute((ROOT / "servers" / "postgres" / "sql" / "demo_seed.sql").read_text())
                tables = await conn.fetch(
                    "SELECT schemaname, tablename FROM pg_tables WHERE schemaname IN ('public', 'internal')"
                )
                parts = []
                for table in tables:
                    query = f'SELECT coalesce(json_agg(t), \'[]\') FROM "{table[0]}"."{table[1]}" AS t'
                    parts.append(await conn.fetchval(query))
                return "\n".join(parts)
            finally:
                await conn.close()
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
            await admin.close()

    return asyncio.run(load())


def _best(run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def throughput(corpus: str, runs: int) -> float:
    detector = Detector()
    pieces = [corpus[i : i + PIECE] for i in range(0, len(corpus), PIECE)]
    for piece in pieces:  # RE2 builds its automaton lazily: a server warms it on its first answers too
        detector.mask(piece)
    seconds = _best(lambda: [detector.mask(piece) for piece in pieces], runs)
    return len(corpus.encode()) / seconds / 1e6


def per_answer_us(runs: int) -> float:
    """The gate's egress step (mask, then announce) on a 1 KiB tool result that holds no secret."""
    egress = Egress()
    rows = [
        {"id": i, "name": f"web-{i}", "status": "Running", "image": "registry.example.com/web:2.3.1", "age": "3d"}
        for i in range(9)
    ]
    structured = {"items": rows, "truncated": False, "next_cursor": None}

    def one() -> None:
        result = {"content": [{"type": "text", "text": "{}"}], "structuredContent": json.loads(json.dumps(structured))}
        egress.answer("tools/call", result)
        egress.announce("tools/call", result, {})

    size = len(json.dumps(structured))
    assert 900 <= size <= 1300, size
    for _ in range(200):
        one()
    calls = 2000
    seconds = _best(lambda: [one() for _ in range(calls)], runs)
    # The copying in `one` is not the filter's: subtract it.
    copy = _best(lambda: [json.loads(json.dumps(structured)) for _ in range(calls)], runs)
    return max(0.0, seconds - copy) / calls * 1e6


def adversarial(runs: int) -> dict[str, float]:
    detector = Detector()
    return {
        name: _best(lambda text=text: detector.mask(text), max(1, runs // 2)) * 1000
        for name, text in ADVERSARIAL.items()
    }


def false_positives(corpora: dict[str, str]) -> dict[str, Any]:
    detector = Detector()
    found: dict[str, Any] = {}
    for name, text in corpora.items():
        masked, counts = detector.mask(text)
        lines = text.count("\n") + 1
        changed = sum(1 for a, b in zip(text.split("\n"), masked.split("\n"), strict=True) if a != b)
        found[name] = {
            "mb": round(len(text.encode()) / 1e6, 3),
            "lines": lines,
            "values_masked": sum(counts.values()),
            "lines_changed": changed,
            "kinds": dict(counts),
        }
    return found


def measure(dsn: str, runs: int) -> dict[str, Any]:
    code = repository_texts(tests=False)
    payloads = fake_payloads()
    rows = demo_rows(dsn)
    mixed = "\n".join([*repository_texts(tests=True).values(), *payloads.values(), rows])
    clean = {
        "repository outside tests/": "\n".join(code.values()),
        "demo database rows": rows,
        **payloads,
    }
    worst = adversarial(runs)
    return {
        "throughput_mb_s": round(throughput(mixed, runs), 1),
        "mixed_corpus_mb": round(len(mixed.encode()) / 1e6, 2),
        "per_1kib_answer_us": round(per_answer_us(runs), 1),
        "adversarial_ms": {name: round(ms, 1) for name, ms in worst.items()},
        "false_positives": false_positives(clean),
    }
