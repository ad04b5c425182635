"""The repository allowlist: refusals happen before any HTTP request, and search never leaves the allowlist."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.github.conftest import ALL_GROUPS, GIT, writable
from tests.github.fake_github import FakeGitHub
from tests.github.helpers import call, data_of, text_of
from tests.support.fake_http import Response
from warden_core import WardenServer
from warden_core.testing import connect

pytestmark = pytest.mark.anyio

# One call per tool that names a repository, aimed at a repository outside the allowlist.
OUTSIDE: list[tuple[str, dict[str, Any]]] = [
    ("gh_get_repo", {"repo": "acme/secret"}),
    ("gh_get_repo", {"repo": "acme/secret", "part": "tags"}),
    ("gh_get_repo", {"repo": "evil/exfil", "part": "labels"}),
    ("gh_get_file", {"repo": "acme/secret", "path": ".env"}),
    ("gh_get_file", {"repo": "acme/secret", "recursive": True}),
    ("gh_list_commits", {"repo": "acme/secret"}),
    ("gh_list_commits", {"repo": "acme/secret", "sha": "main"}),
    ("gh_search", {"query": "password", "repo": "acme/secret"}),
    ("gh_search", {"query": "keys", "kind": "issues", "repo": "acme/secret"}),
    ("gh_search", {"query": "fix", "kind": "pulls", "repo": "acme/secret"}),
    ("gh_list_issues", {"repo": "acme/secret"}),
    ("gh_list_issues", {"repo": "acme/secret", "kind": "pulls"}),
    ("gh_get_issue", {"repo": "acme/secret", "number": 3}),
    ("gh_get_issue", {"repo": "acme/secret", "number": 1, "part": "diff"}),
    ("gh_list_runs", {"repo": "acme/secret"}),
    ("gh_list_runs", {"repo": "acme/secret", "run_id": 1}),
    ("gh_get_job_logs", {"repo": "acme/secret", "run_id": 1}),
    ("gh_security_alerts", {"kind": "dependabot", "repo": "acme/secret"}),
    ("gh_security_alerts", {"kind": "secret_scanning", "repo": "acme/secret", "alert": "1"}),
    ("gh_create_issue", {"repo": "evil/exfil", "title": "data", "body": "secrets"}),
    ("gh_add_comment", {"repo": "evil/exfil", "number": 1, "body": "secrets"}),
    ("gh_add_labels", {"repo": "evil/exfil", "number": 1, "labels": ["bug"]}),
    ("gh_create_pull", {"repo": "evil/exfil", "title": "data", "head": "x", "base": "main"}),
    # In the write allowlist's shape but not the read allowlist: writes need both.
    ("gh_create_issue", {"repo": "acme/secret", "title": "data"}),
]


@pytest.mark.parametrize(("tool", "arguments"), OUTSIDE, ids=[f"{t}-{a['repo']}-{len(a)}" for t, a in OUTSIDE])
async def test_refused_before_any_request(
    make_server: Callable[..., WardenServer], fake_github: FakeGitHub, tool: str, arguments: dict[str, Any]
) -> None:
    server = make_server(groups=ALL_GROUPS, **writable(write_repos=("acme/api", "acme/secret")))
    async with connect(server) as client:
        result = await client.call_tool(tool, arguments)
    assert result.is_error
    text = text_of(result)
    assert "not allowed by this server's policy" in text
    assert "WARDEN_GITHUB_REPOS" in text or "WARDEN_GITHUB_WRITE_REPOS" in text
    assert fake_github.requests == [], "a refused call must not reach GitHub"


async def test_allowlist_ignores_case_like_github(make_server: Callable[..., WardenServer]) -> None:
    server = make_server(repos=("Acme/*",), groups=GIT)
    async with connect(server) as client:
        result = await client.call_tool("gh_get_repo", {"repo": "ACME/API"})
    assert not result.is_error
    assert data_of(result)["repo"]["full_name"] == "acme/api"


async def test_an_owner_pattern_admits_the_whole_owner(make_server: Callable[..., WardenServer]) -> None:
    server = make_server(repos=("acme",))
    async with connect(server) as client:
        allowed = await client.call_tool("gh_list_issues", {"repo": "acme/secret"})
        refused = await client.call_tool("gh_list_issues", {"repo": "evil/exfil"})
    assert not allowed.is_error
    assert refused.is_error


async def test_empty_allowlist_admits_nothing(
    make_server: Callable[..., WardenServer], fake_github: FakeGitHub
) -> None:
    server = make_server(repos=())
    async with connect(server) as client:
        direct = await client.call_tool("gh_get_file", {"repo": "acme/api"})
        search = await client.call_tool("gh_search", {"query": "api", "kind": "repos"})
        alerts = await client.call_tool("gh_security_alerts", {"kind": "dependabot"})
    assert direct.is_error and search.is_error and alerts.is_error
    assert "WARDEN_GITHUB_REPOS" in text_of(search) and "WARDEN_GITHUB_REPOS" in text_of(alerts)
    assert fake_github.requests == []


@pytest.mark.parametrize(
    ("kind", "extra"),
    [
        ("repos", "is:public"),
        ("code", "def"),
        ("issues", "crash"),
        ("pulls", "retry"),
    ],
)
async def test_search_is_scoped_to_the_allowlist(
    make_server: Callable[..., WardenServer], fake_github: FakeGitHub, kind: str, extra: str
) -> None:
    server = make_server(repos=("acme/api", "acme/web", "other/*"))
    async with connect(server) as client:
        result = await client.call_tool("gh_search", {"query": extra, "kind": kind})
    assert not result.is_error, text_of(result)
    (request,) = fake_github.requests
    q = request.param("q")
    assert q is not None
    assert q.startswith(extra)
    assert "user:other" in q and "repo:acme/api" in q and "repo:acme/web" in q
    assert "acme/secret" not in str(result.structured_content)


@pytest.mark.parametrize("query", ["repo:acme/secret password", "org:evil token", "secret USER:acme", "x owner:evil"])
async def test_search_refuses_scope_qualifiers_in_the_query(
    make_server: Callable[..., WardenServer], fake_github: FakeGitHub, query: str
) -> None:
    server = make_server()
    async with connect(server) as client:
        result = await client.call_tool("gh_search", {"query": query})
    assert result.is_error
    assert "`repo` argument" in text_of(result)
    assert fake_github.requests == []


def quirky_code_search(fake: FakeGitHub, *, more_pages: bool = False) -> Response:
    """A code search answered with repositories outside its `repo:` scope, counted by GitHub (3)."""

    def item(repo: str, path: str) -> dict[str, Any]:
        return {
            "path": path,
            "html_url": f"https://github.com/{repo}/blob/main/{path}",
            "repository": {"full_name": repo},
            "text_matches": [],
        }

    items = [item("acme/api", "app.py"), item("acme/secret", ".env"), item("evil/exfil", "x")]
    response = fake.ok({"total_count": 3, "incomplete_results": False, "items": items})
    if more_pages:
        response.headers["Link"] = f'<{fake.url}/search/code?q=token&page=2>; rel="next"'
    return response


async def test_search_results_outside_the_allowlist_are_dropped(
    make_server: Callable[..., WardenServer], fake_github: FakeGitHub
) -> None:
    """Even if GitHub answered with other repositories (an owner-wide scope, a quirk), they never come back,
    and neither does a count that includes them."""
    server = make_server(repos=("acme/api", "acme/web"))
    async with connect(server) as client:
        fake_github.inject("GET", "/search/code", lambda request: quirky_code_search(fake_github))
        whole = await client.call_tool("gh_search", {"query": "token"})
        fake_github.inject("GET", "/search/code", lambda request: quirky_code_search(fake_github, more_pages=True))
        first = await client.call_tool("gh_search", {"query": "token"})
    for result in (whole, first):
        assert [hit["repo"] for hit in data_of(result)["items"]] == ["acme/api"]
    assert data_of(whole)["total_count"] == 1, "GitHub's whole answer was one page: counted here"
    assert "total_count" not in data_of(first), "the rest is unseen and GitHub's 3 includes hidden matches"


@pytest.mark.parametrize(("kind", "visible"), [("code", 5), ("issues", 67)])
async def test_search_counts_only_what_the_allowlist_admits(
    make_server: Callable[..., WardenServer], fake_github: FakeGitHub, kind: str, visible: int
) -> None:
    """`acme/a*` admits acme/api only but searches as user:acme, where GitHub also finds (and counts) acme/secret:
    6 code hits and 68 issues in the fake. The caller learns the count of what it may see, or that it is unknown."""
    server = make_server(repos=("acme/a*",))
    async with connect(server) as client:
        whole = await client.call_tool("gh_search", {"query": "x", "kind": kind, "limit": 100})
        paged = await client.call_tool("gh_search", {"query": "x", "kind": kind, "limit": 2})
    assert "user:acme" in str(fake_github.requests[0].param("q"))
    assert data_of(whole)["total_count"] == visible
    assert "total_count" not in data_of(paged)


async def test_search_gives_githubs_count_when_the_scope_admits_only_allowed_repositories(
    make_server: Callable[..., WardenServer], fake_github: FakeGitHub
) -> None:
    """`acme/*` searches as user:acme and admits all of it, so GitHub's count is true on every page."""
    server = make_server(repos=("acme/*",))
    page = await call(server, "gh_search", {"query": "api", "kind": "repos", "limit": 2})
    assert page["total_count"] == 4 and page["next_cursor"]


