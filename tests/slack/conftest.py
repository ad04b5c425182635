"""Fixtures for the Slack server: a fake Slack per test, and a factory for servers pointed at it.

Other test suites can reuse them: `from tests.slack.conftest import ...` or import `FakeSlack`
from `tests.slack.fake_slack` directly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.slack.fake_slack import BOT_TOKEN, GENERAL, USER_TOKEN, FakeSlack
from warden_core import WardenServer
from warden_slack.server import build_server
from warden_slack.settings import Settings

ServerFactory = Callable[..., WardenServer]


def slack_settings(fake: FakeSlack, **overrides: Any) -> Settings:
    """Settings for a server talking to `fake`: bot token, #general and #eng-backend readable."""
    values: dict[str, Any] = {
        "bot_token": BOT_TOKEN,
        "api_url": fake.url,
        "channels": f"{GENERAL},eng-backend",
        "audit_sink": "stderr",
        "backend_attempts": 2,
    }
    values.update(overrides)
    if values.get("user_token") is True:
        values["user_token"] = USER_TOKEN
    return Settings.load(**{k: v for k, v in values.items() if v is not None})


@pytest.fixture(scope="session")
def _slack_http() -> Iterator[FakeSlack]:
    # One listener for the session: stopping an HTTP server costs half a second of polling.
    fake = FakeSlack()
    with fake.serving():
        yield fake


@pytest.fixture
def fake_slack(_slack_http: FakeSlack) -> FakeSlack:
    """The fake Slack, reset to the `acme` workspace with default scopes, no faults and an empty log."""
    _slack_http.reset()
    return _slack_http


@pytest.fixture
def make_server(fake_slack: FakeSlack) -> ServerFactory:
    def make(**overrides: Any) -> WardenServer:
        return build_server(slack_settings(fake_slack, **overrides))

    return make
