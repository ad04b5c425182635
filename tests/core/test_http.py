"""Streamable HTTP: the front door's checks, OAuth and API keys, and the operational routes."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.core.example_server import ExampleSettings, build_server
from tests.support.fake_http import FakeAPI
from tests.support.live_http import serve_http
from tests.support.oauth import AUDIENCE, ISSUER, Issuer, local_issuer
from warden_core.auth import Authenticator
from warden_core.http import check_bind
from warden_core.settings import SettingsError
from warden_core.testing import connect_http

pytestmark = pytest.mark.anyio

API_KEY = "example-api-key-0123456789"
PROTOCOL = "2026-07-28"


def rpc(method: str, params: dict[str, Any] | None = None, *, id: int = 1) -> dict[str, Any]:
    meta = {
        "io.modelcontextprotocol/protocolVersion": PROTOCOL,
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    return {"jsonrpc": "2.0", "id": id, "method": method, "params": {**(params or {}), "_meta": meta}}


def post(base: str, message: dict[str, Any], token: str | None = None, **headers: str) -> httpx.Response:
    h = {
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": PROTOCOL,
        "Mcp-Method": message["method"],
    }
    if message["method"] == "tools/call":
        h["Mcp-Name"] = message["params"]["name"]
    if token:
        h["Authorization"] = f"Bearer {token}"
    h.update(headers)
    return httpx.post(f"{base}/mcp", content=json.dumps(message), headers=h, timeout=10)


def result_of(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    if response.headers["content-type"].startswith("text/event-stream"):
        data = [line[5:] for line in response.text.splitlines() if line.startswith("data:")]
        return json.loads(data[-1])["result"]
    return response.json()["result"]


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    with local_issuer() as idp:
        yield idp


@pytest.fixture(scope="module")
def oauth_server(issuer: Issuer) -> Iterator[str]:
    settings = ExampleSettings.load(
        oauth_issuer=ISSUER,
        oauth_jwks_url=issuer.jwks_url,
        public_url=AUDIENCE,
        api_keys=(f"ci:{API_KEY}",),
        token="store-token-for-http",
    )
    with serve_http(build_server(settings)) as base:
        yield base


# --- OAuth 2.1 resource server. ---------------------------------------------------------------------
def test_no_token_gets_401_with_a_complete_challenge(oauth_server: str) -> None:
    response = post(oauth_server, rpc("tools/list"))
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert 'resource_metadata="https://mcp.warden.test/.well-known/oauth-protected-resource/mcp"' in challenge
    # The scopes of the tools this configuration exposes (read-only by default), not of hidden ones.
    assert 'scope="basic:read store:read"' in challenge


def test_protected_resource_metadata_is_served(oauth_server: str) -> None:
    response = httpx.get(f"{oauth_server}/.well-known/oauth-protected-resource/mcp")
    assert response.status_code == 200
    document = response.json()
    assert document["resource"] == AUDIENCE
    assert document["authorization_servers"] == [ISSUER]
    assert "store:read" in document["scopes_supported"]


def test_valid_token_with_scope_lists_and_calls(oauth_server: str, issuer: Issuer) -> None:
    token = issuer.mint(scope="basic:read")
    tools = result_of(post(oauth_server, rpc("tools/list"), token))["tools"]
    assert tools[0]["name"] == "ex_echo"
    called = result_of(post(oauth_server, rpc("tools/call", {"name": "ex_echo", "arguments": {"text": "hi"}}), token))
    assert called["structuredContent"] == {"text": "hi", "length": 2}


def _bad_signature(issuer: Issuer) -> str:
    header, payload, signature = issuer.mint(scope="basic:read").split(".")
    flipped = base64.urlsafe_b64encode(bytes([b ^ 1 for b in base64.urlsafe_b64decode(signature + "==")]))
    return f"{header}.{payload}.{flipped.decode().rstrip('=')}"


def _alg_none(issuer: Issuer) -> str:
    claims = jwt.decode(issuer.mint(scope="basic:read"), options={"verify_signature": False})
    return jwt.encode(claims, key=None, algorithm="none", headers={"kid": issuer.kid})


def _hs256_with_public_key(issuer: Issuer) -> str:
    # Algorithm confusion: sign with HMAC using the public key as the secret.
    claims = jwt.decode(issuer.mint(scope="basic:read"), options={"verify_signature": False})
    segments = [
        base64.urlsafe_b64encode(json.dumps(part).encode()).decode().rstrip("=")
        for part in ({"alg": "HS256", "typ": "JWT", "kid": issuer.kid}, claims)
    ]
    import hmac

    pem = jwt.algorithms.RSAAlgorithm.to_jwk(issuer.key.public_key()).encode()
    mac = hmac.new(pem, ".".join(segments).encode(), hashlib.sha256).digest()
    return ".".join([*segments, base64.urlsafe_b64encode(mac).decode().rstrip("=")])


BAD_TOKENS = {
    "expired": lambda i: i.mint(scope="basic:read", exp=int(time.time()) - 3600, iat=int(time.time()) - 7200),
    "not yet valid": lambda i: i.mint(scope="basic:read", nbf=int(time.time()) + 3600),
    "wrong issuer": lambda i: i.mint(scope="basic:read", iss="https://evil.example"),
    "wrong audience": lambda i: i.mint(scope="basic:read", aud="https://other-server.example/mcp"),
    "no expiry": lambda i: i.mint(scope="basic:read", exp=None),
    "alg none": _alg_none,
    "bad signature": _bad_signature,
    "hs256 confusion": _hs256_with_public_key,
    "unknown kid": lambda i: i.mint(scope="basic:read", headers={"kid": "nope"}),
    "foreign key": lambda i: i.mint(
        scope="basic:read", key=rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ),
    "garbage": lambda i: "not.a.jwt",
}


@pytest.mark.parametrize("case", list(BAD_TOKENS))
def test_bad_tokens_get_401(oauth_server: str, issuer: Issuer, case: str) -> None:
    response = post(oauth_server, rpc("tools/list"), BAD_TOKENS[case](issuer))
    assert response.status_code == 401, case
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_missing_scope_gets_403_insufficient_scope_naming_the_scope(oauth_server: str, issuer: Issuer) -> None:
    token = issuer.mint(scope="basic:read")
    response = post(oauth_server, rpc("tools/call", {"name": "ex_list_items", "arguments": {}}), token)
    assert response.status_code == 403
    challenge = response.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge and 'scope="store:read"' in challenge
    assert "resource_metadata=" in challenge


def test_jku_header_is_never_followed(oauth_server: str, issuer: Issuer) -> None:
    trap = FakeAPI()
    with trap.serving():
        token = issuer.mint(scope="basic:read", headers={"jku": f"{trap.url}/evil-jwks.json", "kid": "evil"})
        assert post(oauth_server, rpc("tools/list"), token).status_code == 401
        assert trap.requests == []


def test_token_in_query_string_is_not_accepted(oauth_server: str, issuer: Issuer) -> None:
    token = issuer.mint(scope="basic:read")
    response = httpx.post(
        f"{oauth_server}/mcp?access_token={token}",
        content=json.dumps(rpc("tools/list")),
        headers={"Content-Type": "application/json", "Accept": "application/json, text/event-stream"},
    )
    assert response.status_code == 401


async def test_real_client_with_token_in_both_eras(oauth_server: str, issuer: Issuer, era: str) -> None:
    async with connect_http(oauth_server, era, token=issuer.mint(scope="basic:read store:read")) as client:
        tools = await client.list_tools()
        result = await client.call_tool("ex_list_items", {"shelf": "main"})
    assert "ex_echo" in [t.name for t in tools.tools]
    assert result.structured_content is not None and result.structured_content["shelf"] == "main"


# --- API keys. ----------------------------------------------------------------------------------------
def test_api_key_authenticates_and_grants_every_exposed_tool(oauth_server: str) -> None:
    response = post(oauth_server, rpc("tools/call", {"name": "ex_list_items", "arguments": {}}), API_KEY)
    assert result_of(response)["isError"] is False


def test_api_keys_may_be_configured_as_digests() -> None:
    digest = hashlib.sha256(b"a-much-longer-api-key-here").hexdigest()
    auth = Authenticator(ExampleSettings.load(api_keys=(f"ops:sha256:{digest}",)))
    with pytest.raises(Exception, match="unknown credential"):
        import anyio

        anyio.run(auth.authenticate, "Bearer wrong-key-000000000000")

    async def check() -> str:
        return (await auth.authenticate("Bearer a-much-longer-api-key-here")).id

    import anyio

    assert anyio.run(check) == "apikey/ops"


@pytest.mark.parametrize("entry", ["nocolon", "x:short", "x:sha256:zz", "x:sha256:abcd"])
def test_malformed_api_keys_stop_the_start(entry: str) -> None:
    with pytest.raises(SettingsError, match="WARDEN_EXAMPLE_API_KEYS"):
        ExampleSettings.load(api_keys=(entry,))


# --- Binding and DNS rebinding. -------------------------------------------------------------------------
def test_non_loopback_bind_without_auth_refuses_to_start() -> None:
    settings = ExampleSettings.load(host="0.0.0.0")
    with pytest.raises(SettingsError, match=r"refusing to bind 0\.0\.0\.0 without authentication"):
        check_bind(settings, Authenticator(settings))


@pytest.fixture(scope="module")
def public_server() -> Iterator[str]:
    settings = ExampleSettings.load(host="0.0.0.0", api_keys=(f"ci:{API_KEY}",))
    with serve_http(build_server(settings), host="0.0.0.0") as base:
        yield base


def test_bound_to_all_interfaces_a_bad_origin_gets_403(public_server: str) -> None:
    response = post(public_server, rpc("tools/list"), API_KEY, Origin="http://evil.example")
    assert response.status_code == 403
    unauthenticated = post(public_server, rpc("tools/list"), Origin="http://evil.example")
    assert unauthenticated.status_code == 403  # checked before authentication


def test_bound_to_all_interfaces_a_bad_host_is_refused(public_server: str) -> None:
    response = post(public_server, rpc("tools/list"), API_KEY, Host="evil.example")
    assert response.status_code == 421


def test_bound_to_all_interfaces_a_good_request_passes(public_server: str) -> None:
    assert result_of(post(public_server, rpc("tools/list"), API_KEY, Origin="http://localhost:1234"))["tools"]


# --- Limits and operational routes. ---------------------------------------------------------------------
def test_oversized_body_gets_413(oauth_server: str) -> None:
    message = rpc("tools/call", {"name": "ex_echo", "arguments": {"text": "x" * 2_000_000}})
    assert post(oauth_server, message, API_KEY).status_code == 413


def test_health_and_readiness_reveal_only_a_status(oauth_server: str) -> None:
    health = httpx.get(f"{oauth_server}/healthz")
    ready = httpx.get(f"{oauth_server}/readyz")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})


def test_metrics_need_a_credential(oauth_server: str) -> None:
    assert httpx.get(f"{oauth_server}/metrics").status_code == 401
    post(oauth_server, rpc("tools/call", {"name": "ex_echo", "arguments": {"text": "m"}}), API_KEY)
    metrics = httpx.get(f"{oauth_server}/metrics", headers={"Authorization": f"Bearer {API_KEY}"})
    assert metrics.status_code == 200
    assert 'warden_requests_total{method="tools/call",outcome="ok",tool="ex_echo"}' in metrics.text
    assert "warden_ready 1.0" in metrics.text


def test_any_other_path_needs_authentication(oauth_server: str) -> None:
    assert httpx.get(f"{oauth_server}/admin").status_code == 401
    assert httpx.get(f"{oauth_server}/admin", headers={"Authorization": f"Bearer {API_KEY}"}).status_code == 404


def test_readiness_follows_the_backend_breaker() -> None:
    settings = ExampleSettings.load(token="t0ken-for-ready", broken=True, breaker_threshold=2, backend_attempts=1)
    server = build_server(settings)
    with serve_http(server) as base:
        for _ in range(2):
            message = rpc("tools/call", {"name": "ex_list_items", "arguments": {}})
            assert "unavailable" in json.dumps(result_of(post(base, message)))
        ready = httpx.get(f"{base}/readyz")
        assert (ready.status_code, ready.json()) == (503, {"status": "not ready"})


# --- Sessions (handshake era). -------------------------------------------------------------------------
def _legacy_initialize(base: str, token: str) -> str:
    response = httpx.post(
        f"{base}/mcp",
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"},
            },
        },
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json",
        },
    )
    assert response.status_code == 200, response.text
    return response.headers["mcp-session-id"]


def _legacy_list(base: str, token: str | None, session: str) -> httpx.Response:
    headers = {
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "Mcp-Session-Id": session,
        "MCP-Protocol-Version": "2025-11-25",
    }
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.post(f"{base}/mcp", json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, headers=headers)


def test_a_session_id_is_not_identity(oauth_server: str, issuer: Issuer) -> None:
    alice = issuer.mint(scope="basic:read", sub="alice")
    bob = issuer.mint(scope="basic:read", sub="bob")
    session = _legacy_initialize(oauth_server, alice)
    assert len(session) >= 32  # cryptographically random, visible ASCII
    assert _legacy_list(oauth_server, alice, session).status_code == 200
    hijack = _legacy_list(oauth_server, bob, session)
    assert hijack.status_code in {403, 404}, hijack.text
    assert _legacy_list(oauth_server, None, session).status_code == 401


def test_a_flood_of_readiness_probes_reaches_the_backend_about_once_a_second() -> None:
    """/readyz is open to anyone: its probe must not turn anonymous requests into backend calls."""
    import concurrent.futures

    settings = ExampleSettings.load(token="t0ken-for-ready")
    server = build_server(settings)
    store = server.runtime
    with serve_http(server) as base:
        before = store.calls
        with concurrent.futures.ThreadPoolExecutor(10) as pool:
            statuses = list(pool.map(lambda _: httpx.get(f"{base}/readyz").status_code, range(50)))
        assert statuses == [200] * 50
        assert store.calls - before <= 3  # one probe per second at most (the burst may straddle a second)
