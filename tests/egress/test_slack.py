"""Slack: canaries in messages, thread replies and user profiles never come back, over memory, stdio and HTTP;
nor the bot token. Links are rendered inert (hxxps://...), and a webhook URL is masked in that form too."""

from __future__ import annotations

import pytest

from tests.egress.canaries import PLANTED, VISIBLE, assert_clean
from tests.egress.harness import API_KEY, Calls, in_memory, over_http, over_stdio
from tests.slack.conftest import slack_settings
from tests.slack.fake_slack import ALICE, BOT_TOKEN, GENERAL, FakeSlack
from warden_slack.server import build_server

pytestmark = pytest.mark.anyio

CALLS: Calls = [
    ("slack_channel_history", {"channel": GENERAL}),
    ("slack_get_user_profile", {"user_id": ALICE}),
    ("slack_find_users", {"query": "alice"}),
]


def plant(fake: FakeSlack) -> None:
    messages = fake.workspace.messages[GENERAL]
    messages.append({**messages[0], "ts": f"{float(messages[-1]['ts']) + 1:.6f}", "text": PLANTED})
    messages.append({**messages[0], "ts": f"{float(messages[-1]['ts']) + 1:.6f}", "text": f"the bot uses {BOT_TOKEN}"})
    profile = fake.workspace.users[ALICE]["profile"]
    profile["status_text"] = "rotating DB_PASS=Cn4rySlackStatus-9"
    profile["title"] = f"{VISIBLE} AWS_SECRET_ACCESS_KEY=Cn4ry/AwsSecretKey+qqqqqqqqqqqqqqqqqqqqq"


def check(wire: str) -> None:
    assert VISIBLE in wire and "[masked" in wire
    assert_clean({"answers": wire}, extra=(BOT_TOKEN, "Cn4rySlackStatus-9"))


async def test_in_memory_both_eras(fake_slack: FakeSlack, era: str, capfd: pytest.CaptureFixture[str]) -> None:
    plant(fake_slack)
    answers = await in_memory(build_server(slack_settings(fake_slack, log_level="DEBUG")), CALLS, era)
    answers.check(CALLS)
    check(answers.wire)
    captured = capfd.readouterr()
    assert_clean({"stderr (logs, audit)": captured.err, "stdout": captured.out}, extra=(BOT_TOKEN,))


async def test_over_http(fake_slack: FakeSlack, capfd: pytest.CaptureFixture[str]) -> None:
    plant(fake_slack)
    answers = await over_http(build_server(slack_settings(fake_slack, api_keys=f"ci:{API_KEY}")), CALLS)
    answers.check(CALLS)
    check(answers.wire)
    assert_clean({"stderr (logs, audit)": capfd.readouterr().err}, extra=(BOT_TOKEN,))


def test_over_stdio(fake_slack: FakeSlack) -> None:
    plant(fake_slack)
    env = {
        "WARDEN_SLACK_BOT_TOKEN": BOT_TOKEN,
        "WARDEN_SLACK_API_URL": fake_slack.url,
        "WARDEN_SLACK_CHANNELS": f"{GENERAL},eng-backend",
        "WARDEN_SLACK_LOG_LEVEL": "DEBUG",
    }
    answers, everything = over_stdio("warden_slack", env, CALLS)
    answers.check(CALLS)
    check(answers.wire)
    assert_clean({"stdio (stdout and stderr)": everything}, extra=(BOT_TOKEN,))
