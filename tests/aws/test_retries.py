"""botocore's own retries over real HTTP (a fake AWS on 127.0.0.1), the core's breaker, and egress.

Retries are botocore's standard mode with max_attempts = WARDEN_AWS_BACKEND_ATTEMPTS; the core runs each
call once, so a throttled call makes exactly N requests, never N x N.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.aws.conftest import call, data, make_server, text_of
from tests.support.fake_http import FakeAPI, Request, Response

pytestmark = pytest.mark.anyio

JSON = {"Content-Type": "application/x-amz-json-1.1"}
THROTTLED = Response(400, {"__type": "ThrottlingException", "message": "Rate exceeded"}, JSON)
BROKEN = Response(500, {"__type": "InternalFailure", "message": "boom"}, JSON)
GROUPS = Response(200, {"logGroups": [{"logGroupName": "/app/api", "storedBytes": 42}]}, JSON)


@pytest.fixture
def fake() -> Iterator[FakeAPI]:
    with FakeAPI().serving() as api:
        yield api


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's jittered backoff, but without the wait (the attempts are what is under test)."""
    monkeypatch.setattr("botocore.retries.standard.ExponentialBackoff.delay_amount", lambda self, context: 0)


def answers(fake: FakeAPI, *responses: Response) -> None:
    queue = list(responses)

    @fake.route("POST", r"/")
    def handle(request: Request, match: Any) -> Response:
        return queue.pop(0) if len(queue) > 1 else queue[0]


LIST_GROUPS = {"service": "logs", "operation": "DescribeLogGroups"}


async def test_throttling_is_retried_by_botocore_then_surfaced(fake: FakeAPI) -> None:
    answers(fake, THROTTLED)
    server = make_server(endpoint_url=fake.url, backend_attempts=3)
    result = await call(server, "aws_call", LIST_GROUPS)
    assert result.is_error and "AWS is throttling logs:DescribeLogGroups" in text_of(result)
    assert len(fake.requests) == 3, "exactly backend_attempts requests: retries do not stack"
    assert all(r.headers["x-amz-target"] == "Logs_20140328.DescribeLogGroups" for r in fake.requests)


async def test_a_throttled_call_that_recovers_answers(fake: FakeAPI) -> None:
    answers(fake, THROTTLED, THROTTLED, GROUPS)
    server = make_server(endpoint_url=fake.url, backend_attempts=3)
    answer = data(await call(server, "aws_call", LIST_GROUPS))
    assert answer["result"]["logGroups"][0]["logGroupName"] == "/app/api"
    assert len(fake.requests) == 3


async def test_repeated_server_errors_open_the_breaker(fake: FakeAPI) -> None:
    answers(fake, BROKEN)
    server = make_server(endpoint_url=fake.url, backend_attempts=2, breaker_threshold=2)
    for _ in range(2):
        failed = await call(server, "aws_call", LIST_GROUPS)
        assert failed.is_error and "AWS is unavailable" in text_of(failed)
    assert len(fake.requests) == 4
    fast = await call(server, "aws_call", LIST_GROUPS)
    assert fast.is_error and "after repeated failures" in text_of(fast)
    assert len(fake.requests) == 4, "an open breaker answers without a request"
    assert not await server.ready()


async def test_requests_never_go_to_an_endpoint_nobody_configured(
    fake: FakeAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers(fake, GROUPS)
    # botocore honours AWS_ENDPOINT_URL_<SERVICE> from the environment; Warden only sends to AWS
    # or to the endpoint its own setting names.
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", fake.url)
    server = make_server()
    refused = await call(server, "aws_call", LIST_GROUPS)
    assert refused.is_error and "not an AWS endpoint" in text_of(refused)
    assert fake.requests == []


async def test_an_endpoint_that_does_not_resolve_is_named_as_such() -> None:
    server = make_server(endpoint_url="https://no-such-host.invalid", backend_attempts=1)
    text = text_of(await call(server, "aws_whoami", {}))
    assert "cannot reach AWS for sts:GetCallerIdentity: the host name does not resolve;" in text, text
