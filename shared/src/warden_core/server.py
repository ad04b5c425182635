"""`WardenServer`: an `MCPServer` with Warden's policy, limits, audit and metrics built in.

Every request, on every transport, passes two checkpoints:

- the **gate**, an MCP middleware that sees every inbound request: it names the principal, opens
  or joins the request's audit record, passes every answer through the egress filter (secrets in
  results, resources, prompts, completions and error texts are masked, and the answer says so),
  measures the result and counts metrics;
- the **guard**, a wrapper around each tool handler that runs after argument validation: it
  refuses calls while draining, applies rate and concurrency limits, checks resource arguments
  against the allowlists, and enforces the call deadline.

Servers describe tools as `ToolSpec`s; the policy decides which are registered at all.
"""

from __future__ import annotations

import functools
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, cast

import anyio
import pydantic_core
from mcp.server import MCPServer
from mcp.server.caching import CacheHint
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase
from mcp.server.request_state import RequestStateSecurity
from mcp.shared.exceptions import MCPError
from pydantic import ConfigDict, ValidationError

from warden_core import audit, identity, redaction, tracing
from warden_core.audit import Auditor, AuditRecord
from warden_core.auth import AuthError, Principal
from warden_core.caps import json_size
from warden_core.egress import Egress
from warden_core.errors import PolicyDenied, Timeout, UpstreamUnavailable, WardenError, invalid_arguments
from warden_core.metrics import Metrics
from warden_core.names import INVALID_PARAMS, unknown_name
from warden_core.policy import Allowlist, Policy
from warden_core.ratelimit import RateLimiter
from warden_core.resilience import Backend
from warden_core.schemas import json_schema
from warden_core.settings import CoreSettings
from warden_core.specs import ToolSpec

logger = logging.getLogger(__name__)

PRINCIPAL_KEY = "warden.principal"
"""Where the HTTP front door leaves the authenticated principal in the ASGI scope."""

Readiness = Callable[[], Awaitable[bool]]

_BY_MCP: weakref.WeakValueDictionary[int, WardenServer] = weakref.WeakValueDictionary()

MODERN = "2026-07-28"
"""The first protocol revision without the handshake; its results carry `resultType`."""

# Requests that reach a backend outside tools/call: guarded and limited like tool calls.
_GUARDED_READS = frozenset({"resources/read", "prompts/get", "completion/complete"})
_SERVER_ERROR = -32000  # JSON-RPC's implementation-defined server error

_PROBE_TTL = 1.0
"""Seconds a readiness probe's verdict is reused."""

STOPPED = (
    "{name} is shutting down: this call was still running at the drain deadline and was stopped; "
    "retry on another replica"
)

# Refusals by Warden itself, as opposed to failures of the call.
_DENIALS = frozenset({"policy_denied", "rate_limited"})


def drain_plan(drain_seconds: float) -> tuple[float, float]:
    """When to stop calls still running after a shutdown signal, and when the process must be done.

    Calls may run until the first time; then they are stopped with a clean error, and the rest of
    the drain (a quarter of it, at most 5 s) lets their answers and backend cleanup get out.
    """
    stop_at = max(0.0, drain_seconds - min(5.0, drain_seconds / 4))
    return stop_at, max(drain_seconds, stop_at + 0.5)


def principal_of(request: Any) -> Principal:
    """The caller behind an MCP request: set by the HTTP front door, or the local user otherwise.

    (Outside HTTP, the principal is the one the process runs as: the local user, or whom an in-memory
    test client was opened for with `warden_core.testing.acting_as`.)
    """
    scope = getattr(request, "scope", None)
    if isinstance(scope, dict):
        principal = scope.get(PRINCIPAL_KEY)
        if isinstance(principal, Principal):
            return principal
    return identity.current()


