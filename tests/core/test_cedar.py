"""Policy as code: the Cedar file in the one gate (allow, forbid, shadow, reload, bad file, the CLI).

Without a policy file, decisions are today's: the allowlists alone, whoever calls.
"""

from __future__ import annotations

import io
import json
import logging
import os
import signal
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.core.example_server import ExampleSettings, build_server
from tests.core.test_audit import read_events
from warden_core import identity
from warden_core.auth import LOCAL, Principal
from warden_core.cedar import Resource
from warden_core.cli import _reload_on_sighup
from warden_core.errors import PolicyDenied
from warden_core.policycli import run as policy_cli
from warden_core.settings import SettingsError
from warden_core.testing import acting_as, call, connect
from warden_core.testing.identity import api_key, end_user

pytestmark = pytest.mark.anyio

POLICY = """
@id("readers-read")
permit(principal in Warden::Group::"readers", action in Warden::Action::"access:read", resource);

@id("no-other-shelf-for-end-users")
forbid(principal, action == Warden::Action::"ex_list_items", resource == Warden::Shelf::"other")
when { context.end_user };
"""


def server_with(tmp_path: Path, text: str = POLICY, **overrides: Any) -> Any:
    path = tmp_path / "policy.cedar"
    path.write_text(text)
    # The policy file is the setting under test; shelves `other` is allowlisted so only the policy decides.
    return build_server(
        ExampleSettings.load(
            token="store-token",
            shelves=("main", "other"),
            policy_file=str(path),
            audit_sink=str(tmp_path / "a"),
            **overrides,
        )
    )


async def list_items(server: Any, principal: Principal, shelf: str) -> dict[str, Any]:
    with acting_as(principal):
        async with connect(server) as client:
            result = await client.call_tool("ex_list_items", {"shelf": shelf})
    return {"error": result.is_error, "text": result.content[0].text if result.content else ""}


async def test_a_permit_allows_and_a_forbid_wins_naming_the_policy(tmp_path: Path) -> None:
    server = server_with(tmp_path)
    alice = end_user("alice@example.com", ["readers"])
    ci = api_key("ci", ["readers"])
    assert not (await list_items(server, alice, "main"))["error"]
    assert not (await list_items(server, ci, "other"))["error"]
    denied = await list_items(server, alice, "other")
    assert denied["error"]
    assert "denied by policy no-other-shelf-for-end-users in policy.cedar" in denied["text"]
    assert "user/alice@example.com may not call ex_list_items on Shelf 'other'" in denied["text"]
    calls = [e for e in read_events(tmp_path / "a", 5) if e["method"] == "tools/call"]
    assert calls[-1]["outcome"] == "policy_denied" and calls[-1]["end_user"] == "alice@example.com"
    assert calls[-1]["policy"] == "no-other-shelf-for-end-users"


async def test_without_a_permit_nothing_is_allowed(tmp_path: Path) -> None:
    server = server_with(tmp_path)
    stranger = api_key("stranger")
    denied = await list_items(server, stranger, "main")
    assert denied["error"] and "no policy in policy.cedar permits it" in denied["text"]
    with acting_as(stranger):
        async with connect(server) as client:  # a tool without resource arguments is asked about the server
            echo = await client.call_tool("ex_echo", {"text": "x"})
    assert echo.is_error and "may not call ex_echo:" in echo.content[0].text
    assert server.exposed_spec("ex_echo") is not None  # the tool surface is the same for everyone


async def test_shadow_mode_logs_would_be_denials_without_enforcing(tmp_path: Path, caplog: Any) -> None:
    # POLICY_MODE=shadow is the setting under test.
    server = server_with(tmp_path, policy_mode="shadow")
    with caplog.at_level(logging.WARNING, logger="warden_core.cedar"):
        result = await list_items(server, end_user("alice@example.com", ["readers"]), "other")
    assert not result["error"]
    warnings = [r.getMessage() for r in caplog.records if "shadow" in r.getMessage()]
    assert len(warnings) == 1 and "no-other-shelf-for-end-users" in warnings[0]
    assert b'warden_policy_shadow_denials_total{tool="ex_list_items"} 1.0' in server.metrics.render()
    (event,) = [e for e in read_events(tmp_path / "a", 2) if e["method"] == "tools/call"]
    assert event["policy"] == "shadow: would deny (no-other-shelf-for-end-users)" and event["outcome"] == "ok"


async def test_the_file_reloads_on_change_and_a_bad_file_keeps_the_last_good_policy(
    tmp_path: Path, caplog: Any, monkeypatch: Any
) -> None:
    server = server_with(tmp_path)
    cedar = server.policy.cedar
    monkeypatch.setattr("warden_core.cedar.RELOAD_CHECK_SECONDS", 0.0)
    alice = end_user("alice@example.com", ["readers"])
    assert (await list_items(server, alice, "other"))["error"]

    cedar.path.write_text(POLICY.split('@id("no-other', maxsplit=1)[0])  # the forbid removed
    os.utime(cedar.path, ns=(1, 1))  # a new modification time whatever the clock's resolution
    assert not (await list_items(server, alice, "other"))["error"]

    with caplog.at_level(logging.ERROR, logger="warden_core.cedar"):
        cedar.path.write_text("permit(principal, action, resource")  # broken
        os.utime(cedar.path, ns=(2, 2))
        assert not (await list_items(server, alice, "other"))["error"]  # the last good policy still decides
        assert (await list_items(server, api_key("stranger"), "main"))["error"]
    assert any("is invalid, keeping the last good policy" in r.getMessage() for r in caplog.records)
    metrics = server.metrics.render()
    assert b"warden_policy_healthy 0.0" in metrics
    assert b'warden_policy_reloads_total{result="error"} 1.0' in metrics

    cedar.path.write_text(POLICY)
    assert cedar.reload("SIGHUP")
    assert (await list_items(server, alice, "other"))["error"]
    assert b"warden_policy_healthy 1.0" in server.metrics.render()


