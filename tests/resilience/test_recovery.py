"""Recovery with default settings: a backend that goes away for 5 s under concurrent load, over stdio and
HTTP. While it is away, every call gets one clear answer and none hangs; once it is back, every caller
succeeds again within 5 s, without a server restart.

The outages are the ones users meet: PostgreSQL restarted (its backends terminated, connections
refused until it is up again), and an HTTP API answering 503 (GitHub, Slack and AWS behind the fault
proxy). No setting is changed but Warden's per-principal limits, which would otherwise refuse the
load itself (it all comes from one principal).
"""

from __future__ import annotations

import itertools
import queue
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.resilience.conftest import Database
from tests.resilience.mcp_http import Answer, call, wait_until
from tests.resilience.targets import Target
from tests.support.stdio import StdioProcess, request

WORKERS = 8
OUTAGE = 5.0
RECOVERED_WITHIN = 5.0
AFTER = 8.0  # how long the load goes on once the backend is back
ERROR_PAUSE = 0.02  # how long a caller waits after an error answer before it calls again
QUERY = {"sql": "SELECT count(*) FROM orders o JOIN order_items i ON i.order_id = o.id"}

Caller = Callable[[int], Answer]


@dataclass(frozen=True)
class Timed:
    worker: int
    started: float
    ended: float
    answer: Answer


