"""A small raw MCP-over-HTTP client for fault tests: one POST per call, every answer kept as it came.

Raw requests (rather than the SDK client) let a test see exactly what a caller gets when things go
wrong: the HTTP status, `Retry-After`, the `x-request-id` correlation header, a JSON-RPC error, or
a tool result with `isError`. A transport failure is an answer too (status 0), so a test can tell
"answered with an error" from "never answered".
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

PROTOCOL = "2026-07-28"


def rpc(method: str, params: dict[str, Any] | None = None, *, id: int = 1) -> dict[str, Any]:
    meta = {"io.modelcontextprotocol/protocolVersion": PROTOCOL, "io.modelcontextprotocol/clientCapabilities": {}}
    return {"jsonrpc": "2.0", "id": id, "method": method, "params": {**(params or {}), "_meta": meta}}


@dataclass
class Answer:
    status: int  # 0: no HTTP answer at all (connection refused, reset, timed out)
    elapsed: float
    id: Any = None
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    request_id: str | None = None
    retry_after: str | None = None
    raw: str = ""

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.result is not None and not self.result.get("isError")

    @property
    def is_error(self) -> bool:
        return not self.ok

    @property
    def text(self) -> str:
        if self.result is not None:
            blocks = self.result.get("content") or []
            return " ".join(str(b.get("text", "")) for b in blocks if isinstance(b, dict))
        if self.error is not None:
            return str(self.error.get("message", ""))
        return self.raw

    @property
    def structured(self) -> Any:
        return (self.result or {}).get("structuredContent")


def post(
    base: str,
    message: dict[str, Any],
    *,
    token: str | None = None,
    timeout: float = 60,
    client: httpx.Client | None = None,
) -> Answer:
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": PROTOCOL,
        "Mcp-Method": message["method"],
    }
    if message["method"] == "tools/call":
        headers["Mcp-Name"] = message["params"]["name"]
    if token:
        headers["Authorization"] = f"Bearer {token}"
    started = time.monotonic()
    try:
        sender = client or httpx
        response = sender.post(f"{base}/mcp", content=json.dumps(message), headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        return Answer(status=0, elapsed=time.monotonic() - started, raw=repr(exc))
    answer = Answer(
        status=response.status_code,
        elapsed=time.monotonic() - started,
        request_id=response.headers.get("x-request-id"),
        retry_after=response.headers.get("retry-after"),
        raw=response.text,
    )
    body = response.text
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        data = [line[5:] for line in body.splitlines() if line.startswith("data:")]
        body = data[-1] if data else ""
    try:
        parsed = json.loads(body)
    except ValueError:
        return answer
    if isinstance(parsed, dict):
        answer.id = parsed.get("id")
        answer.result = parsed.get("result")
        answer.error = parsed.get("error")
    return answer


def call(base: str, tool: str, arguments: dict[str, Any], *, id: int = 1, **kwargs: Any) -> Answer:
    return post(base, rpc("tools/call", {"name": tool, "arguments": arguments}, id=id), **kwargs)


def list_tools(base: str, **kwargs: Any) -> list[str]:
    answer = post(base, rpc("tools/list"), **kwargs)
    assert answer.status == 200 and answer.result is not None, answer.raw
    return [tool["name"] for tool in answer.result["tools"]]


def readyz(base: str) -> int:
    return httpx.get(f"{base}/readyz", timeout=30).status_code


def metric(base: str, sample: str, token: str | None = None) -> float | None:
    """The value of one Prometheus sample, named exactly as rendered (labels included), or None."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    for line in httpx.get(f"{base}/metrics", headers=headers, timeout=30).text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


def wait_until(predicate: Any, *, timeout: float, interval: float = 0.1, what: str = "condition") -> None:
    """Poll `predicate` until it is true; fail after `timeout` seconds (a "does not hang" bound)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:g} s")
        time.sleep(interval)
