"""Drive a server process over stdio with raw JSON-RPC, keeping every line it writes to stdout.

Raw lines (rather than an SDK client) let tests check that stdout carries nothing but JSON-RPC.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "tests" / "core" / "example_server.py"
PROTOCOL = "2026-07-28"


def meta() -> dict[str, Any]:
    return {
        "io.modelcontextprotocol/protocolVersion": PROTOCOL,
        "io.modelcontextprotocol/clientCapabilities": {},
    }


def request(id: int, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """A 2026-07-28 request: every request carries its own envelope."""
    return {"jsonrpc": "2.0", "id": id, "method": method, "params": {**(params or {}), "_meta": meta()}}


class StdioProcess:
    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_")}
        full_env.update(env or {})
        self.proc = subprocess.Popen(
            [sys.executable, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=full_env,
            cwd=ROOT,
        )
        self.lines: list[bytes] = []
        self.stderr = bytearray()
        self._messages: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            try:
                self._messages.put(json.loads(line))
            except ValueError:
                self._messages.put({"_not_json": line.decode(errors="replace")})

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for chunk in iter(lambda: self.proc.stderr.read1(65536), b""):  # type: ignore[union-attr]
            self.stderr.extend(chunk)

    def send(self, message: dict[str, Any] | bytes) -> None:
        assert self.proc.stdin is not None
        data = message if isinstance(message, bytes) else json.dumps(message).encode()
        self.proc.stdin.write(data.rstrip(b"\n") + b"\n")
        self.proc.stdin.flush()

    def receive(self, timeout: float = 15) -> dict[str, Any]:
        return self._messages.get(timeout=timeout)

    def answers(self, ids: set[int], timeout: float = 30) -> dict[int, dict[str, Any]]:
        """Collect the responses to `ids` (ignoring notifications such as progress)."""
        found: dict[int, dict[str, Any]] = {}
        while set(found) != ids:
            message = self.receive(timeout)
            if message.get("id") in ids:
                found[message["id"]] = message
        return found

    def close_stdin(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()

    def wait(self, timeout: float = 30) -> int:
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
