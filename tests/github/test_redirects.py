"""Redirects: a renamed or transferred repository never takes a tool outside the allowlist, and a write never moves.

GitHub answers a repository's old name with a redirect to its new home (301 for reads, 307 for
writes, to `/repositories/<id>/...`), and the fake does the same after `move()`, serving the
repository at that id, so following a redirect here would succeed: each refusal below is the
server's. "Before any request" is checked on the fake's log: nothing reached the new home.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.github.conftest import ALL_GROUPS, GIT, writable
from tests.github.fake_github import FakeGitHub
from tests.github.helpers import data_of, text_of
from tests.support.fake_http import Request, Response
from warden_core import WardenServer
from warden_core.testing import connect

pytestmark = pytest.mark.anyio

# Every read tool that names a repository, aimed at acme/api (allowed, and holding all the fake's data).
READS: list[tuple[str, dict[str, Any]]] = [
    ("gh_get_repo", {}),
    ("gh_get_repo", {"part": "releases"}),
    ("gh_get_repo", {"part": "labels"}),
    ("gh_get_file", {"path": "README.md"}),
    ("gh_get_file", {"recursive": True}),
    ("gh_get_file", {"recursive": True, "ref": "main"}),
    ("gh_list_commits", {}),
    ("gh_list_commits", {"sha": "main"}),
    ("gh_list_issues", {}),
    ("gh_list_issues", {"kind": "pulls"}),
    ("gh_get_issue", {"number": 1}),
    ("gh_get_issue", {"number": 12}),
    ("gh_get_issue", {"number": 12, "part": "checks"}),
    ("gh_list_runs", {}),
    ("gh_list_runs", {"run_id": 555}),
    ("gh_get_job_logs", {"job_id": 777}),
    ("gh_get_job_logs", {"pull": 12}),
    ("gh_security_alerts", {"kind": "dependabot"}),
    ("gh_security_alerts", {"kind": "secret_scanning", "alert": "5"}),
]


def reached(fake: FakeGitHub, *fragments: str) -> list[str]:
    """Paths of recorded requests containing any of `fragments`."""
    return [request.path for request in fake.requests if any(f in request.path for f in fragments)]


def redirect_to(location: str) -> Response:
    return Response(301, {"message": "Moved Permanently", "url": location}, {"Location": location})


@pytest.mark.parametrize(("tool", "arguments"), READS, ids=[f"{t}-{'-'.join(map(str, a.values()))}" for t, a in READS])
async def test_every_read_refuses_a_transferred_repository_before_reading_it(
    make_server: Callable[..., WardenServer], fake_github: FakeGitHub, tool: str, arguments: dict[str, Any]
) -> None:
    fake_github.move("acme/api", "evil/api")  # its admin transferred it to an owner the allowlist does not name
    async with connect(make_server(groups=ALL_GROUPS)) as client:
        result = await client.call_tool(tool, {"repo": "acme/api", **arguments})
    assert result.is_error
    assert "acme/api has moved (a renamed or transferred repository)" in text_of(result)
    assert "nothing was read there" in text_of(result)
    assert reached(fake_github, "/repositories/", "evil") == []
    assert reached(fake_github, "/repos/acme/api"), "GitHub was asked, and answered with the redirect"


@pytest.mark.parametrize(
    ("tool", "arguments", "path"),
    [
        ("gh_create_issue", {"title": "Report", "body": "CANARY-WRITE"}, "issues"),
        ("gh_add_comment", {"number": 1, "body": "CANARY-WRITE"}, "issues/1/comments"),
        ("gh_create_pull", {"title": "CANARY-WRITE", "head": "feature", "base": "main"}, "pulls"),
    ],
)
async def test_a_write_to_a_moved_repository_is_never_sent_on(
    make_server: Callable[..., WardenServer],
    fake_github: FakeGitHub,
    tool: str,
    arguments: dict[str, Any],
    path: str,
) -> None:
    """No confirmation (`confirm_writes=none`) so that the write itself meets GitHub's 307."""
    fake_github.move("acme/private-tools", "evil/private-tools")
    async with connect(make_server(**writable(confirm_writes="none"))) as client:
        result = await client.call_tool(tool, {"repo": "acme/private-tools", **arguments})
    assert result.is_error
    assert "has moved (HTTP 307)" in text_of(result) and "nothing was written" in text_of(result)
    assert [request.path for request in fake_github.calls("POST")] == [f"/repos/acme/private-tools/{path}"]
    assert reached(fake_github, "/repositories/", "evil") == []
    assert fake_github.created == []


