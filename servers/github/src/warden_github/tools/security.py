"""security: Dependabot, code scanning and secret scanning alerts, and repository security advisories.

For one repository, or across the allowed ones. Across repositories, the server asks GitHub about
each allowed repository itself (exact names as written; `owner/*` and other name globs resolved
by listing the owner's repositories and keeping those the allowlist admits), at most
`MAX_REPOS` per call with a cursor for the rest. It never uses the organization-wide endpoints, so
GitHub is never asked about a repository outside the allowlist, and nothing about one can be shown
or counted. Each repository contributes its first page; `more_in` names those with more.

A secret scanning alert is returned without its secret: the request asks GitHub to leave it out
(`hide_secret=true`), the `secret` member is dropped whatever GitHub sends, only the location's path
and lines are kept (no blob or commit URL that would lead to the text), and the locations endpoint,
which carries the text around the secret, is never called.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, urlsplit

from pydantic import Field

from warden_core import Access, InvalidArgument, NotFound, PermissionDenied, PolicyDenied, ToolSpec, WardenError
from warden_core.audit import note_target
from warden_github.client import Page, api_path
from warden_github.content import login, markdown, opt_text, text, was_cut
from warden_github.models import Alert, AlertList
from warden_github.settings import Settings
from warden_github.tools.common import REPOS, Cursor, Deps, Limit, OptRepo, concurrently, query_key, split

GROUP = "security"

MAX_REPOS = 10
"""Repositories asked per call across the allowlist; next_cursor continues with the next ones."""
MAX_LISTED = 300
"""Repositories of one owner listed to resolve a name glob such as `acme/*`."""

_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="next"')
_GLOB = re.compile(r"[*?\[\]!]")

Kind = Annotated[
    Literal["dependabot", "code_scanning", "secret_scanning", "advisories"],
    Field(description="Alert kind, or repository security advisories."),
]
State = Annotated[
    str | None,
    Field(
        description="open (default), fixed, dismissed, resolved; advisories: triage, draft, published, closed.",
        pattern=r"^[a-z_]{1,20}$",
    ),
]
Severity = Annotated[
    Literal["critical", "high", "medium", "low"] | None,
    Field(description="Only this severity."),
]
OneAlert = Annotated[
    str | None,
    Field(
        description="One alert of `repo` in full: its number (advisories: GHSA id).",
        pattern=r"^(\d{1,9}|GHSA(-[0-9a-z]{4}){3})$",
    ),
]

_PATHS = {
    "dependabot": ("dependabot", "alerts"),
    "code_scanning": ("code-scanning", "alerts"),
    "secret_scanning": ("secret-scanning", "alerts"),
    "advisories": ("security-advisories",),
}


def _encode(payload: dict[str, Any]) -> str:
    raw = json.dumps(payload, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str, key: str) -> tuple[int, dict[str, str] | None, int]:
    """(repository index, query of the page to fetch or None for the first, items of that page to skip)."""
    if not cursor:
        return 0, None, 0
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        index, skip, query = int(data["r"]), int(data["s"]), data.get("q")
        valid = data["k"] == key and index >= 0 and skip >= 0 and (query is None or isinstance(query, dict))
    except (ValueError, KeyError, TypeError, binascii.Error):
        valid = False
    if not valid:
        raise InvalidArgument("the cursor does not belong to this query; repeat the call without it to start over")
    return index, query, skip


def _next_query(page: Page) -> dict[str, str] | None:
    """The query of GitHub's next page (`page=` or `after=`, whichever the endpoint pages with)."""
    match = _LINK.search(str(page.headers.get("link", "")))
    if match is None:
        return None
    return {k: v for k, v in parse_qsl(urlsplit(match.group(1)).query) if k != "per_page"}


def was_cut_any(alert: Alert) -> bool:
    return any(was_cut(value) for value in alert.model_dump().values())


