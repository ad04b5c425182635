"""pull_requests: open a pull request (opt-in). Pull requests are read with the issues tools."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import Context
from pydantic import Field

from warden_core import Access, ToolSpec
from warden_core.audit import note_target
from warden_core.confirm import Confirm, Elicit, ElicitationResult, Resolve, require_confirmed
from warden_github.client import api_path
from warden_github.models import Created
from warden_github.tools.common import REPOS, WRITE_REPOS, Deps, Repo, split
from warden_github.tools.confirmation import confirmation, posted

GROUP = "pull_requests"

Title = Annotated[str, Field(description="Title.", min_length=1, max_length=256)]
Body = Annotated[str, Field(description="Markdown description.", max_length=65_536)]
BranchName = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._/+@-]+$")]
Head = Annotated[BranchName, Field(description="Branch with the changes (in the same repository).")]
Base = Annotated[BranchName, Field(description="Branch to merge into.")]
Draft = Annotated[bool, Field(description="Open as a draft.")]


async def ask_create_pull(
    *, repo: str, title: str, head: str, base: str, body: str, draft: bool, ctx: Context
) -> Confirm | Elicit[Confirm]:
    kind = "a draft pull request" if draft else "a pull request ready for review"
    return await confirmation(
        ctx, repo, f"Open {kind} in {repo} from {head} into {base}.", {"Title": title, "Body": body}
    )


class PullTools:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.client = deps.client

    async def create_pull(
        self,
        *,
        repo: Repo,
        title: Title,
        head: Head,
        base: Base,
        confirmation: Annotated[ElicitationResult[Confirm], Resolve(ask_create_pull)],
        body: Body = "",
        draft: Draft = True,
    ) -> Created:
        self.deps.check_repo(repo)
        require_confirmed(confirmation, f"opening a pull request in {repo}")
        owner, name = split(repo)
        note_target(repo)
        data = await self.client.send(
            "POST",
            api_path("repos", owner, name, "pulls"),
            {
                "title": posted(title),
                "head": head,
                "base": base,
                "body": posted(body),
                "draft": draft,
            },
            what=f"a new pull request in {repo}",
        )
        return Created(repo=repo, number=data.get("number"), id=int(data["id"]), url=str(data.get("html_url") or ""))

    def specs(self) -> list[ToolSpec]:
        return [
            ToolSpec(
                name="gh_create_pull",
                title="Create pull request",
                description=(
                    "Open a pull request between two branches of a repository. May ask the user to confirm first."
                ),
                group=GROUP,
                access=Access.WRITE,
                handler=self.create_pull,
                resource_args={"repo": (REPOS, WRITE_REPOS)},  # a write target must be readable too
            ),
        ]


def build(deps: Deps) -> list[ToolSpec]:
    return PullTools(deps).specs()
