"""OpenTelemetry tracing from the standard `OTEL_*` variables: one server span per request, backend spans below.

**Off unless configured.** Tracing starts only when the environment names a destination for spans
(`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, or `OTEL_TRACES_EXPORTER`
other than `none`); `OTEL_SDK_DISABLED=true` keeps it off whatever else is set. Off, nothing of the
SDK is imported, and a request costs what it costs without Warden: the MCP SDK's own server span,
against the OpenTelemetry API's no-op tracer.

**On**, the OpenTelemetry SDK configures itself with its own configurator, the one behind
`opentelemetry-instrument`: it reads every `OTEL_*` variable (exporter, protocol, endpoint, headers,
timeout, compression, sampler, resource attributes, batch settings). Warden adds three defaults:
- the exporter is OTLP over http/protobuf when neither `OTEL_TRACES_EXPORTER` nor a protocol is
  set (the specification's default; gRPC needs the optional extra `warden-core[otlp-grpc]`);
- the service name is `warden-<name>` unless `OTEL_SERVICE_NAME` or `OTEL_RESOURCE_ATTRIBUTES` names one;
- metrics and logs are exported only if `OTEL_METRICS_EXPORTER` / `OTEL_LOGS_EXPORTER` ask for them
  (Warden's own metrics are Prometheus's, on /metrics).

**Spans.** The MCP SDK opens the server span of each request (`tools/call pg_query`), parented by
the caller's W3C trace context from `_meta.traceparent`, or else by the HTTP `traceparent` header,
which the front door makes the ambient context (`incoming`). Warden adds its attributes to that span
(`annotate`) rather than opening another. Below it, each server's backend SDK is traced by its
maintained instrumentation (asyncpg, requests, urllib3, urllib, botocore). Every span's attributes
are cleaned as it starts: URLs keep scheme, host, port and path (no credentials, no query), and a
server may clean more (warden-postgres keeps a statement's shape, never its literals).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagate import extract

if TYPE_CHECKING:
    from warden_core.audit import AuditRecord

logger = logging.getLogger(__name__)

FLUSH_SECONDS = 5.0
"""Longest the spans still queued at shutdown may take to leave."""

Clean = Callable[[str], str]


def url_route(url: str) -> str:
    """A URL as a span may carry it: scheme, host, port and path; no credentials, query or fragment."""
    try:
        parts = urlsplit(url)
        netloc = parts.hostname or ""
        if ":" in netloc:
            netloc = f"[{netloc}]"
        if parts.port is not None:
            netloc += f":{parts.port}"
    except ValueError:
        return ""
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _path_only(target: str) -> str:
    return target.split("?", 1)[0].split("#", 1)[0]


URL_ATTRIBUTES: dict[str, Clean] = {
    "url.full": url_route,
    "http.url": url_route,
    "http.target": _path_only,
    "url.query": lambda _: "",
}
"""The URL attributes of the HTTP instrumentations (both semantic-convention generations), cleaned."""


@dataclass(frozen=True)
class Instrumentation:
    """How a server's backend SDK is traced: its maintained instrumentors, and how their attributes are cleaned.

    `instrumentors` is called only when tracing is on, so the instrumentation packages (which import
    their SDK) are never loaded otherwise. `clean` maps an attribute to the function that makes its
    value safe to export, on top of the URL cleaning every server gets; `span_name` does the same for
    span names an instrumentation derives from what it sends.
    """

    instrumentors: Callable[[], Iterable[Any]]
    clean: Mapping[str, Clean] = field(default_factory=dict)
    span_name: Callable[[str, Mapping[str, Any]], str] | None = None  # from the name and the cleaned attributes


def wanted(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the environment asks for traces.

    This is the one place in Warden that reads `OTEL_*` variables: they are the OpenTelemetry SDK's
    standard configuration, not Warden settings, and the SDK reads the rest of them itself. Only the
    decision to load the SDK at all is made here.
    """
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporters:
        return exporters != "none"
    return bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def _defaults(service: str, environ: Mapping[str, str]) -> dict[str, Any]:
    """Warden's defaults for the SDK's configurator, for what the environment leaves unsaid."""
    from opentelemetry.sdk._configuration import _get_exporter_entry_point
    from opentelemetry.sdk.resources import SERVICE_NAME, OTELResourceDetector

    kwargs: dict[str, Any] = {}
    if not environ.get("OTEL_TRACES_EXPORTER"):
        protocol = environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        # With a protocol, the SDK maps "otlp" to its exporter; without one it would pick gRPC, not the spec's default.
        kwargs["trace_exporter_names"] = [
            _get_exporter_entry_point("otlp", "traces") if protocol else "otlp_proto_http"
        ]
    # The SDK's own reading of OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES decides whether a name was given.
    if SERVICE_NAME not in OTELResourceDetector().detect().attributes:
        kwargs["resource_attributes"] = {SERVICE_NAME: service}
    return kwargs


