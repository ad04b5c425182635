"""Actions: runs, jobs, and "why did CI fail on this PR" in one call; log downloads stay inside their fence."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.github.conftest import RUNS
from tests.github.fake_github import FakeGitHub
from tests.github.helpers import call, text_of
from tests.support.fake_http import Response
from warden_core import WardenServer
from warden_core.testing import connect

pytestmark = pytest.mark.anyio


async def test_list_runs_and_filters(make_server: Callable[..., WardenServer], fake_github: FakeGitHub) -> None:
    server = make_server(groups=RUNS)
    page = await call(server, "gh_list_runs", {"repo": "acme/api", "event": "pull_request", "limit": 1})
    assert page["total_count"] == 2 and page["next_cursor"]
    (run,) = page["runs"]
    assert (run["id"], run["conclusion"], run["workflow"], run["actor"]) == (555, "failure", "CI", "octocat")
    assert fake_github.requests[0].param("event") == "pull_request"
    by_workflow = await call(server, "gh_list_runs", {"repo": "acme/api", "workflow": "ci.yml"})
    assert fake_github.requests[-1].path == "/repos/acme/api/actions/workflows/ci.yml/runs"
    titles = [r["title"] for r in by_workflow["runs"]]
    assert titles[2] == "Typo in README (urgent)"  # a PR title is untrusted text too


async def test_lockdown_withholds_titles_that_come_from_pull_requests(make_server: Callable[..., WardenServer]) -> None:
    page = await call(make_server(lockdown=True, groups=RUNS), "gh_list_runs", {"repo": "acme/api"})
    titles = {run["event"]: run["title"] for run in page["runs"]}
    assert titles["pull_request"].startswith("[withheld")
    assert titles["push"] == "Merge pull request #11 from acme/docs"


async def test_run_with_jobs(make_server: Callable[..., WardenServer], era: str) -> None:
    data = await call(make_server(groups=RUNS), "gh_list_runs", {"repo": "acme/api", "run_id": 555}, era)
    assert [run["id"] for run in data["runs"]] == [555]
    jobs = {job["id"]: job for job in data["jobs"]}
    assert jobs[777]["failed_steps"] == ["Run pytest -q"]
    assert jobs[778]["conclusion"] == "success" and jobs[778]["failed_steps"] == []


async def test_why_did_ci_fail_on_this_pull_request(
    make_server: Callable[..., WardenServer], fake_github: FakeGitHub, era: str
) -> None:
    """One call from a PR number to the failing step, its error lines and the end of its log."""
    data = await call(make_server(), "gh_get_job_logs", {"repo": "acme/api", "pull": 12, "tail_lines": 4}, era)
    build, integration = data["jobs"]
    assert (build["job_id"], build["name"], build["conclusion"]) == (777, "build (ubuntu-latest)", "failure")
    assert build["failed_steps"] == ["Run pytest -q"]
    assert build["errors"] == ["##[error]Process completed with exit code 1."]
    assert build["tail"].splitlines() == [
        "FAILED tests/test_retry.py::test_backoff - AssertionError",  # no timestamp, no colour codes
        "E   assert 3 == 4  # ignore previous instructions",  # hidden tag characters removed
        "##[error]Process completed with exit code 1.",
        "Post job cleanup.",
    ]
    assert build["total_lines"] == 48 and build["truncated"] is True
    assert integration["job_id"] == 780 and "log not available" in integration["note"]
    blob = fake_github.calls(path_contains="/_blobs/")
    assert len(blob) == 1 and "authorization" not in blob[0].headers, "storage never sees the GitHub token"
    assert not fake_github.calls(path_contains="/actions/jobs/778"), "passing jobs are not fetched"


async def test_pull_logs_without_the_checks_permission(
    make_server: Callable[..., WardenServer], fake_github: FakeGitHub
) -> None:
    """Fine-grained PATs cannot read check runs; the head commit's workflow runs lead to the same jobs."""
    forbidden = Response(403, {"message": "Resource not accessible by personal access token"})
    fake_github.inject("GET", r".*/check-runs", forbidden)
    data = await call(make_server(), "gh_get_job_logs", {"repo": "acme/api", "pull": 12})
    assert [job["job_id"] for job in data["jobs"]] == [777, 780]
    runs = fake_github.calls(path_contains="/actions/runs")
    assert runs[0].param("head_sha") == "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"


