"""Security alerts: Dependabot, code scanning, secret scanning and repository advisories, for one repository or
across the allowed ones; never a secret's value, never a repository outside the allowlist."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.github.fake_github import LEAKED_AWS_KEY, LEAKED_SECRET, FakeGitHub
from tests.github.helpers import call, text_of
from warden_core import WardenServer
from warden_core.testing import connect

pytestmark = pytest.mark.anyio

TOOL = "gh_security_alerts"


async def walk(server: WardenServer, arguments: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """Every alert, following next_cursor to the end, and the number of calls."""
    alerts: list[dict[str, Any]] = []
    for calls in range(1, 50):
        page = await call(server, TOOL, arguments)
        alerts += page["alerts"]
        if "next_cursor" not in page:
            return alerts, calls
        arguments = {**arguments, "cursor": page["next_cursor"]}
    raise AssertionError("paging did not end")


async def test_dependabot_alerts_of_one_repository(
    make_server: Callable[..., WardenServer], fake_github: FakeGitHub, era: str
) -> None:
    data = await call(make_server(), TOOL, {"kind": "dependabot", "repo": "acme/api"}, era)
    assert [alert["number"] for alert in data["alerts"]] == [2, 1], "open alerts by default: #3 is fixed"
    pyyaml = data["alerts"][1]
    assert pyyaml == {
        "repo": "acme/api",
        "number": 1,
        "ghsa_id": "GHSA-0001-hcri-q7rw",
        "cve_id": "CVE-2026-1001",
        "state": "open",
        "severity": "critical",
        "title": "PyYAML arbitrary code execution",
        "package": "pip:pyyaml",
        "vulnerable": "< 2.32.0",
        "fixed_in": "2.32.0",
        "path": "requirements.txt",
        "created_at": "2026-11-01T10:00:00Z",
        "updated_at": "2026-11-01T10:00:00Z",
        "url": "https://github.com/acme/api/security/dependabot/1",
    }
    (request,) = fake_github.requests
    assert request.path == "/repos/acme/api/dependabot/alerts"
    assert (request.param("state"), request.param("per_page")) == ("open", "30")


async def test_filters_and_one_alert_in_full(make_server: Callable[..., WardenServer], fake_github: FakeGitHub) -> None:
    server = make_server()
    fixed = await call(server, TOOL, {"kind": "dependabot", "repo": "acme/api", "state": "fixed"})
    assert [alert["number"] for alert in fixed["alerts"]] == [3]
    critical = await call(server, TOOL, {"kind": "dependabot", "repo": "acme/api", "severity": "critical"})
    assert [alert["severity"] for alert in critical["alerts"]] == ["critical"]
    assert fake_github.requests[-1].param("severity") == "critical"
    one = await call(server, TOOL, {"kind": "dependabot", "repo": "acme/api", "alert": "2"})
    (alert,) = one["alerts"]
    assert alert["title"] == "Jinja2 sandbox breakout"
    assert alert["detail"] == "Jinja2 sandbox breakout.\n\nAn attacker can exploit this remotely."  # comment gone
    assert fake_github.requests[-1].path == "/repos/acme/api/dependabot/alerts/2"


async def test_dependabot_pages_with_githubs_after_cursor(
    make_server: Callable[..., WardenServer], fake_github: FakeGitHub
) -> None:
    alerts, calls = await walk(make_server(), {"kind": "dependabot", "repo": "acme/api", "limit": 1})
    assert [alert["number"] for alert in alerts] == [2, 1] and calls == 2
    first, second = fake_github.calls(path_contains="/dependabot/alerts")
    assert first.param("after") is None and second.param("after"), "the next page is GitHub's own cursor"
    assert second.param("state") == "open" and second.param("per_page") == "1"


async def test_code_scanning_alerts_carry_the_rule_and_the_location(make_server: Callable[..., WardenServer]) -> None:
    data = await call(make_server(), TOOL, {"kind": "code_scanning", "repo": "acme/api"})
    sql = data["alerts"][0]
    assert (sql["rule"], sql["tool"], sql["severity"]) == ("py/sql-injection", "CodeQL", "high")
    assert (sql["path"], sql["line"]) == ("src/db.py", 42)
    assert sql["title"] == "SQL query built from user input"
    assert sql["message"] == "This query depends on a user-provided value."  # the zero-width space is gone
    full = await call(make_server(), TOOL, {"kind": "code_scanning", "repo": "acme/api", "alert": "8"})
    assert full["alerts"][0]["detail"].startswith("SQL query built from user input: building a query")


async def test_secret_scanning_alerts_never_carry_the_secret(
    make_server: Callable[..., WardenServer], fake_github: FakeGitHub
) -> None:
    """GitHub here sends the secret although asked not to (as an older GitHub Enterprise Server does)."""
    async with connect(make_server()) as client:
        listed = await client.call_tool(TOOL, {"kind": "secret_scanning", "repo": "acme/api"})
        one = await client.call_tool(TOOL, {"kind": "secret_scanning", "repo": "acme/api", "alert": "5"})
        everywhere = await client.call_tool(TOOL, {"kind": "secret_scanning"})
    for result in (listed, one, everywhere):
        assert not result.is_error, text_of(result)
        wire = json.dumps(result.structured_content) + text_of(result)
        assert LEAKED_SECRET not in wire and LEAKED_AWS_KEY not in wire
        assert "blobs" not in wire and "locations" not in wire, "nothing that leads to the text around it"
    (alert,) = json.loads(text_of(one))["alerts"]
    assert alert == {
        "repo": "acme/api",
        "number": 5,
        "state": "open",
        "title": "GitHub PAT",
        "rule": "github_personal_access_token",
        "path": "config/settings.py",
        "line": 12,
        "message": "found in more places",
        "validity": "active",
        "created_at": "2026-11-01T10:00:00Z",
        "updated_at": "2026-11-01T10:00:00Z",
        "url": "https://github.com/acme/api/security/secret-scanning/5",
    }
    asked = fake_github.calls(path_contains="/secret-scanning/")
    assert asked and all(request.param("hide_secret") == "true" for request in asked)
    assert not fake_github.calls(path_contains="/locations"), "the locations endpoint is never called"


async def test_repository_security_advisories(
    make_server: Callable[..., WardenServer], fake_github: FakeGitHub
) -> None:
    server = make_server()
    listed = await call(server, TOOL, {"kind": "advisories", "repo": "acme/api"})
    assert [(a["ghsa_id"], a["state"], a["severity"]) for a in listed["alerts"]] == [
        ("GHSA-7x9m-2f3q-vw4p", "triage", "high"),
        ("GHSA-3c5v-8k2j-p9qh", "published", "low"),
    ]
    assert fake_github.requests[0].param("state") is None, "every state unless one is asked for"
    assert listed["alerts"][0]["package"] == "pip:acme-api" and listed["alerts"][0]["fixed_in"] == "1.2.0"
    high = await call(server, TOOL, {"kind": "advisories", "repo": "acme/api", "severity": "high"})
    assert [a["ghsa_id"] for a in high["alerts"]] == ["GHSA-7x9m-2f3q-vw4p"]
    one = await call(server, TOOL, {"kind": "advisories", "repo": "acme/api", "alert": "GHSA-7x9m-2f3q-vw4p"})
    assert one["alerts"][0]["detail"].startswith("Path traversal in the static file handler. Affected")


async def test_across_the_allowed_repositories(
    make_server: Callable[..., WardenServer], fake_github: FakeGitHub
) -> None:
    """Each allowed repository is asked, none other; one where the feature is off becomes a note."""
    data = await call(make_server(), TOOL, {"kind": "dependabot"})
    assert [(a["repo"], a["number"]) for a in data["alerts"]] == [
        ("acme/api", 2),
        ("acme/api", 1),
        ("acme/private-tools", 1),
    ]
    assert data["notes"] == [
        "acme/web: GitHub refused access to the dependabot alerts of acme/web for this server's token: "
        "Dependabot alerts are disabled for this repository."
    ]
    asked = sorted(request.path for request in fake_github.requests)
    assert asked == [
        "/repos/acme/api/dependabot/alerts",
        "/repos/acme/private-tools/dependabot/alerts",
        "/repos/acme/web/dependabot/alerts",
    ]
    few = await call(make_server(), TOOL, {"kind": "dependabot", "limit": 1})
    assert few["more_in"] == ["acme/api"], "one page per repository; the rest with `repo`"


async def test_an_owner_pattern_is_resolved_to_allowed_repositories_only(
    make_server: Callable[..., WardenServer], fake_github: FakeGitHub
) -> None:
    """`acme/a*` is resolved by listing acme's repositories; acme/secret is listed there but never asked about,
    shown or counted."""
    server = make_server(repos=("acme/a*", "acme/private-tools"))
    data = await call(server, TOOL, {"kind": "secret_scanning"})
    assert [(a["repo"], a["number"]) for a in data["alerts"]] == [("acme/api", 5), ("acme/private-tools", 2)]
    assert "SECRET-REPO-ALERT" not in json.dumps(data) and "notes" not in data
    assert fake_github.calls(path_contains="/orgs/acme/repos")
    alerts_asked = {request.path for request in fake_github.calls(path_contains="/secret-scanning/")}
    assert alerts_asked == {
        "/repos/acme/api/secret-scanning/alerts",
        "/repos/acme/private-tools/secret-scanning/alerts",
    }


async def test_across_repositories_the_output_cap_pages_without_losing_an_alert(
    make_server: Callable[..., WardenServer],
) -> None:
    server = make_server(max_output_bytes=1500)
    alerts, calls = await walk(server, {"kind": "dependabot"})
    assert [(a["repo"], a["number"]) for a in alerts] == [("acme/api", 2), ("acme/api", 1), ("acme/private-tools", 1)]
    assert calls == 3


async def test_an_allowlist_of_everything_needs_a_repository(
    make_server: Callable[..., WardenServer], fake_github: FakeGitHub
) -> None:
    async with connect(make_server(repos=("*",))) as client:
        result = await client.call_tool(TOOL, {"kind": "dependabot"})
    assert result.is_error and "pass `repo`" in text_of(result)
    assert fake_github.requests == []


async def test_owner_globs_are_named_in_a_note(
    make_server: Callable[..., WardenServer], fake_github: FakeGitHub
) -> None:
    data = await call(make_server(repos=("acme/api", "acme-*/*")), TOOL, {"kind": "code_scanning"})
    assert data["notes"] == ["repositories matching acme-*/* can only be asked about one at a time, with `repo`"]
    assert [request.path for request in fake_github.requests] == ["/repos/acme/api/code-scanning/alerts"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"kind": "dependabot", "alert": "1"}, "`alert` needs `repo`"),
        ({"kind": "secret_scanning", "repo": "acme/api", "severity": "high"}, "no severity"),
        ({"kind": "advisories", "repo": "acme/api", "alert": "1"}, "GHSA id"),
        ({"kind": "dependabot", "repo": "acme/api", "alert": "GHSA-7x9m-2f3q-vw4p"}, "GHSA id"),
    ],
)
async def test_inconsistent_arguments_are_refused_before_any_request(
    make_server: Callable[..., WardenServer], fake_github: FakeGitHub, arguments: dict[str, Any], message: str
) -> None:
    async with connect(make_server()) as client:
        result = await client.call_tool(TOOL, arguments)
    assert result.is_error and message in text_of(result)
    assert fake_github.requests == []


async def test_one_repository_with_the_feature_off_is_a_clear_error(make_server: Callable[..., WardenServer]) -> None:
    async with connect(make_server()) as client:
        result = await client.call_tool(TOOL, {"kind": "dependabot", "repo": "acme/web"})
    assert result.is_error and "Dependabot alerts are disabled for this repository" in text_of(result)
