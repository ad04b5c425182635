"""What the tools return. Their JSON schemas are the tools' output schemas (the core keeps them lean).

Every text field holding something a person wrote has been through `content` (invisible
characters stripped, bounded, lockdown applied), and every authored item carries
`author_association`.

Models are shared between tools where the data is the same kind of thing (a search hit and an
issue list entry are one `Item`; an issue and a pull request are one `Issue`), and a field that is
not set is left out of the answer rather than sent as null: both keep `tools/list` and results small.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from warden_core.results import Lean, Row


class Paged(Lean):
    """A page of results: `next_cursor` fetches the rest; `truncated` means the size cap cut this page."""

    next_cursor: str | None = None
    truncated: bool = False


# --- Items: search hits and issue or pull request list entries -----------------------------------------
class Item(Row):
    """A repository, a code match, an issue or a pull request, with the fields that kind has."""

    repo: str | None = None
    number: int | None = None
    title: str | None = None
    state: str | None = None
    author: str | None = None
    author_association: str | None = None
    labels: list[str] | None = None
    comments: int | None = None
    draft: bool | None = None
    head: str | None = None
    base: str | None = None
    updated_at: str | None = None
    path: str | None = None
    fragments: list[str] | None = None
    description: str | None = None
    private: bool | None = None
    language: str | None = None
    url: str | None = None


class ItemList(Paged):
    total_count: Annotated[
        int | None, Field(description="Searches: matches in the allowed repositories, if known.")
    ] = None
    items: list[Item]


# --- repos -------------------------------------------------------------------------------------------
class RepoDetail(Row):
    full_name: str
    description: str | None = None
    visibility: str
    default_branch: str
    fork: bool
    archived: bool
    language: str | None = None
    topics: list[str]
    license: str | None = None
    stars: int
    forks: int
    open_issues: int
    pushed_at: str | None = None
    url: str
    permissions: list[str]


class RefItem(Row):
    """A branch, tag, release or label."""

    name: str
    sha: str | None = None
    protected: bool | None = None
    tag: str | None = None
    draft: bool | None = None
    prerelease: bool | None = None
    published_at: str | None = None
    author: str | None = None
    body: str | None = None


class RepoResult(Paged):
    repo: RepoDetail | None = None
    refs: list[RefItem] | None = None


class FileResult(Paged):
    repo: str
    path: str
    type: str
    size: int | None = None
    sha: str | None = None
    content: str | None = None
    entries: Annotated[list[str] | None, Field(description="Directory entries; directories end with /.")] = None
    url: str | None = None
    download_url: str | None = None
    note: str | None = None


class FileChange(Row):
    path: str
    status: str
    additions: int
    deletions: int
    previous_path: str | None = None
    patch: str | None = None


class Commit(Row):
    sha: str
    message: str
    author: str | None = None
    date: str | None = None
    parents: list[str] | None = None
    additions: int | None = None
    deletions: int | None = None
    url: str | None = None


class CommitsResult(Paged):
    commits: list[Commit]
    files: list[FileChange] | None = None


# --- issues and pull requests -------------------------------------------------------------------------------
class Comment(Row):
    id: int
    author: str | None = None
    author_association: str
    created_at: str | None = None
    body: str
    state: str | None = None
    path: str | None = None
    line: int | None = None


class Issue(Row):
    """An issue, or a pull request (which has the fields after `body` too)."""

    number: int
    title: str
    state: str
    state_reason: str | None = None
    author: str | None = None
    author_association: str
    labels: list[str]
    assignees: list[str] | None = None
    milestone: str | None = None
    comments: int
    created_at: str | None = None
    updated_at: str | None = None
    closed_at: str | None = None
    url: str
    body: str
    draft: bool | None = None
    merged: bool | None = None
    mergeable: bool | None = None
    head: str | None = None
    head_sha: str | None = None
    base: str | None = None
    commits: int | None = None
    additions: int | None = None
    deletions: int | None = None
    changed_files: int | None = None
    merged_at: str | None = None


class Check(Row):
    name: str
    kind: str
    status: str
    conclusion: str | None = None
    summary: str | None = None
    run_id: int | None = None
    job_id: int | None = None
    url: str | None = None


class IssueResult(Paged):
    issue: Issue | None = None
    comments: list[Comment] | None = None
    files: list[FileChange] | None = None
    checks: list[Check] | None = None


# --- actions -------------------------------------------------------------------------------------------
class RunItem(Row):
    id: int
    workflow: str
    title: str
    status: str
    conclusion: str | None = None
    event: str
    branch: str | None = None
    head_sha: str
    run_number: int
    attempt: int
    actor: str | None = None
    created_at: str | None = None
    url: str


class Job(Row):
    id: int
    name: str
    status: str
    conclusion: str | None = None
    started_at: str | None = None
    completed_at: str | None = None
    failed_steps: list[str]
    url: str | None = None


class RunsResult(Paged):
    total_count: int | None = None
    runs: list[RunItem]
    jobs: list[Job] | None = None


class JobLog(Row):
    job_id: int
    name: str
    conclusion: str | None = None
    failed_steps: list[str]
    errors: list[str]
    total_lines: int
    tail: str
    truncated: bool
    note: str | None = None


class LogsResult(Lean):
    jobs: list[JobLog]
    note: str | None = None
    truncated: bool = False


# --- security -------------------------------------------------------------------------------------------
class Alert(Row):
    """A Dependabot, code scanning or secret scanning alert, or a repository security advisory.

    A secret scanning alert never carries the secret: only its type, state and where it was found.
    """

    repo: str
    number: int | None = None
    ghsa_id: str | None = None
    cve_id: str | None = None
    state: str
    severity: str | None = None
    title: str
    package: str | None = None
    vulnerable: str | None = None
    fixed_in: str | None = None
    rule: str | None = None
    tool: str | None = None
    path: str | None = None
    line: int | None = None
    message: str | None = None
    validity: str | None = None
    resolution: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    detail: str | None = None
    url: str | None = None


class AlertList(Paged):
    alerts: list[Alert]
    more_in: Annotated[list[str] | None, Field(description="Repositories with more alerts: ask with `repo`.")] = None
    notes: list[str] | None = None


# --- context -------------------------------------------------------------------------------------------
class RateBucket(Row):
    limit: int
    remaining: int
    reset: str


class WhoAmI(Lean):
    login: str | None = None
    name: str | None = None
    type: str
    token_scopes: list[str] | None = None
    api_url: str
    repos: list[str]
    write_repos: list[str]
    read_only: bool
    lockdown: bool
    rate: dict[str, RateBucket]


# --- writes -------------------------------------------------------------------------------------------
class Created(Lean):
    repo: str
    number: int | None = None
    id: int
    url: str


class Labeled(Lean):
    repo: str
    number: int
    labels: list[str]
