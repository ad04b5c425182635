"""Prometheus metrics, one registry per server instance (tests build many servers in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# Tool-call latencies span sub-millisecond catalog reads to long queries.
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "warden_requests",
            "MCP requests by method, tool and outcome.",
            ["method", "tool", "outcome"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "warden_request_duration_seconds",
            "Time to answer an MCP request.",
            ["method"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.inflight = Gauge("warden_inflight_requests", "MCP requests being handled.", registry=self.registry)
        self.http_rejections = Counter(
            "warden_http_rejections",
            "HTTP requests refused before reaching MCP (auth, size, host/origin).",
            ["status"],
            registry=self.registry,
        )
        self.backend_available = Gauge(
            "warden_backend_available",
            "1 while the backend's circuit breaker is closed.",
            ["backend"],
            registry=self.registry,
        )
        self.ready = Gauge("warden_ready", "1 when /readyz answers ready.", registry=self.registry)
        self.policy_reloads = Counter(
            "warden_policy_reloads", "Reloads of the Cedar policy file, by result.", ["result"], registry=self.registry
        )
        self.policy_healthy = Gauge(
            "warden_policy_healthy",
            "0 while the policy file on disk is invalid and the last good policy is kept.",
            registry=self.registry,
        )
        self.policy_shadow_denials = Counter(
            "warden_policy_shadow_denials",
            "Calls the policy file would deny, in shadow mode.",
            ["tool"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
