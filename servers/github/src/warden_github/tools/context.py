"""context: who this server acts as, what it may touch, and how much rate limit is left."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from warden_core import Access, PermissionDenied, ToolSpec
from warden_github.client import Page
from warden_github.content import opt_text
from warden_github.models import RateBucket, WhoAmI
from warden_github.tools.common import Deps, concurrently

GROUP = "context"

_BUCKETS = ("core", "search", "code_search", "graphql")


def bucket(data: dict[str, Any]) -> RateBucket:
    reset = datetime.fromtimestamp(int(data.get("reset") or 0), tz=UTC).isoformat()
    return RateBucket(limit=int(data.get("limit") or 0), remaining=int(data.get("remaining") or 0), reset=reset)


class ContextTools:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.client = deps.client
        self.settings = deps.settings

    async def whoami(self) -> WhoAmI:
        user: Page | None = None
        rate: Page | None = None

        async def fetch_user() -> None:
            nonlocal user
            try:
                user = await self.client.get("/user", what="the token's user")
            except PermissionDenied:
                user = None  # GitHub App installation tokens have no user

        async def fetch_rate() -> None:
            nonlocal rate
            rate = await self.client.get("/rate_limit", what="the rate limit")

        await concurrently(fetch_user, fetch_rate)
        assert rate is not None
        resources = (rate.data or {}).get("resources") or {}
        me: dict[str, Any] = user.data if user is not None else {}
        scopes = user.headers.get("x-oauth-scopes") if user is not None else None
        return WhoAmI(
            login=opt_text(me.get("login"), 100),
            name=opt_text(me.get("name"), 200),
            type=str(me.get("type") or "GitHub App installation") if user is not None else "GitHub App installation",
            # Only classic tokens report scopes; fine-grained and App tokens are scoped per repository instead.
            token_scopes=[s.strip() for s in str(scopes).split(",") if s.strip()] if scopes is not None else None,
            api_url=self.settings.api_url,
            repos=list(self.settings.repos),
            write_repos=list(self.settings.write_repos) if not self.settings.read_only else [],
            read_only=self.settings.read_only,
            lockdown=self.settings.lockdown,
            rate={name: bucket(resources[name]) for name in _BUCKETS if isinstance(resources.get(name), dict)},
        )

    def specs(self) -> list[ToolSpec]:
        return [
            ToolSpec(
                name="gh_whoami",
                title="Who am I",
                description=(
                    "Who this server acts as on GitHub, the repositories it may read and write, and the rate limit "
                    "left."
                ),
                group=GROUP,
                access=Access.READ,
                handler=self.whoami,
            ),
        ]


def build(deps: Deps) -> list[ToolSpec]:
    return ContextTools(deps).specs()