class Tracing:
    """Tracing as configured for this process; `shutdown` sends what is still queued."""

    def __init__(self, provider: Any) -> None:
        self._provider = provider

    def shutdown(self, seconds: float = FLUSH_SECONDS) -> None:
        """Flush and stop the exporters, for at most `seconds` (an unreachable collector must not hold the exit).

        An exporter that prints (`console`) prints to stderr meanwhile: over stdio, stdout is the protocol's.
        """
        sys.stdout.flush()
        stdout = os.dup(1)
        os.dup2(2, 1)
        try:
            worker = threading.Thread(target=self._provider.shutdown, name="warden-tracing-shutdown", daemon=True)
            worker.start()
            worker.join(seconds)
            sys.stdout.flush()
        finally:
            os.dup2(stdout, 1)
            os.close(stdout)
        if worker.is_alive():
            logger.warning("spans still queued after %g s were not sent: the trace exporter did not answer", seconds)


def start(service: str, instrumentation: Instrumentation | None = None) -> Tracing | None:
    """Configure the SDK from the environment and instrument the backend SDK, if traces are wanted.

    Returns None (and does nothing) when they are not. A configuration the SDK refuses (an unknown
    exporter, an unsupported protocol) raises `SettingsError` with the SDK's reason.
    """
    if not wanted():
        return None
    from opentelemetry.sdk._configuration import _OTelSDKConfigurator
    from opentelemetry.sdk.trace import SpanProcessor

    from warden_core.settings import SettingsError

    clean = {**URL_ATTRIBUTES, **(instrumentation.clean if instrumentation else {})}
    rename = instrumentation.span_name if instrumentation else None

    class CleanAttributes(SpanProcessor):
        """Cleans each span's attributes as it starts, while the span can still change them."""

        def on_start(self, span: Any, parent_context: Any = None) -> None:
            attributes = span.attributes or {}
            for name, how in clean.items():
                value = attributes.get(name)
                if isinstance(value, str):
                    span.set_attribute(name, how(value))
            if rename is not None:
                span.update_name(rename(span.name, span.attributes or {}))

    class Configurator(_OTelSDKConfigurator):
        """The SDK's configurator, as distributions are meant to use it: subclassed, not changed."""

    try:
        configurator = Configurator()  # type: ignore[no-untyped-call]  # the SDK leaves these unannotated
        configurator.configure(span_processors=[CleanAttributes()], **_defaults(service, os.environ))  # type: ignore[no-untyped-call]
    except (RuntimeError, ValueError) as exc:
        hint = " (OTLP over gRPC needs the extra warden-core[otlp-grpc])" if "grpc" in str(exc) else ""
        raise SettingsError(f"OpenTelemetry: {exc}{hint}") from None
    provider = trace.get_tracer_provider()
    for instrumentor in instrumentation.instrumentors() if instrumentation else ():
        instrumentor.instrument(tracer_provider=provider)
    logger.info("tracing on: spans go to the exporter the OTEL_* variables configure")
    return Tracing(provider)


# --- Per request. -------------------------------------------------------------------------------------------
@contextmanager
def incoming(headers: Iterable[tuple[bytes, bytes]]) -> Iterator[None]:
    """Make an HTTP request's `traceparent` (and `tracestate`) the ambient trace context.

    The MCP SDK parents its server span by `_meta.traceparent` when the request carries one, and by
    the ambient context otherwise.
    """
    carrier = {
        name.decode("latin-1"): value.decode("latin-1")
        for name, value in headers
        if name in (b"traceparent", b"tracestate")
    }
    if "traceparent" not in carrier:
        yield
        return
    token = otel_context.attach(extract(carrier))
    try:
        yield
    finally:
        otel_context.detach(token)


def stamp(record: AuditRecord) -> None:
    """Put the current trace (and Warden's span, when tracing is on) on the request's audit record.

    With tracing off, the trace id is still the caller's when it sent one, so a caller's trace and
    Warden's audit trail can be joined even then.
    """
    span = trace.get_current_span()
    context = span.get_span_context()
    if context.is_valid:
        record.trace_id = format(context.trace_id, "032x")
        if span.is_recording():
            record.span_id = format(context.span_id, "016x")


def annotate(record: AuditRecord) -> None:
    """Warden's attributes on the request's server span (opened by the MCP SDK), from its audit record."""
    span = trace.get_current_span()
    if not span.is_recording():
        return
    attributes: dict[str, Any] = {
        "warden.request_id": record.request_id,
        "warden.transport": record.transport,
        "warden.principal": record.principal,
        "warden.decision": record.decision,
        "warden.outcome": record.outcome,
    }
    if record.tool is not None:
        attributes["warden.tool"] = record.tool
    if record.result_bytes is not None:
        attributes["warden.result_bytes"] = record.result_bytes
    # Set on the audit record by layers that may or may not be there: acting for an end user (a
    # trusted gateway's caller), and the egress filter's count of masked values.
    end_user = getattr(record, "end_user", None)
    if end_user is not None:
        attributes["warden.end_user"] = str(end_user)
    masked = getattr(record, "masked", None)
    if isinstance(masked, int):
        attributes["warden.masked"] = masked
    span.set_attributes(attributes)
