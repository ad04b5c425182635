"""Backend-side attribution: each backend request names the MCP request (its audit id) and the principal,
where the backend records its callers."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.resilience.mcp_http import call
from tests.resilience.targets import Target
from warden_aws.client import _attribute
from warden_core.audit import AuditRecord, _current


@pytest.mark.parametrize("target", ["github", "slack", "kubernetes"], indirect=True)
def test_the_user_agent_names_the_request_and_principal(target: Target, request: pytest.FixtureRequest) -> None:
    fake = request.getfixturevalue(
        {"github": "github_api", "slack": "slack_api", "kubernetes": "kube_api"}[target.name]
    )
    seen = len(fake.requests) if target.name != "slack" else len(fake.calls())
    with target.serve() as server:
        answer = call(server.base, target.tool, target.arguments)
        assert answer.ok, answer.text
    sent = fake.requests[seen:] if target.name != "slack" else [c.request for c in fake.calls()[seen:]]
    assert sent
    comment = f"(request={answer.request_id}; principal=anonymous)"
    for backend_request in sent:
        assert backend_request.headers["user-agent"].endswith(comment), backend_request.headers["user-agent"]
        if target.name == "kubernetes":  # the API server's audit event takes this as its id
            assert backend_request.headers["audit-id"].startswith(f"{answer.request_id}-")
    if target.name == "kubernetes":
        assert len({r.headers["audit-id"] for r in sent}) == len(sent)  # one id per backend request


def test_aws_requests_end_their_user_agent_with_the_request_once() -> None:
    """Each botocore attempt is a new request; a request seen twice is not marked twice."""
    sent = SimpleNamespace(headers={"User-Agent": "Boto3/1.40 md/Botocore#1.40 warden-aws/0.1.0"})
    record = AuditRecord(request_id="5e1d", server="warden-aws", transport="stdio", principal="local")
    token = _current.set(record)
    try:
        _attribute(sent)
        _attribute(sent)
    finally:
        _current.reset(token)
    assert sent.headers["User-Agent"] == "Boto3/1.40 md/Botocore#1.40 warden-aws/0.1.0 (request=5e1d; principal=local)"
