"""What every tool group shares: argument types, the server's dependencies, cursors and search scoping.

Argument types are module-level `Annotated` aliases: the SDK evaluates handler annotations
against the defining module's globals, so each tools module imports these names.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import anyio
from pydantic import AfterValidator, BaseModel, Field

from warden_core import Budget, InvalidArgument, PolicyDenied, WardenError, json_size
from warden_core.policy import Policy
from warden_github.client import GitHubClient, Page
from warden_github.content import Content, opt_text, text, was_cut
from warden_github.models import Comment, Item
from warden_github.settings import Settings

M = TypeVar("M", bound=BaseModel)

REPOS = "repos"
WRITE_REPOS = "write_repos"

REPO_PATTERN = r"^[\w.-]+/[\w.-]+$"  # ASCII only: `_repo` checks
_REF_CHARS = re.compile(r"^[A-Za-z0-9._/+@-]+$")


def _repo(value: str | None) -> str | None:
    # `.` and `..` are not repository names, and in a URL path they would climb out of /repos/owner.
    if value is not None and (not value.isascii() or any(part.strip(".") == "" for part in value.split("/"))):
        raise ValueError("not an owner/name repository")
    return value


def not_only_dots(value: str) -> str:
    if not value.strip("."):
        raise ValueError("must not be only dots")
    return value


def not_only_dots_opt(value: str | None) -> str | None:
    return None if value is None else not_only_dots(value)


def ref_name(value: str | None) -> str | None:
    if value is not None and (
        ".." in value or value.startswith(("/", "-", ".")) or value.endswith(("/", ".lock")) or "//" in value
    ):
        raise ValueError("not a valid branch, tag or commit name")
    return value


def _file_path(value: str) -> str:
    segments = value.split("/")
    if value and (value.startswith("/") or any(segment in ("", ".", "..") for segment in segments)):
        raise ValueError("use a path relative to the repository root, without '.', '..' or empty segments")
    return value


# --- Argument types (module-level: see the module docstring). ----------------------------------------
Repo = Annotated[str, Field(description="owner/name", pattern=REPO_PATTERN, max_length=140), AfterValidator(_repo)]
OptRepo = Annotated[
    str | None,
    Field(description="Only this owner/name.", pattern=REPO_PATTERN, max_length=140),
    AfterValidator(_repo),
]
Number = Annotated[int, Field(description="Issue or pull request number.", ge=1, le=10_000_000)]
Cursor = Annotated[str, Field(max_length=400)]  # a next_cursor: the name says it
Limit = Annotated[int, Field(description="Items per page.", ge=1, le=100)]
Query = Annotated[
    str, Field(description="GitHub search syntax, without repo:/org:/user: qualifiers.", min_length=1, max_length=200)
]
Ref = Annotated[
    str | None,
    Field(description="Branch, tag or SHA; default: the default branch.", pattern=r"^[A-Za-z0-9._/+@-]{1,200}$"),
    AfterValidator(ref_name),
]
FilePath = Annotated[
    str,
    Field(description="Path from the repository root.", max_length=1000, pattern=r"^[^\x00-\x1f]*$"),
    AfterValidator(_file_path),
]


class Allowance(Budget):
    """The core's byte budget, plus whether a text was shortened to fit (`cut` covers both)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(max_bytes)
        self.text_cut = False

    @property
    def cut(self) -> bool:
        return self.truncated or self.text_cut


def take_json_text(budget: Budget, value: str) -> str:
    """As much of `value` as fits the budget once written as a JSON string (newlines and quotes take two bytes)."""
    kept = budget.take_text(value)
    budget.used -= len(kept.encode())
    while kept and json_size(kept) - 2 > budget.remaining:
        kept = kept[: len(kept) - (json_size(kept) - 2 - budget.remaining)]
        budget.truncated = True
    budget.used += json_size(kept) - 2
    return kept


