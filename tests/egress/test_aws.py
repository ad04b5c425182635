"""AWS: canaries in CloudWatch Logs events (through `aws_call` and Logs Insights) and in EC2 tags never come
back, over memory (moto), and over stdio and HTTP (moto's server on 127.0.0.1)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from tests.aws.conftest import ACCOUNT, FAKE_ENV, REGION, fake_aws_env, make_server  # noqa: F401
from tests.egress.canaries import GHP, PLANTED, VISIBLE, assert_clean
from tests.egress.harness import API_KEY, Calls, in_memory, over_http, over_stdio
from warden_aws.tools import GROUPS

pytestmark = pytest.mark.anyio

GROUP = "/app/api"
CALLS: Calls = [
    ("aws_call", {"service": "logs", "operation": "FilterLogEvents", "parameters": {"logGroupName": GROUP}}),
    (
        "aws_call",
        {"service": "logs", "operation": "GetLogEvents", "parameters": {"logGroupName": GROUP, "logStreamName": "app"}},
    ),
    ("aws_logs_insights", {"log_groups": [GROUP], "query": "fields @timestamp, @message"}),
    ("aws_ec2_instances", {}),
    ("aws_call", {"service": "ec2", "operation": "DescribeInstances", "parameters": {}}),
]
TAG_PASSWORD = "Cn4ryTagPassw0rd-1"


def seed(endpoint: str | None = None) -> None:
    options: dict[str, Any] = {"region_name": REGION}
    if endpoint:
        options |= {
            "endpoint_url": endpoint,
            "aws_access_key_id": FAKE_ENV["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": FAKE_ENV["AWS_SECRET_ACCESS_KEY"],
        }
    logs = boto3.client("logs", **options)
    logs.create_log_group(logGroupName=GROUP)
    logs.create_log_stream(logGroupName=GROUP, logStreamName="app")
    lines = [*PLANTED.splitlines(), "request failed: Authorization: Bearer Cn4ryBearerToken0123456789"]
    first = int(time.time() * 1000) - 60_000
    logs.put_log_events(
        logGroupName=GROUP,
        logStreamName="app",
        logEvents=[{"timestamp": first + index, "message": line} for index, line in enumerate(lines)],
    )
    boto3.client("ec2", **options).run_instances(
        ImageId="ami-12345678",
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.micro",
        TagSpecifications=[
            {
                "ResourceType": "instance",
                "Tags": [
                    {"Key": "Name", "Value": VISIBLE},
                    {"Key": "db_password", "Value": TAG_PASSWORD},
                    {"Key": "notes", "Value": f"deploy token {GHP}"},
                ],
            }
        ],
    )


def check(wire: str) -> None:
    assert VISIBLE in wire and "[masked" in wire
    assert_clean({"answers": wire}, extra=(TAG_PASSWORD, FAKE_ENV["AWS_SECRET_ACCESS_KEY"]))


@pytest.fixture
def moto() -> Iterator[None]:
    from moto import mock_aws

    with mock_aws():
        yield


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def seeded(moto_url: str) -> str:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in FAKE_ENV.items():
            patch.setenv(name, value)
        seed(moto_url)
    return moto_url


async def test_in_memory_both_eras(moto: None, era: str, capfd: pytest.CaptureFixture[str]) -> None:
    seed()
    answers = await in_memory(make_server(services=("*",), log_level="DEBUG"), CALLS, era)
    answers.check(CALLS)
    check(answers.wire)
    captured = capfd.readouterr()
    assert_clean({"stderr (logs, audit)": captured.err, "stdout": captured.out}, extra=(TAG_PASSWORD,))


async def test_over_http(seeded: str, capfd: pytest.CaptureFixture[str]) -> None:
    server = make_server(services=("*",), endpoint_url=seeded, accounts=(ACCOUNT,), api_keys=(f"ci:{API_KEY}",))
    answers = await over_http(server, CALLS)
    answers.check(CALLS)
    check(answers.wire)
    assert_clean({"stderr (logs, audit)": capfd.readouterr().err}, extra=(TAG_PASSWORD,))


def test_over_stdio(seeded: str) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        **FAKE_ENV,
        "WARDEN_AWS_ENDPOINT_URL": seeded,
        "WARDEN_AWS_ACCOUNTS": ACCOUNT,
        "WARDEN_AWS_SERVICES": "*",
        "WARDEN_AWS_LOG_LEVEL": "DEBUG",
        "WARDEN_AWS_GROUPS": ",".join(GROUPS),  # aws_ec2_instances is in `inventory`, off by default
    }
    answers, everything = over_stdio("warden_aws", env, CALLS)
    answers.check(CALLS)
    check(answers.wire)
    assert_clean({"stdio (stdout and stderr)": everything}, extra=(TAG_PASSWORD,))
