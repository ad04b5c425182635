"""Streamable HTTP: the front door, the operational routes, and the uvicorn server.

The front door sits before the SDK's MCP endpoint and, for every request, in this order:
1. checks Host and Origin (DNS-rebinding protection, whatever address is bound);
2. authenticates the caller (API key or OAuth token) and answers 401 with a challenge;
3. reads the body, whatever the method, within a size and time budget (413, 408);
4. answers 403 `insufficient_scope` when a `tools/call` needs a scope the token lacks;
5. opens the request's audit record, which the MCP gate fills in and the door writes.

`/healthz` and `/readyz` are open and reveal only a status. `/metrics` needs a credential unless
`metrics_public` is set. Everything else answers 401 to an anonymous caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any, cast

import anyio
import uvicorn
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.routes import build_resource_metadata_url, create_protected_resource_routes
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from pydantic import AnyHttpUrl
from starlette.applications import Starlette
from starlette.authentication import AuthCredentials
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from warden_core import identity, tracing
from warden_core.audit import AuditRecord
from warden_core.auth import ANONYMOUS_LOOPBACK, Authenticator, AuthError, Principal
from warden_core.server import PRINCIPAL_KEY, WardenServer, drain_plan
from warden_core.settings import CoreSettings, SettingsError

logger = logging.getLogger(__name__)

MCP_PATH = "/mcp"


def transport_security(settings: CoreSettings) -> TransportSecuritySettings:
    """Host/Origin allowlists for the bound address, always armed (the SDK arms them only on loopback)."""
    port = settings.bind_port
    hosts = {"127.0.0.1:*", "localhost:*", "[::1]:*", f"127.0.0.1:{port}", f"localhost:{port}"}
    origins = {"http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"}
    if settings.public_url:
        url = AnyHttpUrl(settings.public_url)
        default_port = 443 if url.scheme == "https" else 80
        hosts.add(f"{url.host}:{url.port}" if url.port not in (None, default_port) else f"{url.host}")
        hosts.add(f"{url.host}:*")
        origins.add(f"{url.scheme}://{url.host}" + (f":{url.port}" if url.port not in (None, default_port) else ""))
    hosts.update(settings.allowed_hosts)
    origins.update(settings.allowed_origins)
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=sorted(hosts), allowed_origins=sorted(origins)
    )


def check_bind(settings: CoreSettings, authenticator: Authenticator) -> None:
    """A server reachable from other machines must authenticate its callers."""
    if not settings.binds_loopback and not authenticator.enabled:
        env = type(settings).env_name
        raise SettingsError(
            f"refusing to bind {settings.host} without authentication: set {env('api_keys')} or {env('oauth_issuer')}"
        )


class FrontDoor:
    """ASGI middleware in front of the MCP endpoint (see the module docstring for the order of checks)."""

    def __init__(self, app: ASGIApp, server: WardenServer, authenticator: Authenticator) -> None:
        self.app = app
        self.server = server
        self.auth = authenticator
        self.settings = server.settings
        self.origin_check = TransportSecurityMiddleware(transport_security(self.settings))
        self.resource_metadata = (
            str(build_resource_metadata_url(AnyHttpUrl(self.settings.public_url)))
            if authenticator.oauth and self.settings.public_url
            else None
        )
        self.challenge_scope = " ".join(server.policy.scopes_supported(server.specs))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with tracing.incoming(scope["headers"]):
            await self._handle(scope, receive, send)

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope)
        record = self.server.auditor.open(request_id=uuid.uuid4().hex, transport="http")
        record.method = f"{scope['method']} {scope['path']}"
        tracing.stamp(record)  # the caller's trace, if its headers name one
        rejected = await self.origin_check.validate_request(request, is_post=False)
        if rejected is not None:
            record.deny("bad_origin" if rejected.status_code == 403 else "bad_host", "DNS-rebinding protection")
            await self._reject(rejected, scope, receive, send, record)
            return
        try:
            principal = await self._authenticate(request)
            # Only a trusted gateway may name the end user it calls for; anyone else's claim is ignored.
            principal, ignored = await self.server.gateways.from_headers(principal, request.headers)
        except AuthError as exc:
            record.deny("unauthenticated", str(exc))
            await self._reject(self._challenge(401, "invalid_token", None), scope, receive, send, record)
            return

        identity.note(record, principal, ignored)
        scope[PRINCIPAL_KEY] = principal
        # The SDK binds handshake-era sessions to this user, so a session id alone is not identity.
        scope["user"] = AuthenticatedUser(
            AccessToken(
                token=principal.id,
                client_id=principal.client_id or principal.id,
                scopes=sorted(principal.scopes),
                subject=principal.subject,
                claims={"iss": principal.issuer} if principal.issuer else None,
            )
        )
        scope["auth"] = AuthCredentials(sorted(principal.scopes))

        # Every method's body is read within the budget, not only POST's: a GET or DELETE that
        # declares a body and never sends it would otherwise hold its connection for good.
        body = await self._read_body(receive, record)
        if isinstance(body, Response):
            await self._reject(body, scope, receive, send, record)
            return
        if scope["method"] == "POST":
            message = self._parse(body, record)
            if message is not None and not self._is_request(message):
                await self.app(scope, _replay(body, receive), send)  # notification or response: not audited
                return
            denied = self._scope_denial(message, principal, record)
            if denied is not None:
                await self._reject(denied, scope, receive, send, record)
                return
        receive = _replay(body, receive)

        with self.server.auditor.recording(record):
            await self.app(scope, receive, _watch_status(send, record))

    # --- Steps. ---------------------------------------------------------------------------------------
    async def _authenticate(self, request: Request) -> Principal:
        if not self.auth.enabled:
            return ANONYMOUS_LOOPBACK  # only reachable on loopback: check_bind refuses anything else
        return await self.auth.authenticate(request.headers.get("authorization"))

    async def _read_body(self, receive: Receive, record: AuditRecord) -> bytes | Response:
        limit = self.settings.max_body_bytes
        chunks: list[bytes] = []
        size = 0
        with anyio.move_on_after(self.settings.body_timeout):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    record.fail("client_disconnected")
                    return Response(status_code=400)
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    record.deny("body_too_large", f"body exceeds {limit} bytes")
                    return Response("request body too large", status_code=413)
                chunks.append(chunk)
                if not message.get("more_body", False):
                    return b"".join(chunks)
        record.deny("body_timeout", f"body not received within {self.settings.body_timeout:g} s")
        return Response("request body not received in time", status_code=408)

    def _parse(self, body: bytes, record: AuditRecord) -> dict[str, Any] | None:
        try:
            message = json.loads(body)
        except (ValueError, RecursionError):
            record.fail("malformed", "body is not JSON")
            return None
        if not isinstance(message, dict):
            record.fail("malformed", "body is not a JSON-RPC object")
            return None
        method = message.get("method")
        if isinstance(method, str):
            record.method = method
        else:
            record.fail("malformed", "no method")
        return message

    @staticmethod
    def _is_request(message: dict[str, Any]) -> bool:
        return "method" in message and "id" in message

    def _scope_denial(
        self, message: dict[str, Any] | None, principal: Principal, record: AuditRecord
    ) -> Response | None:
        if message is None or message.get("method") != "tools/call":
            return None
        params = message.get("params")
        name = params.get("name") if isinstance(params, dict) else None
        spec = self.server.exposed_spec(name) if isinstance(name, str) else None
        if spec is None or self.server.policy.scope_satisfied(principal.scopes, spec):
            return None  # unknown tools are answered by MCP itself, identically on every transport
        needed = self.server.policy.scope_for(spec)
        record.tool = spec.name
        record.deny("insufficient_scope", f"needs {needed}")
        return self._challenge(403, "insufficient_scope", needed)

    def _challenge(self, status: int, error: str, scope: str | None) -> Response:
        parts = []
        if status == 403 or self.auth.oauth:
            parts.append(f'error="{error}"')
        if self.resource_metadata:
            parts.append(f'resource_metadata="{self.resource_metadata}"')
        challenge_scope = scope or self.challenge_scope
        if challenge_scope and self.auth.oauth:
            parts.append(f'scope="{challenge_scope}"')
        header = "Bearer" + (" " + ", ".join(parts) if parts else ' realm="warden"')
        return JSONResponse({"error": error}, status_code=status, headers={"WWW-Authenticate": header})

    async def _reject(
        self, response: Response, scope: Scope, receive: Receive, send: Send, record: AuditRecord
    ) -> None:
        self.server.metrics.http_rejections.labels(str(response.status_code)).inc()
        if record.outcome == "ok":
            record.deny(f"http_{response.status_code}", "refused at the front door")
        self.server.auditor.write(record)
        response.headers.append("x-request-id", record.request_id)
        await response(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """Give the body back to the app once, then pass through (for disconnect notices)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _watch_status(send: Send, record: AuditRecord) -> Send:
    """Stamp the audit id on the response (a correlation id for the caller) and note error statuses."""

    async def watched(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), _request_id_header(record)]}
            if message["status"] >= 400 and record.outcome == "ok":
                record.fail(f"http_{message['status']}")
        await send(message)

    return watched