def _location(raw: Any) -> tuple[str | None, int | None]:
    if not isinstance(raw, dict):
        return None, None
    line = raw.get("start_line")
    return opt_text(raw.get("path"), 1000), line if isinstance(line, int) else None


def alert_of(kind: str, repo: str, raw: dict[str, Any], detail_chars: int | None) -> Alert:
    """The reviewed fields of one alert or advisory; `detail_chars` None leaves the long description out."""
    number = raw.get("number") if isinstance(raw.get("number"), int) else None
    url = opt_text(raw.get("html_url"), 500)
    created, updated = raw.get("created_at"), raw.get("updated_at")
    if kind == "dependabot":
        advisory = raw.get("security_advisory") or {}
        vulnerability = raw.get("security_vulnerability") or {}
        dependency = raw.get("dependency") or {}
        package = dependency.get("package") or vulnerability.get("package") or {}
        patched = (vulnerability.get("first_patched_version") or {}).get("identifier")
        return Alert(
            repo=repo,
            number=number,
            ghsa_id=opt_text(advisory.get("ghsa_id"), 40),
            cve_id=opt_text(advisory.get("cve_id"), 40),
            state=str(raw.get("state") or ""),
            severity=opt_text(vulnerability.get("severity") or advisory.get("severity"), 20),
            title=text(advisory.get("summary"), 300),
            package=f"{text(package.get('ecosystem'), 30)}:{text(package.get('name'), 200)}" if package else None,
            vulnerable=opt_text(vulnerability.get("vulnerable_version_range"), 200),
            fixed_in=opt_text(patched, 100),
            path=opt_text(dependency.get("manifest_path"), 1000),
            resolution=opt_text(raw.get("dismissed_reason"), 50),
            created_at=created,
            updated_at=updated,
            detail=markdown(advisory.get("description"), detail_chars) if detail_chars else None,
            url=url,
        )
    if kind == "code_scanning":
        rule = raw.get("rule") or {}
        instance = raw.get("most_recent_instance") or {}
        path, line = _location(instance.get("location"))
        description = rule.get("full_description") or rule.get("help")
        return Alert(
            repo=repo,
            number=number,
            state=str(raw.get("state") or ""),
            severity=opt_text(rule.get("security_severity_level") or rule.get("severity"), 20),
            title=text(rule.get("description") or rule.get("name"), 300),
            rule=opt_text(rule.get("id"), 200),
            tool=opt_text((raw.get("tool") or {}).get("name"), 100),
            path=path,
            line=line,
            message=opt_text((instance.get("message") or {}).get("text"), 500),
            resolution=opt_text(raw.get("dismissed_reason"), 50),
            created_at=created,
            updated_at=updated,
            detail=markdown(description, detail_chars) if detail_chars and description else None,
            url=url,
        )
    if kind == "secret_scanning":
        # Never `secret`, nor anything that leads to the text around it: the type, state and where it is.
        path, line = _location(raw.get("first_location_detected"))
        return Alert(
            repo=repo,
            number=number,
            state=str(raw.get("state") or ""),
            title=text(raw.get("secret_type_display_name") or raw.get("secret_type"), 200),
            rule=opt_text(raw.get("secret_type"), 200),
            path=path,
            line=line,
            message="found in more places" if raw.get("has_more_locations") else None,
            validity=opt_text(raw.get("validity"), 20),
            resolution=opt_text(raw.get("resolution"), 50),
            created_at=created,
            updated_at=updated,
            url=url,
        )
    vulnerabilities = [v for v in raw.get("vulnerabilities") or [] if isinstance(v, dict)]
    packages = [v.get("package") or {} for v in vulnerabilities]
    return Alert(
        repo=repo,
        ghsa_id=opt_text(raw.get("ghsa_id"), 40),
        cve_id=opt_text(raw.get("cve_id"), 40),
        state=str(raw.get("state") or ""),
        severity=opt_text(raw.get("severity"), 20),
        title=text(raw.get("summary"), 300),
        package=", ".join(f"{text(p.get('ecosystem'), 30)}:{text(p.get('name'), 200)}" for p in packages[:5]) or None,
        vulnerable=", ".join(text(v.get("vulnerable_version_range"), 100) for v in vulnerabilities[:5]) or None,
        fixed_in=", ".join(
            text(v.get("patched_versions"), 100) for v in vulnerabilities[:5] if v.get("patched_versions")
        )
        or None,
        message=f"author: {login(raw.get('author'))}" if login(raw.get("author")) else None,
        created_at=created,
        updated_at=updated,
        detail=markdown(raw.get("description"), detail_chars) if detail_chars else None,
        url=url,
    )