class WardenServer:
    def __init__(
        self,
        *,
        settings: CoreSettings,
        specs: Sequence[ToolSpec],
        instructions: str,
        default_groups: Iterable[str],
        version: str,
        allowlists: Mapping[str, Allowlist] | None = None,
        backends: Sequence[Backend] = (),
        readiness: Readiness | None = None,
        on_close: Callable[[], Awaitable[None]] | None = None,
        runtime: Any = None,
    ) -> None:
        self.settings = settings
        # Every log record of the process is masked from here on, whoever set up the handlers (a program
        # embedding the server, not only the CLI); this never changes where records are written.
        redaction.install()
        self.egress = Egress(settings.egress_disable)
        # The server's own objects (its client, caches): reachable from resolvers via `of(ctx)`, and from tests.
        self.runtime = runtime
        self.name = f"warden-{settings.server_name}"
        self.version = version
        self.specs = tuple(specs)
        self.policy = Policy.from_settings(settings, self.specs, default_groups=default_groups, allowlists=allowlists)
        self.exposed = tuple(spec for spec in self.specs if self.policy.exposes(spec))
        self._by_name = {spec.name: spec for spec in self.specs}
        self._exposed_by_name = {spec.name: spec for spec in self.exposed}
        self.auditor = Auditor(
            server=self.name,
            sink=settings.audit_sink,
            key=settings.audit_key.get_secret_value().encode() if settings.audit_key else None,
            record_arguments=settings.audit_arguments,
            fail_closed=settings.audit_fail_closed,
        )
        self.limiter = RateLimiter(
            rate=settings.rate_limit,
            storage_uri=settings.rate_limit_storage.get_secret_value(),
            namespace=self.name,
            max_inflight=settings.max_inflight_per_principal,
        )
        self.metrics = Metrics()
        self.gateways = identity.Gateways(settings)
        if self.policy.cedar is not None:
            self.policy.cedar.metrics = self.metrics
            self.metrics.policy_healthy.set(1)
        self.transport = "memory"
        self.draining = False
        self.inflight = 0
        self._calls: set[anyio.CancelScope] = set()
        self.backends = tuple(backends)
        self._readiness = readiness
        self._probed: tuple[float, bool] | None = None  # when the probe last ran, and its verdict
        self._probe_lock = anyio.Lock()
        self._on_close = on_close

        keys = [key.get_secret_value() for key in settings.request_state_keys]
        self.mcp: MCPServer[Any] = MCPServer(
            name=self.name,
            version=version,
            instructions=instructions,
            tools=[self._tool(spec) for spec in self.exposed],
            middleware=[self._gate],
            request_state_security=RequestStateSecurity(keys=keys, audience=self.name) if keys else None,
            # The tool list depends only on this server's configuration, never on the caller.
            cache_hints={"tools/list": CacheHint(ttl_ms=60_000, scope="public")},
        )
        _BY_MCP[id(self.mcp)] = self

    @classmethod
    def of(cls, ctx: Context[Any]) -> WardenServer:
        """The server handling a request, from its context.

        Confirmation resolvers live at module level (the SDK resolves handler annotations there), so
        this is how one reaches the server's runtime, e.g. to ask the backend whether a target is public.
        """
        return _BY_MCP[id(ctx.mcp_server)]

    def exposed_spec(self, name: str) -> ToolSpec | None:
        """The spec of a tool this server registered, or None (unknown, or hidden by the policy)."""
        return self._exposed_by_name.get(name)

    # --- Backends and readiness. ---------------------------------------------------------------------
    @property
    def has_readiness_probe(self) -> bool:
        return self._readiness is not None

    async def ready(self) -> bool:
        """Ready when no backend's breaker is open and the server's own probe passes.

        A server with a backend must pass `readiness`: a cheap call that reaches the backend (the
        contract tests insist). The breaker alone knows only about calls that already failed.
        """
        ok = all(backend.available for backend in self.backends) and not self.draining
        if ok and self._readiness is not None:
            ok = await self._probe(self._readiness)  # while a breaker is half-open, the probe is its trial
        for backend in self.backends:
            self.metrics.backend_available.labels(backend.name).set(1 if backend.available else 0)
        self.metrics.ready.set(1 if ok else 0)
        return ok

    async def _probe(self, readiness: Readiness) -> bool:
        """The readiness probe's verdict, at most once a second however often /readyz is asked.

        /readyz is open to anyone: without this, a flood of anonymous probes would become a flood of
        backend calls on the server's own credential (and its rate limit). Concurrent askers share
        one probe.
        """
        if self._probed is not None and time.monotonic() - self._probed[0] < _PROBE_TTL:
            return self._probed[1]
        async with self._probe_lock:
            if self._probed is not None and time.monotonic() - self._probed[0] < _PROBE_TTL:
                return self._probed[1]
            try:
                with anyio.fail_after(2):
                    ok = await readiness()
            except Exception as exc:
                logger.info("readiness probe failed: %s", exc)
                ok = False
            self._probed = (time.monotonic(), ok)
            return ok

    async def aclose(self) -> None:
        if self._on_close is not None:
            await self._on_close()
        self.auditor.close()

    # --- Registration. -------------------------------------------------------------------------------
    def _tool(self, spec: ToolSpec) -> Tool:
        tool = _Tool.from_function(
            self._guarded(spec),
            name=spec.name,
            title=spec.title,
            description=spec.description,
            annotations=spec.annotations,
            structured_output=True,
        )
        # The SDK ignores unknown arguments; Warden refuses them, so a typo is never silently dropped.
        base = tool.fn_metadata.arg_model
        strict = cast(
            type[ArgModelBase],
            type(base.__name__, (base,), {"model_config": ConfigDict(extra="forbid"), "__module__": __name__}),
        )
        tool.fn_metadata.arg_model = strict
        tool.parameters = json_schema(strict)
        if tool.fn_metadata.output_model is not None:
            tool.fn_metadata.output_schema = json_schema(tool.fn_metadata.output_model, output=True)
        return tool

    def _guarded(self, spec: ToolSpec) -> Callable[..., Awaitable[Any]]:
        handler = spec.handler

        @functools.wraps(handler)
        async def guarded(**arguments: Any) -> Any:
            record = audit.current()
            try:
                return await self._run_guarded(spec, handler, arguments, record)
            except WardenError as exc:
                if record is not None:
                    mark = record.deny if exc.kind in _DENIALS else record.fail
                    mark(exc.kind, exc.message)
                raise
            except Exception:
                if record is not None:
                    record.fail("internal_error")
                raise

        return guarded

    async def _run_guarded(
        self,
        spec: ToolSpec,
        handler: Callable[..., Awaitable[Any]],
        arguments: dict[str, Any],
        record: AuditRecord | None,
    ) -> Any:
        principal = identity.current().acting_id  # the end user behind a trusted gateway, else the caller
        if self.draining:
            raise UpstreamUnavailable(f"{self.name} is shutting down; retry on another replica")
        if self.auditor.fail_closed and not self.auditor.healthy:
            raise UpstreamUnavailable("the audit trail cannot be written, so calls are refused")
        await self.limiter.hit(principal, spec.name)
        self.policy.guard(spec, arguments)
        deadline = anyio.move_on_after(self.settings.call_timeout)
        with self.limiter.inflight(principal), deadline, self._abortable() as aborted:
            return await handler(**arguments)
        if aborted.cancelled_caught:
            raise UpstreamUnavailable(STOPPED.format(name=self.name))
        raise Timeout(f"{spec.name} did not finish within {self.settings.call_timeout:g} s")

    @contextmanager
    def _abortable(self) -> Iterator[anyio.CancelScope]:
        """A cancel scope that `abort_calls` cancels at the drain deadline."""
        scope = anyio.CancelScope()
        self._calls.add(scope)
        try:
            with scope:
                yield scope
        finally:
            self._calls.discard(scope)

    def abort_calls(self) -> int:
        """Stop every call still running (the drain deadline is here); each answers with a clean error.

        Returns how many were stopped. Their backend cleanup (a ROLLBACK, say) still runs first.
        """
        scopes = list(self._calls)
        for scope in scopes:
            scope.cancel()
        return len(scopes)

    # --- The gate: every inbound request. -----------------------------------------------------------
    async def _gate(self, ctx: Any, call_next: Callable[[Any], Awaitable[Any]]) -> Any:
        if ctx.request_id is None:
            return await call_next(ctx)  # notifications are not requests: nothing to answer or audit
        outer = audit.current()
        record = outer or self.auditor.open(request_id=str(ctx.request_id), transport=self.transport)
        tracing.stamp(record)  # inside the SDK's server span for this request
        params = ctx.params if isinstance(ctx.params, Mapping) else {}
        principal, bad_identity = self._identify(record, ctx.request, params)
        acting = identity.enter(principal)
        record.method = ctx.method
        if ctx.method == "tools/call":
            record.tool = str(params.get("name"))
            self.auditor.describe_arguments(record, params.get("arguments"))
        elif ctx.method == "resources/read":
            record.target = str(params.get("uri"))
        started = time.perf_counter()
        self.inflight += 1
        self.metrics.inflight.inc()
        try:
            with _failures_marked(record) if outer else self.auditor.recording(record):
                refusal = self._first_checks(record, ctx, params, bad_identity)
                if refusal is not None:
                    return refusal
                try:
                    await self._refuse_unknown(record, ctx.method, params)
                    if ctx.method in _GUARDED_READS:
                        await self._guard_read(record, ctx.method)
                        with self._abortable() as aborted:
                            result = await call_next(ctx)
                        if aborted.cancelled_caught:
                            record.fail(UpstreamUnavailable.kind, "stopped at the drain deadline")
                            raise MCPError(_SERVER_ERROR, STOPPED.format(name=self.name))
                    else:
                        result = await call_next(ctx)
                except MCPError as exc:
                    if record.outcome == "ok":
                        record.fail("protocol_error", redaction.redact(exc.error.message))
                    raise MCPError(exc.error.code, redaction.redact(exc.error.message), exc.error.data) from None
                except ValidationError:
                    record.fail("malformed", "invalid request parameters")
                    raise
                self._finish(record, result, ctx.method)
                return result
        finally:
            identity.leave(acting)
            tracing.annotate(record)
            self.inflight -= 1
            self.metrics.inflight.dec()
            tool = record.tool if record.tool in self._by_name else ("unknown" if record.tool else "")
            self.metrics.requests.labels(ctx.method, tool, record.outcome).inc()
            self.metrics.duration.labels(ctx.method).observe(time.perf_counter() - started)

    def _identify(self, record: AuditRecord, request: Any, params: Mapping[str, Any]) -> tuple[Principal, str | None]:
        """The request's principal, with the end user a trusted gateway names in `_meta.user`; noted on the record.

        Returns the reason a trusted gateway's `_meta.user` was refused, if it was (the request is then refused).
        """
        principal = principal_of(request)
        try:
            principal, ignored = self.gateways.from_meta(principal, params.get("_meta"))
        except AuthError as exc:
            identity.note(record, principal)
            return principal, str(exc)
        identity.note(record, principal, ignored)
        return principal, None

    def _first_checks(
        self, record: AuditRecord, ctx: Any, params: Mapping[str, Any], bad_identity: str | None
    ) -> dict[str, Any] | None:
        """Refuse a malformed `_meta.user`; then, for a tool call, check its resources early (`_refuse_early`).

        Runs with the record current, so the policy file can note its decision on it.
        """
        if bad_identity is not None:
            record.deny("unauthenticated", bad_identity)
            raise MCPError(_SERVER_ERROR, f"the end user named in _meta.user is refused: {bad_identity}")
        if ctx.method == "tools/call":
            return self._refuse_early(record, params, ctx.protocol_version)
        return None

    async def _refuse_unknown(self, record: AuditRecord, method: str, params: Mapping[str, Any]) -> None:
        """Refuse a request naming a tool, prompt, resource or completion reference this server lacks."""
        unknown = await unknown_name(self.mcp, method, params, self._exposed_by_name)
        if unknown is not None:
            record.deny(unknown.outcome, unknown.message)
            raise MCPError(INVALID_PARAMS, unknown.message, unknown.data)

    async def _guard_read(self, record: AuditRecord, method: str) -> None:
        """What the tool guard does for tools, for resource reads, prompts and completions."""
        try:
            if self.draining:
                raise UpstreamUnavailable(f"{self.name} is shutting down; retry on another replica")
            if self.auditor.fail_closed and not self.auditor.healthy:
                raise UpstreamUnavailable("the audit trail cannot be written, so requests are refused")
            await self.limiter.hit(identity.current().acting_id, method)
        except WardenError as exc:
            (record.deny if exc.kind in _DENIALS else record.fail)(exc.kind, exc.message)
            raise MCPError(_SERVER_ERROR, exc.message) from None

    def _refuse_early(
        self, record: AuditRecord, params: Mapping[str, Any], protocol_version: str | None
    ) -> dict[str, Any] | None:
        """Check the allowlists on the raw arguments, before anything (a confirmation prompt) runs.

        The guard checks again on the validated arguments; this earlier look means a refused
        resource never reaches a resolver, so the user is never asked to confirm a refused change.
        """
        spec = self.exposed_spec(record.tool or "")
        arguments = params.get("arguments")
        if spec is None or not spec.resource_args or not isinstance(arguments, Mapping):
            return None
        try:
            self.policy.guard(spec, arguments)
        except PolicyDenied as exc:
            record.deny(exc.kind, exc.message)
            text = f"Error executing tool {spec.name}: {exc.message}"
            result: dict[str, Any] = {"content": [{"type": "text", "text": text}], "isError": True}
            if protocol_version is not None and protocol_version >= MODERN:
                result["resultType"] = "complete"  # what the SDK adds to results of the stateless era
            return result
        return None

    def _finish(self, record: AuditRecord, result: Any, method: str | None) -> None:
        if not isinstance(result, dict):
            return
        # Egress: mask the answer, re-derive the text copy from the masked structured content, then
        # say what was masked (the tally includes what the server masked itself, via `egress.note`).
        self.egress.answer(method, result)
        _compact_text_copy(result)
        self.egress.announce(method, result, record.masked or {})
        record.result_bytes = json_size(result)
        if not result.get("isError"):
            return
        if record.outcome == "ok":
            # The guard did not run, so the SDK refused before the handler: the arguments are invalid.
            record.deny("invalid_arguments", "arguments failed validation")
        elif record.decision == "allow":
            record.decision = "error"