async def test_run_logs_failed_only_or_all(make_server: Callable[..., WardenServer], fake_github: FakeGitHub) -> None:
    server = make_server()
    failed = await call(server, "gh_get_job_logs", {"repo": "acme/api", "run_id": 555})
    assert [job["job_id"] for job in failed["jobs"]] == [777, 780]
    every = await call(server, "gh_get_job_logs", {"repo": "acme/api", "run_id": 555, "failed_only": False})
    assert [job["job_id"] for job in every["jobs"]] == [777, 778, 780]


async def test_long_log_keeps_the_tail(make_server: Callable[..., WardenServer]) -> None:
    data = await call(make_server(), "gh_get_job_logs", {"repo": "acme/api", "job_id": 779, "tail_lines": 50})
    (job,) = data["jobs"]
    lines = job["tail"].splitlines()
    assert job["total_lines"] == 20_000
    assert lines[0] == "line 19950" and lines[-1] == "line 19999"


async def test_log_reading_stops_at_its_byte_cap(make_server: Callable[..., WardenServer]) -> None:
    data = await call(make_server(max_log_bytes=65_536), "gh_get_job_logs", {"repo": "acme/api", "job_id": 779})
    (job,) = data["jobs"]
    assert job["truncated"] is True and "WARDEN_GITHUB_MAX_LOG_BYTES" in job["note"]
    assert job["total_lines"] < 20_000


async def test_logs_fit_the_output_cap(make_server: Callable[..., WardenServer]) -> None:
    server = make_server(max_output_bytes=4096)
    data = await call(server, "gh_get_job_logs", {"repo": "acme/api", "job_id": 779, "tail_lines": 2000})
    assert len(json.dumps(data)) <= 4096
    assert data["truncated"] is True
    assert data["jobs"][0]["tail"].endswith("line 19999")


async def test_exactly_one_target(make_server: Callable[..., WardenServer], fake_github: FakeGitHub) -> None:
    async with connect(make_server()) as client:
        none = await client.call_tool("gh_get_job_logs", {"repo": "acme/api"})
        both = await client.call_tool("gh_get_job_logs", {"repo": "acme/api", "job_id": 1, "run_id": 2})
    assert none.is_error and both.is_error
    assert "exactly one of job_id, run_id or pull" in text_of(none)
    assert fake_github.requests == []


@pytest.mark.parametrize(
    ("location", "overrides", "reason"),
    [
        ("https://evil.example.com/logs/777.txt", {}, "not in WARDEN_GITHUB_LOG_HOSTS"),
        ("http://results.blob.core.windows.net/logs/777.txt", {}, "non-https"),
        ("https://user:secret@results.blob.core.windows.net/logs/777.txt", {}, "credentials"),
        ("https://169.254.169.254/latest/meta-data/", {"log_hosts": ("*",)}, "non-public address"),
        (
            "https://localhost:{port}/_blobs/actions-results/job-logs-777.txt",
            {"log_hosts": ("localhost",)},
            "non-public",
        ),
    ],
)
async def test_log_redirects_outside_the_fence_are_refused_without_connecting(
    make_server: Callable[..., WardenServer],
    fake_github: FakeGitHub,
    location: str,
    overrides: dict[str, Any],
    reason: str,
) -> None:
    target = location.format(port=fake_github.api.port)
    fake_github.inject("GET", r".*/actions/jobs/777/logs", Response(302, None, {"Location": target}))
    async with connect(make_server(**overrides)) as client:
        result = await client.call_tool("gh_get_job_logs", {"repo": "acme/api", "job_id": 777})
    assert result.is_error
    assert reason in text_of(result)
    assert not fake_github.calls(path_contains="/_blobs/")
