"""The tool surface is pinned (toolsnaps, per-mode manifests), keeps the contract, and starts without AWS."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.aws.conftest import call, make_server, text_of
from warden_aws.tools import GROUPS
from warden_core.testing import check_contract, check_toolsnaps, connect

pytestmark = pytest.mark.anyio

SNAPS = Path(__file__).parent / "__toolsnaps__"
MODES = {
    "default": {},
    "read-only": {"groups": GROUPS, "read_only": True},
    "all": {"groups": GROUPS, "read_only": False, "allow_destructive": True},
}


@pytest.mark.parametrize("mode", sorted(MODES))
async def test_toolsnaps_and_contract(mode: str) -> None:
    server = make_server(**MODES[mode])
    tools = await check_toolsnaps(server, SNAPS, mode)
    await check_contract(server, prefix="aws_")
    # No write tools exist: every mode exposes the same read-only surface.
    assert all(tool["annotations"]["readOnlyHint"] for tool in tools)
    assert len(tools) == 10


async def test_both_eras_list_the_same_tools(era: str) -> None:
    async with connect(make_server(), era) as client:
        names = [tool.name for tool in (await client.list_tools()).tools]
    assert names[0] == "aws_whoami" and len(names) == 10


async def test_groups_and_exclusions_narrow_the_surface() -> None:
    server = make_server(groups=("inventory",), exclude_tools=("aws_s3_objects",))
    assert [spec.name for spec in server.exposed] == ["aws_ec2_instances", "aws_s3_buckets", "aws_lambda_functions"]


async def test_without_credentials_the_server_lists_tools_and_names_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    server = make_server()
    async with connect(server) as client:
        assert len((await client.list_tools()).tools) == 10
        result = await client.call_tool("aws_whoami", {})
    assert result.is_error and "an AWS credential is not configured: set WARDEN_AWS_PROFILE" in text_of(result)


async def test_without_a_region_the_error_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    result = await call(make_server(), "aws_ec2_instances", {})
    assert result.is_error and "set WARDEN_AWS_REGION" in text_of(result)


async def test_an_unknown_profile_names_the_setting() -> None:
    result = await call(make_server(profile="does-not-exist"), "aws_lambda_functions", {})
    # The profile is set, so the error says it is not defined (not that it should be set).
    assert result.is_error and text_of(result).endswith(
        "AWS profile 'does-not-exist' is not defined in the AWS config or credentials file "
        "(~/.aws/config, ~/.aws/credentials): check WARDEN_AWS_PROFILE (or AWS_PROFILE)"
    )
