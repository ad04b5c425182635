"""Prometheus metrics, one set per server instance (tests build many servers in one process).

Every request updates a few counters, so they are plain numbers here: a labelled child is one dict
lookup away and an update is one addition, with no lock (each server's requests are counted on its
event loop). `prometheus_client` is imported only when `/metrics` is scraped, and the exposition is
the one its own Counter, Gauge and Histogram give (`_total`, `_created`, buckets, `+Inf`).
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterator, Sequence
from typing import Any

# Tool-call latencies span sub-millisecond catalog reads to long queries.
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class _Value:
    """One counter or gauge child."""

    __slots__ = ("created", "value")

    def __init__(self) -> None:
        self.value = 0.0
        self.created = time.time()

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount

    def dec(self, amount: float = 1.0) -> None:
        self.value -= amount

    def set(self, value: float) -> None:
        self.value = float(value)


class _Buckets:
    """One histogram child: a count per bucket (not cumulative), the sum, and when it was created."""

    __slots__ = ("bounds", "counts", "created", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.sum = 0.0
        self.created = time.time()

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1  # buckets are `le`: value <= bound
        self.sum += value


class _Family:
    """A metric and its children by label values; without labels, it is its own single child."""

    def __init__(self, kind: str, name: str, help: str, labelnames: Sequence[str] = (), buckets: Sequence[float] = ()):
        self.kind, self.name, self.help = kind, name, help
        self.labelnames = tuple(labelnames)
        self.bounds = tuple(float(b) for b in buckets)
        self.children: dict[tuple[str, ...], Any] = {}
        if not self.labelnames:
            self._only = self._child(())

    def _child(self, values: tuple[str, ...]) -> Any:
        child = _Buckets(self.bounds) if self.kind == "histogram" else _Value()
        self.children[values] = child
        return child

    def labels(self, *values: Any) -> Any:
        key = tuple(str(v) for v in values)
        child = self.children.get(key)
        if child is None:
            if len(key) != len(self.labelnames):
                raise ValueError(f"{self.name} takes labels {self.labelnames}, got {len(key)} values")
            child = self._child(key)
        return child

    # Unlabelled families.
    def inc(self, amount: float = 1.0) -> None:
        self._only.inc(amount)

    def dec(self, amount: float = 1.0) -> None:
        self._only.dec(amount)

    def set(self, value: float) -> None:
        self._only.set(value)

    def observe(self, value: float) -> None:
        self._only.observe(value)


class Metrics:
    def __init__(self) -> None:
        self._families: list[_Family] = []
        self.requests = self._add("counter", "warden_requests", "MCP requests by method, tool and outcome.",
                                  ["method", "tool", "outcome"])  # fmt: skip
        self.duration = self._add(
            "histogram", "warden_request_duration_seconds", "Time to answer an MCP request.", ["method"], _BUCKETS
        )
        self.inflight = self._add("gauge", "warden_inflight_requests", "MCP requests being handled.")
        self.http_rejections = self._add(
            "counter",
            "warden_http_rejections",
            "HTTP requests refused before reaching MCP (auth, size, host/origin).",
            ["status"],
        )
        self.backend_available = self._add(
            "gauge", "warden_backend_available", "1 while the backend's circuit breaker is closed.", ["backend"]
        )
        self.ready = self._add("gauge", "warden_ready", "1 when /readyz answers ready.")
        self.policy_reloads = self._add(
            "counter", "warden_policy_reloads", "Reloads of the Cedar policy file, by result.", ["result"]
        )
        self.policy_healthy = self._add(
            "gauge",
            "warden_policy_healthy",
            "0 while the policy file on disk is invalid and the last good policy is kept.",
        )
        self.policy_shadow_denials = self._add(
            "counter", "warden_policy_shadow_denials", "Calls the policy file would deny, in shadow mode.", ["tool"]
        )

    def _add(
        self, kind: str, name: str, help: str, labelnames: Sequence[str] = (), buckets: Sequence[float] = ()
    ) -> Any:
        family = _Family(kind, name, help, labelnames, buckets)
        self._families.append(family)
        return family

    def render(self) -> bytes:
        from prometheus_client import CollectorRegistry, generate_latest

        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Collector(self._families))
        return generate_latest(registry)


class _Collector:
    """The families as prometheus_client's metric families, built at scrape time."""

    def __init__(self, families: list[_Family]) -> None:
        self.families = families

    def collect(self) -> Iterator[Any]:
        from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        for family in self.families:
            names, children = list(family.labelnames), list(family.children.items())
            if family.kind == "counter":
                counter = CounterMetricFamily(family.name, family.help, labels=names)
                for values, child in children:
                    counter.add_metric(list(values), child.value, created=child.created)
                yield counter
            elif family.kind == "gauge":
                gauge = GaugeMetricFamily(family.name, family.help, labels=names)
                for values, child in children:
                    gauge.add_metric(list(values), child.value)
                yield gauge
            else:
                histogram = HistogramMetricFamily(family.name, family.help, labels=names)
                created = GaugeMetricFamily(f"{family.name}_created", family.help, labels=names)
                for values, child in children:
                    running, buckets = 0, []
                    for bound, count in zip([*family.bounds, float("inf")], child.counts, strict=True):
                        running += count
                        buckets.append(("+Inf" if bound == float("inf") else repr(bound), float(running)))
                    histogram.add_metric(list(values), buckets, child.sum)
                    created.add_metric(list(values), child.created)
                yield histogram
                yield created
