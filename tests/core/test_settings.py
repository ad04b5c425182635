"""Settings: read once, typed, frozen; bad values stop the start with one line naming the setting."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tests.core.example_server import ExampleSettings
from warden_core.redaction import redact
from warden_core.settings import SettingsError


def test_comma_separated_lists_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARDEN_EXAMPLE_SHELVES", "main, books ,,b*")
    assert ExampleSettings.load().shelves == ("main", "books", "b*")


def test_bad_value_is_one_line_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARDEN_EXAMPLE_PORT", "not-a-port")
    with pytest.raises(SettingsError) as caught:
        ExampleSettings.load()
    message = str(caught.value)
    assert message.startswith("invalid setting WARDEN_EXAMPLE_PORT:")
    assert "\n" not in message and "not-a-port" not in message


def test_settings_are_frozen() -> None:
    settings = ExampleSettings.load()
    with pytest.raises(ValidationError):
        settings.read_only = False  # type: ignore[misc]


def test_secret_settings_are_masked_everywhere_once_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARDEN_EXAMPLE_TOKEN", "canary-Token-4f1d2c")
    settings = ExampleSettings.load()
    assert "canary-Token-4f1d2c" not in repr(settings)
    masked = redact("backend said: canary-Token-4f1d2c is invalid")
    assert masked == "backend said: [masked: server-credential] is invalid"


def test_oauth_needs_jwks_and_a_resource() -> None:
    with pytest.raises(
        SettingsError, match="WARDEN_EXAMPLE_OAUTH_JWKS_URL is required with WARDEN_EXAMPLE_OAUTH_ISSUER"
    ):
        ExampleSettings.load(oauth_issuer="https://idp.example")
    with pytest.raises(SettingsError, match="WARDEN_EXAMPLE_PUBLIC_URL"):
        ExampleSettings.load(oauth_issuer="https://idp.example", oauth_jwks_url="https://idp.example/jwks")


def test_urls_are_kept_exactly_as_written() -> None:
    settings = ExampleSettings.load(
        oauth_issuer="https://idp.example",
        oauth_jwks_url="https://idp.example/jwks",
        public_url="https://mcp.example/mcp",
    )
    assert settings.oauth_issuer == "https://idp.example"  # no trailing slash added: iss compares exactly


def test_request_state_keys_must_be_long() -> None:
    with pytest.raises(SettingsError, match="WARDEN_EXAMPLE_REQUEST_STATE_KEYS: each key must be at least 32 bytes"):
        ExampleSettings.load(request_state_keys=("short",))


@pytest.mark.parametrize("algorithms", [("HS256",), ("RS256", "none")])
def test_symmetric_jwt_algorithms_are_refused(algorithms: tuple[str, ...]) -> None:
    with pytest.raises(SettingsError, match="WARDEN_EXAMPLE_OAUTH_ALGORITHMS: only asymmetric"):
        ExampleSettings.load(oauth_algorithms=algorithms)


def test_an_empty_variable_keeps_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARDEN_EXAMPLE_SHELVES", "")
    monkeypatch.setenv("WARDEN_EXAMPLE_TOKEN", "")
    settings = ExampleSettings.load()
    assert settings.shelves == ("main",)
    assert settings.token is None