class StdioCalls:
    """Concurrent calls over one stdio process: each caller waits for the answer to its own id."""

    def __init__(self, process: StdioProcess, tool: str, arguments: dict[str, Any]) -> None:
        self.process, self.tool, self.arguments = process, tool, arguments
        self.seen: Counter[Any] = Counter()  # answers per id: each request must get exactly one
        self._waiting: dict[int, queue.SimpleQueue[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        threading.Thread(target=self._dispatch, daemon=True).start()

    def _dispatch(self) -> None:
        while True:
            message = self.process.receive(timeout=3600)
            if "id" not in message:
                continue  # a notification
            with self._lock:
                self.seen[message["id"]] += 1
                waiting = self._waiting.get(message["id"])
            if waiting is not None:
                waiting.put(message)

    def __call__(self, id: int) -> Answer:
        answers: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        with self._lock:
            self._waiting[id] = answers
        started = time.monotonic()
        self.process.send(request(id, "tools/call", {"name": self.tool, "arguments": self.arguments}))
        try:
            message = answers.get(timeout=120)
        except queue.Empty:
            return Answer(status=0, elapsed=time.monotonic() - started, raw="no answer")
        return Answer(
            status=200,
            elapsed=time.monotonic() - started,
            id=message.get("id"),
            result=message.get("result"),
            error=message.get("error"),
            raw=str(message)[:500],
        )


@contextmanager
def serving(target: Target, transport: str, arguments: dict[str, Any], **settings: Any) -> Iterator[Caller]:
    if transport == "http":
        local = threading.local()  # one keep-alive connection per caller, as a real client keeps

        def http_call(id: int) -> Answer:
            if not hasattr(local, "client"):
                local.client = httpx.Client()
            return call(server.base, target.tool, arguments, id=id, client=local.client)

        with target.serve(**settings) as server:
            yield http_call
            assert server.proc.poll() is None, "the server process died"
        return
    process = StdioProcess(["-m", f"warden_{target.name}"], env=target.env(**settings))
    calls = StdioCalls(process, target.tool, arguments)
    try:
        yield calls
        assert process.proc.poll() is None, "the server process died"
        duplicated = {id: n for id, n in calls.seen.items() if n != 1}
        assert not duplicated, f"requests answered more than once: {duplicated}"
        process.close_stdin()
        assert process.wait(30) == 0
    finally:
        process.kill()


def under_load(caller: Caller, outage: Callable[[], float], backend: str, deadline: float) -> None:
    """Run WORKERS callers in a loop, bring the outage about, and check what each caller got.

    `outage` takes the backend away and brings it back, returning the moment it was back.
    """
    answers: list[Timed] = []
    stop = threading.Event()
    ids = itertools.count(1)

    def worker(n: int) -> None:
        while not stop.is_set():
            started = time.monotonic()
            answer = caller(next(ids))
            answers.append(Timed(n, started, time.monotonic(), answer))
            if answer.is_error:
                # As a client does with "retry in a moment": 8 callers spinning on instant refusals would
                # starve this 2-core machine's server process, and measure the scheduler, not recovery.
                time.sleep(ERROR_PAUSE)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(WORKERS)]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: sum(t.answer.ok for t in answers) >= 20, timeout=60, what="load before the outage")
        away = time.monotonic()
        back = outage()
        time.sleep(AFTER)
    finally:
        stop.set()
        for thread in threads:
            thread.join(deadline + 30)
    assert not any(thread.is_alive() for thread in threads), "a call hung"

    during = [t for t in answers if away < t.started < back]
    assert any(t.answer.is_error for t in during), "the outage went unnoticed: the load was too light"
    for t in answers:
        # One answer per request, to that request, and no call outlived its deadline.
        assert t.answer.status == 200 and t.answer.result is not None, t.answer.raw
        assert t.answer.elapsed < deadline + 5, (t.answer.elapsed, t.answer.text)
        if t.answer.is_error:
            assert backend in t.answer.text, t.answer.text  # a clear error, naming the backend
            assert "unexpectedly" not in t.answer.text, t.answer.text  # and one the server understood
    for n in range(WORKERS):
        first = min((t.ended for t in answers if t.worker == n and t.ended > back and t.answer.ok), default=None)
        after = [f"{t.started - back:+.2f}..{t.ended - back:+.2f} s: {t.answer.text[:120]}" for t in answers
                 if t.worker == n and t.ended > back]  # fmt: skip
        assert first is not None, f"caller {n} never succeeded again; its answers after the return: {after[-5:]}"
        assert first - back <= RECOVERED_WITHIN, f"caller {n} succeeded again only {first - back:.1f} s after"
    late = [t.answer.text for t in answers if t.started > back + RECOVERED_WITHIN and t.answer.is_error]
    assert not late, late
    recovered = max(
        min(t.ended for t in answers if t.worker == n and t.ended > back and t.answer.ok) - back for n in range(WORKERS)
    )
    errors = Counter(re.sub(r"[\d.]+ s\b", "N s", t.answer.text) for t in answers if t.answer.is_error)
    report = "\n".join(f"  {count:5d}  {text}" for text, count in errors.most_common())
    # The report quotes the figures and what callers read meanwhile.
    print(f"\n{backend}: every caller succeeded again within {recovered:.2f} s of its return\n{report}")  # noqa: T201


@pytest.mark.parametrize("transport", ["http", "stdio"])
@pytest.mark.parametrize("target", ["postgres"], indirect=True)
def test_postgres_restart_of_5_s_under_load(target: Target, database: Database, transport: str) -> None:
    cluster = database.cluster

    def restart() -> float:
        cluster.stop("fast")  # terminates every backend: calls in flight lose their connections
        time.sleep(OUTAGE)
        cluster.start()  # returns once PostgreSQL accepts connections
        return time.monotonic()

    # Straight to the cluster (no proxy): a stopped PostgreSQL refuses connections, as in production.
    with serving(target, transport, QUERY, dsn=database.shop.readonly) as caller:
        under_load(caller, restart, target.backend, target.deadline())


@pytest.mark.parametrize("transport", ["http", "stdio"])
@pytest.mark.parametrize("target", ["github", "slack", "aws"], indirect=True)
def test_api_answering_503_for_5_s_under_load(target: Target, transport: str) -> None:
    def unavailable() -> float:
        target.proxy.respond(*target.outage)
        time.sleep(OUTAGE)
        target.proxy.set("pass")
        return time.monotonic()

    with serving(target, transport, target.arguments) as caller:
        under_load(caller, unavailable, target.backend, target.deadline())
