"""End users behind gateways: only a trusted gateway may name one, and then it is audited and limited as itself."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.core.example_server import ExampleSettings, build_server
from tests.core.test_audit import read_events
from tests.core.test_http import post, result_of, rpc
from tests.support.live_http import serve_http
from tests.support.oauth import AUDIENCE, ISSUER, local_issuer
from warden_core.auth import Authenticator, parse_api_key
from warden_core.identity import IdentityMap
from warden_core.settings import SettingsError

GATEWAY_KEY = "contextforge-key-0123456789"
OTHER_KEY = "plain-client-key-0123456789"
KEYS = (f"contextforge:{GATEWAY_KEY}", f"ci[deploy+readers]:{OTHER_KEY}")
CLAIMS_SECRET = "contextforge-claims-secret-for-tests"


def contextforge_headers(user: str, email: str, groups: list[str], secret: str | None = None) -> dict[str, str]:
    """What ContextForge's build_identity_headers sends with identity propagation on (its defaults:
    prefix X-Forwarded-User, teams and roles joined by commas, Admin as true/false, the claims
    signature an HMAC-SHA256 of `<id>:<email>` when IDENTITY_SIGN_CLAIMS is set)."""
    headers = {
        "X-Forwarded-User-Id": user,
        "X-Forwarded-User-Email": email,
        "X-Forwarded-User-Full-Name": "Alice Example",
        "X-Forwarded-User-Groups": ",".join(groups),
        "X-Forwarded-User-Teams": "team-a,team-b",
        "X-Forwarded-User-Roles": "developer",
        "X-Forwarded-User-Admin": "false",
        "X-Forwarded-User-Auth-Method": "bearer",
    }
    if secret is not None:
        signature = hmac.new(secret.encode(), f"{user}:{email}".encode(), hashlib.sha256).hexdigest()
        headers["X-Forwarded-User-Claims-Signature"] = signature
    return headers


def echo(text: str = "hi") -> dict[str, Any]:
    return rpc("tools/call", {"name": "ex_echo", "arguments": {"text": text}})


@pytest.fixture
def audit(tmp_path: Path) -> Path:
    return tmp_path / "audit.jsonl"


@pytest.fixture
def gateway_server(audit: Path) -> Iterator[str]:
    # A rate limit of 2/minute (not the default) so that a few calls show whose budget each one spends.
    settings = ExampleSettings.load(
        api_keys=KEYS, trusted_gateways=("contextforge",), rate_limit="2/minute", audit_sink=str(audit)
    )
    with serve_http(build_server(settings)) as base:
        yield base


def test_a_trusted_gateway_names_the_end_user_who_is_audited_and_limited_as_themself(
    gateway_server: str, audit: Path
) -> None:
    alice = contextforge_headers("alice@example.com", "alice@example.com", ["analysts"])
    bob = contextforge_headers("bob@example.com", "bob@example.com", ["oncall"])
    for _ in range(2):
        assert not result_of(post(gateway_server, echo(), GATEWAY_KEY, **alice)).get("isError")
    third = result_of(post(gateway_server, echo(), GATEWAY_KEY, **alice))
    assert third["isError"] and "rate limit" in third["content"][0]["text"]
    # What broke behind ContextForge before: a second user's first call is theirs, not the gateway's.
    assert not result_of(post(gateway_server, echo(), GATEWAY_KEY, **bob)).get("isError")

    events = read_events(audit, 4)
    assert [(e["principal"], e.get("end_user"), e["outcome"]) for e in events] == [
        ("apikey/contextforge", "alice@example.com", "ok"),
        ("apikey/contextforge", "alice@example.com", "ok"),
        ("apikey/contextforge", "alice@example.com", "rate_limited"),
        ("apikey/contextforge", "bob@example.com", "ok"),
    ]
    assert all(e["end_user_via"] == "headers" and "identity_ignored" not in e for e in events)


def test_end_user_headers_from_any_other_caller_are_ignored_and_the_audit_says_so(
    gateway_server: str, audit: Path
) -> None:
    forged = contextforge_headers("root@example.com", "root@example.com", ["admins"])
    assert not result_of(post(gateway_server, echo(), OTHER_KEY, **forged)).get("isError")
    assert not result_of(post(gateway_server, echo(), OTHER_KEY, **forged)).get("isError")
    # The budget spent is the caller's own: a forged name does not buy a fresh one.
    assert result_of(post(gateway_server, echo(), OTHER_KEY, X_Forwarded_User_Id="someone-else"))["isError"]
    events = read_events(audit, 3)
    assert all(e["principal"] == "apikey/ci" and "end_user" not in e for e in events)
    assert events[0]["identity_ignored"] == "end-user headers from apikey/ci ignored: it is not a trusted gateway"


def test_meta_user_names_the_end_user_for_a_trusted_gateway_only(gateway_server: str, audit: Path) -> None:
    message = echo()
    message["params"]["_meta"]["user"] = {"id": "carol@example.com", "email": "carol@example.com", "groups": ["x"]}
    assert not result_of(post(gateway_server, message, GATEWAY_KEY)).get("isError")
    assert not result_of(post(gateway_server, message, OTHER_KEY)).get("isError")
    first, second = read_events(audit, 2)
    assert (first["principal"], first["end_user"], first["end_user_via"]) == (
        "apikey/contextforge",
        "carol@example.com",
        "meta",
    )
    assert "end_user" not in second
    assert second["identity_ignored"] == "_meta.user from apikey/ci ignored: it is not a trusted gateway"


def test_with_a_claims_secret_the_contextforge_signature_must_verify(audit: Path) -> None:
    # GATEWAY_CLAIMS_SECRET is the setting under test: ContextForge's IDENTITY_CLAIMS_SECRET, shared.
    settings = ExampleSettings.load(
        api_keys=KEYS, trusted_gateways=("contextforge",), gateway_claims_secret=CLAIMS_SECRET, audit_sink=str(audit)
    )
    with serve_http(build_server(settings)) as base:
        signed = contextforge_headers("alice@example.com", "alice@example.com", ["analysts"], CLAIMS_SECRET)
        assert not result_of(post(base, echo(), GATEWAY_KEY, **signed)).get("isError")
        forged = {**signed, "X-Forwarded-User-Id": "mallory@example.com"}
        assert post(base, echo(), GATEWAY_KEY, **forged).status_code == 401
        unsigned = contextforge_headers("alice@example.com", "alice@example.com", ["analysts"])
        assert post(base, echo(), GATEWAY_KEY, **unsigned).status_code == 401
    events = read_events(audit, 3)
    assert events[0]["end_user"] == "alice@example.com"
    assert [e["outcome"] for e in events[1:]] == ["unauthenticated", "unauthenticated"]


def test_a_signed_assertion_names_the_end_user_and_plain_headers_no_longer_do(audit: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    # The assertion settings are what this test is about.
    settings = ExampleSettings.load(
        api_keys=KEYS,
        trusted_gateways=("contextforge",),
        identity_assertion_key=public,
        identity_assertion_issuer="https://gateway.example",
        identity_assertion_audience="warden-example",
        audit_sink=str(audit),
    )

    def assertion(signer: Any, **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": "https://gateway.example", "aud": "warden-example", "sub": "dave@example.com", "exp": now + 60}
        body.update(email="dave@example.com", groups=["oncall", "sre"], **claims)
        return jwt.encode(body, signer, algorithm="RS256")

    header = "X-Forwarded-User-Assertion"
    with serve_http(build_server(settings)) as base:
        assert not result_of(post(base, echo(), GATEWAY_KEY, **{header: assertion(key)})).get("isError")
        assert post(base, echo(), GATEWAY_KEY, **{header: assertion(other)}).status_code == 401
        assert post(base, echo(), GATEWAY_KEY, **{header: assertion(key, aud="elsewhere")}).status_code == 401
        headers = contextforge_headers("dave@example.com", "dave@example.com", ["admins"])
        assert post(base, echo(), GATEWAY_KEY, **headers).status_code == 401
        # From an untrusted caller an assertion is ignored, valid or not.
        assert not result_of(post(base, echo(), OTHER_KEY, **{header: assertion(key)})).get("isError")
    events = read_events(audit, 5)
    assert (events[0]["end_user"], events[0]["end_user_via"]) == ("dave@example.com", "assertion")
    assert [e["outcome"] for e in events[1:4]] == ["unauthenticated"] * 3
    assert "end_user" not in events[4] and events[4]["identity_ignored"].startswith("end-user headers from apikey/ci")


# --- Groups. -------------------------------------------------------------------------------------------------
def test_api_key_entries_may_declare_groups_and_old_entries_still_parse() -> None:
    assert parse_api_key(f"ci[deploy+readers]:{OTHER_KEY}").groups == frozenset({"deploy", "readers"})
    old = parse_api_key(f"ci:{OTHER_KEY}")
    assert (old.name, old.groups) == ("ci", frozenset())
    assert parse_api_key("ci[x]:sha256:" + "ab" * 32).name == "ci"
    with pytest.raises(SettingsError):
        ExampleSettings.load(api_keys=(f"ci[x:{OTHER_KEY}",))


@pytest.mark.anyio
async def test_oauth_groups_come_from_the_configured_claim() -> None:
    with local_issuer() as issuer:
        settings = ExampleSettings.load(
            oauth_issuer=ISSUER, oauth_jwks_url=issuer.jwks_url, public_url=AUDIENCE, oauth_groups_claim="realm.roles"
        )
        principal = await Authenticator(settings).authenticate(
            "Bearer " + issuer.mint(realm={"roles": ["analysts", "oncall"]}, groups=["ignored"])
        )
        assert principal.groups == frozenset({"analysts", "oncall"})
        default = Authenticator(
            ExampleSettings.load(oauth_issuer=ISSUER, oauth_jwks_url=issuer.jwks_url, public_url=AUDIENCE)
        )
        assert (await default.authenticate("Bearer " + issuer.mint(groups="a b"))).groups == {"a", "b"}


def test_identity_maps_take_the_first_matching_rule() -> None:
    from warden_core.auth import ALL_SCOPES, Principal
    from warden_core.identity import EndUser

    rules = IdentityMap.parse(["principal:apikey/ci=ci_role", "group:analyst*=analyst_role", "*=fallback"])
    key = Principal(id="apikey/ci", kind="api_key", scopes=ALL_SCOPES, client_id="ci", groups=frozenset({"analysts"}))
    gateway = Principal(id="apikey/cf", kind="api_key", scopes=ALL_SCOPES, client_id="cf", groups=frozenset({"x"}))
    alice = gateway.__class__(**{**gateway.__dict__, "end_user": EndUser("alice", groups=frozenset({"analysts"}))})
    assert rules.lookup(key) == "ci_role"
    assert rules.lookup(alice) == "analyst_role"  # the end user's groups, not the gateway's
    assert rules.lookup(gateway) == "fallback"
    assert IdentityMap.parse([]).lookup(key) is None
    for bad in ("analysts=role", "group:=x", "principal:ci"):
        with pytest.raises(ValueError, match="must be"):
            IdentityMap.parse([bad])
