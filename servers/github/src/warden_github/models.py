"""What the tools return. Their JSON schemas are the tools' output schemas (the core keeps them lean).

Every text field holding something a person wrote has been through `content` (invisible
characters stripped, bounded, lockdown applied), and every authored item carries
`author_association`.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

SearchTotal = Annotated[
    int | None, Field(description="Matches in the repositories this server may read; null when not known.")
]


class Lean(BaseModel):
    """Base of every result model (the core keeps its schema, the tool's output schema, lean)."""


class Paged(Lean):
    """A page of results: `next_cursor` fetches the rest; `truncated` means the size cap cut this page."""

    next_cursor: str | None = None
    truncated: bool = False


# --- repos -------------------------------------------------------------------------------------------
class RepoItem(Lean):
    full_name: str
    description: str | None
    private: bool
    archived: bool
    stars: int
    language: str | None
    pushed_at: str | None


class RepoList(Paged):
    total_count: SearchTotal
    repos: list[RepoItem]


class RepoDetail(Lean):
    full_name: str
    description: str | None
    visibility: str
    default_branch: str
    fork: bool
    archived: bool
    language: str | None
    topics: list[str]
    license: str | None
    stars: int
    forks: int
    open_issues: int
    pushed_at: str | None
    url: str
    permissions: list[str]


class CodeHit(Lean):
    repo: str
    path: str
    url: str
    fragments: list[str]


class CodeList(Paged):
    total_count: SearchTotal
    hits: list[CodeHit]


class DirEntry(Lean):
    name: str
    type: str
    size: int


class FileResult(Lean):
    repo: str
    path: str
    type: str
    size: int | None = None
    sha: str | None = None
    content: str | None = None
    entries: list[DirEntry] | None = None
    url: str | None = None
    download_url: str | None = None
    note: str | None = None
    truncated: bool = False


class TreeResult(Paged):
    repo: str
    ref: str
    sha: str
    entries: list[str]


class RefItem(Lean):
    name: str
    sha: str | None = None
    protected: bool | None = None
    tag: str | None = None
    draft: bool | None = None
    prerelease: bool | None = None
    published_at: str | None = None
    author: str | None = None
    body: str | None = None


class RefList(Paged):
    refs: list[RefItem]


class CommitItem(Lean):
    sha: str
    message: str
    author: str | None
    date: str | None


class CommitList(Paged):
    commits: list[CommitItem]


class FileChange(Lean):
    path: str
    status: str
    additions: int
    deletions: int
    previous_path: str | None = None
    patch: str | None = None


class CommitDetail(Paged):
    sha: str
    message: str
    author: str | None
    date: str | None
    parents: list[str]
    additions: int
    deletions: int
    url: str
    files: list[FileChange]


# --- issues and pull requests -------------------------------------------------------------------------------
class IssueItem(Lean):
    number: int
    title: str
    state: str
    author: str | None
    author_association: str
    labels: list[str]
    comments: int | None = None
    updated_at: str | None
    repo: str | None = None
    draft: bool | None = None
    head: str | None = None
    base: str | None = None


class IssueList(Paged):
    total_count: Annotated[
        int | None,
        Field(description="Searches only: matches in the repositories this server may read; null when not known."),
    ] = None
    items: list[IssueItem]


class Comment(Lean):
    id: int
    author: str | None
    author_association: str
    created_at: str | None
    body: str
    state: str | None = None
    path: str | None = None
    line: int | None = None


class Issue(Lean):
    number: int
    title: str
    state: str
    state_reason: str | None
    author: str | None
    author_association: str
    labels: list[str]
    assignees: list[str]
    milestone: str | None
    comments: int
    created_at: str | None
    updated_at: str | None
    closed_at: str | None
    url: str
    body: str


class IssueResult(Paged):
    issue: Issue | None = None
    comments: list[Comment]


class Label(Lean):
    name: str
    description: str | None


class LabelList(Paged):
    labels: list[Label]


class Pull(Lean):
    number: int
    title: str
    state: str
    draft: bool
    merged: bool
    mergeable: bool | None
    author: str | None
    author_association: str
    head: str
    head_sha: str
    base: str
    labels: list[str]
    commits: int
    additions: int
    deletions: int
    changed_files: int
    comments: int
    created_at: str | None
    updated_at: str | None
    merged_at: str | None
    url: str
    body: str


class Check(Lean):
    name: str
    kind: str
    status: str
    conclusion: str | None
    summary: str | None
    run_id: int | None
    job_id: int | None
    url: str | None


class PullResult(Paged):
    pull: Pull | None = None
    files: list[FileChange] | None = None
    comments: list[Comment] | None = None
    checks: list[Check] | None = None


# --- actions -------------------------------------------------------------------------------------------
class RunItem(Lean):
    id: int
    workflow: str
    title: str
    status: str
    conclusion: str | None
    event: str
    branch: str | None
    head_sha: str
    run_number: int
    attempt: int
    actor: str | None
    created_at: str | None
    url: str


class RunList(Paged):
    total_count: int
    runs: list[RunItem]


class Job(Lean):
    id: int
    name: str
    status: str
    conclusion: str | None
    started_at: str | None
    completed_at: str | None
    failed_steps: list[str]
    url: str | None


class RunResult(Paged):
    run: RunItem | None = None
    jobs: list[Job]


class JobLog(Lean):
    job_id: int
    name: str
    conclusion: str | None
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


# --- context -------------------------------------------------------------------------------------------
class RateBucket(Lean):
    limit: int
    remaining: int
    reset: str


class WhoAmI(Lean):
    login: str | None
    name: str | None
    type: str
    token_scopes: list[str] | None
    api_url: str
    repos: list[str]
    write_repos: list[str]
    read_only: bool
    lockdown: bool
    rate: dict[str, RateBucket]


# --- writes -------------------------------------------------------------------------------------------
class Created(Lean):
    repo: str
    number: int | None
    id: int
    url: str


class Labeled(Lean):
    repo: str
    number: int
    labels: list[str]