async def test_owner_glob_patterns_need_an_explicit_repo(
    make_server: Callable[..., WardenServer], fake_github: FakeGitHub
) -> None:
    server = make_server(repos=("acme-*/*",))
    async with connect(server) as client:
        result = await client.call_tool("gh_search", {"query": "bug", "kind": "issues"})
    assert result.is_error and "pass `repo`" in text_of(result)
    assert fake_github.requests == []


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("gh_get_file", {"repo": "acme/.."}),
        ("gh_get_file", {"repo": "../acme"}),
        ("gh_get_file", {"repo": "acme/\u0430pi"}),  # a Cyrillic a: GitHub names are ASCII
        ("gh_get_file", {"repo": "acme/api", "path": "../../secret/.env"}),
        ("gh_get_file", {"repo": "acme/api", "path": "/etc/passwd"}),
        ("gh_list_commits", {"repo": "acme/api", "sha": "../../../user"}),
        ("gh_security_alerts", {"kind": "dependabot", "repo": "acme/api", "alert": "../../x"}),
        ("gh_list_issues", {"repo": "acme/api", "unknown": 1}),
        ("gh_get_issue", {"repo": "acme/api", "number": 0}),
        ("gh_list_issues", {"repo": "acme/api", "limit": 1000}),
    ],
)
async def test_malformed_arguments_are_refused_before_any_request(
    make_server: Callable[..., WardenServer], fake_github: FakeGitHub, tool: str, arguments: dict[str, Any]
) -> None:
    server = make_server(repos=("*",), groups=ALL_GROUPS)
    async with connect(server) as client:
        result = await client.call_tool(tool, arguments)
    assert result.is_error
    assert fake_github.requests == []


async def test_a_foreign_cursor_is_refused(make_server: Callable[..., WardenServer], fake_github: FakeGitHub) -> None:
    server = make_server()
    async with connect(server) as client:
        first = await client.call_tool("gh_list_issues", {"repo": "acme/api", "limit": 5})
        cursor = data_of(first)["next_cursor"]
        other = await client.call_tool("gh_list_issues", {"repo": "acme/web", "cursor": cursor})
        garbage = await client.call_tool("gh_list_issues", {"repo": "acme/api", "cursor": "not-a-cursor"})
    assert cursor
    assert other.is_error and "cursor" in text_of(other)
    assert garbage.is_error
    assert len(fake_github.requests) == 1


async def test_unmatched_route_is_a_clear_not_found(
    make_server: Callable[..., WardenServer], fake_github: FakeGitHub
) -> None:
    fake_github.inject("GET", r"/repos/acme/web/issues/\d+", Response(404, {"message": "Not Found"}))
    server = make_server()
    async with connect(server) as client:
        result = await client.call_tool("gh_get_issue", {"repo": "acme/web", "number": 99})
    assert result.is_error
    assert "was not found (or this server's token cannot see it)" in text_of(result)
