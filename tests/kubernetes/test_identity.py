"""Impersonation: each call reaches the API server as its principal, so cluster RBAC applies per user."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.core.test_http import post, result_of, rpc
from tests.kubernetes.fake_kube import FakeKube
from tests.support.live_http import serve_http
from warden_core import WardenServer
from warden_core.testing import acting_as, connect
from warden_core.testing.identity import api_key, end_user

pytestmark = pytest.mark.anyio

Make = Callable[..., WardenServer]
ALICE = end_user("alice@example.com", ["oncall", "system:masters", "marketing"])
GATEWAY_KEY = "contextforge-key-0123456789"
CI_KEY = "ci-pipeline-key-0123456789"


def impersonating(kube: FakeKube) -> list[tuple[str | None, list[str]]]:
    return [(r.headers.get("impersonate-user"), r.header_lists.get("impersonate-group", [])) for r in kube.requests]


async def list_pods(server: WardenServer, principal: Any) -> Any:
    with acting_as(principal):
        async with connect(server) as client:
            return await client.call_tool("k8s_list", {"kind": "pods", "namespace": "shop"})


async def test_requests_carry_the_principal_and_only_the_admitted_groups(cluster: FakeKube, make_server: Make) -> None:
    # IMPERSONATE and IMPERSONATE_GROUPS are the settings under test.
    server = make_server(impersonate=True, impersonate_groups=("oncall", "sre-*"), impersonate_user_prefix="sso:")
    assert not (await list_pods(server, ALICE)).is_error
    seen = impersonating(cluster)
    assert seen and set(map(str, seen)) == {str(("sso:alice@example.com", ["oncall"]))}  # never system:masters
    cluster.reset()
    assert not (await list_pods(server, api_key("ci", ["sre-eu"]))).is_error
    assert set(map(str, impersonating(cluster))) == {str(("sso:ci", ["sre-eu"]))}


async def test_without_impersonation_and_for_the_server_itself_no_one_is_impersonated(
    cluster: FakeKube, make_server: Make
) -> None:
    assert not (await list_pods(make_server(), ALICE)).is_error
    assert all(user is None for user, _ in impersonating(cluster))
    cluster.reset()
    assert await make_server(impersonate=True).ready()  # the readiness probe is the server's own
    assert impersonating(cluster) == [(None, [])]


async def test_rbac_refusing_one_user_is_a_clear_error_naming_them(cluster: FakeKube, make_server: Make) -> None:
    server = make_server(impersonate=True)
    cluster.forbid("list", "pods", "shop", user="alice@example.com")
    refused = await list_pods(server, ALICE)
    assert refused.is_error
    text = refused.content[0].text
    assert "the cluster's RBAC does not let 'alice@example.com' act on pods in namespace shop (403 Forbidden)" in text
    assert not (await list_pods(server, end_user("bob@example.com"))).is_error


async def test_a_user_the_service_account_may_not_impersonate_is_named(cluster: FakeKube, make_server: Make) -> None:
    server = make_server(impersonate=True)
    cluster.allow_impersonation("bob@example.com")
    refused = await list_pods(server, ALICE)
    assert (
        refused.is_error and "this server may not act as 'alice@example.com' in the cluster" in refused.content[0].text
    )


def test_a_forged_end_user_from_an_untrusted_key_never_reaches_the_cluster(
    cluster: FakeKube, make_server: Make
) -> None:
    server = make_server(
        impersonate=True,
        api_keys=(f"contextforge:{GATEWAY_KEY}", f"ci:{CI_KEY}"),
        trusted_gateways=("contextforge",),
    )
    call = rpc("tools/call", {"name": "k8s_list", "arguments": {"kind": "pods", "namespace": "shop"}})
    forged = {"X-Forwarded-User-Id": "admin@example.com", "X-Forwarded-User-Groups": "system:masters"}
    with serve_http(server) as base:
        assert not result_of(post(base, call, CI_KEY, **forged)).get("isError")
        untrusted = impersonating(cluster)
        cluster.reset()
        alice = {"X-Forwarded-User-Id": "alice@example.com", "X-Forwarded-User-Groups": "oncall"}
        assert not result_of(post(base, call, GATEWAY_KEY, **alice)).get("isError")
        trusted = impersonating(cluster)
    assert untrusted and all(user == "ci" for user, _ in untrusted)
    assert trusted and all(user == "alice@example.com" for user, _ in trusted)
    assert not any("admin@example.com" in str(r.headers) for r in cluster.requests)


async def test_the_policy_file_refuses_a_namespace_for_one_group_before_any_request(
    cluster: FakeKube, make_server: Make, tmp_path: Any
) -> None:
    policy = tmp_path / "kubernetes.cedar"
    policy.write_text(
        'permit(principal, action in Warden::Action::"access:read", resource);\n'
        '@id("marketing-not-shop")\n'
        'forbid(principal in Warden::Group::"marketing", action, resource == Warden::Namespace::"shop");\n'
    )
    server = make_server(policy_file=str(policy))
    cluster.reset()
    refused = await list_pods(server, ALICE)
    assert refused.is_error and "marketing-not-shop" in refused.content[0].text
    assert cluster.requests == []
    assert not (await list_pods(server, end_user("bob@example.com", ["oncall"]))).is_error
