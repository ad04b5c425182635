"""actions: workflow runs, their jobs, and job logs: the "why did CI fail" flow.

The shortest path from a pull request to the cause of a red check is one call:
`gh_get_job_logs(repo, pull=N)` finds the failed GitHub Actions jobs of the PR's head commit and
returns, per job, the failed steps, the `##[error]` lines and the tail of the log.
"""

from __future__ import annotations

import functools
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from warden_core import Access, InvalidArgument, NotFound, PermissionDenied, ToolSpec
from warden_core.audit import note_target
from warden_github.client import api_path
from warden_github.content import login, opt_text, text
from warden_github.models import Check, Job, JobLog, LogsResult, RunItem, RunsResult
from warden_github.tools.common import (
    REPOS,
    Cursor,
    Deps,
    Limit,
    Position,
    Repo,
    concurrently,
    decode_cursor,
    fill,
    not_only_dots_opt,
    query_key,
    split,
)

GROUP = "actions"
RUNS = "runs"

FAILED = frozenset({"failure", "timed_out", "startup_failure", "action_required", "error"})
PENDING = frozenset({"queued", "in_progress", "waiting", "requested", "pending"})
MAX_LOG_JOBS = 5
# Runs started by issue or pull-request activity carry that item's title, written by its author.
_AUTHORED_EVENTS = frozenset({"pull_request", "pull_request_target", "issues", "issue_comment", "discussion"})
_JOB_URL = re.compile(r"/actions/runs/(\d+)/jobs?/(\d+)")
_RUN_URL = re.compile(r"/actions/runs/(\d+)")

Branch = Annotated[str | None, Field(description="Only runs on this branch.", pattern=r"^[A-Za-z0-9._/+@-]{1,200}$")]
Event = Annotated[
    str | None, Field(description="Only runs for this event (push, pull_request...).", pattern=r"^[a-z_]{1,50}$")
]
RunStatus = Annotated[
    Literal["completed", "failure", "success", "in_progress", "queued", "cancelled"] | None,
    Field(description="Only runs with this status or conclusion."),
]
HeadSha = Annotated[str | None, Field(description="Only runs for this commit SHA.", pattern=r"^[0-9a-fA-F]{7,40}$")]
Workflow = Annotated[
    str | None,
    Field(description="Only runs of this workflow (ci.yml, or its id).", pattern=r"^[A-Za-z0-9._-]{1,100}$"),
    AfterValidator(not_only_dots_opt),
]
OneRun = Annotated[int | None, Field(description="One run: with its jobs.", ge=1)]
OptJobId = Annotated[int | None, Field(description="One job (a check's job_id).", ge=1)]
OptRunId = Annotated[int | None, Field(description="The jobs of this workflow run.", ge=1)]
OptPull = Annotated[int | None, Field(description="A pull request: its head commit's failed jobs.", ge=1)]
FailedOnly = Annotated[bool, Field(description="With run_id: only failed jobs.")]
TailLines = Annotated[int, Field(description="Log lines from the end of each job.", ge=1, le=2000)]


def severity(check: Check) -> int:
    if check.conclusion in FAILED:
        return 0
    return 1 if check.status in PENDING else 2


def check_from_run(item: dict[str, Any]) -> Check:
    url = str(item.get("details_url") or item.get("html_url") or "")
    match = _JOB_URL.search(url)
    run_match = match or _RUN_URL.search(url)
    run_id = int(run_match.group(1)) if run_match else None
    job_id = int(match.group(2)) if match else None
    if job_id is None and ((item.get("app") or {}).get("slug") == "github-actions"):
        job_id = int(item["id"])  # an Actions check run's id is its job id
    return Check(
        name=text(item.get("name"), 200),
        kind="check",
        status=str(item.get("status") or ""),
        conclusion=item.get("conclusion"),
        summary=opt_text((item.get("output") or {}).get("title"), 300),
        run_id=run_id,
        job_id=job_id,
        url=url or None,
    )