# --- Dependencies of the tool handlers. ------------------------------------------------------------------
@dataclass
class Deps:
    settings: Settings
    client: GitHubClient
    content: Content
    policy: Policy | None = None  # set once the server (which builds the policy) exists

    def _policy(self) -> Policy:
        assert self.policy is not None, "the server sets the policy before any call"
        return self.policy

    def check_repo(self, repo: str, what: str = "repo") -> None:
        self._policy().check(REPOS, repo, what)

    def allows(self, repo: str) -> bool:
        return self._policy().allows(REPOS, repo)

    def budget(self) -> Allowance:
        """The byte budget of one result, less room for the fields around its lists."""
        return Allowance(max(512, self.settings.max_output_bytes - 1024))

    def item_text_limit(self, share: int = 8) -> int:
        """Characters one free-text field of one list item may use (so one item never fills a page)."""
        return max(200, min(8000, self.settings.max_output_bytes // share))


def split(repo: str) -> tuple[str, str]:
    owner, name = repo.split("/", 1)
    return owner, name


async def concurrently(*calls: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run independent requests at once; a failure surfaces as itself, not as an exception group."""
    try:
        async with anyio.create_task_group() as tasks:
            for call in calls:
                tasks.start_soon(call)
    except BaseExceptionGroup as group:
        raise _first(group) from None


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    leaves: list[BaseException] = []

    def walk(exc: BaseException) -> None:
        if isinstance(exc, BaseExceptionGroup):
            for inner in exc.exceptions:
                walk(inner)
        else:
            leaves.append(exc)

    walk(group)
    # Prefer an error the caller can act on over a cancellation or an internal failure.
    return next((exc for exc in leaves if isinstance(exc, WardenError)), leaves[0])


# --- Cursors: opaque to the model, bound to the query they continue. ------------------------------------
@dataclass(frozen=True)
class Position:
    page: int
    skip: int
    per_page: int


def query_key(tool: str, **arguments: Any) -> str:
    canonical = json.dumps([tool, arguments], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def encode_cursor(key: str, position: Position) -> str:
    raw = json.dumps({"k": key, "p": position.page, "s": position.skip, "n": position.per_page}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, key: str, per_page: int) -> Position:
    if not cursor:
        return Position(1, 0, per_page)
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        position = Position(int(raw["p"]), int(raw["s"]), int(raw["n"]))
        valid = raw["k"] == key and 1 <= position.page <= 100_000 and position.skip >= 0 and position.per_page >= 1
    except (ValueError, KeyError, TypeError, binascii.Error):
        valid = False
    if not valid:
        raise InvalidArgument("the cursor does not belong to this query; repeat the call without it to start over")
    return position


def fill(
    page: Page,
    items: Sequence[Any],
    *,
    position: Position,
    key: str,
    budget: Allowance,
    convert: Callable[[Any], M | None],
) -> tuple[list[M], str | None]:
    """Convert the items of one fetched page, from the cursor's offset, until the budget is spent.

    Returns the kept items and the cursor of whatever comes next: the rest of this page when the
    budget ran out, else the next page when GitHub's `Link` header names one.
    """
    kept: list[M] = []
    for index in range(position.skip, len(items)):
        item = convert(items[index])
        if item is None:
            continue  # filtered out (a pull request in an issue list, a repository outside the allowlist)
        dumped = item.model_dump(mode="json")
        if not budget.admit(dumped):
            # Resume at this item; if not even one fits, step past it so paging still moves on.
            resume = index if kept else index + 1
            if resume >= len(items):
                return kept, _next(page, position, key)
            return kept, encode_cursor(key, Position(position.page, resume, position.per_page))
        kept.append(item)
        if any(was_cut(value) for value in dumped.values()):
            budget.text_cut = True  # a field of this item was shortened: the result is not whole
    return kept, _next(page, position, key)


def _next(page: Page, position: Position, key: str) -> str | None:
    following = page.next_page
    if following is None or following <= position.page:
        return None
    return encode_cursor(key, Position(following, 0, position.per_page))


# --- Search: always scoped to what the allowlist admits. ----------------------------------------------
_SCOPE_QUALIFIER = re.compile(r"(?i)\b(repo|org|user|owner)\s*:")
_GLOB = re.compile(r"[*?\[\]!]")
MAX_QUERY = 256


@dataclass(frozen=True)
class Scope:
    """A search as GitHub will run it: the query, and whether its qualifiers cover allowed repositories only."""

    q: str
    exact: bool


def scoped_query(query: str, repo: str | None, deps: Deps, extra: str = "") -> Scope:
    """The search GitHub will run: the caller's terms, limited to allowlisted repositories.

    The caller may not name scopes itself (GitHub ORs repeated scope qualifiers, which would
    widen the search); `repo` narrows to one allowed repository. Results are still filtered
    against the allowlist afterwards, since an owner-wide scope can cover more than a pattern
    (`user:acme` for `acme/web-*`); such a scope is not `exact`.
    """
    if _SCOPE_QUALIFIER.search(query):
        raise InvalidArgument("put the repository in the `repo` argument, not repo:/org:/user: in the query")
    terms = " ".join(part for part in (query.strip(), extra) if part)
    if repo is not None:
        deps.check_repo(repo)
        return Scope(f"{terms} repo:{repo}", exact=True)
    patterns = deps.settings.repos
    if not patterns:
        raise PolicyDenied(f"no repositories are allowed by this server's policy ({Settings.env_name('repos')})")
    if "*" in patterns:
        return Scope(terms, exact=True)  # the operator allowed every repository the token can see
    owners: dict[str, None] = {}
    whole_owners: set[str] = set()
    exact: dict[str, None] = {}
    for pattern in patterns:
        owner, _, name = pattern.partition("/")
        if _GLOB.search(owner):
            continue  # no qualifier can express it: such repositories need `repo`
        if _GLOB.search(name):
            owners[owner.lower()] = None
            if name == "*":
                whole_owners.add(owner.lower())
        else:
            exact[f"{owner}/{name}".lower()] = None
    qualifiers = [f"user:{owner}" for owner in owners]
    qualifiers += [f"repo:{name}" for name in exact if name.split("/", 1)[0] not in owners]
    if not qualifiers:
        raise InvalidArgument("the allowlist has no fixed owner to search; pass `repo`")
    scoped = f"{terms} {' '.join(qualifiers)}"
    if len(scoped) > MAX_QUERY:
        raise InvalidArgument("too many allowed repositories to search at once; pass `repo` to search one")
    return Scope(scoped, exact=owners.keys() <= whole_owners)


def visible_total(page: Page, scope: Scope, position: Position, shown: Callable[[Any], bool]) -> int | None:
    """How many matches the caller may see, without revealing how many it may not (None: not known).

    GitHub's `total_count` when the scope covers allowed repositories only (and this page agrees);
    otherwise the count of what the allowlist admits when GitHub's whole answer is this first page.
    """
    items = page.data.get("items") or []
    visible = sum(1 for item in items if shown(item))
    if scope.exact and visible == len(items):
        return int(page.data.get("total_count") or 0)
    if position.page == 1 and page.next_page is None:
        return visible
    return None


def repo_of_url(url: Any) -> str | None:
    """`owner/name` from an API URL such as https://api.github.com/repos/owner/name/issues/1."""
    match = re.search(r"/repos/([^/]+/[^/?#]+)", str(url or ""))
    return match.group(1) if match else None


# --- Conversions several tools share. --------------------------------------------------------------------
def labels_of(item: dict[str, Any]) -> list[str]:
    return [text(label.get("name"), 50) for label in item.get("labels") or [] if isinstance(label, dict)]


def issue_item(deps: Deps, item: dict[str, Any], repo: str | None = None) -> Item:
    """A list entry for an issue or pull request (search results carry their repository)."""
    fields = deps.content.authored(item)
    pull = item.get("pull_request")
    return Item(
        repo=repo,
        number=int(item["number"]),
        title=fields["title"],
        state=str(item.get("state") or ""),
        author=fields["author"],
        author_association=fields["author_association"],
        labels=labels_of(item),
        comments=item.get("comments"),
        draft=item.get("draft") if pull is not None or "head" in item else None,
        head=opt_text((item.get("head") or {}).get("ref"), 200) if "head" in item else None,
        base=opt_text((item.get("base") or {}).get("ref"), 200) if "base" in item else None,
        updated_at=item.get("updated_at"),
    )


def comment(deps: Deps, item: dict[str, Any], limit: int) -> Comment:
    fields = deps.content.authored(item, body_limit=limit)
    return Comment(
        id=int(item["id"]),
        author=fields["author"],
        author_association=fields["author_association"],
        created_at=item.get("submitted_at") or item.get("created_at"),
        body=fields["body"],
        state=item.get("state"),
        path=opt_text(item.get("path"), 1000),
        line=item.get("line") if isinstance(item.get("line"), int) else None,
    )
