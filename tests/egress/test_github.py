"""GitHub: canaries in Actions logs, file contents, issue bodies and comments, pull request bodies and diffs,
a submodule URL and a download URL never come back, over memory, stdio and HTTP; nor the server's own token."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.egress.canaries import GHS, PLANTED, VISIBLE, assert_clean
from tests.egress.harness import API_KEY, Calls, in_memory, over_http, over_stdio
from tests.github.conftest import settings_for
from tests.github.fake_github import TOKEN, FakeGitHub
from warden_github.server import build_server

pytestmark = pytest.mark.anyio

CALLS: Calls = [
    ("gh_get_issue", {"repo": "acme/api", "number": 7}),
    ("gh_get_file", {"repo": "acme/api", "path": "config/prod.env"}),
    ("gh_get_file", {"repo": "acme/api", "path": "tools/fetch.txt"}),
    ("gh_get_file", {"repo": "acme/api", "path": "vendor/lib"}),
    ("gh_get_job_logs", {"repo": "acme/api", "job_id": 777, "tail_lines": 500}),
    ("gh_get_issue", {"repo": "acme/api", "number": 12}),
    ("gh_get_issue", {"repo": "acme/api", "number": 12, "part": "diff"}),
]


def plant(fake: FakeGitHub) -> None:
    # An issue body quoting the server's own token, and a comment, both full of canaries.
    fake.issues["acme/api"][7]["body"] = f"{PLANTED}\nmy CI uses {TOKEN}"
    fake.comments[("acme/api", 7)][0]["body"] = PLANTED
    fake.pulls["acme/api"][12]["body"] = PLANTED
    fake.contents[("acme/api", "config/prod.env")] = PLANTED.encode()
    fake.logs[777] = "".join(
        f"2026-11-01T10:00:0{i % 10}.0000000Z {line}\r\n" for i, line in enumerate(PLANTED.splitlines())
    ).encode()
    api = "https://api.github.com/repos/acme/api"
    download = {
        "name": "fetch.txt",
        "path": "tools/fetch.txt",
        "sha": "a" * 40,
        "size": len(VISIBLE),
        "type": "file",
        "url": f"{api}/contents/tools/fetch.txt?ref=main",
        "html_url": "https://github.com/acme/api/blob/main/tools/fetch.txt",
        "git_url": f"{api}/git/blobs/{'a' * 40}",
        "download_url": "https://raw.githubusercontent.com/acme/api/main/tools/fetch.txt?token=ACn4ryDownloadTokenAAAAA",
        "content": base64.b64encode(VISIBLE.encode()).decode(),
        "encoding": "base64",
    }
    submodule = {
        **download,
        "name": "lib",
        "path": "vendor/lib",
        "type": "submodule",
        "size": 0,
        "download_url": None,
        "content": None,
        "encoding": None,
        "submodule_git_url": f"https://x-access-token:{GHS}@github.com/acme/lib.git",
    }
    patch = "@@ -0,0 +1,30 @@\n" + "".join(f"+{line}\n" for line in PLANTED.splitlines())
    files = [
        {
            "sha": "4" * 40,
            "filename": "deploy/.env",
            "status": "added",
            "additions": 30,
            "deletions": 0,
            "changes": 30,
            "patch": patch,
        }
    ]
    fake.inject("GET", r"/repos/acme/api/contents/tools/fetch\.txt", fake.ok(download), times=100)
    fake.inject("GET", r"/repos/acme/api/contents/vendor/lib", fake.ok(submodule), times=100)
    fake.inject("GET", r"/repos/acme/api/pulls/12/files", fake.ok(files), times=100)


def check(wire: str) -> None:
    assert VISIBLE in wire and "[masked" in wire
    assert_clean({"answers": wire}, extra=(TOKEN,))


async def test_in_memory_both_eras(fake_github: FakeGitHub, era: str, capfd: pytest.CaptureFixture[str]) -> None:
    plant(fake_github)
    answers = await in_memory(build_server(settings_for(fake_github, lockdown=False, log_level="DEBUG")), CALLS, era)
    answers.check(CALLS)
    check(answers.wire)
    captured = capfd.readouterr()
    assert_clean({"stderr (logs, audit)": captured.err, "stdout": captured.out}, extra=(TOKEN,))


async def test_over_http(fake_github: FakeGitHub, capfd: pytest.CaptureFixture[str]) -> None:
    plant(fake_github)
    server = build_server(settings_for(fake_github, lockdown=False, api_keys=(f"ci:{API_KEY}",), log_level="DEBUG"))
    answers = await over_http(server, CALLS)
    answers.check(CALLS)
    check(answers.wire)
    captured = capfd.readouterr()
    assert_clean({"stderr (logs, audit)": captured.err}, extra=(TOKEN,))


def test_over_stdio(fake_github: FakeGitHub) -> None:
    plant(fake_github)
    env: dict[str, Any] = {
        "WARDEN_GITHUB_TOKEN": fake_github.token,
        "WARDEN_GITHUB_API_URL": fake_github.url,
        "WARDEN_GITHUB_REPOS": "acme/api",
        "WARDEN_GITHUB_LOG_LEVEL": "DEBUG",
        "WARDEN_GITHUB_AUDIT_ARGUMENTS": "true",
    }
    answers, everything = over_stdio("warden_github", env, CALLS)
    answers.check(CALLS)
    check(answers.wire)
    assert_clean({"stdio (stdout and stderr)": everything}, extra=(TOKEN,))