async def test_with_default_settings_a_moved_write_target_is_refused_before_asking(
    make_server: Callable[..., WardenServer], fake_github: FakeGitHub
) -> None:
    """The confirmation looks up the repository's visibility first; that read meets the redirect."""
    fake_github.move("acme/api", "evil/api")
    asked: list[str] = []

    async def user(context: Any, params: Any) -> Any:
        asked.append(params.message)
        raise AssertionError("the user must not be asked about a write that cannot happen")

    async with connect(make_server(**writable()), elicitation_callback=user) as client:
        result = await client.call_tool("gh_create_issue", {"repo": "acme/api", "title": "CANARY-WRITE"})
    assert result.is_error and "has moved" in text_of(result)
    assert asked == [] and fake_github.calls("POST") == []
    assert reached(fake_github, "/repositories/", "evil") == []


@pytest.mark.parametrize("target", ["acme/api", "evil/exfil"])
async def test_a_write_answered_with_a_301_is_not_followed_even_to_an_allowed_repository(
    make_server: Callable[..., WardenServer], fake_github: FakeGitHub, target: str
) -> None:
    """PyGithub on its own re-sends a POST to a 301's location; the server never does."""
    fake_github.inject(
        "POST", r"/repos/acme/private-tools/issues", redirect_to(f"{fake_github.url}/repos/{target}/issues")
    )
    async with connect(make_server(**writable())) as client:
        result = await client.call_tool("gh_create_issue", {"repo": "acme/private-tools", "title": "CANARY-WRITE"})
    assert result.is_error and "nothing was written" in text_of(result)
    assert [request.path for request in fake_github.calls("POST")] == ["/repos/acme/private-tools/issues"]
    assert fake_github.created == []


# Where an attacker-controlled move could point the README request of acme/api ({url}: the fake API).
ATTACKER_LOCATIONS = [
    "{url}/repositories/6001/contents/.env",  # evil/exfil, by id
    "{url}/Repositories/6001/contents/.env",
    "{url}/repos/evil/exfil/contents/.env",
    "{url}/repos/EVIL/Exfil/contents/.env",
    "{url}/repos/%65vil/exfil/contents/.env",
    "{url}/repos/acme/api-fork/contents/.env",  # shares the allowed name's prefix
    "{url}/repos/acme/secret/contents/.env",  # same owner, not allowed
    "/repos/evil/exfil/contents/.env",  # relative: resolved against the API
    "{url}/repos/acme/api/../../evil/exfil/contents/.env",
    "{url}/repos/acme/api/contents/..%2F..%2F..%2Fevil%2Fexfil%2Fcontents%2F.env",
    "{url}/repos/acme/api%2F..%2F..%2Fevil%2Fexfil/contents/.env",
    "https://evil.example/repos/acme/api/contents/README.md",  # another host
    "https://127.0.0.1:{port}/repos/acme/api/contents/README.md",  # another scheme
    "http://user:pass@127.0.0.1:{port}/repos/acme/api/contents/README.md",
    "{url}/user",  # the API, but no repository
]


@pytest.mark.parametrize("template", ATTACKER_LOCATIONS)
async def test_attacker_redirects_are_refused_before_any_request(
    make_server: Callable[..., WardenServer], fake_github: FakeGitHub, template: str
) -> None:
    location = template.format(url=fake_github.url, port=fake_github.api.port)
    fake_github.inject("GET", r"/repos/acme/api/contents/README\.md", redirect_to(location))
    async with connect(make_server()) as client:
        result = await client.call_tool("gh_get_file", {"repo": "acme/api", "path": "README.md"})
    assert result.is_error
    assert "README.md in acme/api" in text_of(result)
    assert location not in text_of(result), "a location from GitHub is not echoed to the model"
    assert [request.path for request in fake_github.requests] == ["/repos/acme/api/contents/README.md"]