class SecurityTools:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.client = deps.client
        self.settings = deps.settings

    async def allowed_repos(self) -> tuple[list[str], list[str]]:
        """The repositories the allowlist admits, in a stable order, and notes about patterns not covered."""
        patterns = self.settings.repos
        if not patterns:
            raise PolicyDenied(f"no repositories are allowed by this server's policy ({Settings.env_name('repos')})")
        if "*" in patterns:
            raise InvalidArgument("this server allows every repository the token can see: pass `repo`")
        found: dict[str, str] = {}
        notes: list[str] = []
        owners: dict[str, None] = {}
        for pattern in patterns:
            owner, _, name = pattern.partition("/")
            if _GLOB.search(owner):
                notes.append(f"repositories matching {pattern} can only be asked about one at a time, with `repo`")
            elif _GLOB.search(name):
                owners[owner] = None
            else:
                found.setdefault(pattern.lower(), pattern)
        for owner in owners:
            for repo in await self._owner_repos(owner, notes):
                if self.deps.allows(repo):
                    found.setdefault(repo.lower(), repo)
        return [found[key] for key in sorted(found)], notes

    async def _owner_repos(self, owner: str, notes: list[str]) -> list[str]:
        repos: list[str] = []
        where = ("orgs", owner, "repos")
        for number in range(1, MAX_LISTED // 100 + 1):
            try:
                page = await self.client.get(
                    api_path(*where), {"per_page": 100, "page": number}, what=f"the repositories of {owner}"
                )
            except NotFound:
                if where[0] == "users" or number > 1:
                    raise
                where = ("users", owner, "repos")  # a user account, not an organization
                page = await self.client.get(
                    api_path(*where), {"per_page": 100, "page": number}, what=f"the repositories of {owner}"
                )
            repos += [str(item.get("full_name")) for item in page.data or [] if isinstance(item, dict)]
            if page.next_page is None:
                return repos
        notes.append(f"only the first {MAX_LISTED} repositories of {owner} were checked; pass `repo` for others")
        return repos

    async def alerts(
        self,
        *,
        kind: Kind,
        repo: OptRepo = None,
        alert: OneAlert = None,
        state: State = None,
        severity: Severity = None,
        cursor: Cursor = "",
        limit: Limit = 30,
    ) -> AlertList:
        if severity is not None and kind == "secret_scanning":
            raise InvalidArgument("secret scanning alerts have no severity")
        if alert is not None:
            if repo is None:
                raise InvalidArgument("`alert` needs `repo`")
            return await self._one(kind, repo, alert)
        notes: list[str] = []
        if repo is not None:
            repos = [repo]
        else:
            repos, notes = await self.allowed_repos()
        note_target(f"{kind} alerts in {repo or f'{len(repos)} repositories'}")
        query: dict[str, Any] = {"per_page": limit}
        if state is not None or kind != "advisories":
            query["state"] = state or "open"
        if severity is not None and kind != "advisories":
            query["severity"] = severity
        if kind == "secret_scanning":
            query["hide_secret"] = "true"  # noqa: S105  (a flag asking GitHub to leave the secret out)
        key = query_key("gh_security_alerts", kind=kind, repo=(repo or "").lower(), **query)
        index, resume, skip = _decode(cursor, key)
        batch = repos[index : index + (1 if repo else MAX_REPOS)]
        pages = await self._fetch(kind, batch, query, resume, single=repo is not None)
        result = AlertList(alerts=[], notes=notes or None)
        budget = self.deps.budget()
        more_in: list[str] = []
        for offset, (name, page) in enumerate(zip(batch, pages, strict=True)):
            if isinstance(page, WardenError):
                result.notes = [*(result.notes or []), f"{name}: {page.message}"]
                continue
            items = [item for item in page.data or [] if isinstance(item, dict)]
            for number in range(skip if offset == 0 else 0, len(items)):
                entry = alert_of(kind, name, items[number], None)
                if severity is not None and kind == "advisories" and entry.severity != severity:
                    continue
                if not budget.admit(entry.model_dump()):
                    # Resume at this alert; if none fitted at all, past it, so paging still moves on.
                    at = number if result.alerts else number + 1
                    result.next_cursor = _encode(
                        {"k": key, "r": index + offset, "q": resume if offset == 0 else None, "s": at}
                    )
                    break
                result.alerts.append(entry)
                budget.text_cut = budget.text_cut or was_cut_any(entry)
            if result.next_cursor is not None:
                break
            following = _next_query(page)
            if following is not None and repo is not None:
                result.next_cursor = _encode({"k": key, "r": index, "q": following, "s": 0})
            elif following is not None:
                more_in.append(name)
        if result.next_cursor is None and index + len(batch) < len(repos):
            result.next_cursor = _encode({"k": key, "r": index + len(batch), "q": None, "s": 0})
        result.more_in = more_in or None
        result.truncated = budget.cut
        return result

    async def _fetch(
        self, kind: str, batch: list[str], query: dict[str, Any], resume: dict[str, str] | None, *, single: bool
    ) -> list[Page | WardenError]:
        """The first page of each repository's alerts (the resumed page for the first), fetched at once.

        Across repositories, a repository where the feature is off, not permitted, or that has moved becomes a
        note.
        """
        pages: list[Page | WardenError | None] = [None] * len(batch)

        async def fetch(position: int, name: str) -> None:
            owner, short = split(name)
            params = {**query, **resume} if position == 0 and resume else query
            try:
                pages[position] = await self.client.get(
                    api_path("repos", owner, short, *_PATHS[kind]), params, what=f"the {kind} alerts of {name}"
                )
            except (NotFound, PermissionDenied, PolicyDenied) as exc:  # off, not permitted, or moved away
                if single:
                    raise
                pages[position] = exc

        await concurrently(*(functools.partial(fetch, i, name) for i, name in enumerate(batch)))
        return [page for page in pages if page is not None]

    async def _one(self, kind: str, repo: str, alert: str) -> AlertList:
        advisory = kind == "advisories"
        if advisory != alert.startswith("GHSA"):
            raise InvalidArgument("an advisory is named by its GHSA id, an alert by its number")
        owner, name = split(repo)
        note_target(f"{kind} {alert} in {repo}")
        params = {"hide_secret": "true"} if kind == "secret_scanning" else None
        data = (
            await self.client.get(
                api_path("repos", owner, name, *_PATHS[kind], alert), params, what=f"{kind} alert {alert} in {repo}"
            )
        ).data
        budget = self.deps.budget()
        entry = alert_of(kind, repo, data, max(1000, budget.remaining // 2))
        return AlertList(alerts=[entry], truncated=was_cut_any(entry))

    def specs(self) -> list[ToolSpec]:
        return [
            ToolSpec(
                name="gh_security_alerts",
                title="Security alerts",
                description=(
                    "Dependabot, code scanning or secret scanning alerts (never the secret), or security advisories, "
                    "of `repo` or of every allowed repository."
                ),
                group=GROUP,
                access=Access.READ,
                handler=self.alerts,
                resource_args={"repo": REPOS},
            )
        ]


def build(deps: Deps) -> list[ToolSpec]:
    return SecurityTools(deps).specs()
