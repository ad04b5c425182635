"""Tracing's switch and its per-request parts, without an SDK: what is on when, and what reaches a span."""

from __future__ import annotations

import pytest
from opentelemetry import trace

from warden_core import tracing
from warden_core.audit import AuditRecord
from warden_core.settings import SettingsError


@pytest.mark.parametrize(
    ("environ", "on"),
    [
        ({}, False),
        ({"OTEL_SERVICE_NAME": "x"}, False),  # a name is not a destination
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, False),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, False),
        ({"OTEL_SDK_DISABLED": "false", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
    ],
)
def test_tracing_is_on_only_when_a_destination_is_configured(environ: dict[str, str], on: bool) -> None:
    assert tracing.wanted(environ) is on


@pytest.mark.parametrize(
    ("url", "route"),
    [
        ("https://user:s3cret@api.example.com:8443/repos/a/b?token=abc#frag", "https://api.example.com:8443/repos/a/b"),
        (
            "http://127.0.0.1:9000/api/v1/namespaces/shop/pods?limit=250",
            "http://127.0.0.1:9000/api/v1/namespaces/shop/pods",
        ),
        ("https://blob.example.net/logs/1?sig=SAS-SIGNATURE&se=2026", "https://blob.example.net/logs/1"),
        ("http://[::1]:8080/x", "http://[::1]:8080/x"),
    ],
)
def test_urls_keep_their_route_and_lose_credentials_and_query(url: str, route: str) -> None:
    assert tracing.url_route(url) == route


def test_off_the_audit_record_still_names_the_callers_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    record = AuditRecord(request_id="r1", server="warden-test", transport="http")
    header = [(b"traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")]
    with tracing.incoming(header):
        tracing.stamp(record)
    assert record.trace_id == "0af7651916cd43dd8448eb211c80319c"
    assert record.span_id is None  # no span of Warden's: tracing is off
    assert not trace.get_current_span().get_span_context().is_valid  # the header's context is gone again


def test_without_a_traceparent_nothing_is_stamped() -> None:
    record = AuditRecord(request_id="r1", server="warden-test", transport="http")
    with tracing.incoming([(b"user-agent", b"x")]):
        tracing.stamp(record)
    assert record.trace_id is None and record.span_id is None


@pytest.mark.parametrize(
    ("protocol", "expected"),
    [("bogus", "Unsupported OTLP protocol"), ("grpc", "warden-core[otlp-grpc]")],
)
def test_a_protocol_the_sdk_cannot_serve_stops_the_start(
    monkeypatch: pytest.MonkeyPatch, protocol: str, expected: str
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
    with pytest.raises(SettingsError, match=expected.replace("[", r"\[").replace("]", r"\]")):
        tracing.start("warden-test")
