"""GitHub App mode: per-call installation tokens scoped to the call's repository and access, refreshed in time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.github.conftest import writable
from tests.github.fake_github import FakeGitHub
from tests.support.fake_http import Request, Response
from warden_core import WardenServer
from warden_core.testing import acting_as, connect
from warden_core.testing.identity import end_user

pytestmark = pytest.mark.anyio

APP_ID = 4242
INSTALLATION = 77
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PEM = KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


class Minted:
    """The fake's token endpoint: checks the App's JWT, records each request, hands out the fake's token."""

    def __init__(self, fake: FakeGitHub, lifetime: timedelta) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.lifetime = lifetime
        fake.api.route("POST", rf"^/app/installations/{INSTALLATION}/access_tokens$")(self.handle)
        self.fake = fake

    def handle(self, request: Request, match: Any) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        claims = jwt.decode(token, KEY.public_key(), algorithms=["RS256"])
        assert scheme == "Bearer" and claims["iss"] == str(APP_ID)
        self.bodies.append(request.json())
        expires = (datetime.now(UTC) + self.lifetime).strftime("%Y-%m-%dT%H:%M:%SZ")
        return self.fake.ok({"token": self.fake.token, "expires_at": expires}, status=201)


def app_settings(**overrides: Any) -> dict[str, Any]:
    # The App settings are what these tests are about; the fake's token stays unset.
    return {
        "token": None,
        "app_id": APP_ID,
        "app_private_key": PEM.decode(),
        "app_installation_id": INSTALLATION,
        **overrides,
    }


async def call(server: WardenServer, tool: str, arguments: dict[str, Any], principal: Any = None) -> Any:
    with acting_as(principal or end_user("alice@example.com", ["dev"])):
        async with connect(server) as client:
            return await client.call_tool(tool, arguments)


async def test_each_call_gets_a_token_scoped_to_its_repository_and_access(
    fake_github: FakeGitHub, make_server: Callable[..., WardenServer]
) -> None:
    minted = Minted(fake_github, timedelta(hours=1))
    server = make_server(**app_settings(**writable(confirm_writes="none")))
    assert not (await call(server, "gh_get_file", {"repo": "acme/api", "path": "README.md"})).is_error
    assert not (await call(server, "gh_list_issues", {"repo": "acme/web"})).is_error
    created = await call(server, "gh_create_issue", {"repo": "acme/api", "title": "t", "body": "b"})
    assert not created.is_error, created.content[0].text
    assert minted.bodies == [
        {"repositories": ["api"], "permissions": {"metadata": "read", "contents": "read"}},
        {"repositories": ["web"], "permissions": {"metadata": "read", "issues": "read"}},
        {"repositories": ["api"], "permissions": {"metadata": "read", "issues": "write"}},
    ]
    assert not (await call(server, "gh_get_file", {"repo": "acme/api", "path": "README.md"})).is_error
    assert len(minted.bodies) == 3  # a fresh token for the same scope is reused
    api_calls = [r for r in fake_github.requests if not r.path.startswith("/app/")]
    assert api_calls and all(r.headers["authorization"] == f"token {fake_github.token}" for r in api_calls)


async def test_a_token_is_replaced_before_it_expires(
    fake_github: FakeGitHub, make_server: Callable[..., WardenServer]
) -> None:
    minted = Minted(fake_github, timedelta(minutes=4))  # inside the 5-minute refresh margin
    server = make_server(**app_settings())
    for _ in range(2):
        assert not (await call(server, "gh_get_file", {"repo": "acme/api", "path": "README.md"})).is_error
    assert len(minted.bodies) == 2
    minted.lifetime = timedelta(hours=1)
    for _ in range(2):
        assert not (await call(server, "gh_get_file", {"repo": "acme/api", "path": "README.md"})).is_error
    assert len(minted.bodies) == 3


async def test_a_repository_outside_the_principals_policy_is_refused_before_any_request(
    fake_github: FakeGitHub, make_server: Callable[..., WardenServer], tmp_path: Path
) -> None:
    Minted(fake_github, timedelta(hours=1))
    policy = tmp_path / "github.cedar"
    policy.write_text(
        'permit(principal, action in Warden::Action::"access:read", resource);\n'
        '@id("dev-not-private-tools")\n'
        'forbid(principal in Warden::Group::"dev", action, resource == Warden::Repo::"acme/private-tools");\n'
    )
    server = make_server(**app_settings(policy_file=str(policy)))
    fake_github.reset()
    refused = await call(server, "gh_list_issues", {"repo": "acme/private-tools"})
    assert refused.is_error and "dev-not-private-tools" in refused.content[0].text
    assert fake_github.requests == []  # neither a token nor the repository was asked for
    allowed = await call(server, "gh_list_issues", {"repo": "acme/private-tools"}, end_user("ops@example.com", ["ops"]))
    assert not allowed.is_error


def test_app_settings_come_together_and_exclude_a_token() -> None:
    from warden_core.settings import SettingsError
    from warden_github.settings import Settings

    with pytest.raises(SettingsError, match="a GitHub App needs all of"):
        Settings.load(app_id=APP_ID)
    with pytest.raises(SettingsError, match="not both"):
        Settings.load(token="ghp_x", **{k: v for k, v in app_settings().items() if k != "token"})
