"""Per-principal channel rules: the policy file decides reads of channels the allowlist admits.

Reads name a channel by id or by name, and the server resolves it (gate.py); the policy file then
decides on the resolved id, exactly as it does for the write tools' `channel` argument.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.slack.conftest import slack_settings
from tests.slack.fake_slack import ENG, GENERAL, FakeSlack
from tests.slack.helpers import call, call_error
from warden_core.testing import acting_as
from warden_core.testing.identity import end_user
from warden_slack.server import build_server

pytestmark = pytest.mark.anyio

ANALYST = end_user("ana@example.com", ["analysts"])
ONCALL = end_user("oli@example.com", ["oncall"])

POLICY = (
    'permit(principal, action in Warden::Action::"access:read", resource);\n'
    '@id("analysts-not-general")\n'
    f'forbid(principal in Warden::Group::"analysts", action, resource == Warden::Channel::"{GENERAL}");\n'
)


def reads_of(fake: FakeSlack, channel: str) -> list[str]:
    return [c.method for c in fake.calls("conversations.history") if c.params.get("channel") == channel]


async def test_a_channel_the_policy_refuses_is_not_read_for_that_caller(fake_slack: FakeSlack, tmp_path: Path) -> None:
    policy = tmp_path / "slack.cedar"
    policy.write_text(POLICY)
    server = build_server(slack_settings(fake_slack, policy_file=str(policy)))
    fake_slack.reset_log()
    with acting_as(ANALYST):
        for ref in (GENERAL, "#general"):
            assert "analysts-not-general" in await call_error(server, "slack_channel_history", {"channel": ref})
        assert reads_of(fake_slack, GENERAL) == []
        assert (await call(server, "slack_channel_history", {"channel": ENG}))["channel"]["id"] == ENG
    with acting_as(ONCALL):
        assert (await call(server, "slack_channel_history", {"channel": GENERAL}))["channel"]["id"] == GENERAL


async def test_listings_leave_out_what_the_policy_refuses(fake_slack: FakeSlack, tmp_path: Path) -> None:
    policy = tmp_path / "slack.cedar"
    policy.write_text(POLICY)
    server = build_server(slack_settings(fake_slack, policy_file=str(policy)))
    with acting_as(ANALYST):
        listed = {c["id"] for c in (await call(server, "slack_list_channels"))["channels"]}
    with acting_as(ONCALL):
        everyone = {c["id"] for c in (await call(server, "slack_list_channels"))["channels"]}
    assert GENERAL in everyone and ENG in everyone
    assert listed == everyone - {GENERAL}