def test_sighup_reloads_the_policy_file(tmp_path: Path) -> None:
    server = server_with(tmp_path)
    previous = signal.getsignal(signal.SIGHUP)
    try:
        _reload_on_sighup(server)
        server.policy.cedar.path.write_text("permit(principal, action, resource);")
        os.kill(os.getpid(), signal.SIGHUP)
    finally:
        signal.signal(signal.SIGHUP, previous)
    with acting_as(api_key("stranger")):
        server.policy.guard(server.exposed_spec("ex_list_items"), {"shelf": "main"})  # now permitted


def test_a_bad_or_missing_file_stops_the_start(tmp_path: Path) -> None:
    (tmp_path / "bad.cedar").write_text("permit(principal == Foo, action, resource);")
    for name in ("bad.cedar", "missing.cedar"):
        with pytest.raises(SettingsError, match=f"policy file .*{name}"):
            build_server(ExampleSettings.load(policy_file=str(tmp_path / name)))


async def test_discovered_resources_ask_the_policy_for_the_call_in_progress(tmp_path: Path) -> None:
    server = server_with(
        tmp_path,
        text="permit(principal, action, resource);\n"
        '@id("no-hr") forbid(principal, action, resource in Warden::Schema::"hr");',
    )
    spec = server.exposed_spec("ex_list_items")
    from warden_core import audit

    record = server.auditor.open(request_id="1", transport="memory")
    record.tool = spec.name
    with server.auditor.recording(record):
        server.policy.check_resources([Resource("Table", "sales.orders", (("Schema", "sales"),))])
        with pytest.raises(PolicyDenied, match="no-hr"):
            server.policy.check_resources([Resource("Table", "hr.salaries", (("Schema", "hr"),))])
    assert audit.current() is None


def test_policy_check_answers_without_a_backend(tmp_path: Path) -> None:
    server = server_with(tmp_path)

    def check(*argv: str) -> tuple[int, dict[str, Any]]:
        out = io.StringIO()
        with redirect_stdout(out):
            code = policy_cli(server, ["check", *argv])
        return code, json.loads(out.getvalue())

    code, answer = check(
        "--principal",
        "user/alice@example.com",
        "--group",
        "readers",
        "--tool",
        "ex_list_items",
        "--arguments",
        '{"shelf": "other"}',
    )
    assert code == 1 and answer["policies"] == ["no-other-shelf-for-end-users"]
    code, answer = check(
        "--principal", "apikey/ci", "--group", "readers", "--tool", "ex_list_items", "--arguments", '{"shelf": "other"}'
    )
    assert code == 0 and answer["allowed"] and answer["policies"] == ["readers-read"]
    code, answer = check(
        "--principal", "apikey/ci", "--group", "readers", "--tool", "ex_list_items", "--arguments", '{"shelf": "attic"}'
    )
    assert code == 1 and "not allowed by this server's policy (WARDEN_EXAMPLE_SHELVES)" in answer["reason"]
    code, answer = check("--principal", "apikey/ci", "--group", "readers", "--tool", "ex_add_item")
    assert code == 1 and "server is read-only" in answer["reason"]


# --- Without a policy file, decisions are today's. ---------------------------------------------------------
_NAMES = st.text(alphabet="abcdefghij*", min_size=1, max_size=6)
_PRINCIPALS = st.one_of(
    st.just(LOCAL),
    st.builds(api_key, st.text(alphabet="abcxyz", min_size=1, max_size=5), st.lists(_NAMES, max_size=3)),
    st.builds(end_user, st.text(alphabet="abc@.xyz", min_size=1, max_size=8), st.lists(_NAMES, max_size=3)),
)


@settings(max_examples=120, deadline=None)
@given(
    shelves=st.lists(_NAMES, max_size=4),
    shelf=st.text(alphabet="abcdefghij", min_size=1, max_size=6),
    principal=_PRINCIPALS,
)
def test_without_a_policy_file_decisions_are_the_allowlists_whoever_calls(
    shelves: list[str], shelf: str, principal: Principal
) -> None:
    server = build_server(ExampleSettings.load(shelves=tuple(shelves)))
    assert server.policy.cedar is None
    spec = server.exposed_spec("ex_list_items")
    today = server.policy.allowlists["shelves"].allows(shelf)  # the allowlist alone, as before identities
    token = identity.enter(principal)
    try:
        server.policy.guard(spec, {"shelf": shelf})
        guarded = True
    except PolicyDenied:
        guarded = False
    finally:
        identity.leave(token)
    assert guarded == today
    assert server.policy.decide(spec, {"shelf": shelf}, principal, "http").allowed == today


async def test_in_memory_calls_without_a_policy_file_ignore_who_calls() -> None:
    server = build_server(ExampleSettings.load(token="store-token"))
    for principal in (LOCAL, api_key("ci"), end_user("alice")):
        with acting_as(principal):
            assert not (await call(server, "ex_list_items", {"shelf": "main"})).is_error
            assert (await call(server, "ex_list_items", {"shelf": "other"})).is_error  # not in the allowlist
