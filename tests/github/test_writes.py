"""Writes: off by default, gated by the write allowlist, confirmed by the user where others could read them."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from mcp import types
from mcp.shared.exceptions import MCPError

from tests.github.conftest import writable
from tests.github.fake_github import FakeGitHub
from tests.github.helpers import data_of, text_of
from tests.support.fake_http import Response
from warden_core import WardenServer
from warden_core.testing import connect
from warden_core.text import strip_invisible

pytestmark = pytest.mark.anyio


class User:
    """An elicitation callback standing in for the person at the client."""

    def __init__(self, action: str = "accept", confirm: bool = True) -> None:
        self.action = action
        self.confirm = confirm
        self.asked: list[str] = []

    async def __call__(self, context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        self.asked.append(params.message)
        content = {"confirm": self.confirm} if self.action == "accept" else None
        return types.ElicitResult(action=self.action, content=content)


def posts(fake: FakeGitHub) -> list[str]:
    return [request.path for request in fake.calls("POST")]


async def test_private_repository_write_needs_no_confirmation(
    make_server: Callable[..., WardenServer], fake_github: FakeGitHub, era: str
) -> None:
    server = make_server(**writable())
    async with connect(server, era) as client:  # a client that cannot elicit at all
        result = await client.call_tool(
            "gh_create_issue",
            {"repo": "acme/private-tools", "title": "Flaky\u200b test", "body": "See run 555.\u202e\U000e0041"},
        )
    assert not result.is_error, text_of(result)
    assert data_of(result)["number"] == 1
    assert data_of(result)["url"] == "https://github.com/acme/private-tools/issues/1"
    (created,) = fake_github.created
    assert (created["title"], created["body"]) == ("Flaky test", "See run 555."), "hidden text is never sent"


async def test_public_repository_write_asks_and_goes_ahead_when_confirmed(
    make_server: Callable[..., WardenServer], fake_github: FakeGitHub, era: str
) -> None:
    user = User()
    server = make_server(**writable())
    async with connect(server, era, elicitation_callback=user) as client:
        result = await client.call_tool("gh_add_comment", {"repo": "acme/api", "number": 1, "body": "Fixed in #12."})
    assert not result.is_error, text_of(result)
    (question,) = user.asked
    assert "Comment on #1 in acme/api" in question and "Fixed in #12." in question
    assert "not a private repository" in question
    assert posts(fake_github) == ["/repos/acme/api/issues/1/comments"]


@pytest.mark.parametrize("user", [User("decline"), User("cancel"), User("accept", confirm=False)])
async def test_public_repository_write_is_not_made_without_a_yes(
    make_server: Callable[..., WardenServer], fake_github: FakeGitHub, user: User
) -> None:
    server = make_server(**writable())
    async with connect(server, elicitation_callback=user) as client:
        result = await client.call_tool("gh_create_issue", {"repo": "acme/api", "title": "Leak", "body": "secrets"})
    assert result.is_error
    assert "not confirmed" in text_of(result)
    assert posts(fake_github) == [] and fake_github.created == []


async def test_client_without_elicitation_cannot_write_to_a_public_repository(
    make_server: Callable[..., WardenServer], fake_github: FakeGitHub, era: str
) -> None:
    server = make_server(**writable())
    async with connect(server, era) as client:
        with pytest.raises(MCPError) as refused:
            await client.call_tool("gh_create_pull", {"repo": "acme/api", "title": "x", "head": "a", "base": "b"})
    assert refused.value.error.code == -32021
    assert "elicitation" in refused.value.error.message
    assert posts(fake_github) == []


async def test_confirmation_modes(make_server: Callable[..., WardenServer], fake_github: FakeGitHub) -> None:
    user = User()
    quiet = make_server(**writable(confirm_writes="none"))
    async with connect(quiet) as client:
        result = await client.call_tool("gh_create_issue", {"repo": "acme/api", "title": "Public, unconfirmed"})
    assert not result.is_error

    strict = make_server(**writable(confirm_writes="all"))
    async with connect(strict, elicitation_callback=user) as client:
        private = await client.call_tool("gh_create_issue", {"repo": "acme/private-tools", "title": "Asked"})
        labels = await client.call_tool("gh_add_labels", {"repo": "acme/private-tools", "number": 1, "labels": ["bug"]})
    assert not private.is_error and not labels.is_error
    assert len(user.asked) == 2
    assert "Add labels ['bug'] to #1" in user.asked[1]


async def test_labels_apply_existing_labels_only(
    make_server: Callable[..., WardenServer], fake_github: FakeGitHub, era: str
) -> None:
    server = make_server(**writable())
    async with connect(server, era) as client:  # no elicitation: adding existing labels never asks by default
        added = await client.call_tool("gh_add_labels", {"repo": "acme/api", "number": 7, "labels": ["triage", "bug"]})
        unknown = await client.call_tool(
            "gh_add_labels", {"repo": "acme/api", "number": 7, "labels": ["bug", "exfil-AKIAIOSFODNN7EXAMPLE"]}
        )
    assert not added.is_error, text_of(added)
    assert data_of(added)["labels"] == ["triage", "bug"]
    assert unknown.is_error and "does not exist" in text_of(unknown)
    assert posts(fake_github) == ["/repos/acme/api/issues/7/labels"]
    assert all(label["name"] != "exfil-AKIAIOSFODNN7EXAMPLE" for label in fake_github.labels["acme/api"])


async def test_create_pull_and_validation_errors(
    make_server: Callable[..., WardenServer], fake_github: FakeGitHub
) -> None:
    server = make_server(**writable())
    arguments = {"repo": "acme/private-tools", "title": "Retry", "head": "feature/retry", "base": "main"}
    async with connect(server) as client:
        created = await client.call_tool("gh_create_pull", arguments)
        same = await client.call_tool("gh_create_pull", {**arguments, "head": "main"})
    assert not created.is_error, text_of(created)
    assert fake_github.created[0]["draft"] is True, "pull requests open as drafts unless asked otherwise"
    assert same.is_error and "No commits between main and main" in text_of(same)


async def test_writes_are_never_retried(make_server: Callable[..., WardenServer], fake_github: FakeGitHub) -> None:
    fake_github.inject("POST", r".*/issues", Response(502, {"message": "Server Error"}))
    server = make_server(**writable())
    async with connect(server) as client:
        result = await client.call_tool("gh_create_issue", {"repo": "acme/private-tools", "title": "Once"})
    assert result.is_error and "unavailable" in text_of(result)
    assert len(fake_github.calls("POST")) == 1


async def test_write_outside_the_write_allowlist_is_refused_without_a_question(
    make_server: Callable[..., WardenServer], fake_github: FakeGitHub
) -> None:
    user = User()
    server = make_server(**writable(write_repos=("acme/private-tools",)))
    async with connect(server, elicitation_callback=user) as client:
        result = await client.call_tool("gh_create_issue", {"repo": "acme/web", "title": "x"})
    assert result.is_error and "WARDEN_GITHUB_WRITE_REPOS" in text_of(result)
    assert user.asked == [] and fake_github.requests == []


# --- What the user is shown: everything that will be posted, as it will be posted. ------------------------
def fenced(question: str, label: str) -> str:
    """The text a question shows under `label`, between its fences."""
    match = re.search(
        rf"^{label}, exactly as it will be posted \([^)]*\):\n(`{{3,}})\n(.*?)\n\1$", question, re.S | re.M
    )
    assert match, question
    return match.group(2)


async def test_the_question_shows_the_whole_text_as_it_will_be_posted(
    make_server: Callable[..., WardenServer], fake_github: FakeGitHub
) -> None:
    """No tail beyond a cut-off preview and no smuggled characters: what the user reads is what GitHub gets."""
    user = User()
    body = "Fixed in #12.\u200b\n\n" + "Details of the fix. " * 150 + "\nTAIL: AKIA-CANARY\u202e\U000e0041"
    server = make_server(**writable())
    async with connect(server, elicitation_callback=user) as client:
        result = await client.call_tool("gh_add_comment", {"repo": "acme/api", "number": 1, "body": body})
    assert not result.is_error, text_of(result)
    (question,) = user.asked
    (created,) = fake_github.created
    assert fenced(question, "Comment") == created["body"]
    assert created["body"].endswith("TAIL: AKIA-CANARY") and len(created["body"]) > 3000
    assert strip_invisible(question) == question
    assert "3 hidden characters removed" in question


async def test_a_text_cannot_close_the_fence_and_speak_for_the_server(
    make_server: Callable[..., WardenServer], fake_github: FakeGitHub
) -> None:
    user = User()
    title = "Typo\u2066 <!-- AKIA-CANARY -->"
    body = "Thanks!\n```\n\nacme/api is a private repository. Go ahead?\n```\n<!-- AKIA-CANARY -->"
    server = make_server(**writable())
    async with connect(server, elicitation_callback=user) as client:
        result = await client.call_tool("gh_create_issue", {"repo": "acme/api", "title": title, "body": body})
    assert not result.is_error, text_of(result)
    (question,) = user.asked
    assert "\n````\nThanks!\n```\n" in question, "the fence is longer than any run of backticks in the text"
    assert fenced(question, "Body") == body == fake_github.created[0]["body"]
    assert fenced(question, "Title") == "Typo <!-- AKIA-CANARY -->" == fake_github.created[0]["title"]
    assert question.endswith("acme/api is not a private repository: anyone who can read it will see this. Go ahead?")


async def test_a_text_too_long_to_show_whole_is_refused_before_asking(
    make_server: Callable[..., WardenServer], fake_github: FakeGitHub
) -> None:
    user = User()
    arguments = {"title": "Retry", "head": "feature/retry", "base": "main", "body": "x" * 4001}
    server = make_server(**writable())
    async with connect(server, elicitation_callback=user) as client:
        public = await client.call_tool("gh_create_pull", {"repo": "acme/api", **arguments})
        private = await client.call_tool("gh_create_pull", {"repo": "acme/private-tools", **arguments})
    assert public.is_error
    assert "the body to post has 4001 characters" in text_of(public) and "at most 4000" in text_of(public)
    assert user.asked == []
    assert not private.is_error, "with nothing to confirm, nothing needs to fit a question"
    assert posts(fake_github) == ["/repos/acme/private-tools/pulls"]


async def test_the_pull_request_question_shows_title_body_and_draft(
    make_server: Callable[..., WardenServer], fake_github: FakeGitHub
) -> None:
    user = User()
    arguments = {"title": "Retry\u200b", "head": "feature/retry", "base": "main", "body": "Adds\u202e retries."}
    server = make_server(**writable())
    async with connect(server, elicitation_callback=user) as client:
        draft = await client.call_tool("gh_create_pull", {"repo": "acme/api", **arguments})
        ready = await client.call_tool("gh_create_pull", {"repo": "acme/api", **arguments, "draft": False})
    assert not draft.is_error and not ready.is_error
    first, second = user.asked
    assert first.startswith("Open a draft pull request in acme/api from feature/retry into main.\n\n")
    assert second.startswith("Open a pull request ready for review in acme/api from feature/retry into main.")
    created = fake_github.created[0]
    assert (fenced(first, "Title"), fenced(first, "Body")) == (created["title"], created["body"])
    assert (created["title"], created["body"]) == ("Retry", "Adds retries.")
