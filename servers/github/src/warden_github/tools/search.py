"""search: one scoped search over code, issues, pull requests or repositories, never outside the allowlist."""

from __future__ import annotations

from typing import Any, Literal

from warden_core import Access, ToolSpec
from warden_github.content import opt_text, text
from warden_github.models import Item, ItemList
from warden_github.tools.common import (
    REPOS,
    Cursor,
    Deps,
    Limit,
    OptRepo,
    Query,
    decode_cursor,
    fill,
    issue_item,
    query_key,
    repo_of_url,
    scoped_query,
    visible_total,
)

GROUP = "repos"

Kind = Literal["code", "issues", "pulls", "repos"]

# kind -> (endpoint, extra qualifier, Accept header)
_ENDPOINTS = {
    "code": ("/search/code", "", "application/vnd.github.text-match+json"),
    "issues": ("/search/issues", "is:issue", None),
    "pulls": ("/search/issues", "is:pr", None),
    "repos": ("/search/repositories", "", None),
}


def _repo_of(kind: str, item: dict[str, Any]) -> str | None:
    if kind == "repos":
        return str(item.get("full_name"))
    if kind == "code":
        return str((item.get("repository") or {}).get("full_name"))
    return repo_of_url(item.get("repository_url"))


class SearchTools:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def _item(self, kind: str, repo: str, item: dict[str, Any]) -> Item:
        if kind == "repos":
            return Item(
                repo=repo,
                description=opt_text(item.get("description"), 300),
                private=bool(item.get("private")),
                state="archived" if item.get("archived") else None,
                language=opt_text(item.get("language"), 50),
                updated_at=item.get("pushed_at"),
            )
        if kind == "code":
            return Item(
                repo=repo,
                path=text(item.get("path"), 1000),
                url=str(item.get("html_url") or ""),
                fragments=[text(match.get("fragment"), 400) for match in (item.get("text_matches") or [])[:3]],
            )
        return issue_item(self.deps, item, repo=repo)

    async def search(
        self, *, query: Query, kind: Kind = "code", repo: OptRepo = None, cursor: Cursor = "", limit: Limit = 20
    ) -> ItemList:
        endpoint, extra, accept = _ENDPOINTS[kind]
        scope = scoped_query(query, repo, self.deps, extra=extra)
        key = query_key("gh_search", kind=kind, q=scope.q)
        position = decode_cursor(cursor, key, limit)
        page = await self.deps.client.get(
            endpoint,
            {"q": scope.q, "per_page": position.per_page, "page": position.page},
            what=f"the {kind} search",
            accept=accept,
        )

        def shown(item: dict[str, Any]) -> bool:
            found = _repo_of(kind, item)
            return found is not None and self.deps.allows(found)

        def convert(item: dict[str, Any]) -> Item | None:
            found = _repo_of(kind, item)
            return self._item(kind, found, item) if found is not None and self.deps.allows(found) else None

        budget = self.deps.budget()
        items, next_cursor = fill(
            page, page.data.get("items") or [], position=position, key=key, budget=budget, convert=convert
        )
        return ItemList(
            total_count=visible_total(page, scope, position, shown),
            items=items,
            next_cursor=next_cursor,
            truncated=budget.cut,
        )

    def specs(self) -> list[ToolSpec]:
        return [
            ToolSpec(
                name="gh_search",
                title="Search",
                description=(
                    "Search code, issues, pull requests or repositories in the allowed repositories, with GitHub "
                    "syntax: `retry language:go`, `is:open label:bug`."
                ),
                group=GROUP,
                access=Access.READ,
                handler=self.search,
                resource_args={"repo": REPOS},
            )
        ]


def build(deps: Deps) -> list[ToolSpec]:
    return SearchTools(deps).specs()
