"""Which writes ask the user first, and how a resolver finds its server.

Every write tool here adds content (an issue, a comment, a pull request, labels); none deletes
or overwrites anything, so none is `destructive`. The risk they carry is exfiltration: a write
to a repository other people can read is the channel of the "toxic agent flow" (a poisoned issue
steers the agent into publishing private data). So, with `WARDEN_GITHUB_CONFIRM_WRITES`:

- `public` (default): writes to a repository that is not private (public or internal) ask the
  user; writes to private repositories do not. Adding labels never asks: it can only apply
  labels that already exist, so it carries no new text.
- `all`: every write asks, labels included.
- `none`: no write asks (the write allowlist still applies).

Confirmation uses elicitation, which works in both protocol eras. A client that cannot ask its
user gets error -32021 and nothing is written.

Resolvers run before the tool's guard, so a resolver checks the allowlists itself first and
makes no request for a repository the policy refuses; it lets the call through to the guard,
which refuses it.
"""

from __future__ import annotations

import weakref
from typing import Any

from mcp.server.mcpserver import Context

from warden_core.confirm import Confirm, Elicit, ask
from warden_github.tools.common import REPOS, WRITE_REPOS, Deps

_DEPS: weakref.WeakKeyDictionary[Any, Deps] = weakref.WeakKeyDictionary()

_GO_AHEAD = Confirm(confirm=True)


def register(mcp_server: Any, deps: Deps) -> None:
    _DEPS[mcp_server] = deps


def deps_of(ctx: Context) -> Deps:
    return _DEPS[ctx.mcp_server]


async def confirmation(ctx: Context, repo: str, action: str, *, adds_text: bool = True) -> Confirm | Elicit[Confirm]:
    """Ask the user about `action` on `repo` when the settings say so; otherwise go ahead."""
    deps = deps_of(ctx)
    policy = deps.policy
    if policy is None or not (policy.allows(WRITE_REPOS, repo) and policy.allows(REPOS, repo)):
        return _GO_AHEAD  # refused by the guard or the handler before any request
    mode = deps.settings.confirm_writes
    if mode == "none" or (mode == "public" and not adds_text):
        return _GO_AHEAD
    if mode == "public":
        if await deps.client.is_private(repo):
            return _GO_AHEAD
        return ask(f"{action}\n\n{repo} is not a private repository: anyone who can read it will see this. Go ahead?")
    return ask(f"{action}\n\nGo ahead?")


def preview(body: str, limit: int = 600) -> str:
    body = body.strip()
    if not body:
        return "(empty body)"
    return body if len(body) <= limit else body[:limit] + " …"
