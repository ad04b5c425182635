"""repos and git tools against the fake: files (small, large, paged, binary, directories), trees, refs, labels,
commits, search."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.github.conftest import GIT
from tests.github.fake_github import FakeGitHub
from tests.github.helpers import call, text_of
from warden_core import WardenServer
from warden_core.testing import connect

pytestmark = pytest.mark.anyio


async def test_get_repo(make_server: Callable[..., WardenServer], fake_github: FakeGitHub, era: str) -> None:
    data = await call(make_server(groups=GIT), "gh_get_repo", {"repo": "acme/api"}, era)
    repo = data["repo"]
    assert repo["full_name"] == "acme/api"
    assert repo["default_branch"] == "main"
    assert repo["visibility"] == "public"
    assert repo["license"] == "Apache-2.0"
    assert repo["permissions"] == ["pull", "push", "triage"]
    (request,) = fake_github.requests
    assert request.path == "/repos/acme/api"
    assert request.headers["authorization"] == f"token {fake_github.token}"
    assert request.headers["x-github-api-version"] == "2022-11-28"
    assert request.headers["user-agent"].startswith("warden-github/")


async def test_small_text_file_is_returned_sanitized(make_server: Callable[..., WardenServer]) -> None:
    result = await call(make_server(), "gh_get_file", {"repo": "acme/api", "path": "README.md"})
    assert result["type"] == "file"
    assert result["content"] == "# Acme API\n\nRun `acme serve`. hidden\n"  # the bidi override is gone
    assert "\u202e" not in result["content"]
    assert result["truncated"] is False and "next_cursor" not in result


async def test_file_over_the_size_cap_becomes_a_link(make_server: Callable[..., WardenServer]) -> None:
    result = await call(make_server(), "gh_get_file", {"repo": "acme/api", "path": "data/medium.txt"})
    assert "content" not in result
    assert result["size"] == 165_000
    assert "over this server's limit of 100000" in result["note"]
    assert result["download_url"] == "https://raw.githubusercontent.com/acme/api/main/data/medium.txt"
    assert result["url"] == "https://github.com/acme/api/blob/main/data/medium.txt"


async def test_file_over_a_megabyte_becomes_a_link(make_server: Callable[..., WardenServer]) -> None:
    """GitHub sends files over 1 MB with `"encoding": "none"` and no content."""
    result = await call(
        make_server(max_file_bytes=1_000_000), "gh_get_file", {"repo": "acme/api", "path": "data/huge.csv"}
    )
    assert "content" not in result
    assert "2500000 bytes" in result["note"]
    assert result["download_url"]


async def test_a_file_larger_than_the_output_cap_is_read_in_parts(make_server: Callable[..., WardenServer]) -> None:
    """A text file over the output cap (here the default 32 KiB) pages by cursor, whole and without overlap."""
    server = make_server(max_file_bytes=200_000)
    arguments: dict[str, Any] = {"repo": "acme/api", "path": "data/medium.txt"}
    parts = []
    for _ in range(10):
        result = await call(server, "gh_get_file", arguments)
        assert len(json.dumps(result)) <= server.settings.max_output_bytes
        parts.append(result["content"])
        if "next_cursor" not in result:
            break
        assert result["truncated"] is True
        arguments["cursor"] = result["next_cursor"]
    assert len(parts) == 6
    assert "".join(parts) == "0123456789\n" * 15_000


async def test_binary_file_becomes_a_link(make_server: Callable[..., WardenServer]) -> None:
    result = await call(make_server(), "gh_get_file", {"repo": "acme/api", "path": "assets/logo.png"})
    assert "content" not in result
    assert "binary" in result["note"]


async def test_directory_listing(make_server: Callable[..., WardenServer], fake_github: FakeGitHub) -> None:
    root = await call(make_server(), "gh_get_file", {"repo": "acme/api"})
    assert root["type"] == "dir"
    assert root["entries"] == ["README.md", "assets/", "data/", "src/"]
    await call(make_server(), "gh_get_file", {"repo": "acme/api", "path": "src/app.py", "ref": "feature/retry"})
    request = fake_github.calls(path_contains="src/app.py")[0]
    assert request.path == "/repos/acme/api/contents/src/app.py"
    assert request.param("ref") == "feature/retry"


async def test_missing_file_is_not_found(make_server: Callable[..., WardenServer]) -> None:
    async with connect(make_server()) as client:
        result = await client.call_tool("gh_get_file", {"repo": "acme/api", "path": "nope.txt"})
    assert result.is_error
    assert "nope.txt in acme/api was not found" in text_of(result)


async def test_tree_pages_with_a_cursor(make_server: Callable[..., WardenServer], fake_github: FakeGitHub) -> None:
    server = make_server()
    tree = {"repo": "acme/api", "recursive": True, "limit": 200}
    first = await call(server, "gh_get_file", tree)
    assert first["type"] == "tree"
    assert fake_github.calls(path_contains="/git/trees/")[0].path == "/repos/acme/api/git/trees/main"  # default
    assert first["entries"][:3] == ["README.md", "assets/", "assets/logo.png"]
    assert len(first["entries"]) == 200 and first["next_cursor"]
    second = await call(server, "gh_get_file", {**tree, "cursor": first["next_cursor"]})
    assert "next_cursor" not in second
    assert len(first["entries"]) + len(second["entries"]) == 309  # 4 directories, 305 files
    assert not set(first["entries"]) & set(second["entries"])
    under = await call(server, "gh_get_file", {"repo": "acme/api", "ref": "main", "path": "src", "recursive": True})
    assert under["entries"] == ["src/app.py"]


async def test_branches_follow_link_pagination(
    make_server: Callable[..., WardenServer], fake_github: FakeGitHub
) -> None:
    server = make_server(groups=GIT)
    names: list[str] = []
    cursor = ""
    for _ in range(5):
        arguments = {"repo": "acme/api", "part": "branches", "limit": 15, "cursor": cursor}
        page = await call(server, "gh_get_repo", arguments)
        names += [ref["name"] for ref in page["refs"]]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    assert len(names) == 41 and len(set(names)) == 41
    assert names[0] == "main"
    assert [r.param("page") for r in fake_github.calls(path_contains="/branches")] == ["1", "2", "3"]


async def test_tags_releases_and_labels(make_server: Callable[..., WardenServer]) -> None:
    server = make_server(groups=GIT)
    tags = await call(server, "gh_get_repo", {"repo": "acme/api", "part": "tags"})
    assert [t["name"] for t in tags["refs"]] == ["v1.1.0", "v1.0.0"]
    releases = await call(server, "gh_get_repo", {"repo": "acme/api", "part": "releases"})
    (release,) = releases["refs"]
    assert release["tag"] == "v1.1.0" and release["author"] == "octocat"
    assert "internal: not for publication" not in release["body"]  # hidden HTML comment dropped
    labels = await call(server, "gh_get_repo", {"repo": "acme/api", "part": "labels"})
    assert labels["refs"][:2] == [
        {"name": "bug", "body": "Something isn't working"},
        {"name": "triage", "body": "Needs a look"},
    ]


async def test_commits_and_a_commit_with_its_diff(
    make_server: Callable[..., WardenServer], fake_github: FakeGitHub
) -> None:
    server = make_server(max_output_bytes=8192, groups=GIT)
    commits = await call(server, "gh_list_commits", {"repo": "acme/api", "path": "src/app.py", "limit": 2})
    assert len(commits["commits"]) == 2 and commits["next_cursor"]
    assert commits["commits"][0]["author"] == "octocat"
    assert fake_github.calls(path_contains="/commits")[0].param("path") == "src/app.py"

    files: dict[str, dict[str, Any]] = {}
    cursor = ""
    pages = []
    for _ in range(4):
        page = await call(
            server, "gh_list_commits", {"repo": "acme/api", "sha": "feature/retry", "limit": 2, "cursor": cursor}
        )
        pages.append(page)
        files |= {f["path"]: f for f in page["files"]}
        cursor = page.get("next_cursor")
        if not cursor:
            break
    assert fake_github.calls(path_contains="/commits/")[0].path == "/repos/acme/api/commits/feature%2Fretry"
    assert pages[0]["commits"][0]["message"].startswith("Add retry logic")
    assert pages[0]["commits"][0]["parents"] == ["9" * 40]
    assert len(pages) == 3 and len(files) == 5
    assert files["src/retry.py"]["patch"].startswith("@@ -0,0 +1,3 @@")
    # The 4000-line patch is cut to its share of the output cap, and the page says so.
    assert files["data/fixtures.txt"]["patch"].endswith("[truncated]")
    assert len(files["data/fixtures.txt"]["patch"]) <= 4096
    assert pages[1]["truncated"] is True and pages[0]["truncated"] is False
    assert files["assets/logo.png"]["patch"].startswith("(no textual diff")
    assert files["docs/new.md"]["previous_path"] == "docs/old.md"


async def test_bad_commit_is_an_invalid_argument(make_server: Callable[..., WardenServer]) -> None:
    async with connect(make_server(groups=GIT)) as client:
        result = await client.call_tool("gh_list_commits", {"repo": "acme/api", "sha": "deadbeef"})
    assert result.is_error
    assert "No commit found for SHA: deadbeef" in text_of(result)


async def test_search_repos_and_code(make_server: Callable[..., WardenServer], fake_github: FakeGitHub) -> None:
    server = make_server(repos=("acme/*",))
    repos = await call(server, "gh_search", {"query": "api", "kind": "repos"})
    assert {r["repo"] for r in repos["items"]} == {"acme/api", "acme/web", "acme/secret", "acme/private-tools"}
    assert {r["private"] for r in repos["items"]} == {True, False}
    assert fake_github.calls(path_contains="/search/repositories")[0].param("q") == "api user:acme"
    code = await call(server, "gh_search", {"query": "main", "repo": "acme/api", "limit": 2})
    assert fake_github.calls(path_contains="/search/code")[0].param("q") == "main repo:acme/api"
    assert (
        fake_github.calls(path_contains="/search/code")[0].headers["accept"] == "application/vnd.github.text-match+json"
    )
    assert len(code["items"]) == 2 and code["next_cursor"]
    assert code["items"][0]["fragments"] == ["def main():\n    print('hello')"]
