"""repos: a repository's files and tree. git (off by default): its metadata, refs, releases, labels and commits."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from warden_core import Access, InvalidArgument, ToolSpec
from warden_core.audit import note_target
from warden_github.client import api_path
from warden_github.content import login, markdown, opt_text, text
from warden_github.models import Commit, CommitsResult, FileChange, FileResult, RefItem, RepoDetail, RepoResult
from warden_github.tools.common import (
    REPOS,
    Cursor,
    Deps,
    FilePath,
    Limit,
    Position,
    Ref,
    Repo,
    decode_cursor,
    encode_cursor,
    fill,
    query_key,
    ref_name,
    split,
    take_json_text,
)

GROUP = "repos"
GIT = "git"

RepoPart = Annotated[
    Literal["summary", "branches", "tags", "releases", "labels"],
    Field(description="summary: metadata; or a paged list of branches (head SHA), tags, releases (notes), labels."),
]
Recursive = Annotated[bool, Field(description="For a directory: every path below it (paged), not one level.")]
EntryLimit = Annotated[int, Field(description="Directory entries per page.", ge=1, le=5000)]
Sha = Annotated[
    str | None,
    Field(description="One commit (SHA, branch or tag): its files and diffs.", pattern=r"^[A-Za-z0-9._/+@-]{1,200}$"),
    AfterValidator(ref_name),
]
Author = Annotated[
    str | None, Field(description="Only commits by this login or email.", max_length=100, pattern=r"^[^\s:]+$")
]
Since = Annotated[datetime | None, Field(description="Only commits after this time (ISO 8601).")]
OptPath = Annotated[str | None, Field(description="Only commits touching this path.", max_length=1000)]

_BINARY_SNIFF = 8000


def change(item: dict[str, Any], patch_limit: int | None) -> FileChange:
    return FileChange(
        path=text(item.get("filename"), 1000),
        status=str(item.get("status") or ""),
        additions=int(item.get("additions") or 0),
        deletions=int(item.get("deletions") or 0),
        previous_path=opt_text(item.get("previous_filename"), 1000),
        patch=None
        if patch_limit is None
        else text(item.get("patch") or "(no textual diff: binary or too large)", patch_limit),
    )


def patch_limit(deps: Deps) -> int:
    return max(500, min(50_000, deps.settings.max_output_bytes // 2))


def _repo_detail(data: dict[str, Any]) -> RepoDetail:
    permissions = data.get("permissions") or {}
    license_info = data.get("license") or {}
    return RepoDetail(
        full_name=str(data["full_name"]),
        description=opt_text(data.get("description"), 1000),
        visibility=str(data.get("visibility") or ("private" if data.get("private") else "public")),
        default_branch=str(data.get("default_branch") or ""),
        fork=bool(data.get("fork")),
        archived=bool(data.get("archived")),
        language=opt_text(data.get("language"), 50),
        topics=[text(topic, 50) for topic in (data.get("topics") or [])[:30]],
        license=opt_text(license_info.get("spdx_id"), 50),
        stars=int(data.get("stargazers_count") or 0),
        forks=int(data.get("forks_count") or 0),
        open_issues=int(data.get("open_issues_count") or 0),
        pushed_at=data.get("pushed_at"),
        url=str(data.get("html_url") or ""),
        permissions=sorted(level for level, granted in permissions.items() if granted),
    )


class RepoTools:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.client = deps.client
        self.settings = deps.settings

    async def get_repo(
        self, *, repo: Repo, part: RepoPart = "summary", cursor: Cursor = "", limit: Limit = 30
    ) -> RepoResult:
        owner, name = split(repo)
        note_target(repo)
        if part == "summary":
            data = (await self.client.get(api_path("repos", owner, name), what=f"repository {repo}")).data
            return RepoResult(repo=_repo_detail(data))
        key = query_key("gh_get_repo", repo=repo.lower(), part=part)
        position = decode_cursor(cursor, key, limit)
        page = await self.client.get(
            api_path("repos", owner, name, part),
            {"per_page": position.per_page, "page": position.page},
            what=f"the {part} of {repo}",
        )
        body_limit = self.deps.item_text_limit()

        def convert(item: dict[str, Any]) -> RefItem:
            if part == "releases":
                return RefItem(
                    name=text(item.get("name") or item.get("tag_name"), 300),
                    tag=text(item.get("tag_name"), 300),
                    draft=bool(item.get("draft")),
                    prerelease=bool(item.get("prerelease")),
                    published_at=item.get("published_at"),
                    author=login(item.get("author")),
                    body=markdown(item.get("body"), min(2000, body_limit)),
                )
            if part == "labels":
                return RefItem(name=text(item.get("name"), 50), body=opt_text(item.get("description"), 200))
            return RefItem(
                name=text(item.get("name"), 300),
                sha=(item.get("commit") or {}).get("sha"),
                protected=item.get("protected") if part == "branches" else None,
            )

        budget = self.deps.budget()
        refs, next_cursor = fill(page, page.data or [], position=position, key=key, budget=budget, convert=convert)
        return RepoResult(refs=refs, next_cursor=next_cursor, truncated=budget.cut)

    async def get_file(
        self,
        *,
        repo: Repo,
        path: FilePath = "",
        ref: Ref = None,
        recursive: Recursive = False,
        cursor: Cursor = "",
        limit: EntryLimit = 1000,
    ) -> FileResult:
        if recursive:
            return await self._tree(repo, path, ref, cursor, limit)
        owner, name = split(repo)
        note_target(f"{repo}:{path}")
        key = query_key("gh_get_file", repo=repo.lower(), path=path, ref=ref)
        position = decode_cursor(cursor, key, limit)
        segments = path.split("/") if path else []
        data = (
            await self.client.get(
                api_path("repos", owner, name, "contents", *segments), {"ref": ref}, what=f"{path or '/'} in {repo}"
            )
        ).data
        if isinstance(data, list):
            names = [text(entry.get("name"), 300) + ("/" if entry.get("type") == "dir" else "") for entry in data]
            return self._entries(FileResult(repo=repo, path=path, type="dir"), names, key, position)
        kind = str(data.get("type") or "file")
        result = FileResult(
            repo=repo,
            path=text(data.get("path"), 1000),
            type=kind,
            size=data.get("size"),
            sha=data.get("sha"),
            url=data.get("html_url"),
            download_url=data.get("download_url"),
        )
        if kind != "file":
            target = data.get("target") or data.get("submodule_git_url")
            result.note = f"{kind} pointing to {text(target, 500)}" if target else None
            return result
        size = int(data.get("size") or 0)
        if (
            size > self.settings.max_file_bytes
            or data.get("encoding") != "base64"
            or (size and not data.get("content"))
        ):
            result.note = (
                f"content not included: the file has {size} bytes, over this server's limit of "
                f"{self.settings.max_file_bytes}; url and download_url link to it"
            )
            return result
        try:
            raw = base64.b64decode(str(data.get("content") or ""))
        except (ValueError, binascii.Error):
            raise InvalidArgument(f"GitHub sent undecodable content for {path} in {repo}") from None
        try:
            if b"\x00" in raw[:_BINARY_SNIFF]:
                raise UnicodeDecodeError("utf-8", raw, 0, 1, "NUL byte")
            decoded = raw.decode("utf-8")
        except UnicodeDecodeError:
            result.note = "content not included: binary file; url and download_url link to it"
            return result
        # The text pages by character offset: a file larger than the output cap is read in parts.
        whole = text(decoded)
        budget = self.deps.budget()
        budget.reserve(len(result.model_dump_json()))
        result.content = take_json_text(budget, whole[position.skip :])
        end = position.skip + len(result.content)
        if end < len(whole):
            result.next_cursor = encode_cursor(key, Position(1, end, position.per_page))
            result.truncated = True
        return result

    def _entries(self, result: FileResult, names: list[str], key: str, position: Position) -> FileResult:
        """A page of directory entries from `position`, within the budget and the page size."""
        budget = self.deps.budget()
        end = min(len(names), position.skip + position.per_page)
        entries: list[str] = []
        for index in range(position.skip, end):
            if not budget.admit(names[index]):
                end = index
                break
            entries.append(names[index])
        result.entries = entries
        result.truncated = result.truncated or budget.cut
        if end < len(names):
            result.next_cursor = encode_cursor(key, Position(1, end, position.per_page))
        return result

    async def _tree(self, repo: str, path: str, ref: str | None, cursor: str, limit: int) -> FileResult:
        owner, name = split(repo)
        note_target(repo)
        if ref is None:
            info = (await self.client.get(api_path("repos", owner, name), what=f"repository {repo}")).data
            ref = str(info.get("default_branch") or "HEAD")
        key = query_key("gh_get_file", repo=repo.lower(), ref=ref, prefix=path, recursive=True)
        position = decode_cursor(cursor, key, limit)
        page = await self.client.get(
            api_path("repos", owner, name, "git", "trees", ref), {"recursive": 1}, what=f"the tree of {ref} in {repo}"
        )
        wanted = path.strip("/")
        paths = []
        for entry in page.data.get("tree") or []:
            entry_path = text(entry.get("path"), 1000)
            if wanted and not entry_path.startswith(wanted + "/"):
                continue
            paths.append(entry_path + "/" if entry.get("type") == "tree" else entry_path)
        result = FileResult(
            repo=repo,
            path=path,
            type="tree",
            sha=str(page.data.get("sha") or ""),
            # GitHub itself stops listing very large trees; say so rather than pretend the list is complete.
            truncated=bool(page.data.get("truncated")),
        )
        return self._entries(result, paths, key, position)

    async def list_commits(
        self,
        *,
        repo: Repo,
        sha: Sha = None,
        ref: Ref = None,
        path: OptPath = None,
        author: Author = None,
        since: Since = None,
        cursor: Cursor = "",
        limit: Limit = 20,
    ) -> CommitsResult:
        if sha is not None:
            return await self._commit(repo, sha, cursor, limit)
        owner, name = split(repo)
        note_target(repo)
        filters = {
            "sha": ref,
            "path": path,
            "author": author,
            "since": since.isoformat() if since else None,
        }
        key = query_key("gh_list_commits", repo=repo.lower(), **filters)
        position = decode_cursor(cursor, key, limit)
        page = await self.client.get(
            api_path("repos", owner, name, "commits"),
            {**filters, "per_page": position.per_page, "page": position.page},
            what=f"the commits of {repo}",
        )

        def convert(item: dict[str, Any]) -> Commit:
            commit = item.get("commit") or {}
            git_author = commit.get("author") or {}
            return Commit(
                sha=str(item.get("sha")),
                message=text(commit.get("message"), 500),
                author=login(item.get("author")) or opt_text(git_author.get("name"), 100),
                date=git_author.get("date"),
            )

        budget = self.deps.budget()
        commits, next_cursor = fill(page, page.data or [], position=position, key=key, budget=budget, convert=convert)
        return CommitsResult(commits=commits, next_cursor=next_cursor, truncated=budget.cut)

    async def _commit(self, repo: str, sha: str, cursor: str, limit: int) -> CommitsResult:
        owner, name = split(repo)
        note_target(f"{repo}@{sha}")
        key = query_key("gh_get_commit", repo=repo.lower(), sha=sha)
        position = decode_cursor(cursor, key, limit)
        page = await self.client.get(
            api_path("repos", owner, name, "commits", sha),
            {"per_page": position.per_page, "page": position.page},
            what=f"commit {sha} in {repo}",
        )
        data = page.data
        commit = data.get("commit") or {}
        git_author = commit.get("author") or {}
        stats = data.get("stats") or {}
        budget = self.deps.budget()
        message = budget.take_text(text(commit.get("message"), 4000))
        limit_chars = patch_limit(self.deps)
        files, next_cursor = fill(
            page,
            data.get("files") or [],
            position=position,
            key=key,
            budget=budget,
            convert=lambda item: change(item, limit_chars),
        )
        detail = Commit(
            sha=str(data.get("sha")),
            message=message,
            author=login(data.get("author")) or opt_text(git_author.get("name"), 100),
            date=git_author.get("date"),
            parents=[str(parent.get("sha")) for parent in data.get("parents") or []],
            additions=int(stats.get("additions") or 0),
            deletions=int(stats.get("deletions") or 0),
            url=str(data.get("html_url") or ""),
        )
        return CommitsResult(commits=[detail], files=files, next_cursor=next_cursor, truncated=budget.cut)

    def specs(self) -> list[ToolSpec]:
        read = Access.READ
        on_repo = {"repo": REPOS}
        return [
            ToolSpec(
                name="gh_get_repo",
                title="Get repository",
                description=(
                    "A repository's metadata (default branch, visibility, topics, license, counts), or its "
                    "branches, tags, releases or labels (`part`)."
                ),
                group=GIT,
                access=read,
                handler=self.get_repo,
                resource_args=on_repo,
            ),
            ToolSpec(
                name="gh_get_file",
                title="Get file or directory",
                description=(
                    "Read a file's text (continued by next_cursor), or list a directory (`recursive`: every path "
                    "below it). Large or binary files come back as links."
                ),
                group=GROUP,
                access=read,
                handler=self.get_file,
                resource_args=on_repo,
            ),
            ToolSpec(
                name="gh_list_commits",
                title="List commits",
                description=(
                    "List commits, newest first, filtered by ref, path, author and date; or with `sha`, one "
                    "commit with its changed files and diffs."
                ),
                group=GIT,
                access=read,
                handler=self.list_commits,
                resource_args=on_repo,
            ),
        ]


def build(deps: Deps) -> list[ToolSpec]:
    return RepoTools(deps).specs()
