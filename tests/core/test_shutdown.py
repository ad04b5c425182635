"""SIGTERM over HTTP: in-flight calls finish, new ones are refused, the process exits 0."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path

import httpx

from tests.core.test_http import post, rpc
from tests.support.processes import http_process
from tests.support.stdio import EXAMPLE


def wait_for_inflight(base: str, count: int) -> None:
    deadline = time.monotonic() + 20
    while f"warden_inflight_requests {count}.0" not in httpx.get(f"{base}/metrics").text:
        assert time.monotonic() < deadline, "calls never got in flight"
        time.sleep(0.02)


def test_sigterm_drains_in_flight_http_calls_and_exits_zero(tmp_path: Path) -> None:
    env = {"WARDEN_EXAMPLE_DRAIN_SECONDS": "15", "WARDEN_EXAMPLE_MAX_INFLIGHT_PER_PRINCIPAL": "64"}
    answers: dict[int, httpx.Response | Exception] = {}

    def call(i: int) -> None:
        try:
            answers[i] = post(server.base, rpc("tools/call", {"name": "ex_slow", "arguments": {"seconds": 1.5}}, id=i))
        except Exception as exc:
            answers[i] = exc

    with http_process([str(EXAMPLE)], env, tmp_path) as server:
        callers = [threading.Thread(target=call, args=(i,)) for i in range(30)]
        for caller in callers:
            caller.start()
        wait_for_inflight(server.base, 30)
        server.proc.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        for caller in callers:
            caller.join(20)
        assert server.proc.wait(20) == 0
        assert time.monotonic() - stopped < 15
    for i in range(30):
        response = answers[i]
        assert isinstance(response, httpx.Response), response
        assert response.status_code == 200
        assert json.loads(response.text)["result"]["structuredContent"] == {"ok": True}
    assert "Application shutdown complete" in server.stderr
