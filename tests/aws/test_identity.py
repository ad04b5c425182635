"""Per-principal roles (ROLE_MAP) with moto: AssumeRole with SourceIdentity, one role per account, no other role."""

from __future__ import annotations

from typing import Any

import pytest

from tests.aws.conftest import make_server
from warden_core import WardenServer
from warden_core.settings import SettingsError
from warden_core.testing import acting_as, connect
from warden_core.testing.identity import api_key, end_user

pytestmark = pytest.mark.anyio

ANALYST = "arn:aws:iam::111111111111:role/warden-analyst"
ONCALL = "arn:aws:iam::222222222222:role/warden-oncall"
ALICE = end_user("alice@example.com", ["analysts"])
BOB = end_user("bob@example.com", ["oncall"])


def mapped_server(**overrides: Any) -> WardenServer:
    # ROLE_MAP and ROLES are the settings under test: one role in each of two accounts.
    values: dict[str, Any] = {
        "role_map": (f"group:analysts={ANALYST}", f"group:oncall={ONCALL}"),
        "roles": ("arn:aws:iam::111111111111:role/warden-*", "arn:aws:iam::222222222222:role/warden-*"),
        "accounts": ("111111111111", "222222222222"),
        "region": "us-east-1",
    }
    return make_server(**{**values, **overrides})


def capture_assume_role(server: WardenServer) -> list[dict[str, Any]]:
    """The parameters of every sts:AssumeRole the server sends (registered before any client exists)."""
    seen: list[dict[str, Any]] = []
    session = server.aws.botocore_session()  # type: ignore[attr-defined]
    session.register("provide-client-params.sts.AssumeRole", lambda params, **_: seen.append(dict(params)))
    return seen


async def buckets(server: WardenServer, principal: Any) -> Any:
    with acting_as(principal):
        async with connect(server) as client:
            return await client.call_tool("aws_s3_buckets", {})


async def test_each_principal_assumes_its_role_with_its_source_identity(moto: None) -> None:
    server = mapped_server()
    assumed = capture_assume_role(server)
    for principal in (ALICE, BOB, ALICE, BOB):
        result = await buckets(server, principal)
        assert not result.is_error, result.content[0].text
    # One AssumeRole per (role, principal): the credentials are reused until shortly before they expire.
    assert [(call["RoleArn"], call["SourceIdentity"]) for call in assumed] == [
        (ANALYST, "alice@example.com"),
        (ONCALL, "bob@example.com"),
    ]
    first = assumed[0]
    assert first["RoleSessionName"] == "warden-alice@example.com"
    assert first["Tags"] == [
        {"Key": "warden-principal", "Value": "user/alice@example.com"},
        {"Key": "warden-caller", "Value": "apikey/contextforge"},
    ]
    assert first["DurationSeconds"] == 3600


async def test_whoami_reports_the_assumed_role_per_principal(moto: None) -> None:
    server = mapped_server()
    with acting_as(ALICE):
        async with connect(server) as client:
            alice = (await client.call_tool("aws_whoami", {})).structured_content or {}
    with acting_as(BOB):
        async with connect(server) as client:
            bob = (await client.call_tool("aws_whoami", {})).structured_content or {}
    assert alice["account"] == "111111111111" and "warden-analyst" in alice["arn"]
    assert bob["account"] == "222222222222" and "warden-oncall" in bob["arn"]


async def test_a_principal_without_a_role_or_an_account_outside_the_list_is_refused(moto: None) -> None:
    server = mapped_server()
    assumed = capture_assume_role(server)
    refused = await buckets(server, api_key("ci"))
    assert refused.is_error and "no AWS role is mapped for apikey/ci (WARDEN_AWS_ROLE_MAP)" in refused.content[0].text
    narrowed = mapped_server(accounts=("111111111111",))
    assert not (await buckets(narrowed, ALICE)).is_error
    other = await buckets(narrowed, BOB)
    assert other.is_error and "AWS account '222222222222' is not allowed" in other.content[0].text
    assert assumed == []


def test_a_role_outside_the_allowlist_is_refused_at_start() -> None:
    with pytest.raises(SettingsError, match="role arn:aws:iam::333333333333:role/admin is not in WARDEN_AWS_ROLES"):
        mapped_server(role_map=(f"group:analysts={ANALYST}", "group:x=arn:aws:iam::333333333333:role/admin"))
    with pytest.raises(SettingsError, match="is not a role ARN"):
        mapped_server(role_map=("*=arn:aws:iam::111111111111:user/warden-analyst",))


async def test_without_a_role_map_the_server_uses_its_own_credential(moto: None) -> None:
    server = make_server(region="us-east-1")
    assumed = capture_assume_role(server)
    assert not (await buckets(server, ALICE)).is_error
    assert assumed == []


async def test_credentials_are_refreshed_shortly_before_they_expire(moto: None) -> None:
    """botocore's refreshable credentials: a new AssumeRole once the session is within its refresh window."""
    from datetime import UTC, datetime, timedelta

    server = mapped_server()
    assumed = capture_assume_role(server)
    assert not (await buckets(server, ALICE)).is_error
    session = server.aws._role_sessions[(ANALYST, ALICE.acting_id)]  # type: ignore[attr-defined]
    credentials = session.get_credentials()
    assert len(assumed) == 1
    assert not (await buckets(server, ALICE)).is_error
    assert len(assumed) == 1  # fresh credentials are reused
    credentials._expiry_time = datetime.now(UTC) + timedelta(minutes=5)  # within botocore's 10-minute window
    assert not (await buckets(server, ALICE)).is_error
    assert [call["SourceIdentity"] for call in assumed] == ["alice@example.com", "alice@example.com"]


async def test_the_policy_file_refuses_a_region_for_one_group(moto: None, tmp_path: Any) -> None:
    policy = tmp_path / "aws.cedar"
    policy.write_text(
        'permit(principal, action in Warden::Action::"access:read", resource);\n'
        '@id("analysts-us-only")\n'
        'forbid(principal in Warden::Group::"analysts", action, resource == Warden::Region::"eu-west-1");\n'
    )
    server = make_server(region="us-east-1", policy_file=str(policy))
    with acting_as(ALICE):
        async with connect(server) as client:
            refused = await client.call_tool("aws_ec2_instances", {"region": "eu-west-1"})
            allowed = await client.call_tool("aws_ec2_instances", {"region": "us-east-1"})
    assert refused.is_error and "analysts-us-only" in refused.content[0].text
    assert not allowed.is_error
