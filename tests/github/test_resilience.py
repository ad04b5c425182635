"""GitHub's rate limits and failures become bounded retries or clear errors (light: fault injection lives elsewhere)."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable

import pytest

from tests.github.conftest import settings_for
from tests.github.fake_github import FakeGitHub, primary_exhausted, rate_limited
from tests.github.helpers import text_of
from tests.support.fake_http import Response
from warden_core import WardenServer
from warden_core.logs import configure_logging
from warden_core.testing import connect
from warden_github.server import build_server

pytestmark = pytest.mark.anyio


async def get_repo(server: WardenServer) -> tuple[bool, str]:
    async with connect(server) as client:
        result = await client.call_tool("gh_get_file", {"repo": "acme/api", "path": "README.md"})
    return result.is_error, text_of(result)


async def test_429_with_retry_after_is_waited_out_and_retried(
    make_server: Callable[..., WardenServer], fake_github: FakeGitHub
) -> None:
    fake_github.inject("GET", "/repos/acme/api/contents/README.md", rate_limited(429, retry_after=1))
    failed, text = await get_repo(make_server())
    assert not failed, text
    assert len(fake_github.requests) == 2


@pytest.mark.parametrize(
    ("answer", "wait"),
    [
        (lambda: rate_limited(403, retry_after=120), "120"),
        (lambda: rate_limited(429, retry_after=90), "90"),
        (lambda: rate_limited(403, retry_after=None), "60"),  # secondary limit, no Retry-After: wait a minute
        (lambda: primary_exhausted(reset_in=1800), "1800"),  # built when the test runs: the reset is a clock time
    ],
    ids=["secondary-403", "secondary-429", "secondary-no-header", "primary"],
)
async def test_long_rate_limit_waits_fail_at_once_with_the_wait(
    make_server: Callable[..., WardenServer], fake_github: FakeGitHub, answer: Callable[[], Response], wait: str
) -> None:
    fake_github.inject("GET", "/repos/acme/api/contents/README.md", answer(), times=5)
    failed, text = await get_repo(make_server())
    assert failed
    assert "rate-limiting" in text
    assert f"retry after {wait} s" in text or (wait == "1800" and "retry after 17" in text)
    assert len(fake_github.requests) == 1, "waiting longer than the cap would only burn the call's deadline"


async def test_server_errors_are_retried_with_backoff(
    make_server: Callable[..., WardenServer], fake_github: FakeGitHub
) -> None:
    fake_github.inject("GET", "/repos/acme/api/contents/README.md", Response(502, {"message": "Server Error"}), times=2)
    failed, text = await get_repo(make_server())
    assert not failed, text
    assert len(fake_github.requests) == 3


async def test_persistent_server_errors_end_in_a_clear_error(
    make_server: Callable[..., WardenServer], fake_github: FakeGitHub
) -> None:
    fake_github.inject("GET", "/repos/acme/api/contents/README.md", Response(503, {"message": "Unavailable"}), times=10)
    failed, text = await get_repo(make_server(backend_attempts=2))
    assert failed and "GitHub is unavailable" in text
    assert len(fake_github.requests) == 2


async def test_bad_token_names_the_setting(make_server: Callable[..., WardenServer], fake_github: FakeGitHub) -> None:
    server = make_server(token="github_pat_11WRONG0000000000000000_notTheRightTokenAtAll")
    failed, text = await get_repo(server)
    assert failed and "WARDEN_GITHUB_TOKEN" in text and "401" in text
    assert "notTheRightToken" not in text


async def test_forbidden_says_what_github_said(
    make_server: Callable[..., WardenServer], fake_github: FakeGitHub
) -> None:
    fake_github.inject(
        "GET",
        "/repos/acme/api/contents/README.md",
        Response(403, {"message": "Resource not accessible by personal access token", "documentation_url": "x"}),
    )
    failed, text = await get_repo(make_server())
    assert failed
    assert "refused access to README.md in acme/api" in text
    assert "Resource not accessible by personal access token" in text
    assert len(fake_github.requests) == 1


async def test_unreachable_github_is_upstream_unavailable() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = settings_for(None, token="github_pat_11UNREACHABLE00000000_x", api_url=f"http://127.0.0.1:{port}")
    server = build_server(settings.model_copy(update={"backend_attempts": 2}))
    failed, text = await get_repo(server)
    assert failed and "GitHub is unavailable" in text


async def test_the_token_never_reaches_logs_audit_or_errors(
    make_server: Callable[..., WardenServer], fake_github: FakeGitHub, capfd: pytest.CaptureFixture[str]
) -> None:
    """Even at DEBUG, where PyGithub logs every request and response body, the token is masked on stderr."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    configure_logging("DEBUG")
    try:
        echo = Response(500, {"message": f"echo token {fake_github.token}"})
        fake_github.inject("GET", "/repos/acme/api/contents/README.md", echo, times=9)
        server = make_server(audit_arguments=True)
        async with connect(server) as client:
            failed = await client.call_tool("gh_get_file", {"repo": "acme/api", "path": "README.md"})
            await client.call_tool("gh_get_issue", {"repo": "acme/api", "number": 7})
    finally:
        root.handlers[:], root.level = saved
    err = capfd.readouterr().err
    assert failed.is_error and fake_github.token not in text_of(failed)
    assert "github.Requester" in err and "echo token" in err, "PyGithub's request log went through the root handler"
    assert fake_github.token not in err


async def test_an_api_host_that_does_not_resolve_is_named_as_such() -> None:
    server = build_server(
        settings_for(None, token="ghp_dns", api_url="https://no-such-host.invalid", backend_attempts=1)
    )
    failed, text = await get_repo(server)
    assert failed and "cannot reach GitHub: the host name does not resolve;" in text, text