def check_from_status(item: dict[str, Any]) -> Check:
    state = str(item.get("state") or "")
    return Check(
        name=text(item.get("context"), 200),
        kind="status",
        status="pending" if state == "pending" else "completed",
        conclusion=None if state == "pending" else state,
        summary=opt_text(item.get("description"), 300),
        run_id=None,
        job_id=None,
        url=item.get("target_url"),
    )


def run_item(deps: Deps, item: dict[str, Any]) -> RunItem:
    title = text(item.get("display_title"), 300)
    if deps.content.lockdown and item.get("event") in _AUTHORED_EVENTS:
        title = "[withheld by lockdown mode: the title comes from an issue or pull request]"
    return RunItem(
        id=int(item["id"]),
        workflow=text(item.get("name"), 200),
        title=title,
        status=str(item.get("status") or ""),
        conclusion=item.get("conclusion"),
        event=str(item.get("event") or ""),
        branch=opt_text(item.get("head_branch"), 200),
        head_sha=str(item.get("head_sha") or ""),
        run_number=int(item.get("run_number") or 0),
        attempt=int(item.get("run_attempt") or 1),
        actor=login(item.get("actor")),
        created_at=item.get("created_at"),
        url=str(item.get("html_url") or ""),
    )


def job_of(item: dict[str, Any]) -> Job:
    return Job(
        id=int(item["id"]),
        name=text(item.get("name"), 200),
        status=str(item.get("status") or ""),
        conclusion=item.get("conclusion"),
        started_at=item.get("started_at"),
        completed_at=item.get("completed_at"),
        failed_steps=failed_steps(item),
        url=item.get("html_url"),
    )


def failed_steps(job: dict[str, Any]) -> list[str]:
    return [text(step.get("name"), 200) for step in job.get("steps") or [] if step.get("conclusion") in FAILED]


def keep_end(value: str, max_bytes: int) -> tuple[str, bool]:
    """The end of `value` within `max_bytes` UTF-8 bytes, cut at a line start when possible."""
    encoded = value.encode()
    if len(encoded) <= max_bytes:
        return value, False
    kept = encoded[len(encoded) - max_bytes :].decode(errors="ignore")
    newline = kept.find("\n")
    return (kept[newline + 1 :] if 0 <= newline < len(kept) - 1 else kept), True


async def head_checks(
    deps: Deps, repo: str, number: int, position: Position, *, statuses: bool = True
) -> tuple[Any, list[Check], str]:
    """The check runs (and, on the first page, commit statuses) of a pull request's head commit."""
    owner, name = split(repo)
    client = deps.client
    pull = (
        await client.get(api_path("repos", owner, name, "pulls", number), what=f"pull request #{number} in {repo}")
    ).data
    sha = str((pull.get("head") or {}).get("sha") or "")
    page = await client.get(
        api_path("repos", owner, name, "commits", sha, "check-runs"),
        {"per_page": position.per_page, "page": position.page},
        what=f"the checks of #{number} in {repo}",
    )
    checks = [check_from_run(item) for item in (page.data or {}).get("check_runs") or []]
    if statuses and position.page == 1 and position.skip == 0:
        status = await client.get(
            api_path("repos", owner, name, "commits", sha, "status"), what=f"the statuses of #{number} in {repo}"
        )
        checks += [check_from_status(item) for item in (status.data or {}).get("statuses") or []]
    return page, checks, sha