class _Tool(Tool):
    """The SDK's tool, whose argument errors read as one sentence: no pydantic layout, values or links."""

    async def run(self, arguments: dict[str, Any], context: Any, convert_result: bool = False) -> Any:
        try:
            return await super().run(arguments, context, convert_result)
        except ToolError as exc:
            if type(exc) is ToolError and isinstance(exc.__cause__, ValidationError):  # the SDK's argument check
                problem = invalid_arguments(exc.__cause__)
                raise ToolError(f"Error executing tool {self.name}: {problem}") from exc.__cause__
            raise


@contextmanager
def _failures_marked(record: AuditRecord) -> Iterator[None]:
    """What `Auditor.recording` does to a record someone else writes (the HTTP front door's): an
    exception escaping the request is an internal error, whatever the transport. (A cancellation, a
    client gone, is left to the front door.)"""
    try:
        yield
    except Exception:
        if record.outcome == "ok":
            record.fail("internal_error")
        raise


def _compact_text_copy(result: dict[str, Any]) -> None:
    """Send the text copy of a structured result as compact JSON.

    Clients of the handshake era read the text block, newer ones `structuredContent`; the SDK fills
    both and indents the text, which makes the indentation most of the cost of a large result.
    """
    structured = result.get("structuredContent")
    content = result.get("content")
    if structured is None or not isinstance(content, list) or len(content) != 1:
        return
    block = content[0]
    if isinstance(block, dict) and block.get("type") == "text":
        block["text"] = pydantic_core.to_json(structured).decode()