async def test_a_transferred_issue_is_not_followed_to_another_repository(
    make_server: Callable[..., WardenServer], fake_github: FakeGitHub
) -> None:
    """Sub-resources move too: GitHub redirects a transferred issue to its new repository."""
    fake_github.inject("GET", r"/repos/acme/api/issues/7", redirect_to(f"{fake_github.url}/repos/evil/exfil/issues/1"))
    async with connect(make_server()) as client:
        result = await client.call_tool("gh_get_issue", {"repo": "acme/api", "number": 7})
    assert result.is_error
    assert "issue #7 in acme/api has moved to evil/exfil, which is not allowed" in text_of(result)
    assert reached(fake_github, "evil") == []


async def test_a_log_request_moved_elsewhere_is_not_downloaded(
    make_server: Callable[..., WardenServer], fake_github: FakeGitHub
) -> None:
    fake_github.inject(
        "GET",
        r"/repos/acme/api/actions/jobs/777/logs",
        redirect_to(f"{fake_github.url}/repositories/6001/actions/jobs/777/logs"),
    )
    async with connect(make_server()) as client:
        result = await client.call_tool("gh_get_job_logs", {"repo": "acme/api", "job_id": 777})
    assert result.is_error and "has moved" in text_of(result)
    assert reached(fake_github, "/repositories/", "/_blobs/") == []


async def test_a_search_redirected_off_the_repositories_is_not_followed(
    make_server: Callable[..., WardenServer], fake_github: FakeGitHub
) -> None:
    fake_github.inject("GET", r"/search/code", redirect_to(f"{fake_github.url}/search/code?q=org:evil+password"))
    async with connect(make_server()) as client:
        result = await client.call_tool("gh_search", {"query": "password"})
    assert result.is_error and "redirected the request for the code search elsewhere" in text_of(result)
    assert len(fake_github.requests) == 1


@pytest.mark.parametrize("spelling", ["acme/api", "ACME/Api"])
async def test_a_move_named_by_an_allowed_owner_and_name_is_followed(
    make_server: Callable[..., WardenServer], fake_github: FakeGitHub, spelling: str
) -> None:
    """The one redirect a read follows: to a repository the allowlist admits (names compare without case)."""
    fake_github.inject(
        "GET",
        r"/repos/acme/web/contents/README\.md",
        redirect_to(f"{fake_github.url}/repos/{spelling}/contents/README.md?ref=main"),
    )
    async with connect(make_server()) as client:
        result = await client.call_tool("gh_get_file", {"repo": "acme/web", "path": "README.md", "ref": "main"})
    assert not result.is_error, text_of(result)
    assert data_of(result)["content"].startswith("# Acme API")
    first, followed = fake_github.requests
    assert first.path == "/repos/acme/web/contents/README.md"
    assert followed.path == f"/repos/{spelling}/contents/README.md"
    assert followed.query == {"ref": ["main"]}, "the query comes from the location, once"
    assert followed.headers["authorization"] == f"token {fake_github.token}"


async def test_redirect_chains_stop(make_server: Callable[..., WardenServer], fake_github: FakeGitHub) -> None:
    def bounce(request: Request) -> Response:
        other = "web" if "/acme/api/" in request.path else "api"
        return redirect_to(f"{fake_github.url}/repos/acme/{other}/contents/README.md")

    fake_github.inject("GET", r"/repos/acme/(api|web)/contents/README\.md", bounce, times=10)
    async with connect(make_server()) as client:
        result = await client.call_tool("gh_get_file", {"repo": "acme/api", "path": "README.md"})
    assert result.is_error and "redirected the request for README.md in acme/api too many times" in text_of(result)
    assert len(fake_github.requests) == 4


async def test_a_rename_inside_the_allowlist_works_by_its_new_name(
    make_server: Callable[..., WardenServer], fake_github: FakeGitHub
) -> None:
    """GitHub names a moved repository's new home by id only, so even an allowed rename is refused under
    the old name, with a hint; the new name works. (An owner-wide allowlist, so that the new name is admitted.)"""
    fake_github.move("acme/web", "acme/website")
    server = make_server(repos=("acme/*",), groups=GIT)
    async with connect(server) as client:
        old = await client.call_tool("gh_get_repo", {"repo": "acme/web"})
        new = await client.call_tool("gh_get_repo", {"repo": "acme/website"})
    assert old.is_error and "call again with its new name" in text_of(old)
    assert not new.is_error and data_of(new)["repo"]["full_name"] == "acme/website"
    assert reached(fake_github, "/repositories/") == []
