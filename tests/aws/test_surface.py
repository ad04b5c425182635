"""The tool surface is pinned (toolsnaps, per-mode manifests), keeps the contract, and starts without AWS."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.aws.conftest import call, default_server, make_server, text_of
from warden_aws.tools import GROUPS
from warden_core.testing import check_contract, check_tools_list_budget, check_toolsnaps, connect, list_tools_json

pytestmark = pytest.mark.anyio

SNAPS = Path(__file__).parent / "__toolsnaps__"
DEFAULT_TOOLS = [
    "aws_whoami",
    "aws_call",
    "aws_cloudwatch_alarms",
    "aws_logs_insights",
    "aws_cloudtrail_events",
    "aws_security_findings",
    "aws_cost",
]
OFF_BY_DEFAULT = {
    "inventory": ["aws_ec2_instances", "aws_s3_buckets", "aws_s3_objects", "aws_lambda_functions"],
    "api_docs": ["aws_api_info"],
}
MODES = {
    "default": {},
    "read-only": {"groups": GROUPS, "read_only": True},
    "all": {"groups": GROUPS, "read_only": False, "allow_destructive": True},
}


@pytest.mark.parametrize("mode", sorted(MODES))
async def test_toolsnaps_and_contract(mode: str) -> None:
    server = default_server(**MODES[mode])
    tools = await check_toolsnaps(server, SNAPS, mode)
    await check_contract(server, prefix="aws_")
    # No write tools exist: every mode exposes a read-only surface.
    assert all(tool["annotations"]["readOnlyHint"] for tool in tools)
    assert len(tools) == (7 if mode == "default" else 12)


async def test_default_surface_fits_the_context_budget() -> None:
    server = default_server()
    assert [tool["name"] for tool in await list_tools_json(server)] == DEFAULT_TOOLS
    await check_tools_list_budget(server)


async def test_reads_off_by_default_are_one_group_away() -> None:
    for group, names in OFF_BY_DEFAULT.items():
        assert [spec.name for spec in default_server(groups=(group,)).exposed] == names


async def test_both_eras_list_the_same_tools(era: str) -> None:
    async with connect(default_server(), era) as client:
        names = [tool.name for tool in (await client.list_tools()).tools]
    assert names == DEFAULT_TOOLS


async def test_groups_and_exclusions_narrow_the_surface() -> None:
    server = make_server(groups=("inventory",), exclude_tools=("aws_s3_objects",))
    assert [spec.name for spec in server.exposed] == ["aws_ec2_instances", "aws_s3_buckets", "aws_lambda_functions"]


async def test_without_credentials_the_server_lists_tools_and_names_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    server = default_server()
    async with connect(server) as client:
        assert len((await client.list_tools()).tools) == 7
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
