"""Each Warden server, run as a real process, with a fault proxy between it and its backend.

A `Target` knows how to start its server against the proxy, which read tool to call, how its
errors name the backend, and what the backend's throttling answer looks like. The backends are
real or realistic: a private PostgreSQL cluster, the fake GitHub, Slack and Kubernetes APIs over
loopback HTTP, and moto's server for AWS.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

from tests.support.faultproxy import FaultProxy
from tests.support.processes import HttpProcess, http_process

SERVERS = ("postgres", "github", "slack", "kubernetes", "aws")

# Every setting keeps its default, so the tests see what users get; a test about a setting sets it
# itself and says why. The load comes from one principal, so Warden's own per-principal limits are
# raised out of its way unless a test is about them.
LOAD = {
    "RATE_LIMIT": "100000/minute",
    "MAX_INFLIGHT_PER_PRINCIPAL": "64",
}

DEFAULT_BACKEND_TIMEOUT = 20.0  # CoreSettings.backend_timeout

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "AKIAFAKEFAKEFAKEFAKE",
    "AWS_SECRET_ACCESS_KEY": "fake-secret-key-for-tests-only",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@dataclass
class Target:
    name: str  # the server: postgres, github, ...
    backend: str  # how its errors name the backend
    proxy: FaultProxy
    tool: str  # a read tool that reaches the backend on every call
    arguments: dict[str, Any]
    settings: dict[str, str]  # the server's own settings, without the WARDEN_<NAME>_ prefix
    extra_env: dict[str, str] = field(default_factory=dict)
    throttle: tuple[int, dict[str, str], str] = (429, {}, "")  # the backend's "slow down" answer
    outage: tuple[int, dict[str, str], str] = (
        503,
        {"Content-Type": "application/json"},
        '{"message": "Service Unavailable"}',
    )  # the backend's "I am down" answer
    tmp: Path = Path("/tmp")

    def deadline(self, backend_timeout: float = DEFAULT_BACKEND_TIMEOUT) -> float:
        """The longest one backend attempt may take (PostgreSQL adds its connection cleanup)."""
        return backend_timeout + (6.0 if self.name == "postgres" else 0.0)

    def env(self, **overrides: Any) -> dict[str, str]:
        prefix = f"WARDEN_{self.name.upper()}_"
        values = {**LOAD, "AUDIT_SINK": str(self.tmp / f"audit-{self.name}.jsonl"), **self.settings}
        values |= {key.upper(): str(value) for key, value in overrides.items()}
        return {f"{prefix}{key}": value for key, value in values.items()} | self.extra_env

    @contextmanager
    def serve(self, **overrides: Any) -> Iterator[HttpProcess]:
        """This server as a real process over HTTP on a free port (SIGTERM at the end)."""
        with http_process(["-m", f"warden_{self.name}"], self.env(**overrides), self.tmp) as process:
            yield process

    def audit_events(self) -> list[dict[str, Any]]:
        path = self.tmp / f"audit-{self.name}.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def through(dsn: str, port: int) -> str:
    """The same DSN, pointed at 127.0.0.1:`port` (the proxy)."""
    parts = urlsplit(dsn)
    auth = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    return urlunsplit(parts._replace(netloc=f"{auth}127.0.0.1:{port}"))


def kubeconfig(path: Path, server: str, token: str) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "fake", "cluster": {"server": server}}],
        "users": [{"name": "dev-user", "user": {"token": token}}],
        "contexts": [{"name": "dev", "context": {"cluster": "fake", "user": "dev-user", "namespace": "default"}}],
        "current-context": "dev",
    }
    path.write_text(yaml.safe_dump(config))
    return path


def github_throttle() -> tuple[int, dict[str, str], str]:
    body = {"message": "You have exceeded a secondary rate limit.", "documentation_url": "https://docs.github.com"}
    return 429, {"Content-Type": "application/json", "Retry-After": "1"}, json.dumps(body)


def kube_throttle() -> tuple[int, dict[str, str], str]:
    body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "TooManyRequests", "code": 429}
    return 429, {"Content-Type": "application/json", "Retry-After": "1"}, json.dumps(body)


def slack_throttle() -> tuple[int, dict[str, str], str]:
    return (
        429,
        {"Content-Type": "application/json", "Retry-After": "1"},
        json.dumps({"ok": False, "error": "ratelimited"}),
    )


def aws_outage() -> tuple[int, dict[str, str], str]:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>ServiceUnavailable</Code>'
        "<Message>Service is unable to handle request.</Message><RequestId>r2</RequestId></Error>"
    )
    return 503, {"Content-Type": "application/xml"}, body


def aws_throttle() -> tuple[int, dict[str, str], str]:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
        "<Message>Please reduce your request rate.</Message><RequestId>r1</RequestId></Error>"
    )
    return 503, {"Content-Type": "application/xml"}, body