def _request_id_header(record: AuditRecord) -> tuple[bytes, bytes]:
    return (b"x-request-id", record.request_id.encode())


# --- The application. ---------------------------------------------------------------------------------
def create_app(server: WardenServer) -> ASGIApp:
    settings = server.settings
    authenticator = Authenticator(settings)
    check_bind(settings, authenticator)
    server.transport = "http"

    mcp_app = server.mcp.streamable_http_app(
        streamable_http_path=MCP_PATH,
        stateless_http=settings.stateless_http,
        # The front door enforces the body limit first; this is the SDK's own second line.
        max_request_body_size=settings.max_body_bytes,
        transport_security=transport_security(settings),
        host=settings.host,
    )
    door = FrontDoor(_McpPath(StreamableHTTPASGIApp(server.mcp.session_manager), mcp_app), server, authenticator)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        ready = await server.ready()
        return JSONResponse({"status": "ready" if ready else "not ready"}, status_code=200 if ready else 503)

    async def metrics(request: Request) -> Response:
        if not settings.metrics_public and authenticator.enabled:
            try:
                await authenticator.authenticate(request.headers.get("authorization"))
            except AuthError:
                return door._challenge(401, "invalid_token", None)
        await server.ready()  # refresh the readiness gauges for this scrape
        return Response(server.metrics.render(), media_type="text/plain; version=0.0.4")

    routes: list[Route | Mount] = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    if authenticator.oauth and settings.public_url and settings.oauth_issuer:
        # Strings, not URL objects: the metadata model keeps them exactly as configured (no added slash),
        # and clients compare the issuer byte for byte (RFC 9207).
        routes.extend(
            create_protected_resource_routes(
                resource_url=cast(AnyHttpUrl, settings.public_url),
                authorization_servers=[cast(AnyHttpUrl, settings.oauth_issuer)],
                scopes_supported=server.policy.scopes_supported(server.specs),
                resource_name=server.name,
            )
        )
    routes.append(Mount("/", app=door))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with server.mcp.session_manager.run():
            try:
                yield
            finally:
                await server.aclose()

    return _McpPath(door, Starlette(routes=routes, lifespan=lifespan))


