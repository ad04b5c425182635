"""repos: find repositories and read their code, history, branches, tags and releases."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field

from warden_core import Access, InvalidArgument, ToolSpec
from warden_core.audit import note_target
from warden_github.client import api_path
from warden_github.content import login, markdown, opt_text, text
from warden_github.models import (
    CodeHit,
    CodeList,
    CommitDetail,
    CommitItem,
    CommitList,
    DirEntry,
    FileChange,
    FileResult,
    RefItem,
    RefList,
    RepoDetail,
    RepoItem,
    RepoList,
    TreeResult,
)
from warden_github.tools.common import (
    REPOS,
    CommitRef,
    Cursor,
    Deps,
    FilePath,
    Limit,
    OptRepo,
    Position,
    Query,
    Ref,
    Repo,
    decode_cursor,
    encode_cursor,
    fill,
    query_key,
    scoped_query,
    split,
    visible_total,
)

GROUP = "repos"

Prefix = Annotated[str, Field(description="Only paths under this directory.", max_length=1000)]
TreeLimit = Annotated[int, Field(description="Paths per page.", ge=1, le=5000)]
RefKind = Annotated[Literal["branches", "tags", "releases"], Field(description="What to list.")]
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


class RepoTools:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.client = deps.client
        self.settings = deps.settings

    async def search_repos(self, *, query: Query, cursor: Cursor = "", limit: Limit = 20) -> RepoList:
        scope = scoped_query(query, None, self.deps)
        key = query_key("gh_search_repos", q=scope.q)
        position = decode_cursor(cursor, key, limit)
        page = await self.client.get(
            "/search/repositories",
            {"q": scope.q, "per_page": position.per_page, "page": position.page},
            what="the repository search",
        )

        def shown(item: dict[str, Any]) -> bool:
            return self.deps.allows(str(item.get("full_name")))

        def convert(item: dict[str, Any]) -> RepoItem | None:
            if not shown(item):
                return None
            return RepoItem(
                full_name=str(item["full_name"]),
                description=opt_text(item.get("description"), 300),
                private=bool(item.get("private")),
                archived=bool(item.get("archived")),
                stars=int(item.get("stargazers_count") or 0),
                language=opt_text(item.get("language"), 50),
                pushed_at=item.get("pushed_at"),
            )

        budget = self.deps.budget()
        repos, next_cursor = fill(
            page, page.data.get("items") or [], position=position, key=key, budget=budget, convert=convert
        )
        return RepoList(
            total_count=visible_total(page, scope, position, shown),
            repos=repos,
            next_cursor=next_cursor,
            truncated=budget.cut,
        )

    async def search_code(
        self, *, query: Query, repo: OptRepo = None, cursor: Cursor = "", limit: Limit = 20
    ) -> CodeList:
        scope = scoped_query(query, repo, self.deps)
        key = query_key("gh_search_code", q=scope.q)
        position = decode_cursor(cursor, key, limit)
        page = await self.client.get(
            "/search/code",
            {"q": scope.q, "per_page": position.per_page, "page": position.page},
            what="the code search",
            accept="application/vnd.github.text-match+json",
        )

        def repo_of(item: dict[str, Any]) -> str:
            return str((item.get("repository") or {}).get("full_name"))

        def shown(item: dict[str, Any]) -> bool:
            return self.deps.allows(repo_of(item))

        def convert(item: dict[str, Any]) -> CodeHit | None:
            if not shown(item):
                return None
            full_name = repo_of(item)
            fragments = [text(match.get("fragment"), 400) for match in (item.get("text_matches") or [])[:3]]
            return CodeHit(
                repo=full_name,
                path=text(item.get("path"), 1000),
                url=str(item.get("html_url") or ""),
                fragments=fragments,
            )

        budget = self.deps.budget()
        hits, next_cursor = fill(
            page, page.data.get("items") or [], position=position, key=key, budget=budget, convert=convert
        )
        return CodeList(
            total_count=visible_total(page, scope, position, shown),
            hits=hits,
            next_cursor=next_cursor,
            truncated=budget.cut,
        )

    async def get_repo(self, *, repo: Repo) -> RepoDetail:
        owner, name = split(repo)
        note_target(repo)
        data = (await self.client.get(api_path("repos", owner, name), what=f"repository {repo}")).data
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

    async def get_file(self, *, repo: Repo, path: FilePath = "", ref: Ref = None) -> FileResult:
        owner, name = split(repo)
        note_target(f"{repo}:{path}")
        segments = path.split("/") if path else []
        data = (
            await self.client.get(
                api_path("repos", owner, name, "contents", *segments), {"ref": ref}, what=f"{path or '/'} in {repo}"
            )
        ).data
        if isinstance(data, list):
            budget = self.deps.budget()
            entries = []
            for entry in data:
                item = DirEntry(
                    name=text(entry.get("name"), 300), type=str(entry.get("type")), size=int(entry.get("size") or 0)
                )
                if not budget.admit(item.model_dump()):
                    break
                entries.append(item)
            return FileResult(repo=repo, path=path, type="dir", entries=entries, truncated=budget.cut)
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
        budget = self.deps.budget()
        result.content = budget.take_text(text(decoded))
        result.truncated = budget.cut
        return result

    async def get_tree(
        self, *, repo: Repo, ref: Ref = None, prefix: Prefix = "", cursor: Cursor = "", limit: TreeLimit = 1000
    ) -> TreeResult:
        owner, name = split(repo)
        note_target(repo)
        if ref is None:
            info = (await self.client.get(api_path("repos", owner, name), what=f"repository {repo}")).data
            ref = str(info.get("default_branch") or "HEAD")
        key = query_key("gh_get_tree", repo=repo.lower(), ref=ref, prefix=prefix)
        position = decode_cursor(cursor, key, limit)
        page = await self.client.get(
            api_path("repos", owner, name, "git", "trees", ref), {"recursive": 1}, what=f"the tree of {ref} in {repo}"
        )
        wanted = prefix.strip("/")
        paths = []
        for entry in page.data.get("tree") or []:
            entry_path = text(entry.get("path"), 1000)
            if wanted and not (entry_path == wanted or entry_path.startswith(wanted + "/")):
                continue
            paths.append(entry_path + "/" if entry.get("type") == "tree" else entry_path)
        budget = self.deps.budget()
        end = min(len(paths), position.skip + position.per_page)
        entries: list[str] = []
        for index in range(position.skip, end):
            if not budget.admit(paths[index]):
                end = index
                break
            entries.append(paths[index])
        next_cursor = encode_cursor(key, Position(1, end, position.per_page)) if end < len(paths) else None
        return TreeResult(
            repo=repo,
            ref=ref,
            sha=str(page.data.get("sha") or ""),
            entries=entries,
            next_cursor=next_cursor,
            # GitHub itself stops listing very large trees; say so rather than pretend the list is complete.
            truncated=budget.cut or bool(page.data.get("truncated")),
        )

    async def list_refs(
        self, *, repo: Repo, kind: RefKind = "branches", cursor: Cursor = "", limit: Limit = 30
    ) -> RefList:
        owner, name = split(repo)
        note_target(repo)
        key = query_key("gh_list_refs", repo=repo.lower(), kind=kind)
        position = decode_cursor(cursor, key, limit)
        page = await self.client.get(
            api_path("repos", owner, name, kind),
            {"per_page": position.per_page, "page": position.page},
            what=f"the {kind} of {repo}",
        )
        body_limit = self.deps.item_text_limit()

        def convert(item: dict[str, Any]) -> RefItem:
            if kind == "releases":
                return RefItem(
                    name=text(item.get("name") or item.get("tag_name"), 300),
                    tag=text(item.get("tag_name"), 300),
                    draft=bool(item.get("draft")),
                    prerelease=bool(item.get("prerelease")),
                    published_at=item.get("published_at"),
                    author=login(item.get("author")),
                    body=markdown(item.get("body"), min(2000, body_limit)),
                )
            return RefItem(
                name=text(item.get("name"), 300),
                sha=(item.get("commit") or {}).get("sha"),
                protected=item.get("protected") if kind == "branches" else None,
            )

        budget = self.deps.budget()
        refs, next_cursor = fill(page, page.data or [], position=position, key=key, budget=budget, convert=convert)
        return RefList(refs=refs, next_cursor=next_cursor, truncated=budget.cut)

    async def list_commits(
        self,
        *,
        repo: Repo,
        ref: Ref = None,
        path: OptPath = None,
        author: Author = None,
        since: Since = None,
        cursor: Cursor = "",
        limit: Limit = 20,
    ) -> CommitList:
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

        def convert(item: dict[str, Any]) -> CommitItem:
            commit = item.get("commit") or {}
            git_author = commit.get("author") or {}
            return CommitItem(
                sha=str(item.get("sha")),
                message=text(commit.get("message"), 500),
                author=login(item.get("author")) or opt_text(git_author.get("name"), 100),
                date=git_author.get("date"),
            )

        budget = self.deps.budget()
        commits, next_cursor = fill(page, page.data or [], position=position, key=key, budget=budget, convert=convert)
        return CommitList(commits=commits, next_cursor=next_cursor, truncated=budget.cut)

    async def get_commit(self, *, repo: Repo, sha: CommitRef, cursor: Cursor = "", limit: Limit = 30) -> CommitDetail:
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
        return CommitDetail(
            sha=str(data.get("sha")),
            message=message,
            author=login(data.get("author")) or opt_text(git_author.get("name"), 100),
            date=git_author.get("date"),
            parents=[str(parent.get("sha")) for parent in data.get("parents") or []],
            additions=int(stats.get("additions") or 0),
            deletions=int(stats.get("deletions") or 0),
            url=str(data.get("html_url") or ""),
            files=files,
            next_cursor=next_cursor,
            truncated=budget.cut,
        )

    def specs(self) -> list[ToolSpec]:
        read = Access.READ
        on_repo = {"repo": REPOS}
        return [
            ToolSpec(
                name="gh_search_repos",
                title="Search repositories",
                description=(
                    "Search the repositories this server may read (GitHub search syntax, e.g. "
                    "`topic:api language:go`). "
                    "Returns names, descriptions and activity."
                ),
                group=GROUP,
                access=read,
                handler=self.search_repos,
            ),
            ToolSpec(
                name="gh_search_code",
                title="Search code",
                description=(
                    "Search code in the allowed repositories, or in `repo` only. Returns file paths with matching "
                    "fragments; read a file with gh_get_file."
                ),
                group=GROUP,
                access=read,
                handler=self.search_code,
                resource_args=on_repo,
            ),
            ToolSpec(
                name="gh_get_repo",
                title="Get repository",
                description=(
                    "Get a repository's metadata: default branch, visibility, language, topics, license, counts."
                ),
                group=GROUP,
                access=read,
                handler=self.get_repo,
                resource_args=on_repo,
            ),
            ToolSpec(
                name="gh_get_file",
                title="Get file or directory",
                description=(
                    "Read a file's text, or list a directory. Large or binary files come back as links with a note, "
                    "not content."
                ),
                group=GROUP,
                access=read,
                handler=self.get_file,
                resource_args=on_repo,
            ),
            ToolSpec(
                name="gh_get_tree",
                title="Get file tree",
                description=(
                    "List every path in the repository at a ref (directories end with `/`), optionally under a prefix."
                ),
                group=GROUP,
                access=read,
                handler=self.get_tree,
                resource_args=on_repo,
            ),
            ToolSpec(
                name="gh_list_refs",
                title="List branches, tags or releases",
                description="List a repository's branches (with head SHA), tags, or releases (with notes).",
                group=GROUP,
                access=read,
                handler=self.list_refs,
                resource_args=on_repo,
            ),
            ToolSpec(
                name="gh_list_commits",
                title="List commits",
                description="List commits, newest first, on a ref; filter by path, author and date.",
                group=GROUP,
                access=read,
                handler=self.list_commits,
                resource_args=on_repo,
            ),
            ToolSpec(
                name="gh_get_commit",
                title="Get commit",
                description="Get one commit: message, author, stats and changed files with their diffs (size-capped).",
                group=GROUP,
                access=read,
                handler=self.get_commit,
                resource_args=on_repo,
            ),
        ]


def build(deps: Deps) -> list[ToolSpec]:
    return RepoTools(deps).specs()