class ActionTools:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.client = deps.client
        self.settings = deps.settings

    async def failed_jobs_of_pull(self, repo: str, number: int) -> list[dict[str, Any]]:
        """The failed Actions jobs of a pull request's head commit.

        Check runs find them in one request, but reading them needs the Checks permission, which
        fine-grained personal access tokens cannot be given; without it, the head commit's
        workflow runs and their jobs (Actions: read) find the same jobs.
        """
        owner, name = split(repo)
        try:
            _, checks, _ = await head_checks(self.deps, repo, number, Position(1, 0, 100), statuses=False)
        except PermissionDenied:
            pass
        else:
            ids = dict.fromkeys(c.job_id for c in checks if c.job_id is not None and c.conclusion in FAILED)
            return [{"id": job_id} for job_id in ids]
        pull = (
            await self.client.get(
                api_path("repos", owner, name, "pulls", number), what=f"pull request #{number} in {repo}"
            )
        ).data
        sha = str((pull.get("head") or {}).get("sha") or "")
        runs = (
            await self.client.get(
                api_path("repos", owner, name, "actions", "runs"),
                {"head_sha": sha, "per_page": 20},
                what=f"the workflow runs of #{number} in {repo}",
            )
        ).data
        jobs: list[dict[str, Any]] = []
        for run in runs.get("workflow_runs") or []:
            if run.get("conclusion") not in FAILED:
                continue
            page = await self.client.get(
                api_path("repos", owner, name, "actions", "runs", run["id"], "jobs"),
                {"filter": "latest", "per_page": 100},
                what=f"the jobs of run {run['id']} in {repo}",
            )
            jobs += [job for job in page.data.get("jobs") or [] if job.get("conclusion") in FAILED]
        return jobs

    async def list_runs(
        self,
        *,
        repo: Repo,
        run_id: OneRun = None,
        branch: Branch = None,
        event: Event = None,
        status: RunStatus = None,
        head_sha: HeadSha = None,
        workflow: Workflow = None,
        cursor: Cursor = "",
        limit: Limit = 20,
    ) -> RunsResult:
        if run_id is not None:
            return await self._run(repo, run_id, cursor, limit)
        owner, name = split(repo)
        note_target(repo)
        filters = {"branch": branch, "event": event, "status": status, "head_sha": head_sha}
        key = query_key("gh_list_runs", repo=repo.lower(), workflow=workflow, **filters)
        position = decode_cursor(cursor, key, limit)
        where = ("actions", "workflows", workflow, "runs") if workflow else ("actions", "runs")
        page = await self.client.get(
            api_path("repos", owner, name, *where),
            {**filters, "per_page": position.per_page, "page": position.page},
            what=f"the workflow runs of {repo}",
        )
        budget = self.deps.budget()
        runs, next_cursor = fill(
            page,
            page.data.get("workflow_runs") or [],
            position=position,
            key=key,
            budget=budget,
            convert=lambda item: run_item(self.deps, item),
        )
        return RunsResult(
            total_count=int(page.data.get("total_count") or 0),
            runs=runs,
            next_cursor=next_cursor,
            truncated=budget.cut,
        )

    async def _run(self, repo: str, run_id: int, cursor: str, limit: int) -> RunsResult:
        owner, name = split(repo)
        note_target(f"{repo} run {run_id}")
        key = query_key("gh_get_run", repo=repo.lower(), run_id=run_id)
        position = decode_cursor(cursor, key, limit)
        runs = []
        if not cursor:
            data = (
                await self.client.get(
                    api_path("repos", owner, name, "actions", "runs", run_id), what=f"run {run_id} in {repo}"
                )
            ).data
            runs.append(run_item(self.deps, data))
        page = await self.client.get(
            api_path("repos", owner, name, "actions", "runs", run_id, "jobs"),
            {"filter": "latest", "per_page": position.per_page, "page": position.page},
            what=f"the jobs of run {run_id} in {repo}",
        )
        budget = self.deps.budget()
        jobs, next_cursor = fill(
            page, page.data.get("jobs") or [], position=position, key=key, budget=budget, convert=job_of
        )
        return RunsResult(runs=runs, jobs=jobs, next_cursor=next_cursor, truncated=budget.cut)

    async def get_job_logs(
        self,
        *,
        repo: Repo,
        job_id: OptJobId = None,
        run_id: OptRunId = None,
        pull: OptPull = None,
        failed_only: FailedOnly = True,
        tail_lines: TailLines = 100,
    ) -> LogsResult:
        if sum(value is not None for value in (job_id, run_id, pull)) != 1:
            raise InvalidArgument("give exactly one of job_id, run_id or pull")
        owner, name = split(repo)
        note_target(f"{repo} logs")
        jobs: list[dict[str, Any]]
        if job_id is not None:
            job = (
                await self.client.get(
                    api_path("repos", owner, name, "actions", "jobs", job_id), what=f"job {job_id} in {repo}"
                )
            ).data
            jobs = [job]
        elif run_id is not None:
            data = (
                await self.client.get(
                    api_path("repos", owner, name, "actions", "runs", run_id, "jobs"),
                    {"filter": "latest", "per_page": 100},
                    what=f"the jobs of run {run_id} in {repo}",
                )
            ).data
            jobs = [job for job in data.get("jobs") or [] if not failed_only or job.get("conclusion") in FAILED]
        else:
            assert pull is not None
            jobs = await self.failed_jobs_of_pull(repo, pull)
        note = None
        if not jobs:
            where = f"job {job_id}" if job_id else f"run {run_id}" if run_id else f"pull request #{pull}"
            return LogsResult(jobs=[], note=f"no failed GitHub Actions jobs found for {where}")
        if len(jobs) > MAX_LOG_JOBS:
            rest = ", ".join(str(job["id"]) for job in jobs[MAX_LOG_JOBS:])
            note = f"showing {MAX_LOG_JOBS} of {len(jobs)} jobs; ask for the others by job_id: {rest}"
            jobs = jobs[:MAX_LOG_JOBS]

        budget = self.deps.budget()
        share = max(256, budget.remaining // len(jobs) - 2048)
        results: list[JobLog | None] = [None] * len(jobs)

        async def one(index: int, job: dict[str, Any]) -> None:
            if "steps" not in job:  # from a check run: fetch the job for its name and steps
                try:
                    job = (
                        await self.client.get(
                            api_path("repos", owner, name, "actions", "jobs", job["id"]),
                            what=f"job {job['id']} in {repo}",
                        )
                    ).data
                except NotFound:
                    job = {"id": job["id"], "name": "(unknown job)"}
            entry = JobLog(
                job_id=int(job["id"]),
                name=text(job.get("name"), 200),
                conclusion=job.get("conclusion"),
                failed_steps=failed_steps(job),
                errors=[],
                total_lines=0,
                tail="",
                truncated=False,
            )
            try:
                log = await self.client.job_log_tail(repo, int(job["id"]), tail_lines)
            except NotFound:
                entry.note = "log not available (expired, deleted, or the job has not finished)"
            else:
                entry.errors = log.errors
                entry.total_lines = log.total_lines
                entry.tail, cut = keep_end("\n".join(log.lines), share)
                entry.truncated = cut or log.cut or log.total_lines > len(log.lines)
                entry.note = "; ".join(log.notes) or None
            results[index] = entry

        await concurrently(*(functools.partial(one, index, job) for index, job in enumerate(jobs)))
        logs = [entry for entry in results if entry is not None]
        for entry in logs:
            budget.admit(entry.model_dump())
        return LogsResult(jobs=logs, note=note, truncated=budget.cut or any(entry.truncated for entry in logs))

    def specs(self) -> list[ToolSpec]:
        read = Access.READ
        on_repo = {"repo": REPOS}
        return [
            ToolSpec(
                name="gh_list_runs",
                title="List workflow runs",
                description=(
                    "List GitHub Actions workflow runs, newest first, by branch, event, status, commit or workflow; "
                    "or with run_id, one run and its jobs with their failed steps."
                ),
                group=RUNS,
                access=read,
                handler=self.list_runs,
                resource_args=on_repo,
            ),
            ToolSpec(
                name="gh_get_job_logs",
                title="Get CI job logs",
                description=(
                    "Why did CI fail? For one of pull, run_id or job_id: each failed job's failed steps, "
                    "`##[error]` lines and last tail_lines log lines."
                ),
                group=GROUP,
                access=read,
                handler=self.get_job_logs,
                resource_args=on_repo,
            ),
        ]


def build(deps: Deps) -> list[ToolSpec]:
    return ActionTools(deps).specs()