class _McpPath:
    """MCP requests (HTTP on the MCP path) to one application, everything else to another.

    Used twice: outside, MCP requests go straight to the front door and the rest (operational routes, the
    lifespan, other paths, which also reach the front door) to the Starlette application; inside the front
    door, MCP requests go straight to the SDK's endpoint, since the SDK's one-route Starlette application
    only adds work on that path (the front door and the outer application already catch errors).
    """

    def __init__(self, mcp: ASGIApp, other: ASGIApp) -> None:
        self.mcp = mcp
        self.other = other

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == MCP_PATH:
            await self.mcp(scope, receive, send)
        else:
            await self.other(scope, receive, send)


# --- Serving. -----------------------------------------------------------------------------------------
def _protocol_with_header_deadline(header_timeout: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol, plus a deadline for receiving request headers.

    uvicorn bounds idle keep-alive connections but not a client that trickles its headers a byte at
    a time (slowloris). The deadline starts when a connection opens or a response completes, and
    ends when the request line and headers have arrived.
    """

    class HeaderDeadlineProtocol(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None

        def _arm(self) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(header_timeout, self._expire)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expire(self) -> None:
            waiting_for_headers = self.cycle is None or self.cycle.response_complete
            if waiting_for_headers and not self.transport.is_closing():
                self.transport.close()

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def handle_events(self) -> None:
            cycle = self.cycle
            super().handle_events()
            if self.cycle is not cycle:
                self._disarm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return HeaderDeadlineProtocol


class _DrainingServer(uvicorn.Server):
    """Refuses new calls as soon as a shutdown signal arrives, then lets uvicorn drain connections.

    Calls still running near the drain deadline are stopped with a clean error, so every caller
    gets a JSON-RPC answer rather than uvicorn's hard cancel (a bare 500) at the deadline itself.
    """

    def __init__(self, config: uvicorn.Config, server: WardenServer) -> None:
        super().__init__(config)
        self.warden = server

    def handle_exit(self, sig: int, frame: Any) -> None:
        self.warden.draining = True
        super().handle_exit(sig, frame)
        # uvicorn re-raises the signal once it has shut down; a drained stop is a clean exit (status 0).
        self._captured_signals.remove(sig)

    async def shutdown(self, sockets: list[Any] | None = None) -> None:
        stop_at, _ = drain_plan(self.warden.settings.drain_seconds)

        async def stop_stragglers() -> None:
            await asyncio.sleep(stop_at)
            stopped = self.warden.abort_calls()
            if stopped:
                logger.warning("%s: stopped %d calls still running at the drain deadline", self.warden.name, stopped)

        stragglers = asyncio.ensure_future(stop_stragglers())
        try:
            await super().shutdown(sockets)
        finally:
            stragglers.cancel()


def uvicorn_config(server: WardenServer) -> uvicorn.Config:
    settings = server.settings
    return uvicorn.Config(
        create_app(server),
        host=settings.host,
        port=settings.bind_port,
        http=_protocol_with_header_deadline(settings.header_timeout),
        timeout_keep_alive=5,
        # uvicorn cancels whatever still runs at this point; None (which 0 used to become) waits forever.
        timeout_graceful_shutdown=drain_plan(settings.drain_seconds)[1],  # type: ignore[arg-type]  # float works
        limit_concurrency=settings.max_connections,
        h11_max_incomplete_event_size=16 * 1024,
        log_config=None,
        server_header=False,
        proxy_headers=False,
        lifespan="on",
    )


async def serve_http(server: WardenServer) -> None:
    config = uvicorn_config(server)
    logger.info("%s serving streamable HTTP on http://%s:%s%s", server.name, config.host, config.port, MCP_PATH)
    await _DrainingServer(config, server).serve()
